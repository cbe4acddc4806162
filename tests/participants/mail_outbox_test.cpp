// The transactional mail outbox (participants/mail_outbox.hpp): messages reach
// the maildir's new/ only when the transaction (on the main database of the
// backend under test) commits; the participant store finishes what a crash
// left staged in tmp/.

#include "tests/support/log_dm.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_database.hpp"
#include "participants/file_manager.hpp"  // path_error
#include "participants/mail_outbox.hpp"
#include "transaction/manager.hpp"
#include "transaction/recovery.hpp"
#include "transaction/transaction.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

using namespace atrium;
using atrium::test::log_dm;
using atrium::test::temp_dir;
using atrium::test::test_database;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> names;
    if (!fs::exists(dir)) return names;
    for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::string slurp(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

mail_message sample(std::string subject = "Your order") {
    return {.from = "Shop <shop@example.com>",
            .to = {"alice@example.com", "Bob <bob@example.com>"},
            .subject = std::move(subject),
            .body = "Hello,\nyour order is confirmed.\n.\nBye\n"};
}

/// Everything under the maildir (tmp/, new/, cur/), as "sub/name".
std::vector<std::string> everything(const fs::path& maildir) {
    std::vector<std::string> all;
    for (const char* sub : {"tmp", "new", "cur"}) {
        for (auto& name : names_in(maildir / sub)) all.push_back(std::string(sub) + "/" + name);
    }
    return all;
}

/// Queues into a bare coordinator and votes: the state a crash after the vote leaves.
std::string stage_and_drop(const mail_outbox& outbox, int messages = 1) {
    tpc::coordinator txn(tpc::facade::zope);
    for (int i = 0; i < messages; ++i) outbox.queue(txn, sample("staged " + std::to_string(i)));
    auto dm = outbox.data_manager(txn);
    dm->tpc_begin(txn);
    dm->commit(txn);
    dm->tpc_vote(txn);
    return dm->gid();
}

}  // namespace

TEST_CASE("mail: a message queued in a committed transaction lands in new/, nothing stays in tmp/") {
    test_database f;
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    std::string id;
    std::string gid;
    {
        auto scope = begin(f.db, 1);
        scope->connection().execute("INSERT INTO note (text) VALUES (?)", {std::string("order")});
        id = outbox.queue(*scope, sample());
        gid = outbox.data_manager(*scope)->gid();
        CHECK(everything(outbox.maildir()).empty());  // nothing before the commit
    }
    CHECK(f.committed_notes() == std::vector<std::string>{"order"});
    const auto files = names_in(outbox.maildir() / "new");
    REQUIRE(files.size() == 1);
    CHECK(files[0] == gid + ".1.eml");
    CHECK(names_in(outbox.maildir() / "tmp").empty());
    CHECK(names_in(outbox.maildir() / "cur").empty());

    const auto text = slurp(outbox.maildir() / "new" / files[0]);
    CHECK(text.find("From: Shop <shop@example.com>\r\n") != std::string::npos);
    CHECK(text.find("To: alice@example.com, Bob <bob@example.com>\r\n") != std::string::npos);
    CHECK(text.find("Subject: Your order\r\n") != std::string::npos);
    CHECK(text.find("Message-ID: " + id + "\r\n") != std::string::npos);
    CHECK(id.starts_with("<"));
    CHECK(id.ends_with("@example.com>"));
    CHECK(text.find("\r\nDate: ") != std::string::npos);
    CHECK(text.find("X-Atrium-Envelope-To: bob@example.com\r\n") != std::string::npos);
    CHECK(text.ends_with("\r\n\r\nHello,\r\nyour order is confirmed.\r\n.\r\nBye\r\n"));
    // No bare LF anywhere.
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n') REQUIRE((i > 0 && text[i - 1] == '\r'));
    }
    // The main commit carried the decision record for the outbox.
    CHECK(tpc::decisions::lookup(*f.db, gid) == tpc::outcome::commit);
}

