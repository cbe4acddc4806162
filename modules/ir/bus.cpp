// ir.bus.message: the table, notify() and the reads of the bus (modules/ir/bus.hpp).

#include "modules/ir/bus.hpp"
#include "database/value_numbers.hpp"

#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "transaction/errors.hpp"
#include "transaction/logging.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <chrono>
#include <mutex>

namespace atrium::modules::ir::bus {

namespace {

std::mutex hook_mutex;
std::function<void(const std::string&)> commit_hook;

const char* columns = "SELECT id, channel, message, created_at FROM ir_bus_message";

std::vector<stored_message> read_rows(const db::result& r) {
    std::vector<stored_message> out;
    out.reserve(r.rows.size());
    for (const auto& row : r.rows) {
        stored_message m;
        m.id = db::integer_of(row[0]);
        m.channel = std::get<std::string>(row[1]);
        if (!db::is_null(row[2]))
            m.message = nlohmann::json::parse(std::get<std::string>(row[2]), nullptr, /*allow_exceptions=*/false);
        if (!m.message.is_object()) m.message = nlohmann::json::object();
        m.message["message_id"] = m.id;
        m.created = db::is_null(row[3]) ? 0 : db::real_of(row[3]);
        out.push_back(std::move(m));
    }
    return out;
}

// Tells the waiting clients of every process once this transaction commits.
void announce(transaction& txn, std::int64_t id) {
    auto& conn = txn.connection();
    if (conn.backend_name() == "postgresql") {
        conn.execute("SELECT pg_notify(?, ?)", {std::string(channel_name), std::to_string(id)});
        return;
    }
    // After the end (a rollback too: the readers then find nothing new, which costs one query).
    txn.atexit([database = txn.database()] {
        try {
            if (auto counter = database->change_counter(channel_name)) counter->increment();
        } catch (const std::exception& error) {
            log_warning(std::string("bus counter not moved (other processes deliver at their next check): ") +
                        error.what());
        }
        std::function<void(const std::string&)> hook;
        {
            std::lock_guard lock(hook_mutex);
            hook = commit_hook;
        }
        if (hook) hook(database->name());
    });
}

}  // namespace

double epoch_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void add_bus_model(module_def& ir) {
    model_def message("ir.bus.message", "Bus Message");
    message.add(fields::char_field("channel", "Channel").set_required())
        .add(fields::text("message", "Message").set_help("JSON object"))
        .add(fields::float_field("created_at", "Created At").set_required().set_help("epoch seconds"));
    message.rec_name = "channel";
    ir.models.push_back(std::move(message));
}

std::int64_t notify(const std::string& channel, const nlohmann::json& message) {
    transaction& txn = current();
    if (channel.empty()) throw user_error("A bus message needs a channel.");
    if (!message.is_object()) throw user_error("A bus message must be a JSON object.");
    nlohmann::json stored = message;
    stored.erase("message_id");  // the row id is the message id
    const auto p = current_pool();
    auto guard = without_check_access();
    const auto id = p->get("ir.bus.message")
                        .create(nlohmann::json::array(
                            {{{"channel", channel}, {"message", stored.dump()}, {"created_at", epoch_now()}}}))
                        .at(0);
    announce(txn, id);
    return id;
}

std::optional<std::int64_t> notify_user(const std::string& title, const std::string& body, int priority,
                                        std::optional<std::int64_t> user, std::optional<std::string> client) {
    std::string channel;
    if (client) {
        channel = "client:" + *client;
    } else if (user) {
        channel = "user:" + std::to_string(*user);
    } else {
        const auto& context = current().context();
        const auto found = context.find("client");
        if (found == context.end() || !found->is_string() || found->get<std::string>().empty()) return std::nullopt;
        channel = "client:" + found->get<std::string>();
    }
    return notify(channel, {{"type", "notification"}, {"title", title}, {"body", body}, {"priority", priority}});
}

std::vector<stored_message> messages_after(std::int64_t after, std::size_t limit) {
    return read_rows(current().connection().execute(std::string(columns) + " WHERE id > ? ORDER BY id LIMIT ?",
                                                    {after, static_cast<std::int64_t>(limit)}));
}

std::vector<stored_message> messages_by_id(const std::vector<std::int64_t>& ids) {
    if (ids.empty()) return {};
    std::string sql = std::string(columns) + " WHERE id IN (";
    std::vector<db::value> params;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        sql += i ? ", ?" : "?";
        params.emplace_back(ids[i]);
    }
    sql += ")";
    auto rows = read_rows(current().connection().execute(sql, params));
    std::vector<stored_message> ordered;
    ordered.reserve(rows.size());
    for (const auto id : ids)
        for (auto& row : rows)
            if (row.id == id) ordered.push_back(row);
    return ordered;
}

std::vector<stored_message> messages_since(double epoch, std::size_t limit) {
    return read_rows(current().connection().execute(
        std::string(columns) + " WHERE created_at >= ? ORDER BY id LIMIT ?", {epoch, static_cast<std::int64_t>(limit)}));
}

std::int64_t newest_id() {
    const auto r = current().connection().execute("SELECT MAX(id) FROM ir_bus_message");
    return r.empty() || db::is_null(r.rows[0][0]) ? 0 : db::integer_of(r.rows[0][0]);
}

double oldest_created() {
    const auto r = current().connection().execute("SELECT MIN(created_at) FROM ir_bus_message");
    return r.empty() || db::is_null(r.rows[0][0]) ? 0 : db::real_of(r.rows[0][0]);
}

std::int64_t remove_older_than(double epoch) {
    return static_cast<std::int64_t>(
        current().connection().execute("DELETE FROM ir_bus_message WHERE created_at < ?", {epoch}).affected_rows);
}

void set_commit_hook(std::function<void(const std::string& database)> hook) {
    std::lock_guard lock(hook_mutex);
    commit_hook = std::move(hook);
}

}  // namespace atrium::modules::ir::bus
