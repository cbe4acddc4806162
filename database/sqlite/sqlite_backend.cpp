#include "database/sqlite/sqlite_backend.hpp"

// Every catch (...) here cleans up and rethrows, so a fiber's forced_unwind
// (boost::context) passes through unchanged.

#include "database/errors.hpp"
#include "database/sqlite/sqlite_errors.hpp"
#include "database/uri.hpp"
#include "util/percent.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace atrium::db {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t k_max_name_length = 63;  // as PostgreSQL's NAMEDATALEN - 1
constexpr std::string_view k_suffix = ".sqlite";

std::atomic<std::uint64_t> g_next_backend_id{1};

std::string dq(std::string_view name) { return "\"" + std::string(name) + "\""; }

[[noreturn]] void throw_no_such_database(const std::string& name) {
    throw operational_error("database " + dq(name) + " does not exist",
                            error_category::other, sqlite_code_name(SQLITE_CANTOPEN),
                            SQLITE_CANTOPEN);
}

}  // namespace

// ---------------------------------------------------------------------------
// sqlite_database: the pool

sqlite_database::sqlite_database(std::string name, sqlite_connection::open_params params,
                                 std::shared_ptr<const sqlite_settings> settings)
    : name_(std::move(name)),
      params_(std::move(params)),
      settings_(std::move(settings)),
      state_(std::make_shared<sqlite_pool_state>()) {
    state_->group = std::make_shared<sqlite_group_commit>(params_, settings_, state_->write_gate);
    if (!name_.empty()) metrics_ = pool_collector(*this, {});
}

std::shared_ptr<shared_counter> sqlite_database::change_counter(std::string_view topic) {
    if (topic.empty() || topic.size() > 32 ||
        topic.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string_view::npos) {
        throw std::invalid_argument("bad change counter topic \"" + std::string(topic) + "\"");
    }
    std::lock_guard lock(counters_mutex_);
    if (auto found = counters_.find(topic); found != counters_.end()) return found->second;
    auto counter = params_.uri ? shared_counter::in_process()
                               : shared_counter::open_file(params_.target + "-counter-" + std::string(topic));
    counters_.emplace(std::string(topic), counter);
    return counter;
}

sqlite_database::~sqlite_database() {
    std::vector<std::unique_ptr<sqlite_connection>> idle;
    {
        std::lock_guard lock(state_->mutex);
        idle.swap(state_->idle);
    }
}

pooled_connection sqlite_database::acquire() {
    std::unique_ptr<sqlite_connection> conn;
    {
        std::lock_guard lock(state_->mutex);
        if (state_->dropped) {
            throw operational_error("database " + dq(name_) + " was dropped",
                                    error_category::other, sqlite_code_name(SQLITE_CANTOPEN),
                                    SQLITE_CANTOPEN);
        }
        if (!state_->idle.empty()) {
            conn = std::move(state_->idle.back());
            state_->idle.pop_back();
        }
        // Count it now so that drop() sees a connection being opened.
        ++state_->in_use;
    }
    if (!conn) {
        try {
            conn = std::make_unique<sqlite_connection>(params_, settings_);
        } catch (...) {
            std::lock_guard lock(state_->mutex);
            --state_->in_use;
            throw;
        }
    }
    conn->write_gate_ = state_->write_gate;
    conn->group_ = state_->group;
    return pooled_connection(std::move(conn), state_);
}

void sqlite_pool_state::give_back(std::unique_ptr<connection> conn, bool discard_it) noexcept {
    if (!conn) return;
    // Only this pool's pooled_connection handles call here: it is one of ours.
    std::unique_ptr<sqlite_connection> own(static_cast<sqlite_connection*>(conn.release()));

    bool keep = !discard_it && own->is_open() && !own->broken();
    if (keep) keep = own->reset();  // rolls back a transaction left open
    if (keep && own->in_transaction()) keep = false;

    std::unique_ptr<sqlite_connection> discard;
    {
        std::lock_guard lock(mutex);
        --in_use;
        if (keep && !dropped) {
            try {
                idle.push_back(std::move(own));
            } catch (const std::exception&) {  // bad_alloc: close it instead
                discard = std::move(own);
            }
        } else {
            discard = std::move(own);
        }
    }
    // `discard` closes outside the lock.
}

