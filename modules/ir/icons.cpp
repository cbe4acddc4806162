#include "modules/ir/icons.hpp"

namespace atrium::modules::ir {

namespace {

// Plain 24×24 shapes drawn for Atrium; the client sets the fill colour.
#define ATRIUM_ICON(path) \
    R"(<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24"><path d=")" path R"("/></svg>)"

}  // namespace

const std::vector<std::pair<std::string_view, std::string_view>>& builtin_icons() {
    static const std::vector<std::pair<std::string_view, std::string_view>> icons{
        {"tryton-board", ATRIUM_ICON("M3 3h8v10H3zM13 3h8v6h-8zM13 11h8v10h-8zM3 15h8v6H3z")},
        {"tryton-calendar", ATRIUM_ICON("M4 5h3V3h2v2h6V3h2v2h3v16H4zM6 10v9h12v-9z")},
        {"tryton-folder", ATRIUM_ICON("M2 5h7l2 2h11v13H2z")},
        {"tryton-form", ATRIUM_ICON("M5 2h14v20H5zM7 6v2h10V6zM7 11v2h10v-2zM7 16v2h6v-2z")},
        {"tryton-graph", ATRIUM_ICON("M3 3h2v16h16v2H3zM7 13h3v5H7zM12 8h3v10h-3zM17 11h3v7h-3z")},
        {"tryton-list", ATRIUM_ICON("M3 5h2v2H3zM7 5h14v2H7zM3 11h2v2H3zM7 11h14v2H7zM3 17h2v2H3zM7 17h14v2H7z")},
        {"tryton-settings", ATRIUM_ICON("M10 2h4l1 3 3-1 2 3-2 2v2l2 2-2 3-3-1-1 3h-4l-1-3-3 1-2-3 2-2v-2L4 7l2-3 3 1z"
                                        "M12 9a3 3 0 1 0 0.01 0z")},
        {"tryton-tree", ATRIUM_ICON("M3 3h6v4H3zM6 7h2v3h5v2H8v5h5v2H6zM13 9h8v4h-8zM13 16h8v4h-8z")},
    };
    return icons;
}

#undef ATRIUM_ICON

}  // namespace atrium::modules::ir
