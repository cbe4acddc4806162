// atrium-admin — administration commands for an Atrium installation.
//
//   ATRIUM_ADMIN_PASSWORD=… atrium-admin -c etc/atrium.conf -d DB --init [-u sale …]
//   atrium-admin -c etc/atrium.conf -d DB --update [-u MODULE …]
//   atrium-admin -c etc/atrium.conf [-d DB] --list-modules
//   atrium-admin -c etc/atrium.conf --recover
//   atrium-admin -c etc/atrium.conf tpc list | tpc commit GID | tpc rollback GID [--force]
//   atrium-admin -c etc/atrium.conf [-d DB] queue list [STATE] | queue retry ID | queue drop ID
//
// --init creates the database if needed and activates ir, res and the -u
// modules in dependency order (idempotent), creating the admin user (id 1)
// with the password from $ATRIUM_ADMIN_PASSWORD or --password-file (never
// from the command line). --update re-syncs the schema of the active modules
// (and activates -u modules); nothing is ever dropped.
//
// --recover runs one two-phase-commit recovery pass (SPEC §5.3) with the same
// configuration as atriumd: the prepared transactions of the PostgreSQL
// participants of `tpc.participants`, the messages staged in the outbox of
// `mail.maildir` and the files staged in `files.staging` are committed when the
// main database holds their decision record, rolled back otherwise. The
// decision of a gid is read in the database it names: every database this
// server serves is covered; gids of other deployments are left alone. Prints one
// summary line; exit 0 when everything in doubt was finished, 1 when something
// stays in doubt (see the log) or the database cannot be opened, 2 on a usage
// or configuration error.
//
// tpc list / commit / rollback: the transactions in doubt, for operators
// (server/tpc_admin.hpp).

#include "database/database.hpp"
#include "server/config.hpp"
#include "server/module_commands.hpp"
#include "server/recovery_command.hpp"
#include "server/queue_admin.hpp"
#include "server/tpc_admin.hpp"
#include "transaction/logging.hpp"

#include <boost/program_options.hpp>

#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>
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
    bool init = false;
    bool update = false;
    bool list_modules = false;
    std::string database;
    std::vector<std::string> modules;
    std::string password_file;
    std::vector<std::string> words;  // positional: tpc ACTION [GID]
    bool force = false;
};

// The admin password: --password-file (first line) or $ATRIUM_ADMIN_PASSWORD.
std::optional<std::string> admin_password(const options& opts) {
    if (!opts.password_file.empty()) {
        std::ifstream in(opts.password_file);
        if (!in) throw std::runtime_error("cannot read the password file " + opts.password_file);
        std::string line;
        std::getline(in, line);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
    }
    if (const char* env = std::getenv("ATRIUM_ADMIN_PASSWORD"); env && *env) return std::string(env);
    return std::nullopt;
}

int modules_command(const options& opts) {
    using namespace atrium;
    server::config cfg;
    try {
        cfg = server::load_config(opts.config_file);
    } catch (const server::config_error& e) {
        std::cerr << "atrium-admin: configuration error: " << e.what() << '\n';
        return exit_usage;
    }
    server::module_command cmd;
    cmd.database = opts.database.empty() ? cfg.database.name : opts.database;
    for (const auto& item : opts.modules) {
        // -u sale,stock and -u sale -u stock alike
        std::size_t start = 0;
        while (start <= item.size()) {
            const auto comma = item.find(',', start);
            const auto name = item.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            if (!name.empty()) cmd.modules.push_back(name);
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }
    try {
        cmd.admin_password = admin_password(opts);
    } catch (const std::exception& e) {
        std::cerr << "atrium-admin: " << e.what() << '\n';
        return exit_usage;
    }
    if (opts.init) return server::run_init(cfg, cmd, std::cout, std::cerr);
    if (opts.update) return server::run_update(cfg, cmd, std::cout, std::cerr);
    return server::run_list_modules(cfg, cmd, std::cout, std::cerr);
}

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
        server::served_databases databases(*backend, database);
        report = server::run_recovery(databases, stores);
    } catch (const std::exception& e) {
        std::cerr << "atrium-admin: recovery failed: " << e.what() << '\n';
        return exit_failure;
    }
    std::cout << "atrium-admin: " << server::recovery_summary(report, stores.size()) << std::endl;
    return report.failed == 0 ? exit_ok : exit_failure;
}

