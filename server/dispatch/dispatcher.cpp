#include "server/dispatch/dispatcher.hpp"

#include "database/errors.hpp"
#include "database/postgresql/pg_listener.hpp"
#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "server/call_deadline.hpp"
#include "server/dispatch/argument_conversion.hpp"
#include "server/dispatch/authorization.hpp"
#include "server/rpc_handler.hpp"

#include <charconv>
#include <sys/socket.h>
#include "transaction/errors.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"
#include "transaction/retry.hpp"
#include "transaction/tpc_identity.hpp"
#include "transaction/transaction.hpp"

namespace atrium::server {
namespace {

// The method part of "type.name.method" split as SPEC §6.2 says.
struct object_method {
    std::string type, name, method;
};

std::optional<object_method> split_object_method(const std::string& full) {
    auto first = full.find('.');
    auto last = full.rfind('.');
    if (first == std::string::npos || last == first) return std::nullopt;
    object_method out{full.substr(0, first), full.substr(first + 1, last - first - 1), full.substr(last + 1)};
    if (out.type.empty() || out.name.empty() || out.method.empty()) return std::nullopt;
    return out;
}

const nlohmann::json& param(const dispatch_request& request, std::size_t index) {
    static const nlohmann::json null_value;
    if (request.params.is_array() && index < request.params.size()) return request.params[index];
    return null_value;
}

std::string string_param(const dispatch_request& request, std::size_t index, const char* what) {
    const auto& value = param(request, index);
    if (!value.is_string()) throw value_error(std::string(what) + " must be a string");
    return value.get<std::string>();
}

[[noreturn]] void unauthorized() { throw http_error(401, "Unauthorized"); }

// Transient database failures: worth the client's retry later, not a bug.
bool transient(const db::database_error& error) {
    return error.category() == error_category::retryable || error.category() == error_category::unavailable;
}

[[noreturn]] void unavailable(const db::database_error& error) {
    log_warning(std::string("answering 503: ") + error.what());
    const bool contention = error.category() == error_category::retryable;
    throw service_unavailable(contention ? "Service unavailable: the database is busy, try again"
                                         : "Service unavailable: the database cannot serve now, try again later",
                              contention ? 1 : 10);
}

// Runs `work` as root in its own transaction, retried on operational errors.
template <class Fn>
nlohmann::json as_root(const std::shared_ptr<db::database>& database, int retry, Fn&& work, bool readonly = false) {
    retry_options options;
    options.start.readonly = readonly;
    options.retry = retry;
    return call_with_retry(database, root_user, options, [&](transaction&) { return work(); });
}

// The methods under a database route that are not model methods.
bool session_method(const std::string& method) {
    return method == "common.db.logout" || method == "system.listMethods" || method == "system.methodSignature" ||
           method == "system.methodHelp";
}

}  // namespace

dispatcher::dispatcher(std::shared_ptr<db::backend> backend, dispatcher_settings settings)
    : backend_(std::move(backend)), settings_(std::move(settings)) {}

bool dispatcher::valid_database_name(const std::string& name) {
    if (name.empty() || name.size() > 63 || name[0] == '.' || name[0] == '-') return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-' || c == '.';
        if (!ok) return false;
    }
    return name.find("..") == std::string::npos;
}

namespace {

// The database's counter of session deletions; nullptr when it has none or it
// cannot be set up (then its sessions are never cached: a counter that cannot
// be read cannot be trusted).
std::shared_ptr<db::shared_counter> session_counter(db::database& database) {
    try {
        return database.change_counter(modules::res::session_channel);
    } catch (const std::exception& error) {
        log_warning("sessions of " + database.name() + " are not cached: " + error.what());
        return nullptr;
    }
}

// The two-phase-commit id (transaction/tpc_identity.hpp) of an Atrium
// database, made before any of its transactions holds SQLite's write lock
// (other databases are left as they are). A failure only delays it.
void ensure_tpc_id(db::database& database) {
    try {
        if (modules::is_atrium_database(database)) tpc::ensure_database_id(database);
    } catch (const std::exception& error) {
        log_warning("no two-phase-commit id for " + database.name() + " yet: " + error.what());
    }
}

}  // namespace

