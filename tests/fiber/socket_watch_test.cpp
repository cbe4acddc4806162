// fiber/socket_watch: a database socket registered once with an io_context's
// epoll and waited on many times; the registration is a dup of the socket,
// so the owner's fd is never closed by it, and it is dropped cleanly whether
// the watch or the io_context goes first, on any thread.

#include "fiber/runtime.hpp"
#include "fiber/socket_watch.hpp"
#include "fiber/context.hpp"

#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace atrium;
using fiber::spawn_fiber;

namespace {

/// A connected, non-blocking socket pair (like libpq's socket), closed at scope exit.
struct socket_pair {
    int ends[2] = {-1, -1};
    socket_pair() {
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ends) == 0);
    }
    ~socket_pair() {
        for (int fd : ends) {
            if (fd >= 0) ::close(fd);
        }
    }
    socket_pair(const socket_pair&) = delete;
    socket_pair& operator=(const socket_pair&) = delete;
    int reader() const { return ends[0]; }
    int writer() const { return ends[1]; }
};

bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

std::string read_all(int fd) {
    std::string out;
    char buffer[64];
    for (;;) {
        const auto n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) return out;
        out.append(buffer, static_cast<std::size_t>(n));
    }
}

}  // namespace

TEST_CASE("a socket watch waits many times on one registration, suspending only its fiber") {
    boost::asio::io_context io(1);
    socket_pair sockets;
    std::vector<std::string> order;
    std::size_t open_while_waiting = 0;
    fiber::spawn_fiber(io, [&] {
        auto watch = fiber::current().watch_socket(sockets.reader());
        REQUIRE(watch != nullptr);
        CHECK(watch->usable_here());
        for (int round = 0; round < 3; ++round) {
            watch->wait_readable();
            order.push_back("read " + read_all(sockets.reader()));
        }
        open_while_waiting = fiber::open_socket_watches(io);
    });
    fiber::spawn_fiber(io, [&] {
        for (const char* word : {"a", "b", "c"}) {
            fiber::current().sleep_for(std::chrono::milliseconds(2));
            order.push_back(std::string("write ") + word);
            REQUIRE(::write(sockets.writer(), word, 1) == 1);
        }
    });
    io.run();
    CHECK(order == std::vector<std::string>{"write a", "read a", "write b", "read b", "write c", "read c"});
    CHECK(open_while_waiting == 1);
    CHECK(fiber::open_socket_watches(io) == 0);  // the watch died with the fiber
    CHECK(fd_is_open(sockets.reader()));           // the dup was closed, not the owner's fd
}

TEST_CASE("a socket watch returns at once for data already there, also data left unread since an earlier wake-up") {
    boost::asio::io_context io(1);
    socket_pair sockets;
    bool done = false;
    fiber::spawn_fiber(io, [&] {
        auto watch = fiber::current().watch_socket(sockets.reader());
        REQUIRE(::write(sockets.writer(), "xy", 2) == 2);
        watch->wait_readable();  // data before the wait: edge-triggered epoll would never report it
        char byte = 0;
        REQUIRE(::read(sockets.reader(), &byte, 1) == 1);
        CHECK(byte == 'x');
        watch->wait_readable();  // 'y' is still there: no new edge will come for it
        REQUIRE(::read(sockets.reader(), &byte, 1) == 1);
        CHECK(byte == 'y');
        done = true;
    });
    io.run();
    CHECK(done);
}

TEST_CASE("a socket watch outlives its owner's fd, and closing it leaves a reused fd number alone") {
    boost::asio::io_context io(1);
    auto sockets = std::make_unique<socket_pair>();
    std::unique_ptr<fiber::socket_watch> watch;
    fiber::spawn_fiber(io, [&] { watch = fiber::current().watch_socket(sockets->reader()); });
    io.run();
    REQUIRE(watch != nullptr);
    const int old_number = sockets->reader();
    sockets.reset();  // the owner closes its fds first (PQfinish before the watch goes)
    socket_pair reused;
    // Whichever numbers the new sockets got, dropping the watch must not touch them.
    watch.reset();
    CHECK(fiber::open_socket_watches(io) == 0);
    REQUIRE(::write(reused.writer(), "k", 1) == 1);
    CHECK(read_all(reused.reader()) == "k");
    CHECK((reused.reader() == old_number || fd_is_open(reused.reader())));
}

TEST_CASE("a socket watch is usable only on its own io_context's thread, and may be dropped from another") {
    boost::asio::io_context first(1);
    boost::asio::io_context second(1);
    socket_pair sockets;
    std::unique_ptr<fiber::socket_watch> watch;
    bool usable_on_first = false;
    bool usable_on_second = true;
    fiber::spawn_fiber(first, [&] {
        watch = fiber::current().watch_socket(sockets.reader());
        usable_on_first = watch->usable_here();
    });
    first.run();
    CHECK_FALSE(watch->usable_here());  // not inside first.run()
    fiber::spawn_fiber(second, [&] {
        usable_on_second = watch->usable_here();
        CHECK_THROWS_AS(watch->wait_readable(), std::logic_error);
    });
    std::thread other([&] { second.run(); });
    other.join();
    CHECK(usable_on_first);
    CHECK_FALSE(usable_on_second);
    std::thread dropper([&] { watch.reset(); });
    dropper.join();
    CHECK(fiber::open_socket_watches(first) == 0);
    CHECK(fd_is_open(sockets.reader()));
}

TEST_CASE("an io_context destroyed first closes its watches; a fiber waiting on one is unwound") {
    socket_pair sockets;
    std::unique_ptr<fiber::socket_watch> idle_watch;
    bool unwound = false;
    {
        boost::asio::io_context io(1);
        fiber::spawn_fiber(io, [&] {
            idle_watch = fiber::current().watch_socket(sockets.reader());
            auto waiting = fiber::current().watch_socket(sockets.reader());
            struct mark {
                bool& flag;
                ~mark() { flag = true; }
            } on_unwind{unwound};
            waiting->wait_readable();  // nothing is ever written
        });
        io.run_for(std::chrono::milliseconds(20));
        CHECK(fiber::open_socket_watches(io) == 2);
    }
    CHECK(unwound);
    REQUIRE(idle_watch != nullptr);
    CHECK_FALSE(idle_watch->usable_here());
    idle_watch.reset();  // after its io_context: nothing left to touch
    CHECK(fd_is_open(sockets.reader()));
}

TEST_CASE("outside fibers there is no socket watch: wait_readable serves") {
    socket_pair sockets;
    CHECK(fiber::current().watch_socket(sockets.reader()) == nullptr);
}
