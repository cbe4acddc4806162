#include "database/postgresql/pg_backend.hpp"

// Every catch (...) here cleans up and rethrows, so a fiber's forced_unwind
// (boost::context) passes through unchanged.

#include "database/errors.hpp"
#include "database/postgresql/pg_errors.hpp"
#include "util/percent.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <utility>

namespace atrium::db {

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::steady_clock;

constexpr std::size_t k_max_name_length = 63;  // NAMEDATALEN - 1
constexpr auto k_first_pool_step = milliseconds(1);
constexpr auto k_max_pool_step = milliseconds(10);

std::string dq(std::string_view name) { return "\"" + std::string(name) + "\""; }

// A connection checked out of a pool, given back at scope exit.
class lease {
public:
    explicit lease(std::shared_ptr<pg_database> db)
        : db_(std::move(db)), conn_(db_->acquire()) {}
    ~lease() {
        if (conn_) db_->release(std::move(conn_));
    }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    pg_connection& operator*() const { return static_cast<pg_connection&>(*conn_); }
    pg_connection* operator->() const { return static_cast<pg_connection*>(conn_.get()); }

private:
    std::shared_ptr<pg_database> db_;
    std::unique_ptr<connection> conn_;
};

}  // namespace

// ---------------------------------------------------------------------------
// pg_database: the pool

pg_database::pg_database(std::string name, std::string label, std::string conninfo,
                         std::shared_ptr<const pg_settings> settings)
    : name_(std::move(name)),
      label_(std::move(label)),
      conninfo_(std::move(conninfo)),
      settings_(std::move(settings)),
      state_(std::make_shared<pg_pool_state>()) {}

pg_database::~pg_database() { close_idle(); }

void pg_database::take_expired_locked(std::vector<std::unique_ptr<pg_connection>>& out,
                                      steady_clock::time_point now) {
    const auto timeout = milliseconds(settings_->idle_timeout_ms.load());
    auto& idle = state_->idle;
    // Oldest first (released in order, reused from the back).
    auto keep = idle.begin();
    for (auto it = idle.begin(); it != idle.end(); ++it) {
        if (now - (*it)->idle_since() >= timeout) {
            out.push_back(std::move(*it));
        } else {
            if (keep != it) *keep = std::move(*it);
            ++keep;
        }
    }
    idle.erase(keep, idle.end());
}

namespace {

// How far down the queue a waiter on the releasing thread may be served
// first, and how often one waiter may be passed over that way.
constexpr int k_waiter_lookahead = 8;
constexpr int k_max_passed_over = 2;

}  // namespace

std::unique_ptr<pg_connection> pg_database::take_idle_locked(std::vector<std::unique_ptr<pg_connection>>& idle) {
    // The most recently released one whose socket this thread's event loop
    // already watches (its waits register nothing), else the most recent.
    auto pick = idle.end() - 1;
    for (auto it = idle.end(); it != idle.begin();) {
        --it;
        if ((*it)->watched_here()) {
            pick = it;
            break;
        }
    }
    auto conn = std::move(*pick);
    idle.erase(pick);
    return conn;
}

std::list<std::shared_ptr<pg_pool_state::waiter>>::iterator pg_pool_state::next_waiter(
    std::list<std::shared_ptr<waiter>>& waiters) noexcept {
    const auto front = waiters.begin();
    if ((*front)->wake_up->resumes_on_this_thread()) return front;
    int looked = 0;
    for (auto it = std::next(front); it != waiters.end() && looked < k_waiter_lookahead; ++it, ++looked) {
        if (!(*it)->wake_up->resumes_on_this_thread()) continue;
        for (auto ahead = front; ahead != it; ++ahead) {
            if ((*ahead)->passed_over >= k_max_passed_over) return front;
        }
        for (auto ahead = front; ahead != it; ++ahead) ++(*ahead)->passed_over;
        return it;
    }
    return front;
}

