#pragma once
// The bus (issue 22): messages a module sends to Tryton clients waiting on
// `POST /<db>/bus` (server/bus_service.hpp). notify() inserts the message in
// ir.bus.message in the caller's transaction, so it exists only if that
// commits, and announces it: NOTIFY atrium_bus '<id>' in the same transaction
// (PostgreSQL: delivered only on commit, in commit order), or after the commit
// the database's shared change counter `atrium_bus` and this process's commit
// hook (SQLite, whose ids are in commit order: one writer at a time).

#include "database/database.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace atrium::modules {
struct module_def;
}

namespace atrium::modules::ir::bus {

/// The LISTEN/NOTIFY channel (payload: the message id) and the SQLite counter's topic.
inline constexpr const char* channel_name = "atrium_bus";

/// Adds the ir.bus.message model to the ir module.
void add_bus_model(module_def& ir);

/// Sends `message` (a JSON object) on `channel` (`user:<id>`, `client:<uuid>`)
/// once the current transaction commits (no transaction: no_transaction).
/// Returns the message id, which the client gets as `message_id`.
std::int64_t notify(const std::string& channel, const nlohmann::json& message);

/// trytond's bus.notify(title, body, priority, user, client): a message of type
/// "notification" on `client:<client>` if given, else `user:<user>`, else the
/// context's `client` (the desktop client's bus id); none of them: nothing sent.
std::optional<std::int64_t> notify_user(const std::string& title, const std::string& body = {}, int priority = 1,
                                        std::optional<std::int64_t> user = std::nullopt,
                                        std::optional<std::string> client = std::nullopt);

struct stored_message {
    std::int64_t id = 0;
    std::string channel;
    nlohmann::json message;  ///< with "message_id": id
    double created = 0;      ///< epoch seconds
};

/// On the current transaction: messages with id > `after`, by id (at most `limit`).
std::vector<stored_message> messages_after(std::int64_t after, std::size_t limit);
/// On the current transaction: the messages of these ids (those that exist), in the order given.
std::vector<stored_message> messages_by_id(const std::vector<std::int64_t>& ids);
/// On the current transaction: messages created at or after `epoch`, by id (at most `limit`).
std::vector<stored_message> messages_since(double epoch, std::size_t limit);
/// On the current transaction: the highest message id (0: none).
std::int64_t newest_id();
/// On the current transaction: when the oldest message was created (0: none);
/// a read-only look before remove_older_than, so an idle database takes no write lock.
double oldest_created();
/// On the current transaction: deletes the messages created before `epoch`; how many.
std::int64_t remove_older_than(double epoch);

/// Called after every committed notify() of this process on a database
/// without NOTIFY (SQLite), with the database's name: the in-process wake-up.
/// Set once by the server; empty: only the shared counter tells.
void set_commit_hook(std::function<void(const std::string& database)> hook);

double epoch_now();

}  // namespace atrium::modules::ir::bus
