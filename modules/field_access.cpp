#include "modules/field_access.hpp"

#include "modules/errors.hpp"
#include "modules/model.hpp"
#include "modules/registry.hpp"
#include "transaction/transaction.hpp"

namespace atrium::modules {

namespace {

std::string label(const model& m) {
    return m.definition().description.empty() ? m.name() : m.definition().description;
}

}  // namespace

void check_field_readable(const model& m, const field& f) {
    if (!f.secret || !current().access_checked()) return;
    throw access_error("You are not allowed to read the field \"" + (f.string.empty() ? f.name : f.string) +
                           "\" of \"" + label(m) + "\".",
                       "The field \"" + f.name + "\" of \"" + m.name() + "\" is secret.");
}

void check_path_readable(const model& m, std::string_view path) {
    if (!current().access_checked()) return;
    const model* at = &m;
    while (true) {
        const auto dot = path.find('.');
        const field* f = at->find_field(path.substr(0, dot));
        if (!f) return;
        check_field_readable(*at, *f);
        if (dot == std::string_view::npos || f->relation.empty()) return;
        at = &at->owner().get(f->relation);
        at->require_access("read");
        path.remove_prefix(dot + 1);
    }
}

}  // namespace atrium::modules
