// tpc_crash_helper — one Tryton transaction over every kind of participant,
// killed (SIGKILL) at a chosen point of the two-phase commit. Used by
// tpc_crash_*_test.cpp; nothing in the production code knows about it.
//
//   tpc_crash_helper MAIN_BACKEND_URI MAIN_DB PARTICIPANT_DSN_1 PARTICIPANT_DSN_2
//                    MAILDIR STAGING_DIR TARGET_FILE RUN_ID KILL_POINT
//
// The transaction inserts RUN_ID into crash_row of the main database and of
// both participant databases (through pg_join), queues a mail whose subject is
// RUN_ID, writes RUN_ID to TARGET_FILE, joins a "killer" data manager and
// commits. The killer is an ordinary data manager whose sort_key() puts it
// exactly where the kill must happen in the coordinator's sorted order (data
// managers are driven in stable sort_key order: tpc_begin all, commit all,
// tpc_vote all, main commit, tpc_finish all). Participant ids are
// "files:/…", "mail:/…", "postgresql://…/<db1>", "postgresql://…/<db2>", with
// db1 < db2, so:
//
//   none                       no killer: a normal commit (exit 0)
//   after-first-prepare        tpc_vote,   key id1 + "~": after PREPARE on db1
//                              (files and mail staged too), before db2's
//   after-file-vote            tpc_vote,   key "files:~": after the file
//                              manager's vote, before the mail outbox's
//   after-all-votes            tpc_vote,   key "~~~": sorted last
//   after-main-commit          tpc_finish, key "": before any finish
//   after-mail-finish          tpc_finish, key "mail:~": files and mail
//                              finished, no COMMIT PREPARED yet
//   after-first-commit-prepared tpc_finish, key id1 + "~": after files, mail and
//                              COMMIT PREPARED on db1, before db2's
//   pause-after-all-votes      tpc_vote,   key "~~~": stops itself (SIGSTOP), a
//                              "merely slow" coordinator; the test runs recovery,
//                              then SIGCONT. Exit 0 if the commit went through,
//                              1 if it failed (recovery decided abort first)
//   restart-participants=DIR   tpc_finish, key "": `pg_ctl restart -m fast` of the
//                              cluster in DIR (a pg_cluster directory): every
//                              participant connection is broken (exit 0)
//   stop-participants=DIR      tpc_finish, key "": `pg_ctl stop -m fast`; the
//                              test starts it again after the commit returned (exit 0)
//
// PARTICIPANT_DSN_2 "-": one participant database only (ids then need no order).
//
// Exit status: killed by SIGKILL at a kill point; 0 when the commit returned;
// 1 on an error (printed); 2 on bad arguments.

#include "database/database.hpp"
#include "participants/pg_participant.hpp"
#include "tests/crash/pg_ctl.hpp"
#include "transaction/data_manager.hpp"
#include "participants/file_manager.hpp"
#include "participants/mail_outbox.hpp"
#include "transaction/transaction.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace atrium;
using atrium::test::crash::pg_ctl;

namespace {

enum class phase { vote, finish };

/// The test-only data manager that acts at one point of the commit.
class killer final : public tpc::data_manager {
public:
    killer(std::string key, phase when, std::function<void()> action)
        : key_(std::move(key)), when_(when), action_(std::move(action)) {}

