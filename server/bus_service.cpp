#include "server/bus_service.hpp"

#include "database/call_limits.hpp"
#include "database/database.hpp"
#include "database/postgresql/pg_listener.hpp"
#include "fiber/runtime.hpp"
#include "modules/ir/bus.hpp"
#include "transaction/logging.hpp"
#include "transaction/retry.hpp"
#include "util/metrics.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <charconv>
#include <set>
#include <sys/socket.h>

namespace atrium::server {

namespace bus = modules::ir::bus;

namespace {

constexpr std::size_t read_batch = 1000;

metrics::counter& delivered_total() {
    static auto& c = metrics::register_counter("atrium_bus_messages_delivered_total",
                                               "Bus messages answered to a waiting client");
    return c;
}

metrics::histogram& delivery_lag() {
    static auto& h = metrics::register_histogram(
        "atrium_bus_delivery_lag_seconds", "From a bus message's insertion to its answer to a client", {},
        {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 60});
    return h;
}

nlohmann::json empty_reply() { return {{"message", nullptr}, {"channel", nullptr}}; }

std::vector<bus_entry> entries_of(std::vector<bus::stored_message> rows) {
    std::vector<bus_entry> out;
    out.reserve(rows.size());
    for (auto& row : rows) out.push_back({row.id, std::move(row.channel), std::move(row.message), row.created});
    return out;
}

// Runs `work` as root in a transaction of its own (read-only unless said), retried.
template <class Fn>
void as_root(const std::shared_ptr<db::database>& database, bool readonly, Fn&& work) {
    retry_options options;
    options.start.readonly = readonly;
    call_with_retry(database, root_user, options, [&](transaction&) {
        work();
        return nlohmann::json();
    });
}

// The services of this process, for the commit hook (one per server; tests run several).
std::mutex services_mutex;
std::set<bus_service*> services;

}  // namespace

struct bus_service::feed {
    feed(std::shared_ptr<db::database> d, const bus_settings& s)
        : database(std::move(d)), hub(s.retention, s.max_messages) {}

    /// Wakes the feed's wait (a commit of this process); any thread.
    void poke() {
        std::shared_ptr<fiber::waker> w;
        {
            std::lock_guard lock(mutex);
            ++pokes;
            w = std::move(waiting);
        }
        if (w) w->wake();
    }
    /// Waits until poke(), stop or `timeout`; false when poked since `seen`.
    void wait(std::uint64_t seen, std::chrono::milliseconds timeout) {
        auto w = fiber::current().make_waker();
        {
            std::lock_guard lock(mutex);
            if (pokes != seen || stopping) return;
            waiting = w;
        }
        w->wait(timeout);
        std::lock_guard lock(mutex);
        if (waiting == w) waiting.reset();
    }
    std::uint64_t poked() {
        std::lock_guard lock(mutex);
        return pokes;
    }

    std::shared_ptr<db::database> database;
    bus_hub hub;
    std::atomic<bool> ready{false};  // seeded: a client's "only new ones" means after this
    std::atomic<int> socket{-1};     // PostgreSQL: the LISTEN connection's, shut down by stop()
    std::mutex mutex;
    std::uint64_t pokes = 0;
    bool stopping = false;
    std::shared_ptr<fiber::waker> waiting;
    std::shared_ptr<fiber::waker> janitor;
};

bus_service::bus_service(bus_settings settings, boost::asio::io_context& feed_io)
    : settings_(std::move(settings)), feed_io_(feed_io) {
    delivered_total();
    delivery_lag();
    std::lock_guard lock(services_mutex);
    if (services.empty()) {
        bus::set_commit_hook([](const std::string& database) {
            std::lock_guard lock(services_mutex);
            for (auto* service : services) service->committed_here(database);
        });
    }
    services.insert(this);
}

bus_service::~bus_service() {
    stop();
    std::lock_guard lock(services_mutex);
    services.erase(this);
}

void bus_service::committed_here(const std::string& database) {
    std::shared_ptr<feed> f;
    {
        std::lock_guard lock(mutex_);
        if (const auto found = feeds_.find(database); found != feeds_.end()) f = found->second;
    }
    if (f) f->poke();
}

std::size_t bus_service::parked() const { return parked_.load(); }

void bus_service::stop() noexcept {
    if (stopping_.exchange(true)) return;
    std::vector<std::shared_ptr<feed>> all;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [_, f] : feeds_) all.push_back(f);
    }
    for (const auto& f : all) {
        f->hub.stop();
        std::shared_ptr<fiber::waker> janitor;
        {
            std::lock_guard lock(f->mutex);
            f->stopping = true;
            janitor = std::move(f->janitor);
        }
        if (janitor) janitor->wake();
        f->poke();
        // The listener waits for its socket to be readable: a shut-down socket is.
        if (const int socket = f->socket.load(); socket >= 0) ::shutdown(socket, SHUT_RDWR);
    }
}

