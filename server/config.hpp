#pragma once
/// @file
/// @brief The server configuration: a Tryton-style INI file read with
/// Boost.PropertyTree, then `ATRIUM_<SECTION>__<KEY>` environment overrides
/// (for example `ATRIUM_DATABASE__URI`). Unknown sections and keys, in the file
/// or in the environment, are rejected with a message naming them and the known
/// keys. `etc/atrium.conf` documents every key with its default.
///
/// Known keys (defaults in brackets):
/// - `database.uri` [`sqlite://./var`]: the backend. `sqlite://DIR` (relative to
///   the working directory) or `sqlite:///DIR` (absolute) keeps one file per
///   database under DIR; `sqlite://:memory:` keeps them in memory;
///   `postgresql://user:pass@host:port/` uses a PostgreSQL server.
/// - `database.name` [`atrium`]: the database the server opens (created if missing).
/// - `database.retry` [5]: retries of connection/lock acquisition.
/// - `database.timeout` [1800]: seconds before idle pooled connections are closed.
/// - `database.language` [`en`]: default language when the context has none.
/// - `web.listen` [`127.0.0.1:8000`]: `host:port` the JSON-RPC server listens on
///   (port 0: any free port, printed in the ready line).
/// - `web.threads` [0 = cores], `web.workers` [4], `web.max_connections` [1000],
///   `web.max_connections_per_network` [64, 0 = none; networks as session.ip_network_4/6],
///   `web.max_header_size` [65536], `web.header_timeout` [10], `web.keepalive_timeout` [30],
///   `web.request_timeout` [300], `web.call_timeout` [60], `web.drain_timeout` [30] (seconds), `web.cors`
///   [empty: comma/space-separated origins], `web.cache_timeout` [43200]: see web_config.
/// - `web.method_timeouts` [empty]: `method=seconds` pairs separated by commas
///   or whitespace (e.g. `model.sale.order.confirm=120`): the operator's
///   deadline for those methods, in place of `web.call_timeout` and of the
///   method's own (rpc_definition::timeout).
/// - `web.root` [`/usr/share/tryton-sao/www`]: the web client's static files
///   served on GET/HEAD (`GET /`: its index.html); empty, or a missing
///   directory: none (a path given explicitly must be a directory).
/// - `request.max_size` [2097152], `request.max_size_authenticated` [2147483648]: body limits.
/// - `tpc.participants` [empty]: comma-separated DSNs
///   (`postgresql://user[:password]@host:port/dbname`) of the PostgreSQL
///   databases that take part in two-phase commit; the recovery pass (atriumd
///   start, `atrium-admin --recover`) finishes their prepared transactions.
/// - `mail.maildir` [`./var/mail`]: the mail outbox's maildir (empty: none).
/// - `files.staging` [`./var/staging`]: the file manager's staging directory
///   (empty: none).
/// - A module's own section (`[sale]`: the keys its module_def::settings
///   declare, checked by the module). Every key, the server's too, is also
///   kept as text in config::sections, the view the modules read.

#include "modules/module_config.hpp"

