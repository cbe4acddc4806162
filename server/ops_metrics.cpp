#include "server/ops_metrics.hpp"

#include <array>

namespace atrium::server::ops {

namespace {

constexpr std::array<std::string_view, 6> families{"common", "model", "wizard", "report", "system", "other"};
constexpr std::array<std::string_view, static_cast<std::size_t>(call_outcome::count)> outcomes{
    "ok", "user_error", "http_error", "unavailable", "timeout", "rate_limited", "not_found", "invalid_params", "internal"};
constexpr std::array<std::string_view, static_cast<std::size_t>(rejection::count)> reasons{
    "connection_cap", "rate_limit", "body_limit", "header_limit", "length_required", "unsupported_media", "origin"};

std::size_t family_of(std::string_view method) noexcept {
    const auto dot = method.find('.');
    const std::string_view head = method.substr(0, dot);
    for (std::size_t i = 0; i + 1 < families.size(); ++i) {
        if (head == families[i]) return i;
    }
    return families.size() - 1;
}

struct call_series {
    std::array<std::array<metrics::counter*, outcomes.size()>, families.size()> calls{};
    std::array<metrics::histogram*, families.size()> durations{};
    std::array<metrics::counter*, reasons.size()> rejected{};

    call_series() {
        for (std::size_t f = 0; f < families.size(); ++f) {
            for (std::size_t o = 0; o < outcomes.size(); ++o) {
                calls[f][o] = &metrics::register_counter(
                    "atrium_rpc_calls_total", "RPC calls answered, by method family (first part of the name) and outcome.",
                    {{"family", std::string(families[f])}, {"outcome", std::string(outcomes[o])}});
            }
            durations[f] = &metrics::register_histogram("atrium_rpc_call_duration_seconds",
                                                        "Time from decoding a call to its result, by method family.",
                                                        {{"family", std::string(families[f])}});
        }
        for (std::size_t r = 0; r < reasons.size(); ++r) {
            rejected[r] = &metrics::register_counter("atrium_http_rejected_requests_total",
                                                     "Requests or connections refused before any call, by reason.",
                                                     {{"reason", std::string(reasons[r])}});
        }
    }
};

const call_series& series() {
    static const call_series s;
    return s;
}

}  // namespace

void record_call(std::string_view method, call_outcome outcome, double seconds) noexcept {
    const auto& s = series();
    const std::size_t f = family_of(method);
    s.calls[f][static_cast<std::size_t>(outcome)]->add();
    s.durations[f]->observe(seconds);
    if (outcome == call_outcome::rate_limited) count_rejection(rejection::rate_limit);
}

void count_rejection(rejection reason) noexcept { series().rejected[static_cast<std::size_t>(reason)]->add(); }

void register_all() { (void)series(); }

metrics::collector_handle server_collector(server_figures figures) {
    return metrics::collector_handle([figures = std::move(figures)](metrics::writer& w) {
        w.family("atrium_http_open_connections", "gauge", "HTTP connections open (each one fiber).");
        w.sample("atrium_http_open_connections", figures.open_connections());
        w.family("atrium_fibers_alive", "gauge", "Fibers alive on the HTTP server's io threads.");
        w.sample("atrium_fibers_alive", figures.fibers_alive());
        w.family("atrium_worker_pool_jobs", "gauge", "Jobs on the worker pool (password hashing, large bodies), by state.");
        w.sample("atrium_worker_pool_jobs", {{"state", "queued"}}, figures.worker_queued());
        w.sample("atrium_worker_pool_jobs", {{"state", "running"}}, figures.worker_running());
        w.family("atrium_http_draining", "gauge", "1 while the server drains (SIGTERM/SIGINT received).");
        w.sample("atrium_http_draining", figures.draining());
        if (figures.bus_parked) {
            w.family("atrium_bus_parked_clients", "gauge", "Clients waiting on POST /<db>/bus now.");
            w.sample("atrium_bus_parked_clients", figures.bus_parked());
        }
    });
}

}  // namespace atrium::server::ops
