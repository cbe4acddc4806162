#include "server/mail_sender.hpp"

#include "fiber/unwind.hpp"
#include "participants/file_manager.hpp"
#include "participants/mail_outbox.hpp"
#include "transaction/logging.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace atrium::mail {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;

namespace {

/// One blocking SMTP client connection; every wait is bounded by the timeout
/// (asynchronous operations driven by io_context::run_for).
class smtp_client {
public:
    smtp_client(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout)
        : socket_(io_), timeout_(timeout) {
        tcp::resolver resolver(io_);
        boost::system::error_code ec;
        const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
        if (ec) throw smtp_error("cannot resolve " + host + ": " + ec.message());
        run("connect to " + host + ":" + std::to_string(port), [&](auto handler) {
            asio::async_connect(socket_, endpoints,
                                [handler](const boost::system::error_code& e, const tcp::endpoint&) { handler(e); });
        });
    }

    ~smtp_client() {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

    /// Reads one (possibly multi-line) reply; returns its code and text.
    std::pair<int, std::string> reply(const std::string& after) {
        std::string text;
        for (;;) {
            run("read the reply to " + after, [&](auto handler) {
                asio::async_read_until(socket_, asio::dynamic_buffer(buffer_), "\r\n",
                                       [handler](const boost::system::error_code& e, std::size_t) { handler(e); });
            });
            const auto end = buffer_.find("\r\n");
            std::string line = buffer_.substr(0, end);
            buffer_.erase(0, end + 2);
            if (line.size() < 3 || !std::all_of(line.begin(), line.begin() + 3, [](char c) { return c >= '0' && c <= '9'; })) {
                throw smtp_error("malformed SMTP reply to " + after + ": " + line);
            }
            if (!text.empty()) text += " / ";
            text += line;
            if (line.size() == 3 || line[3] != '-') return {std::stoi(line.substr(0, 3)), text};
        }
    }

    void send(const std::string& bytes, const std::string& what) {
        run("send " + what, [&](auto handler) {
            asio::async_write(socket_, asio::buffer(bytes),
                              [handler](const boost::system::error_code& e, std::size_t) { handler(e); });
        });
    }

    /// Sends `command` and expects a reply code in [low, high].
    int command(const std::string& command, int low = 200, int high = 299) {
        send(command + "\r\n", command);
        return expect(command, low, high);
    }

    int expect(const std::string& what, int low = 200, int high = 299) {
        auto [code, text] = reply(what);
        if (code < low || code > high) throw smtp_error(what + " refused: " + text, code);
        return code;
    }

private:
    template <class Start>
    void run(const std::string& what, Start start) {
        boost::system::error_code result = asio::error::would_block;
        start([&result](const boost::system::error_code& e) { result = e; });
        io_.restart();
        io_.run_for(timeout_);
        if (result == asio::error::would_block) {
            boost::system::error_code ignored;
            socket_.close(ignored);  // cancels the operation
            io_.restart();
            io_.run();
            throw smtp_error("timeout: " + what);
        }
        if (result) throw smtp_error("cannot " + what + ": " + result.message());
    }

    asio::io_context io_;
    tcp::socket socket_;
    std::chrono::milliseconds timeout_;
    std::string buffer_;
};

}  // namespace

std::string dot_stuff(const std::string& data) {
    std::string out;
    out.reserve(data.size() + data.size() / 16 + 2);
    bool line_start = true;
    for (std::size_t i = 0; i < data.size(); ++i) {
        const char c = data[i];
        if (line_start && c == '.') out += '.';
        line_start = false;
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < data.size() && data[i + 1] == '\n') ++i;
            out += "\r\n";
            line_start = true;
        } else {
            out += c;
        }
    }
    if (!line_start) out += "\r\n";
    return out;
}

void send_message(const std::string& host, std::uint16_t port, const std::string& envelope_from,
                  const std::vector<std::string>& envelope_to, const std::string& data,
                  const delivery_options& options) {
    if (envelope_to.empty()) throw smtp_error("no recipient");
    for (const auto* address : {&envelope_from, &options.helo_name}) {
        if (address->find_first_of("\r\n<>") != std::string::npos) throw smtp_error("invalid address " + *address);
    }
    for (const auto& address : envelope_to) {
        if (address.find_first_of("\r\n<>") != std::string::npos) throw smtp_error("invalid address " + address);
    }
    smtp_client smtp(host, port, options.timeout);
    smtp.expect("the greeting", 220, 220);
    try {
        smtp.command("EHLO " + options.helo_name);
    } catch (const smtp_error& error) {
        if (error.code() < 500) throw;
        smtp.command("HELO " + options.helo_name);
    }
    smtp.command("MAIL FROM:<" + envelope_from + ">");
    for (const auto& to : envelope_to) smtp.command("RCPT TO:<" + to + ">", 250, 251);
    smtp.command("DATA", 354, 354);
    smtp.send(dot_stuff(data) + ".\r\n", "the message");
    smtp.expect("the message (end of DATA)");
    // Delivered: the server took responsibility. A failing QUIT changes nothing.
    try {
        smtp.command("QUIT", 200, 299);
    } catch (const smtp_error&) {
    }
}

delivery_report deliver_maildir(const fs::path& maildir, const std::string& smtp_host, std::uint16_t smtp_port,
                                const delivery_options& options) {
    ensure_maildir(maildir);
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(maildir / "new")) {
        const auto name = entry.path().filename().string();
        if (name.starts_with('.') || !entry.is_regular_file()) continue;
        files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());

    delivery_report report;
    for (const auto& file : files) {
        try {
            const auto mail = parse_stored_mail(durable::read_file(file));
            if (mail.envelope_from.empty()) throw smtp_error("no sender in " + file.filename().string());
            send_message(smtp_host, smtp_port, mail.envelope_from, mail.envelope_to, mail.data, options);
            durable::rename_file(file, maildir / "cur" / file.filename());
            durable::fsync_directory(maildir / "cur");
            ++report.delivered;
        } catch (const smtp_error& error) {
            report.failures.push_back({file, error.what(), error.code()});
        } catch (...) {
            fiber::rethrow_if_unwinding();
            // Unreadable file, failed move… (forced_unwind was rethrown above).
            report.failures.push_back({file, describe_exception(std::current_exception()), 0});
        }
        if (!report.failures.empty() && report.failures.back().file == file) {
            const auto& failure = report.failures.back();
            log_warning("mail sender: " + file.filename().string() + " stays queued: " + failure.error);
        }
    }
    if (!files.empty() || !report.failures.empty()) {
        log_info("mail sender: " + std::to_string(report.delivered) + " delivered, " +
                 std::to_string(report.failures.size()) + " failed");
    }
    return report;
}

}  // namespace atrium::mail
