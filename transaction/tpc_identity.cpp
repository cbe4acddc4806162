#include "transaction/tpc_identity.hpp"
// Fiber paths: every catch (...) here lets a fiber's forced_unwind through first
// (fiber::rethrow_if_unwinding(), or fiber::is_unwinding() then rethrow).

#include "database/errors.hpp"
#include "database/introspection.hpp"
#include "fiber/unwind.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/recovery.hpp"

#include "util/hex.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>

namespace atrium::tpc {

namespace {

constexpr std::size_t k_id_digits = 32;

const std::string k_create_sql =
    "CREATE TABLE IF NOT EXISTS atrium_tpc_identity (id INTEGER PRIMARY KEY, uuid VARCHAR(36) NOT NULL)";

// The 32 digits of a stored "xxxxxxxx-xxxx-…" UUID; empty if malformed.
std::string digits_of(const db::value& value) {
    const auto* text = std::get_if<std::string>(&value);
    if (!text) return {};
    std::string digits;
    for (char c : *text) {
        if (c == '-') continue;
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
        digits.push_back(c);
    }
    return digits.size() == k_id_digits ? digits : std::string();
}

std::optional<std::string> select_id(db::connection& conn) {
    if (!db::table_exists(conn, "atrium_tpc_identity")) return std::nullopt;
    auto rows = conn.execute("SELECT uuid FROM atrium_tpc_identity WHERE id = 1");
    if (rows.empty()) return std::nullopt;
    auto id = digits_of(rows.rows.front().at(0));
    if (id.empty()) throw std::runtime_error("the tpc identity of this database is not a UUID (table atrium_tpc_identity)");
    return id;
}

// A random version-4 UUID's 32 digits (the random part of an old-format gid).
std::string random_id() {
    std::string id = new_gid().substr(gid_prefix.size());
    id[12] = '4';
    static constexpr char variant[] = "89ab";
    const char c = id[16];
    const int nibble = util::hex_value(c);
    id[16] = variant[nibble & 3];
    return id;
}

template <class Fn>
auto with_connection(db::database& database, bool readonly, Fn&& fn) {
    // Made during the first write of a call: bounded by that call's limits.
    const auto& limits = fiber_state().call();
    auto conn = limits.deadline ? database.acquire_until(limits.deadline) : database.acquire();
    try {
        db::begin_options options;
        options.readonly = readonly;
        options.until = limits.deadline;
        options.cancel = limits.cancel.get();
        conn->begin(options);
        auto result = fn(*conn);
        conn->commit();
        conn.return_to_pool();
        return result;
    } catch (...) {
        // A clean rollback keeps the connection for the pool.
        bool broken = false;
        try {
            if (conn->in_transaction()) conn->rollback();
        } catch (...) {
            if (fiber::is_unwinding(std::current_exception())) {
                conn.discard();
                throw;
            }
            broken = true;
        }
        if (broken) conn.discard();
        else conn.return_to_pool();
        throw;
    }
}

std::mutex g_cache_mutex;
std::map<const db::database*, std::pair<std::weak_ptr<db::database>, std::string>> g_cache;

}  // namespace

std::string format_uuid(std::string_view id) {
    if (id.size() != k_id_digits) return std::string(id);
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < id.size(); ++i) {
        if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
        out.push_back(id[i]);
    }
    return out;
}

std::optional<std::string> read_database_id(db::database& database) {
    return with_connection(database, true, [](db::connection& conn) { return select_id(conn); });
}

std::string ensure_database_id(db::database& database) {
    if (auto id = read_database_id(database)) return *id;
    // Two processes may create it at once: the catalog race (PostgreSQL) or
    // the insert of row 1 fails for the loser, whose next attempt reads the
    // winner's id. A busy SQLite database is waited for by BEGIN IMMEDIATE.
    for (int attempt = 0;; ++attempt) {
        try {
            return with_connection(database, false, [](db::connection& conn) {
                conn.execute(k_create_sql);
                if (auto id = select_id(conn)) return *id;
                const auto id = random_id();
                conn.execute("INSERT INTO atrium_tpc_identity (id, uuid) VALUES (1, ?)", {format_uuid(id)});
                return id;
            });
        } catch (const db::database_error& error) {
            // 42P07 / 42710: the table or its row type was created meanwhile.
            const bool race = error.category() == db::error_category::integrity || error.code() == "42P07" ||
                              error.code() == "42710" || error.is_retryable();
            if (!race || attempt >= 5) throw;
            fiber::current().sleep_for(std::chrono::milliseconds(5 << attempt));
        }
    }
}

std::string database_id(const std::shared_ptr<db::database>& database, db::connection* own) {
    if (!database) throw std::invalid_argument("database_id: no database");
    {
        std::lock_guard lock(g_cache_mutex);
        if (auto it = g_cache.find(database.get()); it != g_cache.end()) {
            // Same address, same object (not a later one at a freed address).
            if (it->second.first.lock() == database) return it->second.second;
            g_cache.erase(it);
        }
    }
    std::optional<std::string> found;
    if (own && own->in_transaction() && db::transaction_locks_database(*own)) {
        // This transaction holds SQLite's write lock: another connection can
        // read (WAL) what is committed, but would wait for ever to write.
        found = read_database_id(*database);
        if (!found) {
            if (auto mine = select_id(*own)) return *mine;  // made earlier in this transaction
            own->execute(k_create_sql);
            const auto id = random_id();
            own->execute("INSERT INTO atrium_tpc_identity (id, uuid) VALUES (1, ?)", {format_uuid(id)});
            return id;  // commits with the transaction's decision, or not at all: not remembered
        }
    }
    auto id = found ? *found : ensure_database_id(*database);
    std::lock_guard lock(g_cache_mutex);
    std::erase_if(g_cache, [](const auto& entry) { return entry.second.first.expired(); });
    g_cache[database.get()] = {database, id};
    return id;
}

}  // namespace atrium::tpc