std::shared_ptr<db::database> dispatcher::open_database(const std::string& name) {
    if (!valid_database_name(name)) throw http_error(404, "Database not found");
    {
        std::lock_guard lock(mutex_);
        if (auto found = databases_.find(name); found != databases_.end()) return found->second;
    }
    std::shared_ptr<db::database> database;
    try {
        if (!backend_->exists(name)) throw http_error(404, "Database not found");
        database = backend_->open(name);
    } catch (const db::invalid_database_name& error) {
        throw modules::user_error(error.what());  // the backend's rule, e.g. no '.' in the name
    } catch (const db::database_error& error) {
        if (transient(error)) throw;  // the server is down or full: 503, not 404
        log_warning(std::string("cannot open database ") + name + ": " + error.what());
        throw http_error(404, "Database not found");
    }
    bool first = false;
    {
        std::lock_guard lock(mutex_);
        auto [it, inserted] = databases_.emplace(name, database);
        first = inserted;
        database = it->second;
    }
    if (first && !settings_.postgresql_uri.empty() && settings_.spawn_background)
        settings_.spawn_background([this, name] { listen_for_session_changes(name); });
    // SQLite: deletions of sessions move the database's change counter.
    if (first && session_counter(*database)) sessions_.enable(name);
    if (first) ensure_tpc_id(*database);
    return database;
}

std::shared_ptr<dispatcher::change_listener> dispatcher::change_listener_of(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto& slot = change_listeners_[name];
    if (!slot) {
        slot = std::make_shared<change_listener>();
        if (auto found = databases_.find(name); found != databases_.end()) {
            slot->generation = modules::generation_of(*found->second);
            slot->session_host = modules::host_counter(*found->second, modules::res::session_channel);
        }
    }
    return slot;
}

void dispatcher::apply_notifications(const std::string& name, change_listener& slot) {
    if (!slot.listener) return;
    for (const auto& [channel, payload] : slot.listener->drain_notifications()) {
        if (channel == modules::cache_channel) {
            if (slot.generation) slot.generation->heard();
            continue;
        }
        std::int64_t user = 0;
        auto [ptr, ec] = std::from_chars(payload.data(), payload.data() + payload.size(), user);
        if (ec == std::errc() && ptr == payload.data() + payload.size()) {
            sessions_.forget_user(name, user);
        } else {  // not ours to interpret: forget everything of this database
            sessions_.disable(name);
            sessions_.enable(name);
        }
    }
}

void dispatcher::listen_for_session_changes(const std::string& name) {
    // Runs on a background fiber until stop_background(); while LISTEN is
    // up, sessions of `name` may be served from the cache, and so may the
    // access rights and the pool (modules/cache_generation.hpp).
    const std::string dsn = settings_.postgresql_uri + name;
    const auto slot = change_listener_of(name);
    struct not_listening {
        change_listener& slot;
        ~not_listening() {
            if (slot.generation) slot.generation->listening(false);
        }
    } on_exit{*slot};
    while (!stopping_) {
        try {
            db::pg_listener listener(
                dsn, std::vector<std::string>{modules::res::session_channel, modules::cache_channel});
            const int socket = listener.socket();
            listener_sockets_.insert(socket);
            struct forget_socket {
                std::set<int>& sockets;
                int socket;
                change_listener& slot;
                ~forget_socket() {
                    sockets.erase(socket);
                    std::lock_guard lock(slot.mutex);
                    slot.listener = nullptr;
                }
            } registered{listener_sockets_, socket, *slot};
            {
                std::lock_guard lock(slot->mutex);
                slot->listener = &listener;
            }
            sessions_.enable(name);
            if (slot->generation) slot->generation->listening(true);
            while (!stopping_) {
                fiber::current().wait_readable(socket);
                if (stopping_) break;
                std::lock_guard lock(slot->mutex);
                apply_notifications(name, *slot);
            }
        } catch (const std::exception& error) {
            sessions_.disable(name);
            if (slot->generation) slot->generation->listening(false);
            if (stopping_) break;
            log_warning(std::string("session cache of ") + name + " off until LISTEN is back: " + error.what());
        }
        if (!stopping_) fiber::current().sleep_for(std::chrono::seconds(1));
    }
    sessions_.disable(name);
}

