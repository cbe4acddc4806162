#pragma once
// The RPC dispatcher (SPEC §6–§7): routes a decoded call to the built-in
// services (common.*, system.*) or to an exposed module method, authenticates
// it, and runs it in a transaction with the retry loop of SPEC §4.3.
// Transport-neutral: the HTTP/JSON-RPC layer builds a dispatch_request, calls
// dispatch() on the request fiber and renders the value or the exception
// (dispatch_errors.hpp, modules/errors.hpp) in the request's dialect.

#include "database/database.hpp"
#include "modules/cache_generation.hpp"
#include "modules/res/auth.hpp"
#include "modules/rpc.hpp"
#include "server/dispatch/session_cache.hpp"
#include "server/rpc_handler.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace atrium::modules {
class pool;
}
namespace atrium::db {
class pg_listener;
}

namespace atrium::server {

/// One call, referring to the decoded request's fields (no copies): valid
/// while that request lives, i.e. for the dispatch.
struct dispatch_request {
    const std::optional<std::string>& database;  ///< from the route: `/<db>/`; none for `/`
    const std::string& method;
    const nlohmann::json& params;   ///< positional
    const nlohmann::json& kwargs;   ///< named (JSON-RPC 2.0 object params)
    const std::string& authorization;  ///< the Authorization header, as sent
    const std::string& remote_addr;
    const std::string& http_host;
    const std::string& scheme;  ///< "http" or "https"
    rpc_call_notes* notes = nullptr;  ///< filled as soon as known (the call's log line)
    /// JSON-RPC 2.0 answers a method that cannot exist with -32601 before
    /// asking for a session; the Tryton dialect authenticates first (SPEC §6.2).
    rpc_dialect dialect = rpc_dialect::tryton_envelope;
    /// When the request was read, the client's X-Atrium-Timeout and the
    /// cancellation (rpc_http_info): a method with its own timeout gets its
    /// deadline from them.
    std::chrono::steady_clock::time_point received{};
    std::optional<std::chrono::milliseconds> client_timeout{};
    std::shared_ptr<db::cancellation> cancel{};
};

struct dispatch_result {
    nlohmann::json value;
    std::optional<int> cache_seconds;  ///< X-Tryton-Cache
    std::int64_t user = -1;            ///< the authenticated user (-1: none), for logs
    int retries = 0;                   ///< database-error retries + lock fixes, for logs
};

struct dispatcher_settings {
    std::string version = "6.0";  ///< common.server.version: the Tryton series served (web.tryton_series)
    int retry = 5;                ///< database.retry
    bool list_databases = true;   ///< database.list
    std::string language = "en";  ///< database.language
    modules::res::session_settings session;
    /// PostgreSQL only: the server URI (`postgresql://user@host:port/`, no
    /// query) and a way to run a background fiber. With both, each database's
    /// validated sessions are cached in-process and dropped when any process
    /// deletes them (LISTEN on res::session_channel); without, every
    /// authenticated call checks its session in the database.
    std::string postgresql_uri;
    std::function<void(std::function<void()>)> spawn_background;
    /// `web.call_timeout`: how long a call may run unless its method says
    /// otherwise (rpc_definition::timeout); the client may only lower it.
    std::chrono::milliseconds call_timeout = std::chrono::seconds(60);
    /// `web.method_timeouts`: the operator's timeout for these methods, in
    /// place of call_timeout and of the method's own.
    std::map<std::string, std::chrono::milliseconds, std::less<>> method_timeouts;
    /// Called after a call that queued tasks (modules::ir::enqueue) committed:
    /// wakes this process's queue workers (server/queue_workers.hpp). Empty:
    /// the tasks wait for the workers of another process.
    std::function<void()> tasks_queued;
};

class dispatcher final : public rpc_handler {
public:
    dispatcher(std::shared_ptr<db::backend> backend, dispatcher_settings settings);

    /// Runs one call on the calling fiber. Throws http_error, method_not_found,
    /// value_error/type_error (bad arguments), modules::tryton_error or
    /// anything a module throws. Database errors that are transient (the
    /// retryable ones left after every retry, and unavailable ones: server
    /// down, disk full) become service_unavailable (HTTP 503, Retry-After).
    dispatch_result dispatch(const dispatch_request& request);

    /// rpc_handler: the transport's entry point (fills the call's log notes).
    rpc_result handle(const rpc_request& request) override;
    /// rpc_handler: a Session checked as a call would check it (session cache,
    /// else the database), Basic by logging in; wrong credentials ⇒ http_error
    /// 401 (429 when rate limited). On `/` (no database) nothing is verified.
    bool authenticated_for_limits(const std::optional<std::string>& database, const rpc_http_info& http) override;
    /// rpc_handler: the bus's session check, the same as a call's (Session or Basic).
    bus_subscriber subscriber_for_bus(const std::string& database, const rpc_http_info& http) override;

    const dispatcher_settings& settings() const noexcept { return settings_; }
    /// Ends the background fibers (the session listeners) at their next wake-up
    /// and wakes those waiting on their socket; call it on the thread running
    /// them, then drain that io_context before destroying it.
    void stop_background() noexcept;
    /// A database name is a plain identifier: letters, digits, `_`, `-`, `.` (not first).
    static bool valid_database_name(const std::string& name);

private:
    std::shared_ptr<db::database> open_database(const std::string& name);
    std::int64_t authenticate(const std::shared_ptr<db::database>& database, const dispatch_request& request,
                              bool fresh, std::string* session_key);
    dispatch_result dispatch_root(const dispatch_request& request);
    dispatch_result dispatch_database(const dispatch_request& request);
    std::shared_ptr<const modules::pool> load_pool(const std::shared_ptr<db::database>& database);
    dispatch_result call_object(const std::shared_ptr<db::database>& database, const dispatch_request& request,
                                std::int64_t user, const modules::exposed_method& method);
    void touch_session(const std::shared_ptr<db::database>& database, std::int64_t user, const std::string& key);
    void listen_for_session_changes(const std::string& database);
    /// The listener of a PostgreSQL database, shared by its fiber and the
    /// calls: a call first reads what already reached the socket (no query,
    /// one non-blocking read), so a change committed before the call arrived
    /// is applied even if the listener's fiber has not run yet.
    struct change_listener {
        std::mutex mutex;
        db::pg_listener* listener = nullptr;  // while LISTEN is up (the fiber owns it)
        std::shared_ptr<modules::cache_generation> generation;
        std::shared_ptr<db::shared_counter> session_host;  // sessions deleted by this host's processes
    };
    std::shared_ptr<change_listener> change_listener_of(const std::string& database);
    /// Applies the notifications waiting on `slot`'s listener; under its mutex.
    void apply_notifications(const std::string& database, change_listener& slot);

    std::shared_ptr<db::backend> backend_;
    dispatcher_settings settings_;
    std::mutex mutex_;
    std::map<std::string, std::shared_ptr<db::database>> databases_;
    struct loaded_pool {
        std::shared_ptr<const modules::pool> pool;
        std::chrono::steady_clock::time_point loaded;
        std::shared_ptr<modules::cache_generation> generation;  // of the database
        std::uint64_t seen = 0;                                  // its value before loading
    };
    std::map<std::string, loaded_pool> pools_;
    std::map<std::string, std::chrono::steady_clock::time_point> touched_;  // session key → last touch
    session_cache sessions_;
    bool stopping_ = false;                      // stop_background() was called
    std::set<int> listener_sockets_;             // sockets the session listeners wait on
    std::map<std::string, std::shared_ptr<change_listener>> change_listeners_;  // PostgreSQL databases
};

}  // namespace atrium::server
