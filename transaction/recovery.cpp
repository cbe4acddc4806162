#include "transaction/recovery.hpp"
#include "transaction/txn_metrics.hpp"

#include "database/errors.hpp"
#include "database/introspection.hpp"
#include "fiber/unwind.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"
#include "transaction/tpc_identity.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <random>
#include <set>
#include <unordered_set>

namespace atrium::tpc {

namespace {

using std::chrono::steady_clock;

constexpr std::size_t k_gid_hex_digits = 32;
/// How long decide() and ensure_table() keep retrying retryable errors (a busy
/// SQLite database: each attempt already waits the backend's busy wait; a
/// serialization failure). A coordinator holding SQLite's write lock longer
/// than that is stuck or very slow: the gid is counted as failed and the next
/// pass tries again. A coordinator's pending insert on PostgreSQL is waited
/// for by the server, without this limit.
constexpr auto k_decide_retry_limit = std::chrono::seconds(5);
/// Unique violations that never show the row that caused them (a bug
/// elsewhere): decide() gives up after that many.
constexpr int k_decide_conflict_limit = 20;

const std::string k_create_sql =
    "CREATE TABLE IF NOT EXISTS atrium_tpc_decision ("
    "gid VARCHAR(200) PRIMARY KEY, "
    "participant TEXT NOT NULL, "
    "outcome VARCHAR(10) NOT NULL, "
    "created BIGINT NOT NULL)";

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void fill_random(unsigned char* out, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
        const ssize_t got = ::getrandom(out + done, n - done, 0);
        if (got > 0) {
            done += static_cast<std::size_t>(got);
        } else if (got < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    if (done == n) return;
    // No getrandom(): std::random_device (also the kernel's pool on Linux).
    std::random_device device;
    for (; done < n; ++done) out[done] = static_cast<unsigned char>(device() & 0xffu);
}

std::string_view to_text(outcome o) { return o == outcome::commit ? "commit" : "abort"; }

outcome parse_outcome(const db::value& v, const std::string& gid) {
    const auto* text = std::get_if<std::string>(&v);
    if (text && *text == "commit") return outcome::commit;
    if (text && *text == "abort") return outcome::abort;
    throw std::runtime_error("decision record of " + gid + " has an unknown outcome");
}

/// Rolls back what is open on `conn`; a failure discards the connection
/// (only forced_unwind propagates). Callers leave the scope right after.
void rollback_quietly(db::pooled_connection& conn) {
    try {
        if (conn->in_transaction()) conn->rollback();
    } catch (...) {
        conn.discard();
        fiber::rethrow_if_unwinding();
    }
}

// Which main databases already have the table, as far as this process knows.
// Key: something that identifies the database behind a connection without a
// round trip (db::database_key()).
std::mutex g_tables_mutex;
std::unordered_set<std::string> g_tables;

bool table_known(const std::string& key) {
    std::lock_guard lock(g_tables_mutex);
    return g_tables.contains(key);
}

void remember_table(const std::string& key) {
    std::lock_guard lock(g_tables_mutex);
    g_tables.insert(key);
}

void sleep_for(std::chrono::nanoseconds d) { fiber::current().sleep_for(d); }

/// decide() without ensure_table(): the recorded outcome, or `wanted` recorded now.
outcome decide_now(db::database& main, const std::string& gid, const std::string& participant,
                   outcome wanted = outcome::abort) {
    const auto deadline = steady_clock::now() + k_decide_retry_limit;
    auto pause = std::chrono::milliseconds(2);
    int conflicts = 0;
    for (;;) {
        auto conn = main.acquire();
        try {
            // SQLite: BEGIN IMMEDIATE waits (busy retries) behind a coordinator
            // holding the write lock, so its record, if any, is visible below.
            conn->begin({});
            auto rows = conn->execute("SELECT outcome FROM atrium_tpc_decision WHERE gid = ?", {gid});
            if (!rows.empty()) {
                const outcome decided = parse_outcome(rows.rows.front().at(0), gid);
                conn->rollback();
                return decided;
            }
            // PostgreSQL: this insert waits on the unique index while a
            // coordinator's insert of the same gid is pending; it fails with a
            // unique violation if that coordinator commits.
            conn->execute("INSERT INTO atrium_tpc_decision (gid, participant, outcome, created) VALUES (?, ?, ?, ?)",
                          {gid, participant, std::string(to_text(wanted)), unix_now()});
            conn->commit();
            return wanted;
        } catch (const db::integrity_error&) {
            // The coordinator won the race: its record is committed. Read it in
            // a new DB transaction (REPEATABLE READ would not show it).
            rollback_quietly(conn);
            if (++conflicts > k_decide_conflict_limit) throw;
        } catch (const db::database_error& error) {
            rollback_quietly(conn);
            if (!error.is_retryable() || steady_clock::now() >= deadline) throw;
            sleep_for(pause);
            pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::milliseconds(50));
        }
    }
}

}  // namespace

// ---------------------------------------------------------------------------
// gids

namespace {

void append_random_hex(std::string& out) {
    unsigned char bytes[k_gid_hex_digits / 2];
    fill_random(bytes, sizeof bytes);
    static constexpr char digits[] = "0123456789abcdef";
    for (unsigned char b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0x0f]);
    }
}