std::shared_ptr<bus_service::feed> bus_service::feed_of(const std::shared_ptr<db::database>& database) {
    std::lock_guard lock(mutex_);
    auto& slot = feeds_[database->name()];
    if (!slot) {
        slot = std::make_shared<feed>(database, settings_);
        boost::asio::post(feed_io_, [this, f = slot] {
            fiber::spawn_fiber(feed_io_, [this, f] { run_feed(f); });
            fiber::spawn_fiber(feed_io_, [this, f] {
                while (!stopping_) {
                    auto w = fiber::current().make_waker();
                    {
                        std::lock_guard lock(f->mutex);
                        if (f->stopping) break;
                        f->janitor = w;
                    }
                    w->wait(settings_.cleanup_interval);
                    if (stopping_) break;
                    clean(*f);
                }
            });
        });
    }
    return slot;
}

void bus_service::run_feed(const std::shared_ptr<feed>& f) {
    if (settings_.postgresql_uri.empty()) {
        watch_counter(*f);
    } else {
        listen_postgresql(*f);
    }
    f->ready = true;  // stopping: let any client waiting for it go
}

void bus_service::watch_counter(feed& f) {
    std::shared_ptr<db::shared_counter> counter;
    try {
        counter = f.database->change_counter(bus::channel_name);
    } catch (const std::exception& error) {
        log_warning(std::string("bus: no change counter, other processes' messages wait for a 1 s poll: ") +
                    error.what());
    }
    const auto check = counter ? settings_.counter_check : std::chrono::milliseconds(1000);
    std::uint64_t counted = counter ? counter->load() : 0;
    std::int64_t seen = 0;
    bool seeded = false;
    while (!stopping_) {
        const std::uint64_t poked = f.poked();
        try {
            if (!seeded) {
                // What was sent within the retention, for clients that come back with a last id.
                as_root(f.database, true, [&] {
                    auto rows = bus::messages_since(bus::epoch_now() - settings_.retention, settings_.max_messages);
                    seen = bus::newest_id();
                    f.hub.append(entries_of(std::move(rows)), bus::epoch_now());
                });
                seeded = true;
                f.ready = true;
            } else {
                std::size_t got = read_batch;
                while (got == read_batch && !stopping_) {
                    std::vector<bus::stored_message> rows;
                    as_root(f.database, true, [&] { rows = bus::messages_after(seen, read_batch); });
                    got = rows.size();
                    if (!rows.empty()) seen = rows.back().id;
                    f.hub.append(entries_of(std::move(rows)), bus::epoch_now());
                }
            }
        } catch (const std::exception& error) {
            log_warning(std::string("bus of ") + f.database->name() + ": " + error.what());
            fiber::current().sleep_for(std::chrono::seconds(1));
            continue;
        }
        // Until this process commits one (poke), or another moves the counter.
        for (;;) {
            f.wait(poked, check);
            if (stopping_ || f.poked() != poked) break;
            if (counter) {
                if (const auto now = counter->load(); now != counted) {
                    counted = now;
                    break;
                }
            } else {
                break;  // no counter: read every second
            }
        }
    }
}