std::unique_ptr<connection> pg_database::acquire() {
    const auto start = steady_clock::now();
    const auto limit = milliseconds(std::max<std::int64_t>(0, settings_->pool_wait_ms.load()));
    nanoseconds step = k_first_pool_step;
    nanoseconds requested{0};
    for (;;) {
        std::unique_ptr<pg_connection> conn;
        std::vector<std::unique_ptr<pg_connection>> discard;  // closed outside the lock
        std::shared_ptr<pg_pool_state::waiter> queued;
        bool open_new = false;
        std::size_t in_use_now = 0;
        {
            std::lock_guard lock(state_->mutex);
            if (state_->dropped) {
                throw operational_error("database " + dq(label_) + " was dropped [SQLSTATE 3D000]",
                                        error_category::other, "3D000");
            }
            take_expired_locked(discard, steady_clock::now());
            if (!state_->idle.empty()) conn = take_idle_locked(state_->idle);
            if (conn || state_->in_use < settings_->pool_size.load()) {
                ++state_->in_use;  // counted now so that the bound holds while connecting
                open_new = !conn;
            } else if (settings_->hooks.make_waker && limit.count() > 0) {
                // Queued under the lock: no release between here and the wait is missed.
                queued = std::make_shared<pg_pool_state::waiter>();
                queued->wake_up = settings_->hooks.make_waker();
                state_->waiters.push_back(queued);
            }
            in_use_now = state_->in_use;
        }
        discard.clear();
        // Checked outside the lock (looks_alive() makes system calls: the
        // other threads' acquires and releases would queue behind them).
        while (conn && !conn->looks_alive()) {
            conn.reset();  // the server closed it; its place stays ours
            std::lock_guard lock(state_->mutex);
            if (!state_->idle.empty()) conn = take_idle_locked(state_->idle);
            open_new = !conn;
        }
        if (queued) {
            auto granted = wait_in_queue(queued, limit - nanoseconds(steady_clock::now() - start));
            if (granted) {
                conn = std::move(*granted);
                open_new = !conn;
            } else {
                requested = limit;  // timed out
            }
        }
        if (conn) {
            conn->checked_out_from_ = state_;
            return conn;
        }
        if (open_new) {
            try {
                conn = std::make_unique<pg_connection>(conninfo_, label_, settings_);
            } catch (...) {
                std::shared_ptr<pg_pool_state::waiter> next;
                {
                    std::lock_guard lock(state_->mutex);
                    next = pass_place_locked(*state_);
                }
                if (next) next->wake_up->wake();
                throw;
            }
            conn->checked_out_from_ = state_;
            return conn;
        }
        // Exhausted: wait (suspending the fiber) for a release.
        const nanoseconds waited = std::max(requested, nanoseconds(steady_clock::now() - start));
        if (waited >= limit) {
            throw operational_error(
                "connection pool for database " + dq(label_) + " exhausted: " +
                    std::to_string(in_use_now) + " connections in use for " +
                    std::to_string(std::chrono::duration_cast<milliseconds>(waited).count()) +
                    " ms (pool_size " + std::to_string(settings_->pool_size.load()) +
                    ") [SQLSTATE 53300]",
                error_category::unavailable, "53300");
        }
        const nanoseconds pause = std::min<nanoseconds>(step, limit - waited);
        settings_->hooks.sleep_for(pause);
        requested += pause;
        step = std::min<nanoseconds>(step * 2, k_max_pool_step);
    }
}

std::optional<std::unique_ptr<pg_connection>> pg_database::wait_in_queue(
    const std::shared_ptr<pg_pool_state::waiter>& me, nanoseconds timeout) {
    // Whatever ends the wait (a wake-up, the timeout, a fiber being unwound),
    // the entry is settled under the lock: a grant that raced with the timeout
    // is kept; one left behind by an unwound fiber is passed on.
    struct settle {
        pg_pool_state& state;
        const std::shared_ptr<pg_pool_state::waiter>& me;
        bool taken = false;
        ~settle() {
            if (taken) return;
            std::shared_ptr<pg_pool_state::waiter> next;
            std::unique_ptr<pg_connection> orphan;  // closed outside the lock if unused
            {
                std::lock_guard lock(state.mutex);
                if (!me->granted) {
                    state.waiters.remove(me);
                    return;
                }
                orphan = std::move(me->conn);
                if (orphan && (state.waiters.empty() || state.dropped)) {
                    --state.in_use;
                    try {
                        orphan->send_unsent_commit();  // idle: no transaction left open
                        orphan->set_idle_since(steady_clock::now());
                        state.idle.push_back(std::move(orphan));  // clean: it came from release()
                    } catch (const std::exception&) {  // bad_alloc: it is closed below
                    }
                } else {
                    next = pass_place_locked(state);
                    if (next) next->conn = std::move(orphan);
                }
            }
            if (next) next->wake_up->wake();
        }
    } settle_on_exit{*state_, me};
    me->wake_up->wait(std::max(timeout, nanoseconds(0)));
    std::lock_guard lock(state_->mutex);
    if (!me->granted) return std::nullopt;  // the destructor leaves the queue
    settle_on_exit.taken = true;
    return std::move(me->conn);
}