int tpc_command(const options& opts) {
    using namespace atrium;
    if (opts.words.size() < 2 || opts.words.size() > 3) {
        std::cerr << "atrium-admin: usage: tpc list | tpc commit GID | tpc rollback GID [--force]\n";
        return exit_usage;
    }
    server::config cfg;
    try {
        cfg = server::load_config(opts.config_file);
    } catch (const server::config_error& e) {
        std::cerr << "atrium-admin: configuration error: " << e.what() << '\n';
        return exit_usage;
    }
    server::tpc_command cmd{.action = opts.words[1], .gid = opts.words.size() == 3 ? opts.words[2] : "", .force = opts.force};
    return server::run_tpc_command(cfg, cmd, std::cout, std::cerr);
}

int queue_command(const options& opts) {
    using namespace atrium;
    server::config cfg;
    try {
        cfg = server::load_config(opts.config_file);
    } catch (const server::config_error& e) {
        std::cerr << "atrium-admin: configuration error: " << e.what() << '\n';
        return exit_usage;
    }
    const std::vector<std::string> words(opts.words.begin() + 1, opts.words.end());
    return server::run_queue_command(cfg, opts.database.empty() ? cfg.database.name : opts.database, words, std::cout,
                                     std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
    options opts;
    po::options_description visible(
        "Usage: atrium-admin [options] --init|--update|--list-modules|--recover\n"
        "       atrium-admin [options] tpc list | tpc commit GID | tpc rollback GID [--force]\n"
        "       atrium-admin [options] [-d DB] queue list [STATE] | queue retry ID | queue drop ID\n\n"
        "Administration commands for an Atrium installation.\n\n"
        "Configuration: the same as atriumd: built-in defaults < the INI file (-c, or\n"
        "$ATRIUM_CONFIG) < ATRIUM_<SECTION>__<KEY> environment variables.\n\n"
        "Options");
    visible.add_options()                                                   //
        ("help,h", "print this help and exit")                              //
        ("version,V", "print the version and exit")                         //
        ("config,c", po::value<std::string>(&opts.config_file)->value_name("FILE"), "read the INI configuration FILE")  //
        ("verbose,v", po::bool_switch(&opts.verbose), "log the participants and the recovery steps")                   //
        ("database,d", po::value<std::string>(&opts.database)->value_name("DB"),
         "the database to work on (default: database.name)")                                                         //
        ("init", po::bool_switch(&opts.init),
         "create the database if needed and activate ir, res and the -u modules; creates the admin user (id 1) "
         "with the password from $ATRIUM_ADMIN_PASSWORD or --password-file")                                        //
        ("update", po::bool_switch(&opts.update), "re-sync the schema of the active modules (and activate -u modules)")  //
        ("list-modules", po::bool_switch(&opts.list_modules), "list the known modules (and their state in -d)")      //
        ("modules,u", po::value<std::vector<std::string>>(&opts.modules)->composing()->value_name("MODULE"),
         "a module to activate (repeatable, or comma-separated)")                                                    //
        ("password-file", po::value<std::string>(&opts.password_file)->value_name("FILE"),
         "read the admin password from the first line of FILE")                                                      //
        ("recover", po::bool_switch(&opts.recover),
         "run one two-phase-commit recovery pass: finish the transactions left in doubt in the configured "
         "participants (tpc.participants, mail.maildir, files.staging) from the main database's decisions; "
         "exit 0 when nothing stays in doubt, 1 otherwise")  //
        ("force", po::bool_switch(&opts.force),
         "tpc commit/rollback: overrule the recorded decision (logged)");
    po::options_description hidden;
    hidden.add_options()("words", po::value<std::vector<std::string>>(&opts.words)->composing());
    po::options_description all;
    all.add(visible).add(hidden);
    po::positional_options_description positional;
    positional.add("words", -1);

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
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
    const bool tpc_cmd = !opts.words.empty();
    if (tpc_cmd && opts.words.front() != "tpc" && opts.words.front() != "queue") {
        std::cerr << "atrium-admin: unknown command \"" << opts.words.front() << "\"\nTry 'atrium-admin --help'.\n";
        return exit_usage;
    }
    const int commands = opts.recover + opts.init + opts.update + opts.list_modules + tpc_cmd;
    if (commands == 0) {
        std::cerr << "atrium-admin: no command given (--init, --update, --list-modules, --recover or tpc)\n"
                     "Try 'atrium-admin --help'.\n";
        return exit_usage;
    }
    if (commands > 1) {
        std::cerr << "atrium-admin: give one command of --init, --update, --list-modules, --recover, tpc\n";
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
        if (tpc_cmd && opts.words.front() == "queue") return queue_command(opts);
        if (tpc_cmd) return tpc_command(opts);
        if (!opts.recover) return modules_command(opts);
        return recover(opts);
    } catch (const std::exception& e) {
        std::cerr << "atrium-admin: " << e.what() << '\n';
        return exit_failure;
    }
}
