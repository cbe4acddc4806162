#pragma once
/// @file
/// @brief fiber::socket_watch on an Asio io_context: a database socket stays
/// registered with the io_context's epoll for the watch's life, so a wait
/// costs one `epoll_ctl` (Asio's re-arm) where a one-off
/// `posix::stream_descriptor` per wait costs an add, a re-arm, a delete and
/// an `ioctl`.
///
/// The watch registers a `dup` of the socket: the database library keeps its
/// own fd and may close it first, and closing the watch removes only its own
/// registration. A service of the io_context closes every watch still open
/// when the io_context shuts down (connection pools outlive io_contexts);
/// a watch closed that way is no longer usable_here(), and its owner makes a
/// new one where it waits next.

#include "fiber/waiter.hpp"

#include <boost/asio/io_context.hpp>

#include <memory>

namespace atrium::fiber {

/// A watch of `fd` on `io`, for fibers running on `io`'s thread. Throws
/// boost::system::system_error when the fd cannot be duplicated or
/// registered, std::logic_error once `io` has shut down.
std::unique_ptr<socket_watch> make_socket_watch(boost::asio::io_context& io, int fd);

/// How many watches of `io` are open (for tests).
std::size_t open_socket_watches(boost::asio::io_context& io);

}  // namespace atrium::fiber