    std::string sort_key() const override { return key_; }
    void tpc_begin(tpc::coordinator&) override {}
    void commit(tpc::coordinator&) override {}
    void tpc_vote(tpc::coordinator&) override {
        if (when_ == phase::vote) action_();
    }
    void tpc_finish(tpc::coordinator&) override {
        if (when_ == phase::finish) action_();
    }
    void tpc_abort(tpc::coordinator&) override {}
    void abort(tpc::coordinator&) override {}

private:
    std::string key_;
    phase when_;
    std::function<void()> action_;
};

[[noreturn]] void die() {
    std::cout.flush();
    std::cerr.flush();
    ::raise(SIGKILL);
    std::_Exit(99);  // not reached
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 10) {
        std::cerr << "usage: tpc_crash_helper MAIN_BACKEND_URI MAIN_DB DSN1 DSN2 MAILDIR STAGING TARGET RUN_ID "
                     "KILL_POINT\n";
        return 2;
    }
    const std::string main_uri = argv[1];
    const std::string main_db = argv[2];
    const std::string dsn1 = argv[3];
    const std::string dsn2 = argv[4];
    const fs::path maildir = argv[5];
    const fs::path staging = argv[6];
    const fs::path target = argv[7];
    const std::string run_id = argv[8];
    const std::string point = argv[9];

    try {
        const bool two = dsn2 != "-";
        const std::string id1 = db::pg_participant_dsn::parse(dsn1).participant_id;
        const std::string id2 = two ? db::pg_participant_dsn::parse(dsn2).participant_id : id1 + "~~";
        if (!(id1 < id1 + "~" && id1 + "~" < id2)) {
            std::cerr << "tpc_crash_helper: participant ids must sort as id1 < id1~ < id2: " << id1 << ", " << id2
                      << '\n';
            return 2;
        }

        std::shared_ptr<killer> dm;
        const std::string restart = "restart-participants=";
        const std::string stop = "stop-participants=";
        if (point == "none") {
        } else if (point == "after-first-prepare") {
            dm = std::make_shared<killer>(id1 + "~", phase::vote, die);
        } else if (point == "after-file-vote") {
            dm = std::make_shared<killer>("files:~", phase::vote, die);
        } else if (point == "after-all-votes") {
            dm = std::make_shared<killer>("~~~", phase::vote, die);
        } else if (point == "pause-after-all-votes") {
            dm = std::make_shared<killer>("~~~", phase::vote, [] { ::raise(SIGSTOP); });
        } else if (point == "after-main-commit") {
            dm = std::make_shared<killer>("", phase::finish, die);
        } else if (point == "after-mail-finish") {
            dm = std::make_shared<killer>("mail:~", phase::finish, die);
        } else if (point == "after-first-commit-prepared") {
            dm = std::make_shared<killer>(id1 + "~", phase::finish, die);
        } else if (point.rfind(restart, 0) == 0) {
            const fs::path dir = point.substr(restart.size());
            dm = std::make_shared<killer>("", phase::finish, [dir] { pg_ctl(dir, {"-m", "fast", "restart"}); });
        } else if (point.rfind(stop, 0) == 0) {
            const fs::path dir = point.substr(stop.size());
            dm = std::make_shared<killer>("", phase::finish, [dir] { pg_ctl(dir, {"-m", "fast", "stop"}); });
        } else {
            std::cerr << "tpc_crash_helper: unknown kill point " << point << '\n';
            return 2;
        }

        auto backend = db::open_backend(main_uri);
        auto database = backend->open(main_db);
        {
            auto scope = begin(database, root_user);
            auto& txn = scope.get();
            txn.connection().execute("INSERT INTO crash_row (run) VALUES (?)", {run_id});
            db::pg_join(dsn1, txn).execute("INSERT INTO crash_row (run) VALUES (?)", {run_id});
            if (two) db::pg_join(dsn2, txn).execute("INSERT INTO crash_row (run) VALUES (?)", {run_id});
            mail_outbox(maildir).queue(txn, {.from = "shop@example.com",
                                             .to = {"customer@example.com"},
                                             .subject = run_id,
                                             .body = "crash test " + run_id + "\n"});
            file_manager(staging, target.parent_path()).write(txn, target.filename(), run_id + "\n");
            if (dm) txn.join(dm);
            scope.close(true);
        }
        std::cout << "tpc_crash_helper: committed " << run_id << std::endl;
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "tpc_crash_helper: " << e.what() << std::endl;
        return 1;
    }
}
