#pragma once
/// @file
/// @brief The icons ir.ui.icon holds: name and SVG text. The clients read the
/// SVG through ir.ui.icon (the web client turns it into an image; an empty
/// icon breaks its icon loading), so every registered name has a drawing.

#include <string_view>
#include <utility>
#include <vector>

namespace atrium::modules::ir {

/// The built-in icons, in list_icons order: {name, SVG document}.
const std::vector<std::pair<std::string_view, std::string_view>>& builtin_icons();

}  // namespace atrium::modules::ir
