#include "tests/support/http_test_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace atrium::test {

http_test_client::http_test_client(std::uint16_t port, std::chrono::milliseconds timeout) : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket() failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd_);
        throw std::runtime_error("connect() to port " + std::to_string(port) + " failed: " + std::strerror(errno));
    }
}

http_test_client::~http_test_client() {
    if (fd_ >= 0) ::close(fd_);
}

void http_test_client::send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error(std::string("send() failed: ") + std::strerror(errno));
        sent += static_cast<std::size_t>(n);
    }
}

bool http_test_client::fill() {
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(timeout_.count()));
    if (ready <= 0) return false;
    char chunk[65536];
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
}

std::optional<http_response> http_test_client::read_response() {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
        if (!fill()) return std::nullopt;
    }
    const std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    http_response response;
    std::size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    response.version = status_line.substr(0, status_line.find(' '));
    response.status = std::stoi(status_line.substr(status_line.find(' ') + 1, 3));
    while (line_end != std::string::npos && line_end < head.size()) {
        const auto start = line_end + 2;
        line_end = head.find("\r\n", start);
        const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        response.headers[name] = value;
    }
    if (const auto length = response.header("content-length"); !length.empty()) {
        const auto size = std::stoull(length);
        while (buffer_.size() < size) {
            if (!fill()) return std::nullopt;
        }
        response.body = buffer_.substr(0, size);
        buffer_.erase(0, size);
    } else if (response.status != 204 && response.status != 304 && response.status / 100 != 1) {
        while (fill()) {
        }
        response.body = std::move(buffer_);
        buffer_.clear();
    }
    return response;
}

bool http_test_client::closed_by_server(std::chrono::milliseconds within) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(within.count())) <= 0) return false;
    char chunk[1024];
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    return n <= 0;
}

void http_test_client::finish_sending() { ::shutdown(fd_, SHUT_WR); }

std::string http_test_client::post(const std::string& path, const std::string& body, const std::string& extra_headers,
                                   const std::string& version) {
    return "POST " + path + " " + version + "\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

http_response http_call(std::uint16_t port, const std::string& request_bytes) {
    http_test_client client(port);
    client.send(request_bytes);
    auto response = client.read_response();
    if (!response) throw std::runtime_error("no HTTP response");
    return *response;
}

}  // namespace atrium::test
