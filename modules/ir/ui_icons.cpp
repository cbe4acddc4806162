// The icons ir.ui.icon serves: the client draws a menu's or a view's icon from
// the SVG text that ir.ui.icon.read gives for "icon" (it encodes it, so a null
// breaks the menu tree). Simple 24x24 shapes of our own, one colour.
#include "modules/ir/ui.hpp"

#include <array>
#include <utility>

namespace atrium::modules::ir {

namespace {

constexpr const char* svg_open = R"(<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">)";

constexpr std::array<std::pair<const char*, const char*>, 8> shapes{{
    {"tryton-board", R"(<path d="M3 3h8v10H3zM13 3h8v6h-8zM13 11h8v10h-8zM3 15h8v6H3z"/>)"},
    {"tryton-calendar", R"(<path d="M4 5h16v15H4zM6 10v8h12v-8zM7 2h2v4H7zM15 2h2v4h-2z"/>)"},
    {"tryton-folder", R"(<path d="M3 5h7l2 2h9v12H3z"/>)"},
    {"tryton-form", R"(<path d="M5 3h14v18H5zM7 6v2h10V6zM7 10v2h10v-2zM7 14v2h6v-2z"/>)"},
    {"tryton-graph", R"(<path d="M4 20V10h3v10zM10.5 20V4h3v16zM17 20v-7h3v7z"/>)"},
    {"tryton-list", R"(<path d="M3 5h18v2H3zM3 11h18v2H3zM3 17h18v2H3z"/>)"},
    {"tryton-settings", R"(<path d="M12 2l2 3 3.5-.5.5 3.5 3 2-2 3 .5 3.5-3.5.5-2 3-2-3-3.5-.5.5-3.5-3-2 3-2 )"
                        R"(-.5-3.5 3.5.5zM12 9a3 3 0 100 6 3 3 0 000-6z"/>)"},
    {"tryton-tree", R"(<path d="M3 3h6v4H3zM7 7h2v4h4v2H7zM13 10h8v4h-8zM7 13h2v4h4v2H7zM13 16h8v4h-8z"/>)"},
}};

}  // namespace

std::vector<std::string> icon_names() {
    std::vector<std::string> out;
    for (const auto& [name, shape] : shapes) out.emplace_back(name);
    return out;
}

std::string icon_svg(const std::string& name) {
    for (const auto& [n, shape] : shapes)
        if (name == n) return std::string(svg_open) + R"(<g fill="#267f82">)" + shape + "</g></svg>";
    return {};
}

}  // namespace atrium::modules::ir
