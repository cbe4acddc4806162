#include "server/http_server.hpp"

#include "fiber/io_context_pool.hpp"
#include "server/bus_service.hpp"
#include "server/connection_limits.hpp"
#include "server/http_listener.hpp"
#include "server/http_shared.hpp"
#include "server/idle_sweep.hpp"
#include "server/ops_metrics.hpp"
#include "util/metrics.hpp"
#include "fiber/runtime.hpp"
#include "server/worker_pool.hpp"
#include "transaction/logging.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace atrium::server {

namespace {

std::size_t io_threads(const config& cfg) {
    return cfg.web.threads > 0 ? static_cast<std::size_t>(cfg.web.threads)
                               : std::max(1u, std::thread::hardware_concurrency());
}

bus_settings bus_settings_of(const config& c) {
    bus_settings s;
    s.enabled = c.bus.enabled;
    s.long_polling_timeout = std::chrono::seconds(c.bus.long_polling_timeout);
    s.retention = c.bus.retention;
    if (c.database.uri.rfind("postgresql://", 0) == 0) {
        s.postgresql_uri = c.database.uri.substr(0, c.database.uri.find('?'));
        if (s.postgresql_uri.back() != '/') s.postgresql_uri += '/';
    }
    return s;
}

/// What web.drain_timeout cut off gets this long to end (each connection
/// closed at its next wait) before the io_contexts are destroyed.
constexpr auto cut_off_grace = std::chrono::seconds(1);

}  // namespace

void http_shared::debug(const std::string& line) const {
    if (flags.verbose) log_info("debug: " + line);
}

struct http_server::impl {
    impl(const config& c, rpc_handler& h, server_flags f)
        : shared(c, h, f), pool(c.web.workers), ios(io_threads(c), "http server"), limits(shared),
          listener(ios, idles, limits, shared) {
        for (std::size_t i = 0; i < ios.size(); ++i) idles.push_back(std::make_unique<idle_list>(ios[i]));
        if (!c.web.metrics_listen.empty()) ops_listener.emplace(ios, idles, limits, shared, true);
        if (c.bus.enabled) {
            bus.emplace(bus_settings_of(c), ios.front());
            shared.bus = &*bus;
        }
        metrics::set_enabled(c.web.metrics);
        ops::register_all();
        figures = ops::server_collector(
            {.open_connections = [this] { return static_cast<double>(limits.live_count()); },
             .fibers_alive =
                 [this] {
                     std::size_t alive = 0;
                     for (std::size_t i = 0; i < ios.size(); ++i) alive += fiber::live_fibers(ios[i]);
                     return static_cast<double>(alive);
                 },
             .worker_queued = [this] { return static_cast<double>(pool.queued()); },
             .worker_running = [this] { return static_cast<double>(pool.running()); },
             .draining = [this] { return shared.draining.load() ? 1.0 : 0.0; },
             .bus_parked = [this] { return bus ? static_cast<double>(bus->parked()) : 0.0; }});
    }

    ~impl() {
        figures = metrics::collector_handle();  // no scrape reads what goes below
        if (bus) bus->stop();
        ios.stop();
        pool.join();
        set_blocking_pool(previous_pool);
        listener.close();
        if (ops_listener) ops_listener->close();
        // The timers before their io_contexts; the lists stay for the fibers
        // still running below, which unlink themselves.
        for (auto& list : idles) list->timer.reset();
        // Connections the drain timeout cut off end now, each at its next
        // wait, before their io_contexts go: none is destroyed while suspended
        // (unless a call outlasts the grace: it is unwound then).
        limits.cut_off();
        ios.drain(cut_off_grace);
        // The acceptor before the io_contexts (a pending accept may own a
        // socket of another io_context), the io_contexts before the lists.
        listener.destroy();
        if (ops_listener) ops_listener->destroy();
        ios.destroy();
    }

    void start() {
        listener.listen();
        if (ops_listener) ops_listener->listen();
        previous_pool = set_blocking_pool(&pool);
        ios.start();
    }

    bool shutdown() {
        if (stopped.exchange(true)) return true;
        shared.draining.store(true);
        // Parked bus clients answer an empty message now (and their connections close).
        if (bus) bus->stop();
        // Stop accepting (on the acceptor's thread), then close idle connections.
        {
            std::promise<void> closed;
            asio::post(ios.front(), [&] {
                listener.close();
                closed.set_value();
            });
            closed.get_future().wait();
        }
        limits.close_idle();
        const bool clean = limits.wait_drained(std::chrono::seconds(shared.cfg.web.drain_timeout));
        if (!clean) {
            log_warning("http server: drain timeout, " + std::to_string(limits.live_count()) + " connection(s) cut off");
        }
        // The probes' own listener answered (/readyz: 503 draining) until now.
        {
            std::promise<void> closed;
            asio::post(ios.front(), [&] {
                if (ops_listener) ops_listener->close();
                closed.set_value();
            });
            closed.get_future().wait();
        }
        ios.stop();
        return clean;
    }

    http_shared shared;
    worker_pool pool;
    worker_pool* previous_pool = nullptr;
    fiber::io_context_pool ios;
    std::vector<std::unique_ptr<idle_list>> idles;  ///< one per io_context
    connection_limits limits;
    http_listener listener;
    std::optional<http_listener> ops_listener;  ///< web.metrics_listen
    std::optional<bus_service> bus;             ///< POST /<db>/bus (bus.enabled)
    metrics::collector_handle figures;          ///< GET /metrics' live figures of this server
    std::atomic<bool> stopped{false};
};

http_server::http_server(const config& cfg, rpc_handler& handler, server_flags flags)
    : impl_(std::make_unique<impl>(cfg, handler, flags)) {}

http_server::~http_server() {
    if (impl_ && impl_->ios.started()) impl_->shutdown();
}

void http_server::start() { impl_->start(); }

std::string http_server::address() const { return impl_->listener.endpoint().address().to_string(); }

std::uint16_t http_server::port() const { return impl_->listener.endpoint().port(); }

bool http_server::shutdown() { return impl_->shutdown(); }

void http_server::set_readiness(std::function<std::string()> check) { impl_->shared.readiness = std::move(check); }

std::optional<std::pair<std::string, std::uint16_t>> http_server::metrics_endpoint() const {
    if (!impl_->ops_listener) return std::nullopt;
    const auto& bound = impl_->ops_listener->endpoint();
    return std::make_pair(bound.address().to_string(), bound.port());
}

}  // namespace atrium::server
