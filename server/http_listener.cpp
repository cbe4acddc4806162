#include "server/http_listener.hpp"
#include "server/process_role.hpp"

#include <sys/socket.h>

#include "fiber/runtime.hpp"
#include "server/http_reply.hpp"
#include "server/http_session.hpp"
#include "server/ops_metrics.hpp"
#include "transaction/logging.hpp"

#include <string>
#include <system_error>

namespace atrium::server {

namespace {

constexpr std::size_t connection_stack_size = fiber::default_fiber_stack_size;  // guarded, see fiber/runtime.hpp

}  // namespace

void http_listener::listen() {
    // web.processes > 1: the supervisor's socket, shared by every child (server/supervisor.hpp).
    if (const int inherited = this_process().listen_fd; inherited >= 0) {
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        ::getsockname(inherited, reinterpret_cast<sockaddr*>(&address), &length);
        acceptor->assign(address.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), inherited);
        bound = acceptor->local_endpoint();
        accept_next();
        return;
    }
    tcp::resolver resolver(ios.front());
    std::string host = shared.cfg.web.host;
    std::uint16_t port = shared.cfg.web.port;
    if (ops_only_) parse_listen(shared.cfg.web.metrics_listen, host, port);
    const auto endpoints = resolver.resolve(host, std::to_string(port));
    if (endpoints.empty()) throw std::system_error(std::make_error_code(std::errc::address_not_available));
    const tcp::endpoint endpoint = *endpoints.begin();
    acceptor->open(endpoint.protocol());
    acceptor->set_option(tcp::acceptor::reuse_address(true));
    acceptor->bind(endpoint);
    acceptor->listen(asio::socket_base::max_listen_connections);
    bound = acceptor->local_endpoint();
    accept_next();
}

void http_listener::close() noexcept {
    boost::system::error_code ignored;
    if (acceptor) acceptor->close(ignored);
}

void http_listener::accept_next() {
    const std::size_t index = next_io++ % ios.size();
    asio::io_context& target = ios[index];
    acceptor->async_accept(target, [this, &target, index](const boost::system::error_code& ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
        if (ec) {
            log_warning("http server: accept failed: " + ec.message());
            retry_accept_later();
            return;
        }
        hand_over(target, *idles[index], std::move(socket));
        accept_next();
    });
}

void http_listener::retry_accept_later() {
    auto timer = std::make_shared<asio::steady_timer>(ios.front(), std::chrono::milliseconds(100));
    timer->async_wait([this, timer](const boost::system::error_code& ec) {
        if (!ec && acceptor->is_open()) accept_next();
    });
}

void http_listener::hand_over(asio::io_context& io, idle_list& idle_connections, tcp::socket socket) {
    auto control = std::make_shared<connection_control>();
    control->io = &io;
    control->idles = &idle_connections;
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (!ec) {
        control->address = remote.address().to_string();
        control->network = network_of(remote.address(), shared.cfg.session.ip_network_4, shared.cfg.session.ip_network_6);
    }
    control->wait_begins();  // for its first request
    control->ops_only = ops_only_;
    if (!limits.admit(control)) {
        ops::count_rejection(ops::rejection::connection_cap);
        if (busy_replies.load() < max_busy_replies) {
            std::make_shared<busy_reply>(std::move(socket), busy_replies)->start();
        }  // else the socket closes here
        return;
    }
    // A shared_ptr keeps the socket copyable for std::function.
    auto held = std::make_shared<tcp::socket>(std::move(socket));
    fiber::spawn_fiber(
        io,
        [this, held, control] {
            struct on_exit {
                connection_limits& limits;
                std::shared_ptr<connection_control> control;
                ~on_exit() {
                    control->idles->unlink(*control);
                    control->stream = nullptr;
                    limits.ended(control);
                }
            } exit_guard{limits, control};
            http_session(shared).serve(std::move(*held), *control);
        },
        [](std::exception_ptr error) { fiber::log_fiber_exception(error, "connection"); }, connection_stack_size);
}

}  // namespace atrium::server
