// atriumd — the Atrium server process (server/atriumd.hpp).
//
// Reads the configuration, opens the database backend (creating the data
// directory and the default database if missing), runs one two-phase-commit
// recovery pass over the configured participants (server/recovery_command.hpp)
// and prints its summary, runs one real transaction on a fiber, then serves
// JSON-RPC over HTTP (server/http_server.hpp) until SIGINT/SIGTERM, which
// drain the calls in flight and exit 0. On first start the default database
// is created with the ir, res and sale modules and the admin user (password
// from ATRIUM_ADMIN_PASSWORD, or generated and printed once). Calls go to the
// dispatcher (server/dispatch/dispatcher.hpp); a fiber repeats the recovery
// pass every tpc.recovery_interval seconds.

#include "database/database.hpp"
#include "database/errors.hpp"
#include "modules/registry.hpp"
#include "modules/res/password.hpp"
#include "server/atriumd.hpp"
#include "server/config.hpp"
#include "server/dispatch/dispatcher.hpp"
#include "server/queue_workers.hpp"
#include "server/periodic_recovery.hpp"
#include "server/supervisor.hpp"
#include "server/worker_pool.hpp"
#include "fiber/runtime.hpp"
#include "server/http_server.hpp"
#include "server/recovery_command.hpp"
#include "server/service_notify.hpp"
#include "transaction/tpc_identity.hpp"
#include "server/rpc_handler.hpp"
#include "transaction/log_buffer.hpp"
#include "transaction/logging.hpp"
#include "transaction/transaction.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <csignal>
#include <unistd.h>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <variant>

#ifndef ATRIUM_VERSION
#define ATRIUM_VERSION "unknown"
#endif

