#pragma once
/// @file
/// @brief A tiny SMTP server on loopback for tests of the mail sender.
///
/// Listens on 127.0.0.1 on an ephemeral port in its own thread, serves one
/// connection at a time and speaks just enough SMTP: 220 greeting, 250 to
/// EHLO/HELO/MAIL/RCPT/RSET/NOOP, 354 to DATA (then reads until CRLF.CRLF and
/// replies 250), 221 to QUIT, 502 otherwise. Accepted messages (envelope and
/// data) are recorded; replies can be configured to reject.
///
///     test::smtp_test_server smtp;
///     smtp.reject_rcpt("nobody@example.com");          // 550 for that recipient
///     ... deliver to 127.0.0.1:smtp.port() ...
///     auto messages = smtp.messages();

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace atrium::test {

class smtp_test_server {
public:
    struct message {
        std::string helo;                  ///< the EHLO/HELO argument
        std::string mail_from;             ///< inside the angle brackets
        std::vector<std::string> rcpt_to;  ///< inside the angle brackets
        std::string raw_data;              ///< as received (dot-stuffed), without the final ".\r\n"
        std::string data;                  ///< un-stuffed
    };

    /// Starts listening (throws std::system_error).
    smtp_test_server();
    /// Stops the thread and closes every socket.
    ~smtp_test_server();
    smtp_test_server(const smtp_test_server&) = delete;
    smtp_test_server& operator=(const smtp_test_server&) = delete;

    std::uint16_t port() const noexcept { return port_; }

    /// RCPT TO:<address> gets `reply` (e.g. "550 5.1.1 no such user").
    void reject_rcpt(std::string address, std::string reply = "550 5.1.1 no such user");
    /// MAIL FROM:<address> gets `reply`.
    void reject_mail_from(std::string address, std::string reply = "550 5.7.1 sender refused");
    /// The end of DATA gets `reply` for messages whose data contains `marker`.
    void reject_data_containing(std::string marker, std::string reply = "554 5.6.0 message refused");
    /// EHLO gets 502 (the client must fall back to HELO).
    void refuse_ehlo(bool on = true);

    /// Messages accepted (250 after the data), in order.
    std::vector<message> messages() const;
    /// Every command line received, in order (without CRLF; DATA payload excluded).
    std::vector<std::string> commands() const;
    /// Connections accepted so far.
    int connections() const;

private:
    struct rule {
        std::string match;
        std::string reply;
    };
    void run();
    void serve(int fd);

    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::vector<rule> rcpt_rules_;
    std::vector<rule> mail_rules_;
    std::vector<rule> data_rules_;
    bool refuse_ehlo_ = false;
    std::vector<message> messages_;
    std::vector<std::string> commands_;
    int connections_ = 0;
    std::thread thread_;
};

}  // namespace atrium::test
