#pragma once
/// @file
/// @brief The idle sweep: a connection idle for idle_trim_delay gives its read
/// buffer and the unused part of its fiber stack back.

#include "server/connection_control.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <optional>

namespace atrium::server {

namespace asio = boost::asio;

/// A connection idle this long gives its buffer and the unused part of its
/// fiber stack back. Shorter idle periods (a busy keep-alive client) cost nothing.
constexpr auto idle_trim_delay = std::chrono::seconds(1);

/// Connections of one io thread in their first idle phase, oldest first (all
/// wait the same delay, so appending keeps the order). One timer per thread
/// cancels the reads of those idle for idle_trim_delay: the hot path only links
/// and unlinks, no timer or syscall per request.
struct idle_list {
    explicit idle_list(asio::io_context& io) : timer(std::in_place, io) {}

    void link(connection_control& c) {
        c.idle_since = std::chrono::steady_clock::now();
        c.prev = tail;
        c.next = nullptr;
        (tail ? tail->next : head) = &c;
        tail = &c;
        c.linked = true;
        if (!armed) arm();
    }
    void unlink(connection_control& c) noexcept {
        if (!c.linked) return;
        (c.prev ? c.prev->next : head) = c.next;
        (c.next ? c.next->prev : tail) = c.prev;
        c.prev = c.next = nullptr;
        c.linked = false;
    }

    void arm() {
        if (!head || !timer) return;
        armed = true;
        timer->expires_at(head->idle_since + idle_trim_delay);
        timer->async_wait([this](const boost::system::error_code& ec) {
            armed = false;
            if (!ec) sweep();
        });
    }
    void sweep() {
        const auto now = std::chrono::steady_clock::now();
        while (head && head->idle_since + idle_trim_delay <= now) {
            connection_control& c = *head;
            unlink(c);
            if (c.stream) {
                c.trim_requested = true;
                c.stream->cancel();
            }
        }
        arm();
    }

    connection_control* head = nullptr;
    connection_control* tail = nullptr;
    bool armed = false;
    std::optional<asio::steady_timer> timer;  ///< reset before its io_context dies
};

}  // namespace atrium::server