namespace {

namespace po = boost::program_options;

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

struct options {
    std::string config_file;
    bool verbose = false;
    bool check = false;
    bool dev = false;
};

bool env_flag(const char* name) {
    const char* value = std::getenv(name);
    return value && *value && std::string(value) != "0";
}

std::string utc_now() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

/// The start-up transaction: a tiny bookkeeping table (proves the stack works).
std::int64_t touch_meta_table(const std::shared_ptr<atrium::db::database>& database,
                              const atrium::server::config& cfg) {
    atrium::transaction_options txn_options;
    txn_options.lock_retries = cfg.database.retry;
    txn_options.default_language = cfg.database.language;
    auto scope = atrium::begin(database, atrium::root_user, std::move(txn_options));
    auto& conn = atrium::current().connection();
    conn.execute("CREATE TABLE IF NOT EXISTS atrium_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    conn.execute(
        "INSERT INTO atrium_meta (key, value) VALUES ('last_start', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        {atrium::db::value{utc_now()}});
    const auto rows = conn.execute("SELECT COUNT(*) FROM atrium_meta");
    std::int64_t count = -1;
    if (!rows.rows.empty() && !rows.rows.front().empty()) {
        if (const auto* n = std::get_if<std::int64_t>(&rows.rows.front().front())) count = *n;
    }
    scope.close(true);  // commit, reporting errors
    return count;
}

/// First start: the ir, res and sale modules and the admin user. The
/// password comes from ATRIUM_ADMIN_PASSWORD, or is generated and printed once.
void initialise_database(const std::shared_ptr<atrium::db::database>& database, bool verbose,
                         const std::vector<std::string>& extra_modules) {
    using namespace atrium;
    bool ours = false;
    {
        auto scope = begin(database, root_user, {.readonly = true});
        ours = modules::is_atrium_database(*database);
        scope.close(false);
    }
    if (ours) {
        if (verbose) std::clog << "atriumd: database " << database->name() << " is initialised" << std::endl;
        return;
    }
    std::string password;
    bool generated = false;
    if (const char* given = std::getenv("ATRIUM_ADMIN_PASSWORD"); given && *given) {
        password = given;
    } else {
        password = modules::res::random_key().substr(0, 20);
        generated = true;
    }
    std::vector<std::string> wanted{"sale"};
    wanted.insert(wanted.end(), extra_modules.begin(), extra_modules.end());
    modules::init_database(database, wanted, password);
    std::cout << "atriumd: initialised database " << database->name() << " (modules ir, res, sale)";
    if (generated) std::cout << "; admin password (shown once): " << password;
    std::cout << std::endl;
}

int run(const options& opts, const atrium::server::atriumd_extensions& extensions,
        const std::function<void()>& flush_logs) {
    using namespace atrium;

    server::config cfg;
    try {
        cfg = server::load_config(opts.config_file);
    } catch (const server::config_error& e) {
        std::cerr << "atriumd: configuration error: " << e.what() << '\n';
        return exit_usage;
    }
    set_log_json(cfg.log.json);
    if (opts.verbose) {
        std::string sources;
        for (const auto& source : cfg.sources) sources += (sources.empty() ? "" : ", ") + source;
        std::clog << "atriumd " ATRIUM_VERSION ": configuration from " << sources << "\n"
                  << "  database.uri = " << server::masked_uri(cfg.database.uri) << "\n"
                  << "  database.name = " << cfg.database.name << "\n"
                  << "  database.retry = " << cfg.database.retry << "\n"
                  << "  database.language = " << cfg.database.language << "\n"
                  << "  web.listen = " << cfg.web.listen << "\n"
                  << "  web.threads = " << cfg.web.threads << " (0: one per core), web.workers = " << cfg.web.workers
                  << ", web.max_connections = " << cfg.web.max_connections << "\n"
                  << "  request.max_size = " << cfg.request.max_size
                  << ", request.max_size_authenticated = " << cfg.request.max_size_authenticated << std::endl;
        for (const auto& dsn : cfg.tpc.participants) std::clog << "  tpc.participants += " << server::masked_uri(dsn) << "\n";
        std::clog << "  queue.workers = " << cfg.queue.workers << ", queue.max_tries = " << cfg.queue.max_tries << "\n";
        std::clog << "  mail.maildir = " << cfg.mail.maildir << "\n"
                  << "  files.staging = " << cfg.files.staging << std::endl;
    }

    // Database waits (SQLite busy, PostgreSQL results) suspend the calling
    // fiber, not its thread; outside fibers they block as usual.
    std::shared_ptr<db::backend> backend;
    std::shared_ptr<db::database> database;
    // Password hashing (50-70 ms of CPU) runs on the worker pool.
    modules::res::set_hash_runner([](const std::function<void()>& work) { server::run_blocking_void(work); });
    // The modules read their own sections (and the others) from here.
    modules::builtin_modules().configure(cfg.sections);
    try {
        backend = db::open_backend(server::backend_uri(cfg), fiber_wait_hooks());
        if (!backend->exists(cfg.database.name)) {
            backend->create(cfg.database.name);
            std::clog << "atriumd: created database " << cfg.database.name << std::endl;
        }
        database = backend->open(cfg.database.name);
    } catch (const std::exception& e) {
        std::cerr << "atriumd: cannot open database " << cfg.database.name << " at " << server::masked_uri(cfg.database.uri) << ": "
                  << e.what() << '\n';
        return exit_failure;
    }

    // The task queue's workers: declared before `io`, whose destruction unwinds their fibers.
    const auto queue_options = server::queue_options_from(cfg);
    server::queue_workers queue(database, queue_options);

    // Declared after the database: destroyed (and its fibers unwound) first.
    boost::asio::io_context io(1);
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    int exit_code = exit_ok;

    server::dispatcher_settings settings;
    settings.version = cfg.web.tryton_series;  // atriumd's own version: --version, the Server header
    settings.retry = cfg.database.retry;
    settings.call_timeout = std::chrono::seconds(cfg.web.call_timeout);
    for (const auto& [method, seconds] : cfg.web.method_timeouts) {
        settings.method_timeouts.emplace(method, std::chrono::seconds(seconds));
    }
    settings.list_databases = cfg.database.list;
    settings.language = cfg.database.language;
    settings.session = {.max_age = cfg.session.max_age,
                        .timeout = cfg.session.timeout,
                        .max_attempt = cfg.session.max_attempt,
                        .max_attempt_ip_network = cfg.session.max_attempt_ip_network,
                        .ip_network_4 = cfg.session.ip_network_4,
                        .ip_network_6 = cfg.session.ip_network_6,
                        .authentications = cfg.session.authentications,
                        // SPEC §7.2's delay after a failed login sleeps the request's fiber, not its thread.
                        .failure_delay = [](double seconds) {
                            fiber::current().sleep_for(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::duration<double>(seconds)));
                        }};
    if (cfg.database.uri.rfind("postgresql://", 0) == 0) {
        // Validated sessions are cached and dropped on NOTIFY (listener fibers run on `io`).
        settings.postgresql_uri = cfg.database.uri.substr(0, cfg.database.uri.find('?'));
        if (settings.postgresql_uri.back() != '/') settings.postgresql_uri += '/';
        settings.spawn_background = [&io](std::function<void()> body) {
            boost::asio::post(io, [&io, body = std::move(body)]() mutable { fiber::spawn_fiber(io, std::move(body)); });
        };
    }
    if (cfg.queue.workers > 0) settings.tasks_queued = [&queue] { queue.wake(); };
    server::dispatcher dispatcher(backend, settings);
    const auto wrapper = extensions.wrap_handler ? extensions.wrap_handler(dispatcher, backend) : nullptr;
    server::rpc_handler& handler = wrapper ? *wrapper : static_cast<server::rpc_handler&>(dispatcher);
    auto stop_recovery = std::make_shared<std::atomic<bool>>(false);
    server::http_server http(cfg, handler, server::server_flags{opts.dev, opts.verbose});
    bool serving = false;

    signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
        if (ec) return;  // cancelled: --check, or start-up failed
        std::clog << "atriumd: signal " << signal_number << " received, draining" << std::endl;
        server::notify_service("STOPPING=1");
        stop_recovery->store(true);
        if (serving && !http.shutdown()) std::clog << "atriumd: some calls were cut off by web.drain_timeout" << std::endl;
        std::clog << "atriumd: stopped" << std::endl;
        io.stop();
    });

    fiber::spawn_fiber(
        io,
        [&] {
            // Transactions a previous process left in doubt are finished before
            // anything else runs (SPEC §5.3). A failing pass is reported; the
            // server still starts (the next pass, or atrium-admin --recover, retries).
            // Under web.processes, once per start of the deployment (child 0's first start).
            if (server::this_process().runs_startup_recovery()) try {
                const auto stores = server::configured_participant_stores(cfg);
                server::served_databases databases(*backend, database);
                const auto report = server::run_recovery(databases, stores);
                std::cout << "atriumd: " << server::recovery_summary(report, stores.size()) << std::endl;
            } catch (const std::exception& e) {
                std::cerr << "atriumd: recovery failed: " << e.what() << std::endl;
            }
            initialise_database(database, opts.verbose, extensions.init_modules);
            try {
                // Databases made before two-phase-commit ids get theirs now (issue 17).
                tpc::ensure_database_id(*database);
            } catch (const std::exception& e) {
                std::cerr << "atriumd: no two-phase-commit id for " << cfg.database.name << ": " << e.what() << std::endl;
            }
            modules::builtin_modules().start_modules();
            try {
                const auto rows = touch_meta_table(database, cfg);
                if (opts.verbose) std::clog << "atriumd: atrium_meta has " << rows << " row(s)" << std::endl;
            } catch (const db::database_error& e) {
                // A full disk (or a busy database) must not keep reads from being served:
                // start, and let the writes answer 503 until it is fixed.
                if (e.category() != db::error_category::unavailable && !e.is_retryable()) throw;
                std::cerr << "atriumd: warning: the database cannot be written now (" << e.what()
                          << "); serving, writes answer 503 until it can" << std::endl;
            }
            if (opts.check) {
                std::cout << "atriumd: ready (--check: not listening) database=" << server::masked_uri(cfg.database.uri)
                          << "/" << cfg.database.name << std::endl;
                signals.cancel();
                return;
            }
            // GET /readyz: the recovery pass above is done; the database must answer.
            http.set_readiness([database]() -> std::string {
                try {
                    auto scope = begin(database, root_user, {.readonly = true});
                    current().connection().execute("SELECT 1");
                    scope.close(false);
                    return {};
                } catch (const std::exception& e) {
                    return std::string("database unreachable: ") + e.what();
                }
            });
            http.start();
            serving = true;
            queue.start(io);
            if (cfg.tpc.recovery_interval > 0 && server::this_process().runs_periodic_recovery()) {
                const std::chrono::seconds interval(cfg.tpc.recovery_interval);
                server::start_periodic_recovery(io, backend, database, cfg, {.interval = interval, .min_age = interval, .on_pass = {}},
                                                stop_recovery);
            }
            if (std::error_code ec; !cfg.web.root.empty() && std::filesystem::is_directory(cfg.web.root, ec)) {
                std::cout << "atriumd: web client (web.root) served from " << cfg.web.root << std::endl;
            }
            std::cout << "atriumd: ready, listening on http://" << http.address() << ":" << http.port()
                      << "/ database=" << server::masked_uri(cfg.database.uri) << "/" << cfg.database.name;
            if (auto& role = server::this_process(); role.supervised()) {
                std::cout << " (process " << role.index << " of " << role.count << ", pid " << ::getpid() << ")";
                if (role.ready_fd >= 0) {  // the supervisor starts the next child now
                    std::cout << std::flush;
                    [[maybe_unused]] const auto written = ::write(role.ready_fd, "r", 1);
                    ::close(role.ready_fd);
                    role.ready_fd = -1;
                }
            }
            std::cout << std::endl;
            if (const auto ops = http.metrics_endpoint()) {
                std::cout << "atriumd: metrics and probes on http://" << ops->first << ":" << ops->second << "/metrics"
                          << std::endl;
            }
            server::notify_service("READY=1");
            server::start_watchdog(io, stop_recovery);
        },
        [&](std::exception_ptr error) {
            if (!error) return;
            std::cerr << "atriumd: start-up failed: " << describe_exception(error) << std::endl;
            exit_code = exit_failure;
            signals.cancel();
        });

    io.run();
    // Drain `io` before it (and the dispatcher its fibers use) is destroyed:
    // the session listeners and periodic recovery end at their next wake-up,
    // so no fiber is destroyed while suspended.
    dispatcher.stop_background();
    queue.stop();
    stop_recovery->store(true);
    io.restart();
    // Tasks in hand get web.drain_timeout to finish; one still running then is
    // abandoned as by a crash (never unwound: its transaction would wait for
    // the database), and another worker takes it when its lease expires.
    if (!queue.drain(io, std::chrono::seconds(cfg.web.drain_timeout))) {
        std::clog << "atriumd: a queued task still running at web.drain_timeout is abandoned; another worker "
                  << "takes it when its lease expires" << std::endl;
        std::cout.flush();
        flush_logs();
        std::_Exit(exit_code);
    }
    if (const auto left = fiber::drain(io, std::chrono::seconds(3)); left > 0)
        std::clog << "atriumd: " << left << " background fiber(s) still suspended at exit" << std::endl;
    return exit_code;
}