std::size_t sqlite_database::in_use() const {
    std::lock_guard lock(state_->mutex);
    return state_->in_use;
}

std::size_t sqlite_database::idle() const {
    std::lock_guard lock(state_->mutex);
    return state_->idle.size();
}

std::size_t sqlite_database::writers_waiting_for_commit() const {
    return state_->group->waiting_members();
}

void sqlite_database::mark_dropped() {
    std::vector<std::unique_ptr<sqlite_connection>> idle;
    {
        std::lock_guard lock(state_->mutex);
        if (state_->in_use > 0) {
            // Not retryable: the caller has to end those users first.
            throw operational_error("cannot drop database " + dq(name_) + ": " +
                                        std::to_string(state_->in_use) +
                                        " connection(s) still in use",
                                    error_category::other, sqlite_code_name(SQLITE_BUSY),
                                    SQLITE_BUSY);
        }
        state_->dropped = true;
        idle.swap(state_->idle);
    }
    state_->group->close();
    // The idle connections close here.
}

// ---------------------------------------------------------------------------
// sqlite_backend

sqlite_backend::sqlite_backend(fs::path directory, wait_hooks hooks)
    : id_(g_next_backend_id.fetch_add(1)), settings_(sqlite_settings::make(std::move(hooks))) {
    if (directory.empty()) {
        throw std::invalid_argument("the SQLite backend needs a database directory");
    }
    std::error_code ec;
    fs::path absolute = fs::absolute(directory, ec);
    if (ec) absolute = directory;
    absolute = absolute.lexically_normal();
    fs::create_directories(absolute, ec);
    if (ec || !fs::is_directory(absolute)) {
        throw operational_error("cannot create the SQLite database directory \"" +
                                    absolute.string() + "\": " +
                                    (ec ? ec.message() : std::string("not a directory")),
                                error_category::other, sqlite_code_name(SQLITE_CANTOPEN),
                                SQLITE_CANTOPEN);
    }
    directory_ = std::move(absolute);
}

sqlite_backend::sqlite_backend(memory_tag, wait_hooks hooks)
    : id_(g_next_backend_id.fetch_add(1)), settings_(sqlite_settings::make(std::move(hooks))) {}

std::unique_ptr<sqlite_backend> sqlite_backend::in_memory(wait_hooks hooks) {
    return std::unique_ptr<sqlite_backend>(new sqlite_backend(memory_tag{}, std::move(hooks)));
}

namespace {

std::string percent_decode(std::string_view text, std::string_view uri) {
    auto decoded = util::percent_decode(text, /*refuse_nul=*/true);
    switch (decoded.error) {
    case util::percent_error::none:
        return std::move(decoded.text);
    case util::percent_error::bad_escape:
        throw std::invalid_argument("bad percent-escape in database URI \"sqlite://" +
                                    std::string(uri) + "\"");
    case util::percent_error::nul_byte:
        break;
    }
    throw std::invalid_argument("NUL byte in database URI \"sqlite://" + std::string(uri) + "\"");
}

}  // namespace

