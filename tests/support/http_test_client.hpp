#pragma once
/// @file
/// @brief A small synchronous HTTP/1.x client on raw loopback sockets, for
/// tests that speak to a real atriumd: send any bytes (pipelined requests,
/// broken requests, a TLS ClientHello), read responses one by one.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace atrium::test {

struct http_response {
    int status = 0;
    std::string version;                      ///< "HTTP/1.1"
    std::map<std::string, std::string> headers;  ///< names lower-cased
    std::string body;
    std::string header(const std::string& lower_name) const {
        const auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

class http_test_client {
public:
    /// Connects to 127.0.0.1:`port`; throws std::runtime_error on failure.
    explicit http_test_client(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~http_test_client();
    http_test_client(const http_test_client&) = delete;
    http_test_client& operator=(const http_test_client&) = delete;

    void send(const std::string& bytes);
    /// Reads one response (Content-Length framing, or until close). nullopt if
    /// the server closed (or timed out) before a complete status line and headers.
    std::optional<http_response> read_response();
    /// True if the server closes the connection (EOF or reset) within `within`
    /// without sending anything more.
    bool closed_by_server(std::chrono::milliseconds within);
    /// Half-closes the connection (shutdown SHUT_WR): the server reads EOF and
    /// ends it, which closed_by_server() then sees.
    void finish_sending();

    /// A whole POST request: `path`, JSON `body`, extra header lines ("Name: value\r\n"…).
    static std::string post(const std::string& path, const std::string& body, const std::string& extra_headers = {},
                            const std::string& version = "HTTP/1.1");

private:
    /// Reads more bytes into buffer_; false on EOF, error or timeout.
    bool fill();

    int fd_ = -1;
    std::chrono::milliseconds timeout_;
    std::string buffer_;
};

/// One request on a new connection, read its response (throws if none).
http_response http_call(std::uint16_t port, const std::string& request_bytes);

}  // namespace atrium::test
