#include "server/service_notify.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>

#ifdef ATRIUM_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace atrium::server {

namespace {

void watchdog_tick(std::shared_ptr<boost::asio::steady_timer> timer, std::chrono::microseconds period,
                   std::shared_ptr<std::atomic<bool>> stop) {
    timer->expires_after(period);
    timer->async_wait([timer, period, stop](const boost::system::error_code& ec) {
        if (ec || stop->load()) return;
        notify_service("WATCHDOG=1");
        watchdog_tick(timer, period, stop);
    });
}

}  // namespace

bool notify_service(const std::string& state) {
#ifdef ATRIUM_HAVE_SYSTEMD
    return sd_notify(0, state.c_str()) > 0;
#else
    (void)state;
    return false;
#endif
}

void start_watchdog(boost::asio::io_context& io, std::shared_ptr<std::atomic<bool>> stop) {
#ifdef ATRIUM_HAVE_SYSTEMD
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
    notify_service("WATCHDOG=1");
    watchdog_tick(std::make_shared<boost::asio::steady_timer>(io), std::chrono::microseconds(usec / 2), std::move(stop));
#else
    (void)io;
    (void)stop;
#endif
}

}  // namespace atrium::server
