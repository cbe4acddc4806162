#include "modules/view_arch.hpp"

#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "transaction/scopes.hpp"

#include <pugixml.hpp>

#include <algorithm>
#include <sstream>

namespace atrium::modules {

std::string pyson_text(const nlohmann::ordered_json& value) {
    if (value.is_object()) {
        std::string out = "{";
        bool first = true;
        for (const auto& [k, v] : value.items()) {
            out += (first ? "" : ", ") + nlohmann::ordered_json(k).dump() + ": " + pyson_text(v);
            first = false;
        }
        return out + "}";
    }
    if (value.is_array()) {
        std::string out = "[";
        for (std::size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + pyson_text(value[i]);
        return out + "]";
    }
    return value.dump();
}

namespace {

std::vector<std::string> split_ids(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, ',');)
        if (!part.empty()) out.push_back(part);
    return out;
}

}  // namespace

void check_arch(const pool& p, const std::string& view_name, const std::string& model_name, const std::string& type,
                const std::string& arch, const std::function<bool(const std::string&)>& view_exists) {
    const std::string what = "The view \"" + view_name + "\"";
    const model* m = p.find(model_name);
    if (!m) throw user_error(what + " is for the model \"" + model_name + "\", which does not exist.");
    if (type != "tree" && type != "form")
        throw user_error(what + " has the type \"" + type + "\"; only \"tree\" and \"form\" are known.");
    pugi::xml_document doc;
    const auto parsed = doc.load_string(arch.c_str());
    if (!parsed)
        throw user_error(what + " is not well-formed XML: " + std::string(parsed.description()) + " at offset " +
                         std::to_string(parsed.offset) + ".");
    const auto root = doc.document_element();
    if (std::string(root.name()) != type)
        throw user_error(what + " has the root <" + std::string(root.name()) + ">; a " + type + " view needs <" +
                         type + ">.");
    auto need_field = [&](const std::string& name, const char* where) {
        if (!m->find_field(name))
            throw user_error(what + " names the field \"" + name + "\" (" + where + "), which \"" + model_name +
                             "\" does not have.");
    };
    if (const auto seq = root.attribute("sequence")) need_field(seq.value(), "tree sequence");
    for (const auto& node : root.select_nodes(".//*")) {
        const auto el = node.node();
        const std::string tag = el.name();
        const std::string name = el.attribute("name").value();
        if (tag == "field") {
            if (name.empty()) throw user_error(what + " has a <field> without a name.");
            need_field(name, "<field>");
            for (const char* a : {"icon", "symbol"})
                if (const auto v = el.attribute(a)) need_field(v.value(), a);
            for (const auto& ref : split_ids(el.attribute("view_ids").value()))
                if (!view_exists(ref))
                    throw user_error(what + " shows the field \"" + name + "\" with the view \"" + ref +
                                     "\", which does not exist (declare it first).");
        } else if (tag == "label" && !name.empty()) {
            need_field(name, "<label>");
        } else if (tag == "button") {
            const auto& buttons = m->definition().buttons;
            const auto b = std::find_if(buttons.begin(), buttons.end(), [&](const button_def& x) { return x.name == name; });
            if (b == buttons.end())
                throw user_error(what + " has the button \"" + name + "\", which \"" + model_name +
                                 "\" does not declare.");
            if (!nlohmann::json::accept(b->states) || !nlohmann::json::parse(b->states).is_object())
                throw user_error("The button \"" + name + "\" of \"" + model_name + "\" has states that are not a JSON object.");
        }
    }
}

std::int64_t view_db_id(const pool& p, const std::string& xml_id) {
    const model* data = p.find("ir.model.data");
    const auto dot = xml_id.find('.');
    if (!data || dot == std::string::npos) return 0;
    auto guard = without_check_access();
    const auto found = data->search_read(
        nlohmann::json::array({nlohmann::json::array({"module", "=", xml_id.substr(0, dot)}),
                               nlohmann::json::array({"fs_id", "=", xml_id.substr(dot + 1)}),
                               nlohmann::json::array({"model", "=", "ir.ui.view"})}),
        {}, {"db_id"});
    return found.empty() ? 0 : found[0]["db_id"].get<std::int64_t>();
}

}  // namespace atrium::modules
