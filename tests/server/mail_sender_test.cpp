// The mail sender (server/mail_sender.hpp) and atrium-mail-sender against a
// small SMTP server on loopback (tests/support/smtp_test_server.hpp): messages
// committed through the outbox are delivered and moved to cur/; a refused one
// stays in new/ and is reported.

#include "server/mail_sender.hpp"
#include "tests/support/smtp_test_server.hpp"
#include "tests/support/temp_dir.hpp"
#include "transaction/coordinator.hpp"
#include "participants/mail_outbox.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cstdlib>
#include <filesystem>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace atrium;
using atrium::test::smtp_test_server;
using atrium::test::temp_dir;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> names;
    if (!fs::exists(dir)) return names;
    for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

/// Commits `messages` through the outbox (a Zope-facade transaction without a main database).
void commit_mail(const mail_outbox& outbox, const std::vector<mail_message>& messages) {
    tpc::coordinator txn(tpc::facade::zope);
    for (const auto& m : messages) outbox.queue(txn, m);
    txn.commit();
}

mail_message order_mail(std::string to = "alice@example.com") {
    return {.from = "Shop <shop@example.com>",
            .to = {std::move(to)},
            .subject = "Order SO42",
            .body = "Dear customer,\n.\n.hidden line\n..two dots\nregards\n",
            .bcc = {"audit@example.com"}};
}

int run_command(const std::string& command) {
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("mail sender: dot-stuffing and line ends") {
    CHECK(mail::dot_stuff("a\r\n.b\r\n..c\r\n.\r\n") == "a\r\n..b\r\n...c\r\n..\r\n");
    CHECK(mail::dot_stuff(".first\nsecond") == "..first\r\nsecond\r\n");
    CHECK(mail::dot_stuff("") == "");
    CHECK(mail::dot_stuff("x.y\r\n") == "x.y\r\n");
}

TEST_CASE("mail sender: delivers committed mail over SMTP and moves it to cur/") {
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    commit_mail(outbox, {order_mail(), order_mail("bob@example.com")});
    REQUIRE(names_in(outbox.maildir() / "new").size() == 2);

    smtp_test_server smtp;
    const auto report = mail::deliver_maildir(outbox.maildir(), "127.0.0.1", smtp.port(), {.helo_name = "atrium.test"});
    CHECK(report.delivered == 2);
    CHECK(report.ok());
    CHECK(names_in(outbox.maildir() / "new").empty());
    CHECK(names_in(outbox.maildir() / "cur").size() == 2);

    const auto messages = smtp.messages();
    REQUIRE(messages.size() == 2);
    CHECK(smtp.connections() == 2);
    const auto& m = messages[0];
    CHECK(m.helo == "atrium.test");
    CHECK(m.mail_from == "shop@example.com");
    CHECK(m.rcpt_to.size() == 2);
    CHECK(m.rcpt_to[1] == "audit@example.com");  // Bcc: envelope only
    CHECK(m.data.find("audit@example.com") == std::string::npos);
    CHECK(m.data.find("X-Atrium-Envelope") == std::string::npos);
    CHECK(m.data.find("Subject: Order SO42\r\n") != std::string::npos);
    CHECK(m.data.find("From: Shop <shop@example.com>\r\n") != std::string::npos);
    // Dot-stuffing on the wire, transparent for the receiver.
    CHECK(m.raw_data.find("\r\n..\r\n..hidden line\r\n...two dots\r\n") != std::string::npos);
    CHECK(m.data.ends_with("\r\n\r\nDear customer,\r\n.\r\n.hidden line\r\n..two dots\r\nregards\r\n"));
    const auto to = {messages[0].rcpt_to[0], messages[1].rcpt_to[0]};
    CHECK(std::count(to.begin(), to.end(), "bob@example.com") == 1);

    const auto commands = smtp.commands();
    CHECK(commands.front() == "EHLO atrium.test");
    CHECK(std::count(commands.begin(), commands.end(), "QUIT") == 2);

    // A second pass has nothing to do.
    CHECK(mail::deliver_maildir(outbox.maildir(), "127.0.0.1", smtp.port()).delivered == 0);
    CHECK(smtp.messages().size() == 2);
}

TEST_CASE("mail sender: a refused message stays in new/ and is reported; the others go") {
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    commit_mail(outbox, {order_mail("nobody@example.com"), order_mail("alice@example.com")});
    smtp_test_server smtp;
    smtp.reject_rcpt("nobody@example.com");
    const auto report = mail::deliver_maildir(outbox.maildir(), "127.0.0.1", smtp.port());
    CHECK(report.delivered == 1);
    REQUIRE(report.failures.size() == 1);
    CHECK(report.failures[0].reply_code == 550);
    CHECK(report.failures[0].error.find("RCPT TO:<nobody@example.com>") != std::string::npos);
    CHECK(names_in(outbox.maildir() / "new") == std::vector<std::string>{report.failures[0].file.filename().string()});
    CHECK(names_in(outbox.maildir() / "cur").size() == 1);
    REQUIRE(smtp.messages().size() == 1);
    CHECK(smtp.messages()[0].rcpt_to[0] == "alice@example.com");

    // The next run (the recipient now accepted) delivers it.
    smtp_test_server later;
    const auto again = mail::deliver_maildir(outbox.maildir(), "127.0.0.1", later.port());
    CHECK(again.delivered == 1);
    CHECK(again.ok());
    CHECK(names_in(outbox.maildir() / "new").empty());
    CHECK(names_in(outbox.maildir() / "cur").size() == 2);
}

TEST_CASE("mail sender: refused sender, refused data, HELO fallback") {
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    smtp_test_server smtp;
    SUBCASE("MAIL FROM refused") {
        commit_mail(outbox, {order_mail()});
        smtp.reject_mail_from("shop@example.com");
        const auto report = mail::deliver_maildir(outbox.maildir(), "127.0.0.1", smtp.port());
        REQUIRE(report.failures.size() == 1);
        CHECK(report.failures[0].reply_code == 550);
        CHECK(names_in(outbox.maildir() / "new").size() == 1);
    }
    SUBCASE("end of DATA refused") {
        auto m = order_mail();
        m.body = "SPAM SPAM\n";
        commit_mail(outbox, {m});
        smtp.reject_data_containing("SPAM");
        const auto report = mail::deliver_maildir(outbox.maildir(), "127.0.0.1", smtp.port());
        REQUIRE(report.failures.size() == 1);
        CHECK(report.failures[0].reply_code == 554);
        CHECK(names_in(outbox.maildir() / "new").size() == 1);
        CHECK(smtp.messages().empty());
    }
    SUBCASE("EHLO refused: HELO") {
        commit_mail(outbox, {order_mail()});
        smtp.refuse_ehlo();
        const auto report = mail::deliver_maildir(outbox.maildir(), "127.0.0.1", smtp.port());
        CHECK(report.delivered == 1);
        REQUIRE(smtp.messages().size() == 1);
        CHECK(smtp.commands()[1] == "HELO localhost");
    }
}

TEST_CASE("mail sender: an unreachable or silent server leaves the mail queued") {
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    commit_mail(outbox, {order_mail()});
    SUBCASE("connection refused") {
        std::uint16_t port;
        {
            smtp_test_server gone;
            port = gone.port();
        }
        const auto report = mail::deliver_maildir(outbox.maildir(), "127.0.0.1", port);
        REQUIRE(report.failures.size() == 1);
        CHECK(report.failures[0].reply_code == 0);
    }
    SUBCASE("no greeting: timeout") {
        // A listening socket nobody accepts on: the connection completes, no reply ever comes.
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(fd, 4) == 0);
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
        const auto report = mail::deliver_maildir(outbox.maildir(), "127.0.0.1", ntohs(address.sin_port),
                                                  {.timeout = std::chrono::milliseconds(300)});
        ::close(fd);
        REQUIRE(report.failures.size() == 1);
        CHECK(report.failures[0].error.find("timeout") != std::string::npos);
    }
    CHECK(names_in(outbox.maildir() / "new").size() == 1);
    CHECK(names_in(outbox.maildir() / "cur").empty());
}