void dispatcher::stop_background() noexcept {
    stopping_ = true;
    // The listeners wait for their socket to be readable: a shut-down socket is.
    for (const int socket : listener_sockets_) ::shutdown(socket, SHUT_RDWR);
}

rpc_result dispatcher::handle(const rpc_request& request) {
    const auto received =
        request.http.received == std::chrono::steady_clock::time_point{} ? std::chrono::steady_clock::now()
                                                                          : request.http.received;
    const dispatch_request call{request.database, request.method, request.params, request.kwargs,
                                request.http.authorization, request.http.remote_address, request.http.host,
                                request.http.scheme, &request.notes, request.dialect,
                                received, request.http.timeout, request.http.cancel};
    // Every transaction of the call (authentication, the method, the session
    // touch) obeys its deadline; a method with its own timeout sets its own (call_object).
    const auto configured = settings_.method_timeouts.find(request.method);
    const auto allowed = configured == settings_.method_timeouts.end() ? settings_.call_timeout : configured->second;
    call_limits_scope limits({call_deadline(received, allowed, request.http.timeout), request.http.cancel});
    auto result = dispatch(call);
    if (result.user >= 0) request.notes.user = std::to_string(result.user);
    request.notes.retries = result.retries;
    return rpc_result{std::move(result.value), result.cache_seconds};
}

bool dispatcher::authenticated_for_limits(const std::optional<std::string>& database, const rpc_http_info& http) {
    if (!database) return false;
    if (std::holds_alternative<std::monostate>(parse_authorization(http.authorization))) return false;
    static const std::string no_method;
    static const nlohmann::json no_params = nlohmann::json::array();
    static const nlohmann::json no_kwargs = nlohmann::json::object();
    const dispatch_request request{database,           no_method,           no_params, no_kwargs,
                                   http.authorization, http.remote_address, http.host, http.scheme};
    call_limits_scope limits({call_deadline({}, settings_.call_timeout, http.timeout), http.cancel});
    try {
        authenticate(open_database(*database), request, /*fresh=*/false, nullptr);  // throws 401
    } catch (const error& failure) {
        if (failure.category() == error_category::timeout) throw http_error(408, "Request Timeout");
        if (failure.category() == error_category::rate_limited) throw http_error(429, "Too Many Requests");
        throw;
    }
    return true;
}

bus_subscriber dispatcher::subscriber_for_bus(const std::string& database, const rpc_http_info& http) {
    static const std::string no_method;
    static const nlohmann::json no_params = nlohmann::json::array();
    static const nlohmann::json no_kwargs = nlohmann::json::object();
    const std::optional<std::string> name = database;
    const dispatch_request request{name,      no_method,          no_params,           no_kwargs, http.authorization,
                                   http.remote_address, http.host, http.scheme};
    call_limits_scope limits({call_deadline({}, settings_.call_timeout, http.timeout), http.cancel});
    bus_subscriber out;
    try {
        out.database = open_database(database);
        if (!settings_.postgresql_uri.empty()) {
            // Session deletions that reached the listener's socket are applied first, as for a call.
            const auto slot = change_listener_of(out.database->name());
            std::lock_guard lock(slot->mutex);
            apply_notifications(out.database->name(), *slot);
        }
        out.user = authenticate(out.database, request, /*fresh=*/false, nullptr);  // throws 401
    } catch (const db::database_error& error) {
        if (transient(error)) unavailable(error);
        throw;
    } catch (const modules::rate_limit_exception&) {
        throw http_error(429, "Too Many Requests");
    }
    return out;
}