std::unique_ptr<sqlite_backend> sqlite_backend::from_uri_rest(std::string_view rest,
                                                              wait_hooks hooks) {
    const std::string_view whole = rest;
    const std::string_view query = query_of(rest);
    rest = before_query(rest);
    if (rest.find('#') != std::string_view::npos) {
        throw std::invalid_argument("database URI \"sqlite://" + std::string(whole) +
                                    "\" must not have a fragment");
    }

    std::optional<std::int64_t> busy_wait_ms;
    for_each_query_parameter(query, [&](std::string_view key, std::string_view val) {
        if (key == "busy_wait_ms") {
            std::int64_t ms = -1;
            const auto [end, ec] = std::from_chars(val.data(), val.data() + val.size(), ms);
            if (ec != std::errc{} || end != val.data() + val.size() || ms < 0 ||
                ms > 24LL * 3600 * 1000) {
                throw std::invalid_argument(
                    "busy_wait_ms in database URI \"sqlite://" + std::string(whole) +
                    "\" must be a number of milliseconds between 0 and 86400000");
            }
            busy_wait_ms = ms;
        } else {
            throw std::invalid_argument("unknown parameter \"" + std::string(key) +
                                        "\" in database URI \"sqlite://" + std::string(whole) +
                                        "\" (known: busy_wait_ms)");
        }
    });

    std::unique_ptr<sqlite_backend> backend;
    if (rest == ":memory:") {
        backend = in_memory(std::move(hooks));
    } else {
        const std::string path = percent_decode(rest, whole);
        if (path.empty()) {
            throw std::invalid_argument(
                "database URI \"sqlite://" + std::string(whole) +
                "\" names no directory; use sqlite:///absolute/dir, sqlite://relative/dir or "
                "sqlite://:memory:");
        }
        backend = std::make_unique<sqlite_backend>(fs::path(path), std::move(hooks));
    }
    if (busy_wait_ms) backend->set_busy_wait(std::chrono::milliseconds(*busy_wait_ms));
    return backend;
}

sqlite_backend::~sqlite_backend() {
    // Databases still referenced elsewhere keep their pools; the anchors go,
    // so an in-memory database disappears once its last connection closes.
    std::lock_guard lock(mutex_);
    anchors_.clear();
    open_.clear();
}

std::chrono::milliseconds sqlite_backend::busy_wait() const {
    return settings_->busy_wait.load();
}

void sqlite_backend::set_busy_wait(std::chrono::milliseconds wait) {
    settings_->busy_wait.store(std::max(std::chrono::milliseconds(0), wait));
}

