// atrium-worker (server/atrium_worker.hpp): the configuration, modules and
// database of atriumd, then queue_workers on one io_context until a signal.

#include "server/atrium_worker.hpp"

#include "database/database.hpp"
#include "fiber/runtime.hpp"
#include "modules/registry.hpp"
#include "modules/res/password.hpp"
#include "server/config.hpp"
#include "server/periodic_recovery.hpp"
#include "server/queue_workers.hpp"
#include "server/worker_pool.hpp"
#include "transaction/log_buffer.hpp"
#include "transaction/logging.hpp"
#include "transaction/transaction.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>

#include <atomic>
#include <csignal>
#include <memory>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <unistd.h>

#ifndef ATRIUM_VERSION
#define ATRIUM_VERSION "unknown"
#endif

namespace atrium::server {

namespace {

namespace po = boost::program_options;

constexpr int exit_ok = 0, exit_failure = 1, exit_usage = 2;

int run(const std::string& config_file, std::optional<int> workers, const std::function<void()>& flush_logs) {
    config cfg;
    try {
        cfg = load_config(config_file);
    } catch (const config_error& e) {
        std::cerr << "atrium-worker: configuration error: " << e.what() << '\n';
        return exit_usage;
    }
    set_log_json(cfg.log.json);
    auto options = queue_options_from(cfg);
    // atriumd's file often says queue.workers = 0 (this process runs them): then one.
    options.workers = workers.value_or(cfg.queue.workers > 0 ? cfg.queue.workers : 1);
    if (options.workers <= 0) {
        std::cerr << "atrium-worker: --workers must be at least 1\n";
        return exit_usage;
    }
    // Tasks run module code as atriumd would: same sections, same password hashing.
    modules::res::set_hash_runner([](const std::function<void()>& work) { run_blocking_void(work); });
    modules::builtin_modules().configure(cfg.sections);
    std::shared_ptr<db::database> database;
    std::shared_ptr<db::backend> backend;
    try {
        backend = db::open_backend(backend_uri(cfg), fiber_wait_hooks());
        if (!backend->exists(cfg.database.name)) {
            std::cerr << "atrium-worker: database " << cfg.database.name << " does not exist at "
                      << masked_uri(cfg.database.uri) << " (atriumd or atrium-admin --init creates it)\n";
            return exit_failure;
        }
        database = backend->open(cfg.database.name);
    } catch (const std::exception& e) {
        std::cerr << "atrium-worker: cannot open database " << cfg.database.name << ": " << e.what() << '\n';
        return exit_failure;
    }

    queue_workers queue(database, options);  // before `io`: its fibers use it
    boost::asio::io_context io(1);
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    // A worker that died mid-commit leaves staged mails and files (its tasks'
    // participants) on this host: the periodic pass finishes them as atriumd's does.
    auto stop_recovery = std::make_shared<std::atomic<bool>>(false);
    signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
        if (ec) return;
        std::clog << "atrium-worker: signal " << signal_number << " received, draining" << std::endl;
        queue.stop();  // the workers end once their task in hand is done
        stop_recovery->store(true);
        io.stop();
    });
    int exit_code = exit_ok;
    fiber::spawn_fiber(
        io,
        [&] {
            modules::builtin_modules().start_modules();
            queue.start(io);
            if (cfg.tpc.recovery_interval > 0) {
                const std::chrono::seconds interval(cfg.tpc.recovery_interval);
                start_periodic_recovery(io, backend, database, cfg,
                                        {.interval = interval, .min_age = interval, .on_pass = {}}, stop_recovery);
            }
            std::cout << "atrium-worker: ready, " << options.workers << " worker(s) on database="
                      << masked_uri(cfg.database.uri) << "/" << cfg.database.name << " (pid " << ::getpid() << ")"
                      << std::endl;
        },
        [&](std::exception_ptr error) {
            if (!error) return;
            std::cerr << "atrium-worker: start-up failed: " << describe_exception(error) << std::endl;
            exit_code = exit_failure;
            signals.cancel();
            queue.stop();
            io.stop();
        });
    io.run();
    queue.stop();
    stop_recovery->store(true);
    io.restart();
    // The tasks in hand finish, within web.drain_timeout; one still running
    // then is abandoned: the process ends as if killed (the database rolls its
    // transaction back), and another worker takes it once its lease expires.
    if (!queue.drain(io, std::chrono::seconds(cfg.web.drain_timeout))) {
        std::clog << "atrium-worker: a task still running at web.drain_timeout is abandoned; another worker "
                  << "takes it when its lease expires" << std::endl;
        std::cout.flush();
        flush_logs();
        std::_Exit(exit_code);
    }
    if (const auto left = fiber::drain(io, std::chrono::seconds(3)); left > 0)
        std::clog << "atrium-worker: " << left << " background fiber(s) still suspended at exit" << std::endl;
    std::clog << "atrium-worker: stopped" << std::endl;
    return exit_code;
}

}  // namespace

int run_atrium_worker(int argc, char** argv) {
    std::string config_file;
    int workers = 0;
    po::options_description visible(
        "Usage: atrium-worker [options]\n\n"
        "Runs the task queue's workers (ir.queue) of atriumd's database, without\n"
        "serving HTTP: same configuration as atriumd (-c, $ATRIUM_CONFIG,\n"
        "ATRIUM_<SECTION>__<KEY>). SIGTERM/SIGINT let the tasks in hand finish\n"
        "(web.drain_timeout) and exit 0.\n\n"
        "Options");
    visible.add_options()                                                                                  //
        ("help,h", "print this help and exit")                                                             //
        ("version,V", "print the version and exit")                                                        //
        ("config,c", po::value<std::string>(&config_file)->value_name("FILE"), "read the INI configuration FILE")  //
        ("workers,w", po::value<int>(&workers)->value_name("N"),
         "worker fibers (default: queue.workers, or 1 when that is 0)");
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(visible).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "atrium-worker: " << e.what() << "\nTry 'atrium-worker --help'.\n";
        return exit_usage;
    }
    if (vm.count("help")) {
        std::cout << visible << '\n';
        return exit_ok;
    }
    if (vm.count("version")) {
        std::cout << "atrium-worker " ATRIUM_VERSION << '\n';
        return exit_ok;
    }
    if (config_file.empty())
        if (const char* file = std::getenv("ATRIUM_CONFIG"); file && *file) config_file = file;
    try {
        scoped_log_buffer logs(STDERR_FILENO);
        return run(config_file, vm.count("workers") ? std::optional<int>(workers) : std::nullopt,
                   [&logs] { logs.flush(); });
    } catch (const std::exception& e) {
        std::cerr << "atrium-worker: " << e.what() << '\n';
        return exit_failure;
    }
}

}  // namespace atrium::server
