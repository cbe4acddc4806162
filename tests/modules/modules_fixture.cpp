#include "tests/modules/modules_fixture.hpp"

#include <mutex>

namespace atrium::test {

using namespace atrium::modules;

void register_test_modules() {
    static std::once_flag once;
    std::call_once(once, [] {
        module_def m;
        m.name = "test_types";
        m.depends = {"res"};
        model_def t("test.types", "Every Type");
        t.add(fields::boolean("flag"))
            .add(fields::integer("count"))
            .add(fields::float_field("ratio"))
            .add(fields::numeric("price", "Price"))
            .add(fields::char_field("name", "Name").set_help("A short name"))
            .add(fields::text("notes"))
            .add(fields::date("day"))
            .add(fields::datetime("moment"))
            .add(fields::binary("data"))
            .add(fields::selection("kind", {{"a", "Alpha"}, {"b", "Beta"}}))
            .add(fields::many2one("owner", "res.user", "Owner"))
            .add(fields::one2many("children", "test.child", "parent"))
            .add(fields::many2many("tags", "test_types_tag_rel", "types", "tag", "test.tag"))
            .add(fields::boolean("active").set_default(true))
            .add(fields::char_field("code").set_unique())
            .add(fields::char_field("label").set_required().set_default("unnamed"));
        m.models.push_back(std::move(t));
        model_def child("test.child", "Child");
        child.add(fields::many2one("parent", "test.types").set_cascade()).add(fields::char_field("name"));
        m.models.push_back(std::move(child));
        model_def tag("test.tag", "Tag");
        tag.add(fields::char_field("name").set_required());
        m.models.push_back(std::move(tag));
        builtin_modules().add(std::move(m));
    });
}

modules_database::modules_database(const std::vector<std::string>& modules) {
    register_test_modules();
    init_database(base.db, modules, "admin-secret");
}

}  // namespace atrium::test