std::shared_ptr<pg_pool_state::waiter> pg_database::pass_place_locked(pg_pool_state& state) noexcept {
    if (!state.waiters.empty() && !state.dropped) {
        const auto chosen = pg_pool_state::next_waiter(state.waiters);
        auto next = std::move(*chosen);
        state.waiters.erase(chosen);
        next->granted = true;  // in_use stays: the place is the waiter's now
        return next;
    }
    if (state.in_use > 0) --state.in_use;
    return nullptr;
}

void pg_database::release(std::unique_ptr<connection> conn, bool close) noexcept {
    if (!conn) return;
    auto* pg = dynamic_cast<pg_connection*>(conn.get());
    if (!pg || pg->checked_out_from_ != state_) {
        conn.reset();  // not ours: its destructor settles its own pool's count
        return;
    }
    std::unique_ptr<pg_connection> own(pg);
    (void)conn.release();

    bool keep = !close && own->is_open() && !own->broken();
    if (keep) keep = own->reset();  // rolls back, resets session state
    // An unsent read-only COMMIT rides with the next user's first round
    // trip. A connection going idle keeps it for a moment (the next acquire
    // comes soon under load) with a flush scheduled: an idle connection must
    // not hold a transaction open for long. Without an event loop to
    // schedule on (tools, tests), it is sent on the way to the idle list.
    const bool defer_commit = static_cast<bool>(settings_->hooks.run_later);
    bool schedule_flush = false;

    std::vector<std::unique_ptr<pg_connection>> discard;
    std::shared_ptr<pg_pool_state::waiter> next;
    {
        std::lock_guard lock(state_->mutex);
        own->checked_out_from_.reset();
        const auto now = steady_clock::now();
        if (!state_->waiters.empty() && !state_->dropped &&
            state_->in_use <= settings_->pool_size.load()) {
            // Straight to the first waiter: the connection if it is kept,
            // else its place (the waiter opens a new one).
            next = pass_place_locked(*state_);
            if (keep) next->conn = std::move(own);
        } else {
            --state_->in_use;
            if (keep && !state_->dropped) {
                if (own->has_unsent_commit()) {
                    if (!defer_commit) {
                        own->send_unsent_commit();  // one send, no wait
                    } else if (!state_->commit_flush_scheduled) {
                        state_->commit_flush_scheduled = schedule_flush = true;
                    }
                }
                own->set_idle_since(now);
                try {
                    state_->idle.push_back(std::move(own));
                } catch (const std::exception&) {  // bad_alloc: close it instead (nothing here suspends a fiber)
                }
            }
        }
        if (own) {
            try {
                discard.push_back(std::move(own));
            } catch (const std::exception&) {
                own.reset();
            }
        }
        try {
            take_expired_locked(discard, now);
        } catch (const std::exception&) {  // bad_alloc: the expired ones go at the next release
        }
    }
    if (next) next->wake_up->wake();
    if (schedule_flush) schedule_commit_flush();
    // `discard` closes outside the lock.
}

namespace {
// How long an idle connection may keep an unsent read-only COMMIT.
constexpr auto k_commit_flush_delay = std::chrono::milliseconds(1);
}  // namespace

void pg_database::schedule_commit_flush() noexcept {
    std::weak_ptr<pg_pool_state> weak = state_;
    bool scheduled = false;
    try {
        scheduled = settings_->hooks.run_later(k_commit_flush_delay, [weak] {
            if (auto state = weak.lock()) pg_pool_state::flush_unsent_commits(*state);
        });
    } catch (const std::exception&) {  // bad_alloc: flush now
    }
    if (!scheduled) pg_pool_state::flush_unsent_commits(*state_);
}

void pg_pool_state::flush_unsent_commits(pg_pool_state& state) noexcept {
    // Under the lock: an idle connection is nobody's. One send each, no wait.
    std::lock_guard lock(state.mutex);
    state.commit_flush_scheduled = false;
    for (auto& conn : state.idle) conn->send_unsent_commit();
}

void pg_database::forget_checked_out(pg_pool_state& state) noexcept {
    std::shared_ptr<pg_pool_state::waiter> next;
    {
        std::lock_guard lock(state.mutex);
        next = pass_place_locked(state);
    }
    if (next) next->wake_up->wake();
}

std::size_t pg_database::in_use() const {
    std::lock_guard lock(state_->mutex);
    return state_->in_use;
}