bool lower_hex(std::string_view text) noexcept {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string new_gid() {
    std::string gid(gid_prefix);
    gid.reserve(gid_prefix.size() + k_gid_hex_digits);
    append_random_hex(gid);
    return gid;
}

std::string new_gid(std::string_view database_id) {
    if (database_id.size() != k_gid_hex_digits || !lower_hex(database_id)) {
        throw std::invalid_argument("not a database id: \"" + std::string(database_id) + "\"");
    }
    std::string gid(gid_prefix);
    gid.reserve(gid_prefix.size() + 2 * k_gid_hex_digits + 1);
    gid.append(database_id);
    gid.push_back('-');
    append_random_hex(gid);
    return gid;
}

bool is_atrium_gid(std::string_view gid) noexcept {
    if (gid.substr(0, gid_prefix.size()) != gid_prefix) return false;
    const auto rest = gid.substr(gid_prefix.size());
    if (rest.size() == k_gid_hex_digits) return lower_hex(rest);
    return rest.size() == 2 * k_gid_hex_digits + 1 && rest[k_gid_hex_digits] == '-' &&
           lower_hex(rest.substr(0, k_gid_hex_digits)) && lower_hex(rest.substr(k_gid_hex_digits + 1));
}

std::string_view gid_database(std::string_view gid) noexcept {
    if (!is_atrium_gid(gid) || gid.size() == gid_prefix.size() + k_gid_hex_digits) return {};
    return gid.substr(gid_prefix.size(), k_gid_hex_digits);
}

// ---------------------------------------------------------------------------
// decisions

namespace decisions {

void ensure_table(db::database& main) {
    // Two processes creating it at once may collide in the catalog
    // (PostgreSQL reports a unique violation on pg_type, or 42P07): try
    // again, the next attempt sees the table. A busy SQLite database (a
    // coordinator holding the write lock) is waited for like in decide().
    const auto deadline = steady_clock::now() + k_decide_retry_limit;
    auto pause = std::chrono::milliseconds(2);
    for (int races = 0;;) {
        auto conn = main.acquire();
        try {
            conn->begin({});
            conn->execute(k_create_sql);
            conn->commit();
            return;
        } catch (const db::database_error& error) {
            rollback_quietly(conn);
            if (error.category() == db::error_category::integrity || error.code() == "42P07") {
                if (++races >= 5) throw;
            } else if (!error.is_retryable() || steady_clock::now() >= deadline) {
                throw;
            }
            sleep_for(pause);
            pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::milliseconds(50));
        }
    }
}

void record_commit(db::connection& main_transaction, const std::string& gid, const std::string& participant) {
    if (!is_atrium_gid(gid)) throw std::invalid_argument("not an Atrium gid: \"" + gid + "\"");
    const std::string key = db::database_key(main_transaction);
    if (!table_known(key)) {
        if (db::table_exists(main_transaction, table)) {
            remember_table(key);
        } else {
            // Inside the coordinator's transaction (PostgreSQL and SQLite both
            // allow it): the table commits, or not, with the decision, so it
            // is only remembered once seen existing (a later call).
            main_transaction.execute(k_create_sql);
        }
    }
    main_transaction.execute(
        "INSERT INTO atrium_tpc_decision (gid, participant, outcome, created) VALUES (?, ?, ?, ?)",
        {gid, participant, std::string(to_text(outcome::commit)), unix_now()});
}

outcome decide(db::database& main, const std::string& gid, const std::string& participant) {
    ensure_table(main);
    return decide_now(main, gid, participant);
}

outcome settle(db::database& main, const std::string& gid, const std::string& participant, outcome wanted) {
    if (!is_atrium_gid(gid)) throw std::invalid_argument("not an Atrium gid: \"" + gid + "\"");
    ensure_table(main);
    return decide_now(main, gid, participant, wanted);
}

void overrule(db::database& main, const std::string& gid, const std::string& participant, outcome forced) {
    if (!is_atrium_gid(gid)) throw std::invalid_argument("not an Atrium gid: \"" + gid + "\"");
    ensure_table(main);
    auto conn = main.acquire();
    conn->begin({});
    try {
        conn->execute("DELETE FROM atrium_tpc_decision WHERE gid = ?", {gid});
        conn->execute("INSERT INTO atrium_tpc_decision (gid, participant, outcome, created) VALUES (?, ?, ?, ?)",
                      {gid, participant, std::string(to_text(forced)), unix_now()});
        conn->commit();
    } catch (...) {
        fiber::rethrow_if_unwinding();
        rollback_quietly(conn);
        throw;
    }
}

std::optional<outcome> lookup(db::database& main, const std::string& gid) {
    ensure_table(main);
    auto conn = main.acquire();
    db::begin_options read_only;
    read_only.readonly = true;
    conn->begin(read_only);
    auto rows = conn->execute("SELECT outcome FROM atrium_tpc_decision WHERE gid = ?", {gid});
    conn->commit();
    if (rows.empty()) return std::nullopt;
    return parse_outcome(rows.rows.front().at(0), gid);
}

std::size_t forget_finished(db::database& main, const std::vector<std::string>& still_in_doubt,
                            std::chrono::seconds keep_abort_markers) {
    return forget_finished(main, still_in_doubt, keep_abort_markers, forget_options{});
}

std::size_t forget_finished(db::database& main, const std::vector<std::string>& still_in_doubt,
                            std::chrono::seconds keep_abort_markers, const forget_options& options) {
    ensure_table(main);
    const std::int64_t now = unix_now();
    const std::int64_t listed_at = options.listed_at > 0 ? options.listed_at : now;
    const std::int64_t commit_cutoff = listed_at - options.clock_margin.count();
    const std::int64_t abort_cutoff = now - keep_abort_markers.count();
    const std::set<std::string> doubt(still_in_doubt.begin(), still_in_doubt.end());
    const std::set<std::string> participants(options.participants.begin(), options.participants.end());

    auto conn = main.acquire();
    conn->begin({});
    try {
        auto rows = conn->execute("SELECT gid, participant, outcome, created FROM atrium_tpc_decision");
        std::vector<std::string> doomed;
        for (const auto& row : rows.rows) {
            const auto& gid = std::get<std::string>(row.at(0));
            const auto& participant = std::get<std::string>(row.at(1));
            const auto* created = std::get_if<std::int64_t>(&row.at(3));
            if (!created) continue;
            if (!participants.empty() && !participants.contains(participant)) continue;
            if (doubt.contains(gid)) continue;
            const auto* text = std::get_if<std::string>(&row.at(2));
            const bool is_commit = text && *text == "commit";
            // A commit record is only safe to drop once its participant was
            // listed after it had prepared (it prepares before the record is
            // written): created well before the listing.
            if (is_commit ? *created < commit_cutoff : *created < abort_cutoff) doomed.push_back(gid);
        }
        for (const auto& gid : doomed) {
            conn->execute("DELETE FROM atrium_tpc_decision WHERE gid = ?", {gid});
        }
        conn->commit();
        return doomed.size();
    } catch (...) {
        fiber::rethrow_if_unwinding();
        rollback_quietly(conn);
        throw;
    }
}

}  // namespace decisions