#include "util/error.hpp"

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace atrium::server {

/// A configuration problem: unknown key, bad value, unreadable file.
class config_error : public error {
public:
    explicit config_error(const std::string& message) : error(message, error_category::other) {}
};

/// `[database]`.
struct database_config {
    std::string uri = "sqlite://./var";
    std::string name = "atrium";
    int retry = 5;
    int timeout = 1800;  ///< seconds before idle pooled connections are closed
    std::string language = "en";
    bool list = true;  ///< common.db.list answers (false: 403)

    bool operator==(const database_config&) const = default;
};

/// `[web]`.
struct web_config {
    std::string listen = "127.0.0.1:8000";  ///< port 0: any free port (printed at start)
    std::string host = "127.0.0.1";  ///< derived from listen
    std::uint16_t port = 8000;        ///< derived from listen
    int threads = 0;                  ///< io threads (one io_context each); 0 = one per core
    int workers = 4;                  ///< worker-pool threads for run_blocking()
    int processes = 1;                ///< > 1: a supervisor forks this many children (server/supervisor.hpp)
    int max_connections = 1000;       ///< live connection fibers; beyond: 503 + Retry-After
    int max_connections_per_network = 64;  ///< per client network (session.ip_network_4/6); 0: no cap
    int max_header_size = 65536;      ///< bytes of request line + headers (beyond: 431)
    int header_timeout = 10;          ///< seconds to receive a request's headers
    int keepalive_timeout = 30;       ///< seconds an idle keep-alive connection is kept
    int request_timeout = 300;        ///< seconds to receive a body / send a response
    int call_timeout = 60;            ///< seconds a call may run (its deadline); see server/call_deadline.hpp
    /// Per-method call timeouts in seconds (`web.method_timeouts`), by method name.
    std::map<std::string, int, std::less<>> method_timeouts;
    int drain_timeout = 30;           ///< seconds in-flight calls get at SIGTERM/SIGINT
    std::vector<std::string> cors;    ///< allowed Origins (SPEC §8.1)
    int cache_timeout = 43200;        ///< Access-Control-Max-Age, seconds
    /// What common.server.version answers: the Tryton protocol series served
    /// (the 6.0 client refuses a server whose first two parts differ).
    std::string tryton_series = "6.0";
    /// The web client's static files (trytond's `[web] root`), served on GET
    /// and HEAD; empty: none. The default is Debian's sao, used when installed.
    std::string root = "/usr/share/tryton-sao/www";
    // Observability (issue 20, server/ops_routes.hpp):
    bool metrics = true;           ///< record the metrics (false: /metrics shows zeros; the A/B benchmark's B side)
    std::string metrics_listen;    ///< empty: /metrics, /livez, /readyz on web.listen for loopback peers only; else host:port of their own listener

    bool operator==(const web_config&) const = default;
};

/// `[log]` (issue 20).
struct log_config {
    bool json = false;     ///< log.format = json: JSON lines instead of "atrium LEVEL: text"
    int slow_call_ms = 0;  ///< a call longer than this gets a slow-call line saying where its time went; 0: none

    bool operator==(const log_config&) const = default;
};

/// `[request]`: body limits (SPEC §9).
struct request_config {
    std::uint64_t max_size = 2u * 1024 * 1024;                     ///< unauthenticated
    std::uint64_t max_size_authenticated = 2ull * 1024 * 1024 * 1024;  ///< also caps inflated gzip bodies

    bool operator==(const request_config&) const = default;
};

/// `[tpc]`: two-phase-commit participants recovery must know about.
struct tpc_config {
    /// PostgreSQL participant DSNs, as written (passwords included), in order,
    /// without duplicates (two DSNs naming the same participant are refused).
    std::vector<std::string> participants;
    int recovery_interval = 60;  ///< seconds between atriumd's periodic recovery passes; 0: only at start

    bool operator==(const tpc_config&) const = default;
};

/// `[mail]`.
struct mail_config {
    std::string maildir = "./var/mail";  ///< relative to the working directory; empty: no outbox

    bool operator==(const mail_config&) const = default;
};

/// `[files]`.
struct files_config {
    std::string staging = "./var/staging";  ///< relative to the working directory; empty: none

    bool operator==(const files_config&) const = default;
};

/// `[session]` (SPEC §7, §9).
struct session_config {
    int max_age = 2592000;               ///< seconds a session lives after login
    int timeout = 300;                   ///< seconds of inactivity a fresh_session method tolerates
    int max_attempt = 5;                 ///< failed logins per (login, device) in `timeout`
    int max_attempt_ip_network = 300;    ///< failed logins per client network in `timeout`
    int ip_network_4 = 32;               ///< IPv4 prefix grouping clients
    int ip_network_6 = 56;               ///< IPv6 prefix grouping clients
    std::string authentications = "password";

    bool operator==(const session_config&) const = default;
};

/// `[queue]`: the task queue's workers (modules/ir/queue.hpp, server/queue_workers.hpp).
struct queue_config {
    int workers = 1;        ///< worker fibers in atriumd; 0: none (tasks wait for another process)
    int max_tries = 5;      ///< a task failing this often is kept failed with its error
    int lease_margin = 60;  ///< seconds added to a task's expected duration for its lease
    int backoff = 1;        ///< seconds before the first retry of a failed task; doubles per try
    int poll = 5;           ///< seconds between safety polls (wake-ups come by NOTIFY / the counter)
    int keep_done = 7 * 24 * 3600;  ///< seconds done tasks are kept; 0: deleted when done

    bool operator==(const queue_config&) const = default;
};

/// `[bus]`: POST /<db>/bus, long polling (server/bus_service.hpp).
struct bus_config {
    bool enabled = true;             ///< false: 501 (the Tryton client stops polling), as trytond's allow_subscribe
    int long_polling_timeout = 300;  ///< seconds a client waits before an empty answer
    int retention = 300;             ///< seconds a message is kept (trytond's cache_timeout), then deleted

    bool operator==(const bus_config&) const = default;
};

/// Every known key (the server's and the modules') with its default, as text.
modules::module_config default_sections();

/// The whole configuration with its defaults.
struct config {
    database_config database;
    web_config web;
    request_config request;
    session_config session;
    tpc_config tpc;
    mail_config mail;
    files_config files;
    log_config log;
    queue_config queue;
    bus_config bus;
    /// Every section and key as text, defaults included: what the modules read
    /// (modules::module_registry::configure); their own sections live only here.
    modules::module_config sections = default_sections();
    /// Where it came from, for logs: "defaults", the file, plus the overrides applied.
    std::vector<std::string> sources{"defaults"};
};

/// Environment variables as name → value.
using environment = std::map<std::string, std::string>;

/// The `ATRIUM_*` variables of this process.
environment process_environment();

/// The known keys, as "section.key", in documentation order.
const std::vector<std::string>& known_config_keys();

/// Parses INI text on top of the defaults (`origin` names it in messages).
/// Lines starting with `;` or `#` are comments. Throws config_error.
config parse_config(std::string_view ini_text, std::string_view origin = "<text>");

/// Applies the `ATRIUM_<SECTION>__<KEY>` overrides found in `env`; any other
/// `ATRIUM_*__*` variable is an unknown key. Throws config_error.
void apply_environment(config& cfg, const environment& env);

/// Reads `path` (empty: defaults only), then applies the environment overrides.
/// Throws config_error.
config load_config(const std::string& path, const environment& env = process_environment());

/// The URI to open the backend with: for PostgreSQL, `database.retry` and
/// `database.timeout` become the pool's `retry` and `idle_timeout_s` unless the
/// URI sets them itself.
std::string backend_uri(const config& cfg);

/// `uri` with its password replaced by *** (for logs and messages).
std::string masked_uri(const std::string& uri);

/// Splits `host:port` (`[v6]:port` accepted). Throws config_error.
void parse_listen(std::string_view listen, std::string& host, std::uint16_t& port);

}  // namespace atrium::server