std::size_t pg_database::idle() const {
    std::lock_guard lock(state_->mutex);
    return state_->idle.size();
}

std::size_t pg_database::close_expired() {
    std::vector<std::unique_ptr<pg_connection>> discard;
    {
        std::lock_guard lock(state_->mutex);
        take_expired_locked(discard, steady_clock::now());
    }
    return discard.size();
}

std::size_t pg_database::close_idle() {
    std::vector<std::unique_ptr<pg_connection>> discard;
    {
        std::lock_guard lock(state_->mutex);
        discard.swap(state_->idle);
    }
    return discard.size();
}

void pg_database::mark_dropped() {
    std::vector<std::unique_ptr<pg_connection>> discard;
    {
        std::lock_guard lock(state_->mutex);
        if (state_->in_use > 0) {
            // Not retryable: the caller has to end those users first.
            throw operational_error("cannot drop database " + dq(label_) + ": " +
                                        std::to_string(state_->in_use) +
                                        " connection(s) of this process still in use "
                                        "[SQLSTATE 55006]",
                                    error_category::other, "55006");
        }
        state_->dropped = true;
        discard.swap(state_->idle);
    }
}

void pg_database::unmark_dropped() noexcept {
    std::lock_guard lock(state_->mutex);
    state_->dropped = false;
}

// ---------------------------------------------------------------------------
// URI parsing

namespace {

std::string percent_decode(std::string_view text, const std::string& shown_uri,
                           std::string_view what) {
    auto decoded = util::percent_decode(text, /*refuse_nul=*/true);
    switch (decoded.error) {
    case util::percent_error::none:
        return std::move(decoded.text);
    case util::percent_error::bad_escape:
        throw std::invalid_argument("bad percent-escape in the " + std::string(what) +
                                    " of database URI \"" + shown_uri + "\"");
    case util::percent_error::nul_byte:
        break;
    }
    throw std::invalid_argument("NUL byte in the " + std::string(what) + " of database URI \"" +
                                shown_uri + "\"");
}

std::int64_t parse_integer(std::string_view key, std::string_view text, std::int64_t low,
                           std::int64_t high, const std::string& shown_uri) {
    std::int64_t number = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc{} || end != text.data() + text.size() || number < low || number > high) {
        throw std::invalid_argument(std::string(key) + " in database URI \"" + shown_uri +
                                    "\" must be a whole number between " + std::to_string(low) +
                                    " and " + std::to_string(high));
    }
    return number;
}

// "key='value'" with the value escaped for a libpq conninfo string.
void append_conninfo(std::string& out, std::string_view key, std::string_view value) {
    if (!out.empty()) out.push_back(' ');
    out.append(key);
    out.append("='");
    for (char c : value) {
        if (c == '\\' || c == '\'') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('\'');
}

}  // namespace