int program(int argc, char** argv, const atrium::server::atriumd_extensions& extensions) {
    options opts;
    po::options_description visible(
        "Usage: atriumd [options]\n\n"
        "The Atrium application server: opens the database, finishes the two-phase\n"
        "commits a previous run left in doubt, then serves JSON-RPC over HTTP on\n"
        "web.listen (default 127.0.0.1:8000) until SIGINT/SIGTERM, which let the calls\n"
        "in flight finish (web.drain_timeout) and exit 0.\n\n"
        "Configuration: built-in defaults < the INI file (-c, or $ATRIUM_CONFIG) <\n"
        "ATRIUM_<SECTION>__<KEY> environment variables (e.g. ATRIUM_DATABASE__URI).\n"
        "ATRIUM_EXIT_WHEN_READY=1 has the effect of --check.\n\n"
        "Options");
    visible.add_options()                                                            //
        ("help,h", "print this help and exit")                                       //
        ("version,V", "print the version and exit")                                  //
        ("config,c", po::value<std::string>(&opts.config_file)->value_name("FILE"), "read the INI configuration FILE")  //
        ("verbose,v", po::bool_switch(&opts.verbose), "log the configuration, start-up steps and debug lines")   //
        ("dev", po::bool_switch(&opts.dev), "development mode: internal errors show their description to clients")  //
        ("check", po::bool_switch(&opts.check), "exit 0 right after reporting ready (without listening)");

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(visible).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "atriumd: " << e.what() << "\nTry 'atriumd --help'.\n";
        return exit_usage;
    }
    if (vm.count("help")) {
        std::cout << visible << '\n';
        return exit_ok;
    }
    if (vm.count("version")) {
        std::cout << "atriumd " ATRIUM_VERSION << '\n';
        return exit_ok;
    }
    if (opts.config_file.empty()) {
        if (const char* file = std::getenv("ATRIUM_CONFIG"); file && *file) opts.config_file = file;
    }
    if (env_flag("ATRIUM_EXIT_WHEN_READY")) opts.check = true;

    // web.processes > 1: fork the children now, before any thread exists
    // (server/supervisor.hpp); the supervisor returns here, a child goes on.
    if (!opts.check) {
        try {
            const auto cfg = atrium::server::load_config(opts.config_file);
            if (cfg.web.processes > 1) {
                if (const auto supervisor_exit = atrium::server::supervise(cfg.web.processes, cfg.web.host, cfg.web.port))
                    return *supervisor_exit;
            }
        } catch (const atrium::server::config_error&) {
            // run() reports it
        } catch (const std::exception& e) {
            std::cerr << "atriumd: " << e.what() << '\n';
            return exit_failure;
        }
    }

    try {
        // Log lines are batched (one write per 50 ms under load, at once when
        // quiet or for warnings and worse); written out before exit.
        atrium::scoped_log_buffer logs(STDERR_FILENO);
        return run(opts, extensions, [&logs] { logs.flush(); });
    } catch (const std::exception& e) {
        std::cerr << "atriumd: " << e.what() << '\n';
        return exit_failure;
    }
}

}  // namespace

int atrium::server::run_atriumd(int argc, char** argv, const atriumd_extensions& extensions) {
    return program(argc, argv, extensions);
}