TEST_CASE("mail: a rolled-back transaction leaves nothing anywhere") {
    test_database f;
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    SUBCASE("exception") {
        try {
            auto scope = begin(f.db, 1);
            outbox.queue(*scope, sample());
            throw std::runtime_error("business error");
        } catch (const std::runtime_error&) {
        }
    }
    SUBCASE("explicit rollback, then a new cycle commits only its own mail") {
        auto scope = begin(f.db, 1);
        outbox.queue(*scope, sample("rolled back"));
        scope.rollback();
        CHECK(everything(outbox.maildir()).empty());
        outbox.queue(*scope, sample("kept"));
        scope.commit();
        const auto files = names_in(outbox.maildir() / "new");
        REQUIRE(files.size() == 1);
        CHECK(slurp(outbox.maildir() / "new" / files[0]).find("Subject: kept\r\n") != std::string::npos);
        fs::remove(outbox.maildir() / "new" / files[0]);
    }
    CHECK(everything(outbox.maildir()).empty());
}

TEST_CASE("mail: one data manager per (transaction, maildir); join returns the registered one") {
    test_database f;
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    mail_outbox same_dir_other_spelling(dir.path() / "x" / ".." / "maildir" / "");
    mail_outbox other(dir / "other");
    {
        auto scope = begin(f.db, 1);
        auto first = outbox.data_manager(*scope);
        CHECK(outbox.data_manager(*scope) == first);
        CHECK(same_dir_other_spelling.data_manager(*scope) == first);
        CHECK(other.data_manager(*scope) != first);
        outbox.queue(*scope, sample("one"));
        same_dir_other_spelling.queue(*scope, sample("two"));
        other.queue(*scope, sample("three"));
        CHECK(first->messages().size() == 2);
        CHECK(scope->coordinator().resources().size() == 2);
        CHECK(first->participant_id() == "mail:" + (dir / "maildir").string());
    }
    CHECK(names_in(outbox.maildir() / "new").size() == 2);
    CHECK(names_in(other.maildir() / "new").size() == 1);
}

TEST_CASE("mail: staged but not finished is in doubt; the store commits or rolls it back") {
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    mail_outbox_store store(dir / "maildir");
    CHECK(store.participant_id() == "mail:" + (dir / "maildir").string());
    CHECK(store.in_doubt().empty());  // no maildir yet

    const auto gid = stage_and_drop(outbox, 2);
    CHECK(names_in(outbox.maildir() / "tmp") == std::vector<std::string>{gid + ".1.eml", gid + ".2.eml"});
    CHECK(names_in(outbox.maildir() / "new").empty());
    CHECK(store.in_doubt() == std::vector<std::string>{gid});

    SUBCASE("commit") {
        store.commit(gid);
        CHECK(names_in(outbox.maildir() / "new") == std::vector<std::string>{gid + ".1.eml", gid + ".2.eml"});
        CHECK(names_in(outbox.maildir() / "tmp").empty());
        CHECK(store.in_doubt().empty());
        store.commit(gid);  // idempotent
        store.rollback(gid);  // nothing staged any more: does not touch new/
        CHECK(names_in(outbox.maildir() / "new").size() == 2);
    }
    SUBCASE("rollback") {
        store.rollback(gid);
        CHECK(everything(outbox.maildir()).empty());
        CHECK(store.in_doubt().empty());
        store.rollback(gid);
        store.commit(gid);
        CHECK(everything(outbox.maildir()).empty());
    }
    SUBCASE("another transaction's staged files are not touched") {
        const auto gid2 = stage_and_drop(outbox, 1);
        auto doubt = store.in_doubt();
        CHECK(doubt.size() == 2);
        CHECK(std::find(doubt.begin(), doubt.end(), gid2) != doubt.end());
        store.rollback(gid);
        CHECK(store.in_doubt() == std::vector<std::string>{gid2});
        store.commit(gid2);
        CHECK(names_in(outbox.maildir() / "new") == std::vector<std::string>{gid2 + ".1.eml"});
    }
    SUBCASE("foreign files in tmp/ are ignored") {
        std::ofstream(outbox.maildir() / "tmp" / "1700000000.123.host") << "x";
        std::ofstream(outbox.maildir() / "tmp" / "notatrium.1.eml") << "x";
        CHECK(store.in_doubt() == std::vector<std::string>{gid});
        store.rollback(gid);
        CHECK(names_in(outbox.maildir() / "tmp").size() == 2);
    }
}