std::unique_ptr<pg_backend> pg_backend::from_uri_rest(std::string_view rest, wait_hooks hooks) {
    server_address address;
    const std::string_view whole = rest;
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    std::string_view path;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        path = rest.substr(slash);
        rest = rest.substr(0, slash);
    }
    std::string_view userinfo;
    std::string_view hostport = rest;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        userinfo = rest.substr(0, at);
        hostport = rest.substr(at + 1);
    }
    std::string_view user_part = userinfo;
    std::optional<std::string_view> password_part;
    if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
        user_part = userinfo.substr(0, colon);
        password_part = userinfo.substr(colon + 1);
    }
    // What errors may show: the URI with the password masked and without the
    // query (errors about a parameter name it; its value could be a secret).
    std::string shown = "postgresql://";
    if (!userinfo.empty()) {
        shown.append(user_part);
        if (password_part) shown.append(":***");
        shown.push_back('@');
    }
    shown.append(hostport);
    shown.append(path);
    if (userinfo.empty() && whole.find('@') != std::string_view::npos) {
        // An '@' outside the authority: a password with an unescaped '/' or
        // '?' may be anywhere in the text. Show none of it.
        shown = "postgresql://(not shown: it may hold a password)";
    }

    if (whole.find('#') != std::string_view::npos) {
        throw std::invalid_argument("database URI \"" + shown + "\" must not have a fragment");
    }
    if (!path.empty() && path != "/") {
        throw std::invalid_argument(
            "database URI \"" + shown +
            "\" names a database; the PostgreSQL URI names the server only "
            "(postgresql://user:password@host:port/) and the database is chosen per request");
    }
    address.user = percent_decode(user_part, shown, "user");
    if (password_part) address.password = percent_decode(*password_part, shown, "password");

    std::string_view host = hostport;
    std::string_view port;
    if (!hostport.empty() && hostport.front() == '[') {
        const auto close = hostport.find(']');
        if (close == std::string_view::npos) {
            throw std::invalid_argument("database URI \"" + shown + "\" has an unclosed '['");
        }
        host = hostport.substr(1, close - 1);
        const std::string_view after = hostport.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                throw std::invalid_argument("database URI \"" + shown + "\": unexpected text after ']'");
            }
            port = after.substr(1);
        }
    } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
        host = hostport.substr(0, colon);
        port = hostport.substr(colon + 1);
    }
    address.host = percent_decode(host, shown, "host");
    if (!port.empty()) address.port = std::to_string(parse_integer("the port", port, 1, 65535, shown));

    auto settings = pg_settings::make(std::move(hooks));
    std::optional<std::int64_t> pool_wait_ms;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (item.empty()) continue;
        const auto eq = item.find('=');
        const std::string_view key = item.substr(0, eq);
        const std::string value = percent_decode(
            eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1), shown,
            "parameter " + std::string(key));
        if (key == "pool_size") {
            settings->pool_size = static_cast<std::size_t>(parse_integer(key, value, 1, 10000, shown));
        } else if (key == "pool_wait_ms") {
            pool_wait_ms = parse_integer(key, value, 0, 24LL * 3600 * 1000, shown);
        } else if (key == "retry") {
            settings->retry = static_cast<int>(parse_integer(key, value, 0, 1000, shown));
        } else if (key == "idle_timeout_s") {
            char* end = nullptr;
            const double seconds = std::strtod(value.c_str(), &end);
            if (value.empty() || end != value.c_str() + value.size() || !std::isfinite(seconds) ||
                seconds <= 0 || seconds > 1e7) {
                throw std::invalid_argument("idle_timeout_s in database URI \"" + shown +
                                            "\" must be a number of seconds above 0");
            }
            settings->idle_timeout_ms = static_cast<std::int64_t>(std::llround(seconds * 1000));
        } else if (key == "prepare") {
            if (value != "true" && value != "false") {
                throw std::invalid_argument("prepare in database URI \"" + shown + "\" must be true or false");
            }
            settings->prepare_statements = value == "true";
        } else if (key == "sslmode" || key == "connect_timeout" || key == "application_name") {
            address.options.emplace_back(std::string(key), value);
        } else {
            throw std::invalid_argument(
                "unknown parameter \"" + std::string(key) + "\" in database URI \"" + shown +
                "\" (known: pool_size, pool_wait_ms, idle_timeout_s, retry, prepare, sslmode, "
                "connect_timeout, application_name)");
        }
    }
    // SPEC §1.2: when exhausted, wait 1 s and retry up to database.retry times.
    settings->pool_wait_ms = pool_wait_ms.value_or(static_cast<std::int64_t>(settings->retry.load()) * 1000);
    return std::make_unique<pg_backend>(std::move(address), std::move(settings));
}

// ---------------------------------------------------------------------------
// pg_backend

pg_backend::pg_backend(server_address address, std::shared_ptr<pg_settings> settings)
    : address_(std::move(address)), settings_(std::move(settings)) {
    if (!settings_) settings_ = pg_settings::make();
}

pg_backend::~pg_backend() {
    // Databases still referenced elsewhere keep their pools.
    std::lock_guard lock(mutex_);
    open_.clear();
}

std::string pg_backend::display_uri() const {
    std::string uri = "postgresql://";
    if (!address_.user.empty() || !address_.password.empty()) {
        uri += address_.user;
        if (!address_.password.empty()) uri += ":***";
        uri += '@';
    }
    if (address_.host.find(':') != std::string::npos) uri += "[" + address_.host + "]";
    else uri += address_.host;
    if (!address_.port.empty()) uri += ":" + address_.port;
    uri += "/";
    return uri;
}

void pg_backend::set_pool_size(std::size_t size) { settings_->pool_size = std::max<std::size_t>(1, size); }

void pg_backend::set_pool_wait(milliseconds wait) {
    settings_->pool_wait_ms = std::max<std::int64_t>(0, wait.count());
}

void pg_backend::set_idle_timeout(milliseconds timeout) {
    settings_->idle_timeout_ms = std::max<std::int64_t>(0, timeout.count());
}