void bus_service::listen_postgresql(feed& f) {
    const std::string dsn = settings_.postgresql_uri + f.database->name();
    bool seeded = false;
    while (!stopping_) {
        try {
            db::pg_listener listener(dsn, bus::channel_name);
            f.socket = listener.socket();
            struct forget_socket {
                std::atomic<int>& socket;
                ~forget_socket() { socket = -1; }
            } registered{f.socket};
            // LISTEN first, then read: nothing committed in between is missed.
            as_root(f.database, true, [&] {
                auto rows = seeded ? bus::messages_after(f.hub.newest(), settings_.max_messages)
                                   : bus::messages_since(bus::epoch_now() - settings_.retention,
                                                         settings_.max_messages);
                f.hub.append(entries_of(std::move(rows)), bus::epoch_now());
            });
            seeded = true;
            f.ready = true;
            while (!stopping_) {
                fiber::current().wait_readable(listener.socket());
                if (stopping_) break;
                std::vector<std::int64_t> ids;
                for (const auto& payload : listener.drain()) {
                    std::int64_t id = 0;
                    const auto [end, ec] = std::from_chars(payload.data(), payload.data() + payload.size(), id);
                    if (ec == std::errc() && end == payload.data() + payload.size()) ids.push_back(id);
                }
                if (ids.empty()) continue;
                // Notifications come in commit order: append in that order.
                std::vector<bus::stored_message> rows;
                as_root(f.database, true, [&] { rows = bus::messages_by_id(ids); });
                f.hub.append(entries_of(std::move(rows)), bus::epoch_now());
            }
        } catch (const std::exception& error) {
            if (stopping_) break;
            log_warning(std::string("bus: LISTEN on ") + f.database->name() +
                        " lost, messages wait until it is back: " + error.what());
        }
        if (!stopping_) fiber::current().sleep_for(std::chrono::seconds(1));
    }
}

void bus_service::clean(feed& f) {
    try {
        const double before = bus::epoch_now() - settings_.retention;
        double oldest = 0;
        as_root(f.database, true, [&] { oldest = bus::oldest_created(); });
        if (oldest == 0 || oldest >= before) return;
        as_root(f.database, false, [&] { bus::remove_older_than(before); });
    } catch (const std::exception& error) {
        log_warning(std::string("bus: old messages of ") + f.database->name() + " not deleted: " + error.what());
    }
}

nlohmann::json bus_service::subscribe(const std::shared_ptr<db::database>& database,
                                      const std::vector<std::string>& channels, std::optional<std::int64_t> last,
                                      const std::shared_ptr<db::cancellation>& gone) {
    if (stopping_) return empty_reply();
    const auto f = feed_of(database);
    const auto deadline = std::chrono::steady_clock::now() + settings_.long_polling_timeout;
    // The first client of a database waits for its feed to know where "now" is.
    for (int i = 0; !f->ready && i < 1000 && !stopping_; ++i) fiber::current().sleep_for(std::chrono::milliseconds(5));
    const std::uint64_t position = f->hub.position_after(last);
    const auto answer = [&](const bus_entry& entry) {
        delivered_total().add();
        delivery_lag().observe(std::max(0.0, bus::epoch_now() - entry.created));
        return nlohmann::json{{"message", entry.message}, {"channel", entry.channel}};
    };
    if (auto found = f->hub.next(channels, position)) return answer(*found);

    struct count_parked {
        std::atomic<std::size_t>& n;
        explicit count_parked(std::atomic<std::size_t>& c) : n(c) { ++n; }
        ~count_parked() { --n; }
    } counted{parked_};
    // A parked client keeps only the stack pages it uses from here on.
    fiber::release_unused_fiber_stack();
    while (!stopping_ && !(gone && gone->cancelled())) {
        const auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::steady_clock::duration::zero()) break;
        auto waker = fiber::current().make_waker();
        if (f->hub.park(channels, position, waker)) {
            struct unpark_on_exit {  // also when the fiber is unwound
                bus_hub& hub;
                const std::vector<std::string>& channels;
                const std::shared_ptr<fiber::waker>& waker;
                ~unpark_on_exit() { hub.unpark(channels, waker); }
            } parked{f->hub, channels, waker};
            std::optional<db::cancellation::registration> leave;
            if (gone) leave.emplace(gone.get(), [waker] { waker->wake(); });
            waker->wait(left);
        } else if (f->hub.stopped()) {
            break;
        }
        if (auto found = f->hub.next(channels, position)) return answer(*found);
    }
    return empty_reply();
}

}  // namespace atrium::server
