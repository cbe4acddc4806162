#include "modules/domain.hpp"

#include "modules/dialect.hpp"
#include "modules/errors.hpp"
#include "modules/field_access.hpp"
#include "modules/model.hpp"
#include "modules/registry.hpp"
#include "transaction/transaction.hpp"

#include <algorithm>
#include <set>

namespace atrium::modules {

namespace {

const std::set<std::string, std::less<>> k_operators = {
    "=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "ilike", "not like", "not ilike"};

bool is_leaf(const nlohmann::json& d) {
    return d.is_array() && d.size() == 3 && d[0].is_string() && d[1].is_string() &&
           k_operators.contains(d[1].get<std::string>());
}

[[noreturn]] void bad_domain(const std::string& why) { throw user_error("Invalid domain: " + why); }

bool is_null_value(const field& f, const nlohmann::json& v) {
    return v.is_null() || (f.type != field_type::boolean && v.is_boolean() && !v.get<bool>());
}

class compiler {
public:
    explicit compiler(db::connection& conn) : conn_(conn) {}

    std::string domain(const model& m, const nlohmann::json& d) {
        if (!d.is_array()) bad_domain("a domain is a list, got " + d.dump());
        if (is_leaf(d)) return leaf(m, d);
        std::string joiner = " AND ";
        std::size_t start = 0;
        if (!d.empty() && d[0].is_string()) {
            const auto op = d[0].get<std::string>();
            if (op == "OR") joiner = " OR ";
            else if (op != "AND") bad_domain("unknown operator '" + op + "'");
            start = 1;
        }
        std::vector<std::string> parts;
        for (std::size_t i = start; i < d.size(); ++i) {
            if (!d[i].is_array()) bad_domain("unexpected element " + d[i].dump());
            if (d[i].empty()) continue;
            parts.push_back(domain(m, d[i]));
        }
        if (parts.empty()) return "1=1";
        std::string out = "(";
        for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? joiner : "") + parts[i];
        return out + ")";
    }

    std::vector<db::value> params;

private:
    std::string placeholder(db::value v) {
        params.push_back(std::move(v));
        return "?";
    }

    std::string leaf(const model& m, const nlohmann::json& d) {
        const auto path = d[0].get<std::string>();
        const auto op = d[1].get<std::string>();
        const auto& value = d[2];
        const auto dot = path.find('.');
        const std::string head = path.substr(0, dot);
        const field* f = m.find_field(head);
        if (!f && head != "id") bad_domain("unknown field '" + head + "' on model '" + m.name() + "'");
        // A field the caller may not read must not be searchable either
        // (a LIKE prefix at a time would reveal it), nor any model a path crosses.
        if (f) check_field_readable(m, *f);
        if (dot != std::string::npos) {
            if (!f || (f->type != field_type::many2one && f->type != field_type::one2many &&
                       f->type != field_type::many2many))
                bad_domain("'" + head + "' of '" + m.name() + "' is not a relation");
            const model& target = m.owner().get(f->relation);
            target.require_access("read");
            const nlohmann::json sub = nlohmann::json::array({path.substr(dot + 1), op, value});
            const std::string inner = "SELECT \"id\" FROM " + sql::quote(target.table()) + " WHERE " + leaf(target, sub);
            return relation_in(m, *f, inner);
        }
        if (!f) {  // id
            field id_field = fields::integer("id", "ID");
            return compare(id_field, "\"id\"", op, value);
        }
        if (f->type == field_type::one2many || f->type == field_type::many2many) {
            // A bare x2many compares the target ids.
            field id_field = fields::integer("id", "ID");
            const model& target = m.owner().get(f->relation);
            target.require_access("read");
            const std::string inner = "SELECT \"id\" FROM " + sql::quote(target.table()) + " WHERE " +
                                      compare(id_field, "\"id\"", op, value);
            return relation_in(m, *f, inner);
        }
        return compare(*f, sql::quote(f->name), op, value);
    }

    std::string relation_in(const model& m, const field& f, const std::string& inner) {
        (void)m;
        switch (f.type) {
        case field_type::many2one: return "(" + sql::quote(f.name) + " IN (" + inner + "))";
        case field_type::one2many: {
            const model& target = m.owner().get(f.relation);
            return "(\"id\" IN (SELECT " + sql::quote(f.reverse_field) + " FROM " + sql::quote(target.table()) +
                   " WHERE \"id\" IN (" + inner + ")))";
        }
        default:
            return "(\"id\" IN (SELECT " + sql::quote(f.origin_column) + " FROM " + sql::quote(f.relation_table) +
                   " WHERE " + sql::quote(f.target_column) + " IN (" + inner + ")))";
        }
    }

    std::string compare(const field& f, const std::string& column, const std::string& op, const nlohmann::json& v) {
        const bool numeric = f.type == field_type::numeric;
        const std::string col = numeric ? sql::numeric_expression(conn_, column) : column;
        auto param = [&](const nlohmann::json& x) {
            std::string p = placeholder(to_db(conn_, f, x));
            if (numeric && !sql::is_postgresql(conn_)) p = "CAST(" + p + " AS NUMERIC)";
            return p;
        };
        if (op == "in" || op == "not in") {
            if (!v.is_array()) bad_domain("'" + op + "' needs a list for '" + f.name + "'");
            std::string list;
            bool has_null = false;
            for (const auto& x : v) {
                if (is_null_value(f, x)) {
                    has_null = true;
                    continue;
                }
                list += (list.empty() ? "" : ", ") + param(x);
            }
            if (op == "in") {
                std::string s = list.empty() ? "1=0" : col + " IN (" + list + ")";
                return "(" + s + (has_null ? " OR " + column + " IS NULL" : "") + ")";
            }
            std::string s = list.empty() ? "1=1" : "(" + col + " NOT IN (" + list + ") OR " + column + " IS NULL)";
            return "(" + s + (has_null ? " AND " + column + " IS NOT NULL" : "") + ")";
        }
        if (op == "like" || op == "ilike" || op == "not like" || op == "not ilike") {
            if (!v.is_string()) bad_domain("'" + op + "' needs a text for '" + f.name + "'");
            const db::value p = v.get<std::string>();
            const bool insensitive = op == "ilike" || op == "not ilike";
            const bool negate = op.starts_with("not");
            const std::string lhs = insensitive ? "LOWER(" + column + ")" : column;
            const std::string rhs = insensitive ? "LOWER(" + placeholder(p) + ")" : placeholder(p);
            if (negate) return "(" + lhs + " NOT LIKE " + rhs + " OR " + column + " IS NULL)";
            return "(" + lhs + " LIKE " + rhs + ")";
        }
        if (f.type == field_type::boolean && (op == "=" || op == "!=")) {
            const bool want = v.is_boolean() ? v.get<bool>() : !v.is_null();
            const bool truth = op == "=" ? want : !want;
            if (truth) return "(" + column + " = " + placeholder(sql::boolean_param(conn_, true)) + ")";
            return "(" + column + " = " + placeholder(sql::boolean_param(conn_, false)) + " OR " + column + " IS NULL)";
        }
        if (is_null_value(f, v)) {
            if (op == "=") return "(" + column + " IS NULL)";
            if (op == "!=") return "(" + column + " IS NOT NULL)";
            return "1=0";  // comparing with NULL is never true
        }
        if (op == "!=") return "(" + col + " != " + param(v) + " OR " + column + " IS NULL)";
        return "(" + col + " " + op + " " + param(v) + ")";
    }

    db::connection& conn_;
};

}  // namespace

namespace {

// Nesting of AND/OR lists (leaves count 0). SQL parsers have small stacks
// (SQLite's overflows near 100 parentheses): a deeper domain is the caller's
// mistake, said so, not an internal error.
constexpr std::size_t max_domain_depth = 32;

std::size_t domain_depth(const nlohmann::json& d, std::size_t level = 0) {
    if (!d.is_array() || is_leaf(d) || level > max_domain_depth) return 0;
    std::size_t deepest = 0;
    for (const auto& x : d) deepest = std::max(deepest, domain_depth(x, level + 1));
    return deepest + 1;
}

}  // namespace

sql_condition compile_domain(const model& m, const nlohmann::json& domain) {
    if (domain_depth(domain) > max_domain_depth)
        bad_domain("nested deeper than " + std::to_string(max_domain_depth) + " levels");
    compiler c(current().connection());
    sql_condition out;
    out.sql = domain.is_null() ? "1=1" : c.domain(m, domain);
    out.params = std::move(c.params);
    return out;
}

bool domain_mentions(const nlohmann::json& domain, const std::string& name) {
    if (!domain.is_array()) return false;
    if (is_leaf(domain)) {
        const auto path = domain[0].get<std::string>();
        return path.substr(0, path.find('.')) == name;
    }
    for (const auto& d : domain)
        if (d.is_array() && domain_mentions(d, name)) return true;
    return false;
}

}  // namespace atrium::modules