dispatch_result dispatcher::dispatch(const dispatch_request& request) {
    try {
        return request.database ? dispatch_database(request) : dispatch_root(request);
    } catch (const db::database_error& error) {
        if (error.category() == error_category::timeout)
            throw call_timed_out(error, request.received, request.cancel && request.cancel->cancelled());
        if (transient(error)) unavailable(error);
        throw;
    }
}

dispatch_result dispatcher::dispatch_root(const dispatch_request& request) {
    dispatch_result out;
    if (request.method == "common.server.version") {
        out.value = settings_.version;
    } else if (request.method == "common.db.list") {
        if (!settings_.list_databases) throw http_error(403, "Forbidden");
        nlohmann::json names = nlohmann::json::array();
        for (const auto& name : backend_->list()) {
            if (!valid_database_name(name)) continue;
            try {
                auto database = open_database(name);
                bool ours = as_root(
                                database, 0, [&] { return nlohmann::json(modules::is_atrium_database(*database)); },
                                /*readonly=*/true)
                                .get<bool>();
                if (ours) names.push_back(name);
            } catch (const std::exception& error) {
                log_info(std::string("common.db.list skips ") + name + ": " + error.what());
            }
        }
        out.value = std::move(names);
    } else if (request.method == "common.authentication.services") {
        out.value = nlohmann::json::array();
    } else {
        throw method_not_found(request.method);
    }
    return out;
}

std::int64_t dispatcher::authenticate(const std::shared_ptr<db::database>& database, const dispatch_request& request,
                                      bool fresh, std::string* session_key) {
    auto creds = parse_authorization(request.authorization);
    if (auto* session = std::get_if<session_credentials>(&creds)) {
        if (session->user < 0) unauthorized();
        const std::string& name = database->name();
        // Read before the check: a deletion committed after it makes the entry stale.
        // SQLite: the database's counter; PostgreSQL: this host's (NOTIFY covers the others).
        std::uint64_t epoch = 0;
        if (const auto counter = session_counter(*database)) {
            epoch = counter->load();
        } else if (!settings_.postgresql_uri.empty()) {
            const auto slot = change_listener_of(name);
            if (slot->session_host) epoch = slot->session_host->load();
        }
        if (!fresh && sessions_.valid(name, session->user, session->key, epoch)) {
            if (session_key) *session_key = session->key;
            return session->user;
        }
        // Read-only: on SQLite a read-write transaction would take the database
        // write lock for every authenticated call (expired sessions are then
        // deleted in a transaction of their own).
        auto until = as_root(
            database, settings_.retry,
            [&] {
                auto expiry = modules::res::session_valid_until(session->user, session->key, fresh, settings_.session);
                return expiry ? nlohmann::json(*expiry) : nlohmann::json();
            },
            /*readonly=*/true);
        if (until.is_null()) unauthorized();
        sessions_.remember(name, session->user, session->key,
                           session_cache::clock::time_point(std::chrono::duration_cast<session_cache::clock::duration>(
                               std::chrono::duration<double>(until.get<double>()))),
                           epoch);
        if (session_key) *session_key = session->key;
        return session->user;
    }
    if (auto* basic = std::get_if<basic_credentials>(&creds)) {
        std::int64_t user = as_root(database, settings_.retry, [&] {
                                return nlohmann::json(modules::res::login(basic->login,
                                                                          {{"password", basic->password}},
                                                                          request.remote_addr, settings_.session));
                            }).get<std::int64_t>();
        if (user <= 0) unauthorized();
        return user;
    }
    unauthorized();
}