// ---------------------------------------------------------------------------
// recovery

database_list::database_list(const std::vector<db::database*>& databases, db::database* legacy)
    : legacy_(legacy) {
    for (db::database* database : databases) {
        if (!database) continue;
        all_.push_back(database);
        if (auto id = read_database_id(*database)) by_id_.emplace_back(std::move(*id), database);
    }
    if (legacy_ && std::find(all_.begin(), all_.end(), legacy_) == all_.end()) all_.push_back(legacy_);
}

db::database* database_list::find(std::string_view database_id) {
    for (const auto& [id, database] : by_id_) {
        if (id == database_id) return database;
    }
    return nullptr;
}

std::vector<db::database*> database_list::all() { return all_; }

recovery_report recover(db::database& main, const std::vector<participant_store*>& stores,
                        std::chrono::seconds keep_abort_markers) {
    database_list directory({&main}, &main);
    return recover(directory, stores, keep_abort_markers);
}

recovery_report recover(decision_directory& directory, const std::vector<participant_store*>& stores,
                        std::chrono::seconds keep_abort_markers) {
    recovery_report report;
    struct branch {
        std::string gid;
        db::database* decider;
    };
    struct listing {
        participant_store* store;
        std::string participant;
        std::vector<branch> branches;
    };
    // List first, decide afterwards: deciding may wait for coordinators
    // (SQLite's write lock), and what they finish meanwhile is then simply
    // found finished (42704).
    const std::int64_t listed_at = unix_now();
    std::vector<listing> listings;
    std::set<db::database*> deciders;
    for (participant_store* store : stores) {
        if (!store) continue;
        listing entry{store, {}, {}};
        try {
            entry.participant = store->participant_id();
            for (auto& gid : store->in_doubt()) {
                if (!is_atrium_gid(gid)) continue;
                const auto id = gid_database(gid);
                db::database* decider = id.empty() ? directory.legacy() : directory.find(id);
                if (!decider) {
                    // Another coordinator's branch: only its own main database
                    // can say whether it committed.
                    ++report.foreign;
                    continue;
                }
                deciders.insert(decider);
                entry.branches.push_back({std::move(gid), decider});
            }
        } catch (...) {
            fiber::rethrow_if_unwinding();
            // Not listed: its decision records must stay.
            log_error("recovery: cannot list the transactions in doubt of " +
                      (entry.participant.empty() ? std::string("a participant") : entry.participant) + ": " +
                      describe_exception(std::current_exception()));
            ++report.failed;
            continue;
        }
        listings.push_back(std::move(entry));
    }
    for (db::database* decider : deciders) decisions::ensure_table(*decider);

    std::vector<std::string> still_in_doubt;
    std::vector<std::string> listed_participants;
    for (const auto& entry : listings) {
        listed_participants.push_back(entry.participant);
        for (const auto& [gid, decider] : entry.branches) {
            try {
                if (decide_now(*decider, gid, entry.participant) == outcome::commit) {
                    entry.store->commit(gid);
                    ++report.committed;
                    txn_metrics::get().recovery_committed.add();
                    log_info("recovery: committed " + gid + " in " + entry.participant);
                } else {
                    entry.store->rollback(gid);
                    ++report.rolled_back;
                    txn_metrics::get().recovery_rolled_back.add();
                    log_info("recovery: rolled back " + gid + " in " + entry.participant);
                }
            } catch (...) {
                fiber::rethrow_if_unwinding();
                log_error("recovery: " + gid + " in " + entry.participant + " stays in doubt: " +
                          describe_exception(std::current_exception()));
                ++report.failed;
                txn_metrics::get().recovery_failed.add();
                still_in_doubt.push_back(gid);
            }
        }
    }
    if (!listed_participants.empty()) {
        decisions::forget_options options;
        options.participants = std::move(listed_participants);
        options.listed_at = listed_at;
        for (db::database* database : directory.all()) {
            try {
                report.forgotten += decisions::forget_finished(*database, still_in_doubt, keep_abort_markers, options);
            } catch (...) {
                fiber::rethrow_if_unwinding();
                log_error("recovery: cannot remove finished decision records of " + database->name() + ": " +
                          describe_exception(std::current_exception()));
            }
        }
    }
    return report;
}

}  // namespace atrium::tpc
