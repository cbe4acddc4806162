#pragma once
// A model: its definition (what a module declares) and the generic methods
// every model has (create, read, write, delete, search, …), run on the
// current transaction with parameterised SQL. Table and column names come
// only from the definition, never from a request.

#include "database/database.hpp"
#include "modules/field.hpp"
#include "modules/rpc.hpp"
#include "modules/ui_def.hpp"
#include "modules/values.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atrium::modules {

class model;
class pool;

using ids = std::vector<std::int64_t>;

/// A custom method of a model, exposed over RPC as "model.<model>.<name>".
/// `call` receives the model and the converted arguments (context removed).
struct custom_method {
    std::string name;
    rpc_definition rpc;
    std::function<nlohmann::json(const model& self, const rpc_call& call)> call;
    std::string doc;
};

struct model_def {
    std::string name;         ///< "res.user"
    std::string table;        ///< default: name with '.' → '_'
    std::string description;
    std::vector<field> fields;
    std::vector<std::pair<std::string, std::string>> order{{"id", "ASC"}};  ///< default order
    /// The field whose value is the record's `rec_name` (its name for people);
    /// a model without it, or a record where it is empty, shows its id.
    std::string rec_name = "name";
    std::vector<custom_method> methods;
    /// Checks after create and write (throw user_error), run without access checks.
    std::function<void(const model& self, const ids& records)> validate;
    /// Rewrites the values of create and write before anything else (e.g. hashes "password").
    std::function<void(nlohmann::json& values)> prepare_values;
    /// Runs after a write, without access checks, with the written values
    /// (as prepare_values left them): what the change implies elsewhere.
    std::function<void(const model& self, const ids& records, const nlohmann::json& values)> after_write;
    /// Called before a delete; the function it returns runs after the rows are gone (recomputations).
    std::function<std::function<void()>(const model& self, const ids& records)> on_delete;
    /// Models whose access rights also apply to this one (SPEC §7.4's
    /// delegation): the effective right is this model's AND theirs.
    std::vector<std::string> access_delegates;
    /// Writes here change access rights (clears the access cache).
    bool invalidates_access = false;
    /// Buttons the views may show (each calls the custom method of its name).
    std::vector<button_def> buttons;

    model_def(std::string name_, std::string description_ = {});
    model_def& add(field f);
    model_def& add(custom_method m);
};

/// A row read through the ORM with typed access to its fields.
class record {
public:
    record(std::int64_t id, nlohmann::json values) : id_(id), values_(std::move(values)) {}
    std::int64_t id() const noexcept { return id_; }
    const nlohmann::json& values() const noexcept { return values_; }
    bool is_null(const std::string& name) const;
    /// T ∈ bool, std::int64_t, int, double, std::string, decimal, date, datetime,
    /// std::vector<unsigned char> (binary), ids (x2many). Null ⇒ value_error.
    template <class T>
    T get(const std::string& name) const;

private:
    const nlohmann::json& raw(const std::string& name) const;
    std::int64_t id_;
    nlohmann::json values_;
};

struct search_options {
    std::int64_t offset = 0;
    std::optional<std::int64_t> limit{};
    nlohmann::json order = nullptr;  ///< [[field, "ASC"|"DESC"], …]; null ⇒ the model's order
};

class model {
public:
    model(model_def def, const pool& owner);

    const std::string& name() const noexcept { return def_.name; }
    const std::string& table() const noexcept { return def_.table; }
    const model_def& definition() const noexcept { return def_; }
    const pool& owner() const noexcept { return *pool_; }
    const field* find_field(std::string_view name) const;
    const field& get_field(std::string_view name) const;  ///< key_error if unknown
    bool has_active() const { return find_field("active") != nullptr; }

    // --- generic methods (on the current transaction) ---
    ids create(const nlohmann::json& vlist) const;
    /// `names` empty ⇒ every field. Also "_timestamp" (the optimistic-lock
    /// value), "rec_name", "_write"/"_delete" (the user's rights) and
    /// "<relational field>.<path>", answered nested under "<field>." as trytond
    /// does: {"parent": 2, "parent.": {"id": 2, "rec_name": "…"}} (null when
    /// empty, a list of such maps for x2many).
    nlohmann::json read(const ids& records, const std::vector<std::string>& names = {}) const;
    void write(const ids& records, const nlohmann::json& values) const;
    void remove(const ids& records) const;  ///< delete
    ids search(const nlohmann::json& domain, const search_options& options = {}) const;
    std::int64_t search_count(const nlohmann::json& domain) const;
    nlohmann::json search_read(const nlohmann::json& domain, const search_options& options = {},
                               const std::vector<std::string>& names = {}) const;
    ids copy(const ids& records, const nlohmann::json& defaults = nlohmann::json::object()) const;
    nlohmann::json fields_get(const std::vector<std::string>& names = {}) const;
    nlohmann::json default_get(const std::vector<std::string>& names = {}) const;

    // --- typed access for module code ---
    std::vector<record> browse(const ids& records, const std::vector<std::string>& names = {}) const;
    record browse(std::int64_t id, const std::vector<std::string>& names = {}) const;

    /// SPEC §7.4: throws access_error when the current user may not `mode` this model.
    void require_access(std::string_view mode) const;

    /// Creates the table, missing columns, indexes and link tables (never drops).
    void sync_schema() const;

private:
    friend class domain_compiler;
    nlohmann::json defaults_for(const std::vector<std::string>& names) const;
    void check_timestamps(const ids& records) const;
    /// `check_targets` false: the caller checks the many2one targets itself
    /// (create() does it inside its INSERT).
    void check_values(const nlohmann::json& values, bool creating, std::int64_t id, bool check_targets = true) const;
    /// A write over RPC may not name a read-only field (what prepare_values
    /// derives from the caller's values, e.g. a password's hash, may).
    void check_writable(const nlohmann::json& values) const;
    /// Throws the user_error of the first many2one value whose target record does not exist.
    void check_many2one_targets(const nlohmann::json& values) const;
    void write_x2many(const field& f, std::int64_t id, const nlohmann::json& commands) const;
    void check_exist(const ids& records) const;
    std::string order_by(const nlohmann::json& order) const;

    model_def def_;
    const pool* pool_;
    std::map<std::string, std::size_t, std::less<>> index_;
};

/// A JSON value of field type `f` to its SQL parameter (value_error if it does not fit).
db::value to_db(const db::connection& conn, const field& f, const nlohmann::json& v);
/// A SQL value of field type `f` to its JSON (§8.5) form.
nlohmann::json from_db(const field& f, const db::value& v);

}  // namespace atrium::modules