dispatch_result dispatcher::dispatch_database(const dispatch_request& request) {
    auto database = open_database(*request.database);
    if (!settings_.postgresql_uri.empty()) {
        // What reached the listener's socket before this call is applied first.
        const auto slot = change_listener_of(database->name());
        try {
            std::lock_guard lock(slot->mutex);
            apply_notifications(database->name(), *slot);
        } catch (const db::database_error&) {
            // The connection is lost: its fiber notices and turns the caches off.
        }
    }
    dispatch_result out;
    const auto& method = request.method;

    if (method == "common.db.login") {
        std::string login = string_param(request, 0, "login");
        const auto& parameters = param(request, 1);
        if (!parameters.is_object()) throw value_error("login parameters must be a dictionary");
        std::int64_t user = 0;
        std::string key;
        try {
            as_root(database, settings_.retry, [&] {
                user = modules::res::login(login, parameters, request.remote_addr, settings_.session);
                if (user > 0) key = modules::res::create_session(user);
                return nlohmann::json();
            });
        } catch (const modules::rate_limit_exception&) {
            throw http_error(429, "Too Many Requests");
        }
        if (user <= 0) unauthorized();
        out.user = user;
        // Exactly two elements: the client joins them all into its session
        // ("login:uid:key"); a third would make every later call a 401.
        out.value = nlohmann::json::array({user, key});
        return out;
    }
    if (method == "common.db.reset_password") {
        throw method_not_found(method);
    }

    auto pool = load_pool(database);
    std::string session_key;
    // Authentication is checked first: an unauthenticated call to an unexposed
    // method gets 401, not 403 (SPEC §6.2).
    const modules::exposed_method* exposed = split_object_method(method) ? pool->find_method(method) : nullptr;
    if (!exposed && request.dialect == rpc_dialect::jsonrpc2 && !session_method(method))
        throw method_not_found(method);  // no session could make it exist: -32601, not 401
    bool fresh = exposed && exposed->rpc.fresh_session && method.rfind("system.", 0) != 0;
    out.user = authenticate(database, request, fresh, &session_key);
    if (request.notes) request.notes->user = std::to_string(out.user);

    if (method == "common.db.logout") {
        if (!session_key.empty())
            as_root(database, settings_.retry, [&] {
                modules::res::delete_session(out.user, session_key);
                return nlohmann::json();
            });
        sessions_.forget_user(database->name(), out.user);
        out.value = nullptr;
        return out;
    }
    if (method == "system.listMethods") {
        out.value = pool->method_names();
        return out;
    }
    if (method == "system.methodSignature") {
        out.value = "signatures not supported";
        return out;
    }
    if (method == "system.methodHelp") {
        const auto* m = pool->find_method(string_param(request, 0, "method"));
        if (!m) throw method_not_found(param(request, 0).dump());
        out.value = m->doc;
        return out;
    }
    if (!exposed) throw method_not_found(method);

    auto result = call_object(database, request, out.user, *exposed);
    result.user = out.user;
    if (!session_key.empty()) touch_session(database, out.user, session_key);
    return result;
}

std::shared_ptr<const modules::pool> dispatcher::load_pool(const std::shared_ptr<db::database>& database) {
    // Kept while the database's cache generation stays where it was (one
    // atomic read per call), so that a call costs no transaction for it;
    // reloaded at once when any process announced a module or access change,
    // and every 2 s at the latest (changes made behind Atrium's back).
    constexpr auto refresh = std::chrono::seconds(2);
    const auto now = std::chrono::steady_clock::now();
    std::shared_ptr<modules::cache_generation> generation;
    std::uint64_t seen = 0;
    {
        std::lock_guard lock(mutex_);
        auto& slot = pools_[database->name()];
        if (!slot.generation) slot.generation = modules::generation_of(*database);
        generation = slot.generation;
        seen = generation->current();  // before loading: a later change reloads
        // seen == 0 (no listener yet): the 2 s alone.
        if (slot.pool && slot.seen == seen && now - slot.loaded < refresh) return slot.pool;
    }
    std::shared_ptr<const modules::pool> pool;
    as_root(database, settings_.retry, [&] {
        pool = modules::pool_for(*database);
        return nlohmann::json();
    }, /*readonly=*/true);
    std::lock_guard lock(mutex_);
    pools_[database->name()] = {pool, now, generation, seen};
    return pool;
}

