#include "tests/support/smtp_test_server.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

namespace atrium::test {

namespace {

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

bool starts_with_nocase(const std::string& line, std::string_view prefix) {
    if (line.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = line[i];
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        if (c != prefix[i]) return false;
    }
    return true;
}

/// The text between '<' and '>' (or after the colon when there are no brackets).
std::string path_argument(const std::string& line) {
    const auto open = line.find('<');
    const auto close = line.find('>', open == std::string::npos ? 0 : open);
    if (open != std::string::npos && close != std::string::npos) return line.substr(open + 1, close - open - 1);
    const auto colon = line.find(':');
    return colon == std::string::npos ? std::string() : line.substr(colon + 1);
}

/// Line-oriented reading with a stop check every 50 ms.
class connection {
public:
    connection(int fd, const std::atomic<bool>& stop) : fd_(fd), stop_(stop) {}
    ~connection() { ::close(fd_); }

    /// One line without CRLF; false on EOF, error or stop.
    bool read_line(std::string& line) {
        for (;;) {
            const auto end = buffer_.find("\r\n");
            if (end != std::string::npos) {
                line = buffer_.substr(0, end);
                buffer_.erase(0, end + 2);
                return true;
            }
            if (stop_) return false;
            pollfd p{fd_, POLLIN, 0};
            const int ready = ::poll(&p, 1, 50);
            if (ready < 0 && errno != EINTR) return false;
            if (ready <= 0) continue;
            char chunk[4096];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) return false;
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    bool send(const std::string& reply) {
        const std::string text = reply + "\r\n";
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::send(fd_, text.data() + done, text.size() - done, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                return false;
            }
            done += static_cast<std::size_t>(n);
        }
        return true;
    }

private:
    int fd_;
    const std::atomic<bool>& stop_;
    std::string buffer_;
};

}  // namespace

smtp_test_server::smtp_test_server() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw_errno("socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listen_fd_, 8) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        const int error = errno;
        ::close(listen_fd_);
        throw std::system_error(error, std::generic_category(), "smtp_test_server: bind/listen");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
}

smtp_test_server::~smtp_test_server() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
}

void smtp_test_server::reject_rcpt(std::string address, std::string reply) {
    std::lock_guard lock(mutex_);
    rcpt_rules_.push_back({std::move(address), std::move(reply)});
}

void smtp_test_server::reject_mail_from(std::string address, std::string reply) {
    std::lock_guard lock(mutex_);
    mail_rules_.push_back({std::move(address), std::move(reply)});
}

void smtp_test_server::reject_data_containing(std::string marker, std::string reply) {
    std::lock_guard lock(mutex_);
    data_rules_.push_back({std::move(marker), std::move(reply)});
}

void smtp_test_server::refuse_ehlo(bool on) {
    std::lock_guard lock(mutex_);
    refuse_ehlo_ = on;
}

std::vector<smtp_test_server::message> smtp_test_server::messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
}

std::vector<std::string> smtp_test_server::commands() const {
    std::lock_guard lock(mutex_);
    return commands_;
}

int smtp_test_server::connections() const {
    std::lock_guard lock(mutex_);
    return connections_;
}

void smtp_test_server::run() {
    while (!stop_) {
        pollfd p{listen_fd_, POLLIN, 0};
        const int ready = ::poll(&p, 1, 50);
        if (ready <= 0) continue;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        {
            std::lock_guard lock(mutex_);
            ++connections_;
        }
        serve(fd);
    }
}

void smtp_test_server::serve(int fd) {
    connection conn(fd, stop_);
    if (!conn.send("220 localhost ESMTP atrium-test")) return;
    message current;
    std::string line;
    auto rule_reply = [this](const std::vector<rule>& rules, const std::string& text, bool contains) -> std::string {
        std::lock_guard lock(mutex_);
        for (const auto& r : rules) {
            if (contains ? text.find(r.match) != std::string::npos : text == r.match) return r.reply;
        }
        return {};
    };
    while (conn.read_line(line)) {
        {
            std::lock_guard lock(mutex_);
            commands_.push_back(line);
        }
        std::string reply;
        if (starts_with_nocase(line, "EHLO")) {
            bool refused;
            {
                std::lock_guard lock(mutex_);
                refused = refuse_ehlo_;
            }
            if (refused) {
                reply = "502 5.5.2 EHLO not supported";
            } else {
                current = {};
                current.helo = line.size() > 5 ? line.substr(5) : "";
                reply = "250-localhost greets you\r\n250 8BITMIME";
            }
        } else if (starts_with_nocase(line, "HELO")) {
            current = {};
            current.helo = line.size() > 5 ? line.substr(5) : "";
            reply = "250 localhost";
        } else if (starts_with_nocase(line, "MAIL FROM:")) {
            const auto from = path_argument(line);
            reply = rule_reply(mail_rules_, from, false);
            if (reply.empty()) {
                current.mail_from = from;
                current.rcpt_to.clear();
                reply = "250 2.1.0 OK";
            }
        } else if (starts_with_nocase(line, "RCPT TO:")) {
            const auto to = path_argument(line);
            reply = rule_reply(rcpt_rules_, to, false);
            if (reply.empty()) {
                current.rcpt_to.push_back(to);
                reply = "250 2.1.5 OK";
            }
        } else if (starts_with_nocase(line, "DATA")) {
            if (current.rcpt_to.empty()) {
                reply = "503 5.5.1 no valid recipients";
            } else {
                if (!conn.send("354 End data with <CR><LF>.<CR><LF>")) return;
                std::string data_line;
                bool complete = false;
                while (conn.read_line(data_line)) {
                    if (data_line == ".") {
                        complete = true;
                        break;
                    }
                    current.raw_data += data_line + "\r\n";
                    current.data += (data_line.starts_with('.') ? data_line.substr(1) : data_line) + "\r\n";
                }
                if (!complete) return;
                reply = rule_reply(data_rules_, current.data, true);
                if (reply.empty()) {
                    std::lock_guard lock(mutex_);
                    messages_.push_back(current);
                    reply = "250 2.0.0 queued";
                }
                current.mail_from.clear();
                current.rcpt_to.clear();
                current.raw_data.clear();
                current.data.clear();
            }
        } else if (starts_with_nocase(line, "RSET")) {
            current.mail_from.clear();
            current.rcpt_to.clear();
            reply = "250 2.0.0 OK";
        } else if (starts_with_nocase(line, "NOOP")) {
            reply = "250 2.0.0 OK";
        } else if (starts_with_nocase(line, "QUIT")) {
            conn.send("221 2.0.0 bye");
            return;
        } else {
            reply = "502 5.5.2 command not recognized";
        }
        if (!conn.send(reply)) return;
    }
}

}  // namespace atrium::test