TEST_CASE("mail: recovery finishes a staged outbox from the main database's decision") {
    test_database f;
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    mail_outbox_store store(dir / "maildir");
    SUBCASE("decision recorded (crash after the main commit) => delivered to new/") {
        const auto gid = stage_and_drop(outbox);
        {
            auto scope = begin(f.db, 1);
            tpc::decisions::record_commit(scope->connection(), gid, store.participant_id());
        }
        const auto report = tpc::recover(*f.db, {&store});
        CHECK(report.committed == 1);
        CHECK(report.failed == 0);
        CHECK(names_in(outbox.maildir() / "new") == std::vector<std::string>{gid + ".1.eml"});
    }
    SUBCASE("no decision (crash after the vote) => removed") {
        stage_and_drop(outbox);
        const auto report = tpc::recover(*f.db, {&store});
        CHECK(report.rolled_back == 1);
        CHECK(everything(outbox.maildir()).empty());
    }
    CHECK(store.in_doubt().empty());
}

TEST_CASE("mail: terminal calls are idempotent and never undo a finish") {
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    tpc::coordinator txn(tpc::facade::zope);
    outbox.queue(txn, sample());
    auto dm = outbox.data_manager(txn);

    SUBCASE("tpc_abort and abort before tpc_begin") {
        dm->tpc_abort(txn);
        dm->tpc_abort(txn);
        dm->abort(txn);
        CHECK(dm->messages().empty());
        CHECK(everything(outbox.maildir()).empty());
    }
    SUBCASE("abort after the vote, repeated") {
        dm->tpc_begin(txn);
        dm->commit(txn);
        dm->tpc_vote(txn);
        CHECK(names_in(outbox.maildir() / "tmp").size() == 1);
        dm->tpc_abort(txn);
        dm->abort(txn);
        dm->tpc_abort(txn);
        CHECK(everything(outbox.maildir()).empty());
    }
    SUBCASE("finish twice, then abort and tpc_abort (the post-hook sweep) keep the message") {
        dm->tpc_begin(txn);
        dm->commit(txn);
        dm->tpc_vote(txn);
        dm->tpc_finish(txn);
        dm->tpc_finish(txn);
        dm->abort(txn);
        dm->tpc_abort(txn);
        CHECK(names_in(outbox.maildir() / "new") == std::vector<std::string>{dm->gid() + ".1.eml"});
        CHECK(names_in(outbox.maildir() / "tmp").empty());
    }
    SUBCASE("queueing after the vote started is refused") {
        dm->tpc_begin(txn);
        dm->commit(txn);
        dm->tpc_vote(txn);
        CHECK_THROWS_AS(dm->queue_rendered("x"), std::logic_error);
        dm->tpc_abort(txn);
    }
}

TEST_CASE("mail: another participant failing at vote means no mail anywhere") {
    test_database f;
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    std::vector<std::string> log;
    // "a…" votes before the outbox ("mail:…"), "z…" after it (the outbox has staged by then).
    std::string name;
    SUBCASE("the failing participant votes first") { name = "a-first"; }
    SUBCASE("the failing participant votes after the outbox staged") { name = "z-last"; }
    CAPTURE(name);
    {
        auto scope = begin(f.db, 1);
        scope->connection().execute("INSERT INTO note (text) VALUES (?)", {std::string("order")});
        outbox.queue(*scope, sample());
        scope->join(std::make_shared<log_dm>(name, log, "tpc_vote"));
        CHECK_THROWS_WITH_AS(scope.close(true), (name + " fails at tpc_vote").c_str(), std::runtime_error);
    }
    CHECK(std::find(log.begin(), log.end(), name + ".tpc_abort") != log.end());
    CHECK(f.committed_notes().empty());
    CHECK(everything(outbox.maildir()).empty());
}

// PostgreSQL only: on SQLite the coordinator's open transaction holds the write
// lock, so a recovery pass cannot decide before it (it waits for the commit).
TEST_SUITE(ATRIUM_POSTGRESQL_ONLY) {

TEST_CASE("mail: recovery deciding abort first makes the main commit fail: no mail anywhere") {
    test_database f;
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    {
        auto scope = begin(f.db, 1);
        outbox.queue(*scope, sample());
        const auto dm = outbox.data_manager(*scope);
        // A recovery pass took this gid for abandoned and inserted its abort
        // marker: the coordinator's decision record then collides at the main
        // commit, which fails, and every participant is aborted.
        CHECK(tpc::decisions::decide(*f.db, dm->gid(), dm->participant_id()) == tpc::outcome::abort);
        CHECK_THROWS(scope.close(true));
    }
    CHECK(everything(outbox.maildir()).empty());
}

}  // TEST_SUITE