dispatch_result dispatcher::call_object(const std::shared_ptr<db::database>& database,
                                        const dispatch_request& request, std::int64_t user,
                                        const modules::exposed_method& exposed) {
    const modules::exposed_method* method = &exposed;
    converted_call converted = convert_arguments(method->rpc, request.params, request.kwargs);
    converted.context["_request"] = {{"remote_addr", request.remote_addr},
                                     {"http_host", request.http_host},
                                     {"scheme", request.scheme},
                                     {"is_secure", request.scheme == "https"}};

    retry_options options;
    options.start.readonly = method->rpc.readonly;
    options.start.context = converted.context;
    options.retry = settings_.retry;
    options.start.default_language = settings_.language;
    options.start.lock_retries = settings_.retry;

    // A method's own timeout replaces web.call_timeout (longer or shorter),
    // unless the operator set one for it (web.method_timeouts, applied by
    // handle()); the client's header still lowers it.
    std::optional<call_limits_scope> own_limits;
    if (method->rpc.timeout && !settings_.method_timeouts.contains(request.method)) {
        own_limits.emplace(fiber_transactions::call_limits{
            call_deadline(request.received, *method->rpc.timeout, request.client_timeout), request.cancel});
    }
    retry_report report;
    // The timings reach the call's log line whether the call succeeds or not.
    struct copy_timings {
        const retry_report& report;
        rpc_call_notes* notes;
        ~copy_timings() {
            if (!notes) return;
            notes->pool_wait_ns = report.pool_wait_ns;
            notes->commit_ns = report.commit_ns;
            notes->backoff_ns = report.backoff_ns;
            notes->retries = report.retries + report.fixes;
        }
    } timings{report, request.notes};
    dispatch_result out;
    out.value = call_with_retry(
        database, user, options,
        [&](transaction& txn) {
            txn.timestamp = converted.timestamp;  // afresh on each attempt: checks consume it
            auto value = method->call(converted.call);
            if (method->rpc.result) value = method->rpc.result(std::move(value));
            return value;
        },
        &report);
    out.retries = report.retries + report.fixes;
    if (method->rpc.readonly) out.cache_seconds = method->rpc.cache;
    // The fiber's task list holds the ir.queue tasks this call queued (committed
    // with it): the workers take them; wake this process's now.
    bool queued = false;
    drain_tasks([&](std::int64_t) { queued = true; });
    if (queued && settings_.tasks_queued) settings_.tasks_queued();
    return out;
}

void dispatcher::touch_session(const std::shared_ptr<db::database>& database, std::int64_t user,
                               const std::string& key) {
    auto now = std::chrono::steady_clock::now();
    auto every = std::chrono::seconds(std::max(1, settings_.session.timeout / 10));
    {
        std::lock_guard lock(mutex_);
        auto& last = touched_[key];
        if (last != std::chrono::steady_clock::time_point{} && now - last < every) return;
        last = now;
        if (touched_.size() > 100000) touched_.clear();  // bounded; a forgotten key only costs one more touch
    }
    try {
        // Not through call_with_retry: that logs every failure as an error, and a
        // busy database (another writer) is the normal reason a touch is skipped.
        transaction_options start;
        start.autocommit = true;
        auto scope = begin(database, root_user, std::move(start));
        modules::res::touch_session(user, key);
        scope.commit();
        scope.close(true);
    } catch (const db::database_error& error) {
        // Best effort: a writer holding the lock is no failure of anyone's call.
        if (!error.is_retryable()) log_warning(std::string("session touch ignored: ") + error.what());
    }
}

}  // namespace atrium::server
