#include "server/disconnect_watch.hpp"

#include <cerrno>
#include <sys/socket.h>

namespace atrium::server {

disconnect_watch::disconnect_watch(boost::asio::ip::tcp::socket& socket, std::shared_ptr<db::cancellation> cancel)
    : socket_(socket), state_(std::make_shared<state>()) {
    socket_.async_wait(boost::asio::ip::tcp::socket::wait_read,
                       [&socket = socket_, watched = state_, cancel = std::move(cancel)](
                           const boost::system::error_code& ec) {
                           // Stopped first: the socket may be gone by now (same thread, so no race).
                           if (watched->stopped || ec) return;
                           char byte;
                           const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
                           const bool gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
                           if (gone) cancel->cancel();
                       });
}

disconnect_watch::~disconnect_watch() {
    state_->stopped = true;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
}

}  // namespace atrium::server