void sqlite_backend::validate_name(std::string_view name, bool allow_maintenance) {
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

fs::path sqlite_backend::file_of(std::string_view name) const {
    if (!directory_) return {};
    return *directory_ / (std::string(name) + std::string(k_suffix));
}

sqlite_connection::open_params sqlite_backend::params_for(const std::string& name) const {
    sqlite_connection::open_params params;
    if (name.empty()) {
        // Maintenance database: private, in memory, good for listing only.
        params.target = ":memory:";
        params.wal = false;
    } else if (!directory_) {
        params.target = "file:atrium-" + std::to_string(id_) + "-" + name +
                        "?mode=memory&cache=shared";
        params.uri = true;
        params.wal = false;
    } else {
        params.target = file_of(name).string();
        params.wal = true;
    }
    return params;
}

bool sqlite_backend::exists_locked(const std::string& name) const {
    if (!directory_) return anchors_.count(name) != 0;
    std::error_code ec;
    return fs::is_regular_file(file_of(name), ec);
}

std::shared_ptr<database> sqlite_backend::open(const std::string& name) {
    validate_name(name, /*allow_maintenance=*/true);
    std::lock_guard lock(mutex_);
    if (!name.empty() && !exists_locked(name)) {
        open_.erase(name);
        throw_no_such_database(name);
    }
    auto& slot = open_[name];
    if (!slot) slot = std::make_shared<sqlite_database>(name, params_for(name), settings_);
    return slot;
}

void sqlite_backend::create(const std::string& name) {
    validate_name(name);
    std::lock_guard lock(mutex_);
    if (exists_locked(name)) {
        throw programming_error("database " + dq(name) + " already exists",
                                error_category::programming, sqlite_code_name(SQLITE_ERROR),
                                SQLITE_ERROR);
    }
    open_.erase(name);  // a stale entry of a database removed behind our back
    if (!directory_) {
        auto params = params_for(name);
        params.create = true;
        anchors_[name] = std::make_unique<sqlite_connection>(params, settings_);
        return;
    }
    const fs::path file = file_of(name);
    std::error_code ec;
    fs::create_directories(*directory_, ec);
    // "x": fail if the file exists, also against another process creating it now.
    std::FILE* f = std::fopen(file.c_str(), "wbx");
    if (!f) {
        const int err = errno;
        if (err == EEXIST) {
            throw programming_error("database " + dq(name) + " already exists",
                                    error_category::programming, sqlite_code_name(SQLITE_ERROR),
                                    SQLITE_ERROR);
        }
        throw operational_error("cannot create database " + dq(name) + " (\"" +
                                    file.string() + "\"): " + std::strerror(err),
                                error_category::other, sqlite_code_name(SQLITE_CANTOPEN),
                                SQLITE_CANTOPEN);
    }
    std::fclose(f);
    // An empty file is an empty database; the first connection makes it WAL
    // (persistent in the file).
    try {
        sqlite_connection first(params_for(name), settings_);
    } catch (...) {
        fs::remove(file, ec);
        throw;
    }
}

void sqlite_backend::drop(const std::string& name) {
    validate_name(name);
    std::lock_guard lock(mutex_);
    if (!exists_locked(name)) {
        open_.erase(name);
        throw programming_error("cannot drop database " + dq(name) + ": it does not exist",
                                error_category::programming, sqlite_code_name(SQLITE_ERROR),
                                SQLITE_ERROR);
    }
    if (auto it = open_.find(name); it != open_.end()) {
        it->second->mark_dropped();  // throws if connections are in use
        open_.erase(it);
    }
    if (!directory_) {
        anchors_.erase(name);  // the last connection: the memory is freed
        return;
    }
    const fs::path file = file_of(name);
    std::error_code ec;
    if (!fs::remove(file, ec) && ec) {
        throw operational_error("cannot drop database " + dq(name) + ": removing \"" +
                                    file.string() + "\" failed: " + ec.message(),
                                error_category::other, sqlite_code_name(SQLITE_IOERR_DELETE),
                                SQLITE_IOERR_DELETE);
    }
    for (const char* extra : {"-wal", "-shm", "-journal"}) {
        fs::path side = file;
        side += extra;
        fs::remove(side, ec);
    }
    // The change counters (sqlite_database::change_counter).
    const std::string counters = file.filename().string() + "-counter-";
    for (const auto& entry : fs::directory_iterator(file.parent_path(), ec)) {
        if (entry.path().filename().string().rfind(counters, 0) == 0) fs::remove(entry.path(), ec);
    }
}

bool sqlite_backend::exists(const std::string& name) {
    if (name.empty()) return false;
    validate_name(name);
    std::lock_guard lock(mutex_);
    return exists_locked(name);
}

std::vector<std::string> sqlite_backend::list() {
    std::vector<std::string> names;
    std::lock_guard lock(mutex_);
    if (!directory_) {
        for (const auto& [name, anchor] : anchors_) names.push_back(name);
        return names;  // std::map: already sorted
    }
    std::error_code ec;
    for (fs::directory_iterator it(*directory_, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code type_ec;
        if (!it->is_regular_file(type_ec)) continue;
        const std::string file = it->path().filename().string();
        if (file.size() <= k_suffix.size() ||
            file.compare(file.size() - k_suffix.size(), k_suffix.size(), k_suffix) != 0) {
            continue;
        }
        std::string stem = file.substr(0, file.size() - k_suffix.size());
        try {
            validate_name(stem);
        } catch (const invalid_database_name&) {
            continue;  // not one of ours
        }
        names.push_back(std::move(stem));
    }
    if (ec) {
        throw operational_error("cannot list the databases in \"" + directory_->string() +
                                    "\": " + ec.message(),
                                error_category::other, sqlite_code_name(SQLITE_IOERR),
                                SQLITE_IOERR);
    }
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace atrium::db
