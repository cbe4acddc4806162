// The batching log sink: prompt when quiet, batched under load, in order,
// nothing lost at exit.
#include "transaction/log_buffer.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

using namespace atrium;
using namespace std::chrono_literals;

namespace {

struct pipe_reader {
    int fds[2] = {-1, -1};
    pipe_reader() {
        REQUIRE(::pipe(fds) == 0);
        ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
    }
    ~pipe_reader() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    std::string text;
    const std::string& read() {
        char chunk[4096];
        for (ssize_t n; (n = ::read(fds[0], chunk, sizeof chunk)) > 0;) text.append(chunk, static_cast<std::size_t>(n));
        return text;
    }
    /// Reads until the text is `expected` or `timeout` passes (waits on the pipe, not a fixed time).
    const std::string& read_until(const std::string& expected, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (read() != expected) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left <= 0ms) break;
            pollfd p{fds[0], POLLIN, 0};
            ::poll(&p, 1, static_cast<int>(left.count()) + 1);
        }
        return text;
    }
};

}  // namespace

TEST_CASE("log buffer: a line after a quiet period is written at once, a burst within the interval") {
    pipe_reader out;
    // The quiet-period rule reads a clock moved by hand (the flusher's period is real time).
    std::atomic<std::chrono::steady_clock::time_point> now{std::chrono::steady_clock::time_point(1h)};
    auto buffer = std::make_shared<log_buffer>(out.fds[1], 200ms, 64 * 1024, [&now] { return now.load(); });
    buffer->add(log_level::info, "first");
    CHECK(out.read() == "atrium INFO: first\n");  // quiet: at once
    buffer->add(log_level::info, "second");
    buffer->add(log_level::info, "third");
    CHECK(out.read() == "atrium INFO: first\n");  // batched
    // The flusher writes the burst within the interval (at most 400 ms, as before).
    CHECK(out.read_until("atrium INFO: first\natrium INFO: second\natrium INFO: third\n", 400ms) ==
          "atrium INFO: first\natrium INFO: second\natrium INFO: third\n");
    now = now.load() + 200ms;  // quiet for an interval since that write
    buffer->add(log_level::info, "fourth");
    CHECK(out.read() == "atrium INFO: first\natrium INFO: second\natrium INFO: third\natrium INFO: fourth\n");
}

TEST_CASE("log buffer: a warning writes everything buffered before it, in order") {
    pipe_reader out;
    auto buffer = std::make_shared<log_buffer>(out.fds[1], 10s);
    buffer->add(log_level::info, "a");
    buffer->add(log_level::info, "b");
    CHECK(out.read() == "atrium INFO: a\n");
    buffer->add(log_level::warning, "c");
    CHECK(out.read() == "atrium INFO: a\natrium INFO: b\natrium WARNING: c\n");
}

TEST_CASE("log buffer: a full buffer is written at once; nothing is lost when the buffer goes") {
    pipe_reader out;
    {
        auto buffer = std::make_shared<log_buffer>(out.fds[1], 10s, 64);
        buffer->add(log_level::info, "quiet");
        buffer->add(log_level::info, std::string(80, 'x'));  // over capacity
        CHECK(out.read().size() == std::string("atrium INFO: quiet\n").size() + 14 + 80);
        buffer->add(log_level::info, "last");
    }
    CHECK(out.read().ends_with("atrium INFO: last\n"));
}

TEST_CASE("log buffer: installed as the sink for a scope, log_info goes through it") {
    pipe_reader out;
    {
        scoped_log_buffer logs(out.fds[1]);
        log_info("through the sink");
    }
    CHECK(out.read() == "atrium INFO: through the sink\n");
}