void pg_backend::validate_name(std::string_view name, bool allow_maintenance) {
    if (name.empty()) {
        if (allow_maintenance) return;
        throw invalid_database_name("a database name must not be empty");
    }
    if (name.size() > k_max_name_length) {
        throw invalid_database_name("database name \"" + std::string(name.substr(0, 80)) +
                                    "...\" is longer than 63 characters");
    }
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
            std::string shown;
            for (char s : name) {
                if (static_cast<unsigned char>(s) < 0x20 || s == 0x7f) shown += '?';
                else shown += s;
            }
            throw invalid_database_name("invalid database name \"" + shown +
                                        "\": use letters, digits, '_' and '-'");
        }
    }
}

std::string pg_backend::conninfo_for(const std::string& database) const {
    std::string info;
    if (!address_.host.empty()) append_conninfo(info, "host", address_.host);
    if (!address_.port.empty()) append_conninfo(info, "port", address_.port);
    if (!address_.user.empty()) append_conninfo(info, "user", address_.user);
    if (!address_.password.empty()) append_conninfo(info, "password", address_.password);
    append_conninfo(info, "dbname", database);
    append_conninfo(info, "fallback_application_name", "atrium");
    for (const auto& [key, value] : address_.options) append_conninfo(info, key, value);
    return info;
}

std::shared_ptr<pg_database> pg_backend::maintenance() {
    std::lock_guard lock(mutex_);
    auto& slot = open_[""];
    if (!slot) {
        slot = std::make_shared<pg_database>("", maintenance_database,
                                             conninfo_for(maintenance_database), settings_);
    }
    return slot;
}

result pg_backend::maintenance_execute(const std::string& sql, const std::vector<value>& params) {
    lease conn(maintenance());
    begin_options autocommit;
    autocommit.autocommit = true;
    conn->begin(autocommit);
    result out = conn->execute(sql, params);
    conn->commit();
    return out;
}

std::string pg_backend::quote_identifier(const std::string& name) {
    lease conn(maintenance());
    return conn->quote_name(name);
}

std::shared_ptr<database> pg_backend::open(const std::string& name) {
    validate_name(name, /*allow_maintenance=*/true);
    if (name.empty()) return maintenance();
    {
        std::lock_guard lock(mutex_);
        if (auto it = open_.find(name); it != open_.end()) return it->second;
    }
    // The existence check talks to the server: outside the lock.
    if (!exists(name)) {
        throw operational_error("database " + dq(name) + " does not exist on " + display_uri() +
                                    " [SQLSTATE 3D000]",
                                error_category::other, "3D000");
    }
    std::lock_guard lock(mutex_);
    auto& slot = open_[name];
    if (!slot) slot = std::make_shared<pg_database>(name, name, conninfo_for(name), settings_);
    return slot;
}

void pg_backend::create(const std::string& name) {
    validate_name(name);
    // CREATE DATABASE cannot run inside a transaction block: autocommit.
    maintenance_execute("CREATE DATABASE " + quote_identifier(name) +
                        " TEMPLATE template0 ENCODING 'UTF8'");
    std::lock_guard lock(mutex_);
    open_.erase(name);  // a stale entry of a database dropped behind our back
}

void pg_backend::drop(const std::string& name) {
    validate_name(name);
    std::shared_ptr<pg_database> pool;
    {
        std::lock_guard lock(mutex_);
        if (auto it = open_.find(name); it != open_.end()) pool = it->second;
    }
    if (pool) pool->mark_dropped();  // throws if connections are in use
    try {
        maintenance_execute("DROP DATABASE " + quote_identifier(name));
    } catch (...) {
        if (pool) pool->unmark_dropped();
        throw;
    }
    std::lock_guard lock(mutex_);
    if (auto it = open_.find(name); it != open_.end() && it->second == pool) open_.erase(it);
}

bool pg_backend::exists(const std::string& name) {
    if (name.empty()) return false;
    validate_name(name);
    const auto rows =
        maintenance_execute("SELECT 1 FROM pg_catalog.pg_database WHERE datname = ?", {name});
    return !rows.empty();
}

std::vector<std::string> pg_backend::list() {
    const auto rows = maintenance_execute(
        "SELECT datname FROM pg_catalog.pg_database WHERE NOT datistemplate");
    std::vector<std::string> names;
    for (const auto& row : rows.rows) {
        const auto* text = std::get_if<std::string>(&row.at(0));
        if (!text) continue;
        try {
            validate_name(*text);
        } catch (const invalid_database_name&) {
            continue;  // not a name Atrium can open
        }
        names.push_back(*text);
    }
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace atrium::db