TEST_CASE("mail: rendering") {
    SUBCASE("header injection and missing addresses are refused") {
        auto m = sample();
        m.subject = "hi\r\nBcc: victim@example.com";
        CHECK_THROWS_AS(render_mail(m), std::invalid_argument);
        m = sample();
        m.to = {"a@example.com\nX: y"};
        CHECK_THROWS_AS(render_mail(m), std::invalid_argument);
        m = sample();
        m.to.clear();
        CHECK_THROWS_AS(render_mail(m), std::invalid_argument);
        m = sample();
        m.from.clear();
        CHECK_THROWS_AS(render_mail(m), std::invalid_argument);
        m = sample();
        m.headers = {{"Bad Name", "x"}};
        CHECK_THROWS_AS(render_mail(m), std::invalid_argument);
    }
    SUBCASE("Bcc is envelope only; extra headers; a non-ASCII subject is encoded") {
        auto m = sample("Commande confirmée — merci beaucoup pour votre confiance et à bientôt");
        m.cc = {"carol@example.com"};
        m.bcc = {"audit@example.com"};
        m.headers = {{"Reply-To", "support@example.com"}, {"Message-ID", "<fixed@example.com>"}};
        std::string id;
        const auto text = render_mail(m, &id);
        CHECK(id == "<fixed@example.com>");
        CHECK(text.find("Cc: carol@example.com\r\n") != std::string::npos);
        CHECK(text.find("Reply-To: support@example.com\r\n") != std::string::npos);
        CHECK(text.find("Subject: =?utf-8?b?") != std::string::npos);
        CHECK(text.find("Content-Transfer-Encoding: 7bit") != std::string::npos);
        const auto stored = parse_stored_mail(text);
        CHECK(stored.envelope_from == "shop@example.com");
        CHECK(stored.envelope_to == std::vector<std::string>{"alice@example.com", "bob@example.com",
                                                             "carol@example.com", "audit@example.com"});
        CHECK(stored.data.find("audit@") == std::string::npos);
        CHECK(stored.data.find("X-Atrium-Envelope") == std::string::npos);
        CHECK(stored.data.find("Message-ID: <fixed@example.com>\r\n") != std::string::npos);
        CHECK(stored.data.ends_with("\r\n\r\nHello,\r\nyour order is confirmed.\r\n.\r\nBye\r\n"));
    }
    SUBCASE("a message without envelope headers takes it from From/To/Cc/Bcc") {
        const auto stored = parse_stored_mail(
            "From: \"Shop, Inc.\" <shop@example.com>\r\nTo: a@example.com,\r\n \"B, b\" <b@example.com>\r\n"
            "Bcc: hidden@example.com\r\nSubject: x\r\n\r\nbody\r\n");
        CHECK(stored.envelope_from == "shop@example.com");
        CHECK(stored.envelope_to == std::vector<std::string>{"a@example.com", "b@example.com", "hidden@example.com"});
        CHECK(stored.data == "From: \"Shop, Inc.\" <shop@example.com>\r\nTo: a@example.com,\r\n \"B, b\" "
                             "<b@example.com>\r\nSubject: x\r\n\r\nbody\r\n");
    }
}

TEST_CASE("mail: tmp/ or new/ leading outside the maildir is refused at the vote; nothing written, all rolls back") {
    test_database f;
    temp_dir dir;
    const auto maildir = dir / "maildir";
    const auto outside = dir / "outside";
    fs::create_directories(outside);
    fs::create_directories(maildir / "cur");
    std::string sub;
    SUBCASE("tmp") { sub = "tmp"; }
    SUBCASE("new") { sub = "new"; }
    fs::create_directory_symlink(outside, maildir / sub);
    fs::create_directories(maildir / (sub == "tmp" ? "new" : "tmp"));
    mail_outbox outbox(maildir);
    {
        auto scope = begin(f.db, 1);
        scope->connection().execute("INSERT INTO note (text) VALUES (?)", {std::string("order")});
        outbox.queue(*scope, sample());
        CHECK_THROWS_WITH_AS(scope.close(true), ("mail outbox " + sub + "/ leads outside its directory through a symbolic link").c_str(),
                             path_error);
    }
    CHECK(f.committed_notes().empty());
    CHECK(names_in(outside).empty());
    CHECK(names_in(maildir / "tmp").empty());
    CHECK(names_in(maildir / "new").empty());
}
