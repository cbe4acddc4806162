// atrium-admin — administration commands for an Atrium installation.
//
//   atrium-admin -c etc/atrium.conf --recover
//
// --recover runs one two-phase-commit recovery pass (SPEC §5.3) with the same
// configuration as atriumd: the prepared transactions of the PostgreSQL
// participants of `tpc.participants`, the messages staged in the outbox of
// `mail.maildir` and the files staged in `files.staging` are committed when the
// main database holds their decision record, rolled back otherwise. Prints one
// summary line; exit 0 when everything in doubt was finished, 1 when something
// stays in doubt (see the log) or the database cannot be opened, 2 on a usage
// or configuration error.

#include "database/database.hpp"
#include "server/config.hpp"
#include "server/recovery_command.hpp"
#include "transaction/logging.hpp"

#include <boost/program_options.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

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
    bool recover = false;
};

int recover(const options& opts) {
    using namespace atrium;
    server::config cfg;
    try {
        cfg = server::load_config(opts.config_file);
    } catch (const server::config_error& e) {
        std::cerr << "atrium-admin: configuration error: " << e.what() << '\n';
        return exit_usage;
    }
    const std::string where = server::masked_uri(cfg.database.uri) + "/" + cfg.database.name;

    std::unique_ptr<db::backend> backend;
    std::shared_ptr<db::database> database;
    try {
        backend = db::open_backend(server::backend_uri(cfg));
        if (!backend->exists(cfg.database.name)) {
            // Without the main database nothing can be decided: a participant
            // in doubt would be rolled back against records that may exist elsewhere.
            std::cerr << "atrium-admin: database " << where << " does not exist: nothing can be recovered\n";
            return exit_failure;
        }
        database = backend->open(cfg.database.name);
    } catch (const std::exception& e) {
        std::cerr << "atrium-admin: cannot open database " << where << ": " << e.what() << '\n';
        return exit_failure;
    }

    const auto stores = server::configured_participant_stores(cfg);
    if (opts.verbose) {
        std::clog << "atrium-admin " ATRIUM_VERSION ": recovery against " << where << std::endl;
        for (const auto& store : stores) std::clog << "  participant " << store->participant_id() << std::endl;
    }
    tpc::recovery_report report;
    try {
        report = server::run_recovery(*database, stores);
    } catch (const std::exception& e) {
        std::cerr << "atrium-admin: recovery failed: " << e.what() << '\n';
        return exit_failure;
    }
    std::cout << "atrium-admin: " << server::recovery_summary(report, stores.size()) << std::endl;
    return report.failed == 0 ? exit_ok : exit_failure;
}

}  // namespace

int main(int argc, char** argv) {
    options opts;
    po::options_description visible(
        "Usage: atrium-admin [options] --recover\n\n"
        "Administration commands for an Atrium installation.\n\n"
        "Configuration: the same as atriumd: built-in defaults < the INI file (-c, or\n"
        "$ATRIUM_CONFIG) < ATRIUM_<SECTION>__<KEY> environment variables.\n\n"
        "Options");
    visible.add_options()                                                   //
        ("help,h", "print this help and exit")                              //
        ("version,V", "print the version and exit")                         //
        ("config,c", po::value<std::string>(&opts.config_file)->value_name("FILE"), "read the INI configuration FILE")  //
        ("verbose,v", po::bool_switch(&opts.verbose), "log the participants and the recovery steps")                   //
        ("recover", po::bool_switch(&opts.recover),
         "run one two-phase-commit recovery pass: finish the transactions left in doubt in the configured "
         "participants (tpc.participants, mail.maildir, files.staging) from the main database's decisions; "
         "exit 0 when nothing stays in doubt, 1 otherwise");

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(visible).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "atrium-admin: " << e.what() << "\nTry 'atrium-admin --help'.\n";
        return exit_usage;
    }
    if (vm.count("help")) {
        std::cout << visible << '\n';
        return exit_ok;
    }
    if (vm.count("version")) {
        std::cout << "atrium-admin " ATRIUM_VERSION << '\n';
        return exit_ok;
    }
    if (!opts.recover) {
        std::cerr << "atrium-admin: no command given (--recover)\nTry 'atrium-admin --help'.\n";
        return exit_usage;
    }
    if (opts.config_file.empty()) {
        if (const char* file = std::getenv("ATRIUM_CONFIG"); file && *file) opts.config_file = file;
    }
    if (!opts.verbose) {
        // The per-gid lines of the pass are info: only with --verbose.
        atrium::set_log_sink([](atrium::log_level level, std::string_view text) {
            if (level == atrium::log_level::info) return;
            std::clog << atrium::to_string(level) << ": " << text << std::endl;
        });
    }
    try {
        return recover(opts);
    } catch (const std::exception& e) {
        std::cerr << "atrium-admin: " << e.what() << '\n';
        return exit_failure;
    }
}