TEST_CASE("atrium-mail-sender --once delivers and reports through its exit status") {
    temp_dir dir;
    mail_outbox outbox(dir / "maildir");
    commit_mail(outbox, {order_mail("nobody@example.com"), order_mail("alice@example.com")});
    smtp_test_server smtp;
    smtp.reject_rcpt("nobody@example.com");
    const std::string command = std::string(ATRIUM_MAIL_SENDER) + " --maildir " + outbox.maildir().string() +
                                " --smtp 127.0.0.1:" + std::to_string(smtp.port()) + " --once > " +
                                (dir / "out.txt").string() + " 2>&1";
    CHECK(run_command(command) == 1);  // one refused
    CHECK(smtp.messages().size() == 1);
    CHECK(names_in(outbox.maildir() / "new").size() == 1);

    smtp_test_server accepting;
    CHECK(run_command(std::string(ATRIUM_MAIL_SENDER) + " --maildir " + outbox.maildir().string() +
                      " --smtp 127.0.0.1:" + std::to_string(accepting.port()) + " > /dev/null 2>&1") == 0);
    CHECK(accepting.messages().size() == 1);
    CHECK(names_in(outbox.maildir() / "new").empty());

    CHECK(run_command(std::string(ATRIUM_MAIL_SENDER) + " --maildir x --smtp nonsense:port > /dev/null 2>&1") == 2);
    CHECK(run_command(std::string(ATRIUM_MAIL_SENDER) + " --smtp 127.0.0.1:25 > /dev/null 2>&1") == 2);
}
