#pragma once
// Delivers the mail outbox's maildir (participants/mail_outbox.hpp) to an SMTP
// server: the process side of the zope.sendmail idea. Used by the
// atrium-mail-sender command (server/mail_sender_main.cpp).
//
// For each message in `<maildir>/new/` (name order): one SMTP session on a
// plain TCP connection — EHLO (HELO if refused), MAIL FROM, RCPT TO per
// envelope recipient, DATA (dot-stuffed, CRLF line ends), QUIT — then the file
// is moved to `<maildir>/cur/` (delivered). A message that fails (connection,
// timeout, any refused command) stays in new/ for the next run and is
// reported. Delivery is at-least-once: a crash between the server's final 250
// and the move to cur/ sends the message again next time.
//
// Blocking: runs in its own process or thread, never on a request fiber.

#include "util/error.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace atrium::mail {

struct delivery_options {
    /// The name announced in EHLO/HELO.
    std::string helo_name = "localhost";
    /// Limit for connecting and for each reply.
    std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

struct delivery_failure {
    std::filesystem::path file;  ///< still in new/
    std::string error;           ///< e.g. "RCPT TO:<x@y> refused: 550 no such user"
    int reply_code = 0;          ///< the SMTP reply code, 0 for connection errors and timeouts
};

struct delivery_report {
    int delivered = 0;
    std::vector<delivery_failure> failures;
    bool ok() const noexcept { return failures.empty(); }
};

/// An SMTP conversation failed (a refused command, a timeout, a broken connection).
class smtp_error : public error {
public:
    smtp_error(const std::string& message, int code = 0) : error(message, error_category::other), code_(code) {}
    /// The SMTP reply code (0: no reply).
    int code() const noexcept { return code_; }

private:
    int code_;
};

/// Sends one message (`data`: RFC 5322 text) in one SMTP session. Throws smtp_error.
void send_message(const std::string& host, std::uint16_t port, const std::string& envelope_from,
                  const std::vector<std::string>& envelope_to, const std::string& data,
                  const delivery_options& options = {});

/// `data` with CRLF line ends, every line starting with '.' doubled, ending in CRLF
/// (the DATA payload, without the terminating ".\r\n").
std::string dot_stuff(const std::string& data);

/// Delivers every message of `<maildir>/new/` (see the file comment). Creates
/// the maildir directories if missing. Failures are logged and reported.
delivery_report deliver_maildir(const std::filesystem::path& maildir, const std::string& smtp_host,
                                std::uint16_t smtp_port, const delivery_options& options = {});

}  // namespace atrium::mail
