#include "modules/cache_generation.hpp"

#include "database/errors.hpp"
#include "transaction/logging.hpp"
#include "transaction/transaction.hpp"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

namespace atrium::modules {

void cache_generation::moved() const noexcept {
    changed_at_.store(transaction::monotonic_time(), std::memory_order_release);
}

std::uint64_t cache_generation::current() const noexcept {
    std::uint64_t value = 1;  // never 0 when trusted
    const db::shared_counter* counter = shared_.get();
    if (!counter) {
        if (!listening_.load(std::memory_order_acquire)) return 0;
        value = local_.load(std::memory_order_acquire);
        counter = host_.get();
    }
    if (counter) {
        const std::uint64_t shared = counter->load();
        if (seen_.load(std::memory_order_acquire) != shared) {
            moved();  // first seen now: a transaction already running may predate it
            seen_.store(shared, std::memory_order_release);
        }
        value += shared;
    }
    return value;
}

std::uint64_t cache_generation::stamp(const transaction* txn) const noexcept {
    const std::uint64_t generation = current();
    if (!txn || changed_at_.load(std::memory_order_acquire) >= txn->started_at()) return 0;
    return generation;
}

void cache_generation::heard() noexcept {
    moved();  // before the move: whoever sees the new value sees this time too
    local_.fetch_add(1, std::memory_order_acq_rel);
}

void cache_generation::listening(bool up) noexcept {
    moved();
    local_.fetch_add(1, std::memory_order_acq_rel);  // entries from before are stale either way
    listening_.store(up, std::memory_order_release);
}

std::shared_ptr<cache_generation> generation_of(db::database& database) {
    static std::mutex mutex;
    static std::map<const db::database*, std::weak_ptr<cache_generation>> by_database;
    std::lock_guard lock(mutex);
    auto& slot = by_database[&database];
    if (auto alive = slot.lock()) return alive;
    std::shared_ptr<db::shared_counter> counter;
    try {
        counter = database.change_counter(cache_channel);
    } catch (const std::exception& error) {
        // A counter that cannot be read cannot be trusted: without one and
        // without a listener, current() stays 0 and nothing is cached.
        log_warning("caches of " + database.name() + " are not kept: " + error.what());
    }
    for (auto it = by_database.begin(); it != by_database.end();)  // forget the dead ones
        it = it->second.expired() && it->first != &database ? by_database.erase(it) : std::next(it);
    auto made = std::make_shared<cache_generation>(counter, counter ? nullptr : host_counter(database, cache_channel));
    slot = made;
    return made;
}

std::shared_ptr<db::shared_counter> host_counter(db::database& database, std::string_view topic) {
    static std::mutex mutex;
    static std::map<std::string, std::shared_ptr<db::shared_counter>> by_file;
    std::string name = "atrium-pg-";
    for (const char c : database.name() + "-" + std::string(topic))
        name += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
    const std::filesystem::path file = std::filesystem::path("/dev/shm") / name;
    // ATRIUM_PG_HOST_COUNTERS=0: the NOTIFY alone, as between hosts (tests, diagnosis).
    static const bool off = [] {
        const char* value = std::getenv("ATRIUM_PG_HOST_COUNTERS");
        return value && std::string(value) == "0";
    }();
    if (off) return nullptr;
    std::lock_guard lock(mutex);
    if (auto found = by_file.find(name); found != by_file.end()) return found->second;
    std::shared_ptr<db::shared_counter> counter;
    try {
        counter = db::shared_counter::open_file(file);
    } catch (const std::exception& error) {
        log_warning("no host-wide counter " + file.string() + " (NOTIFY alone): " + error.what());
    }
    by_file.emplace(name, counter);
    return counter;
}

void move_counter(const std::shared_ptr<db::shared_counter>& counter) {
    if (!counter) return;
    counter->increment();
    if (auto* txn = current_or_null()) txn->atexit([counter] { counter->increment(); });
}

void announce_cache_change() {
    auto* txn = current_or_null();
    if (!txn || !txn->started()) return;
    try {
        auto& conn = txn->connection();
        if (conn.backend_name() == "postgresql") {
            conn.execute("SELECT pg_notify(?, '')", {std::string(cache_channel)});
            if (txn->database()) move_counter(host_counter(*txn->database(), cache_channel));
            return;
        }
        if (!txn->database()) return;
        move_counter(txn->database()->change_counter(cache_channel));
    } catch (const db::database_error&) {
        throw;  // the transaction's own failure (e.g. serialization): retried with it
    } catch (const std::exception& error) {
        log_warning(std::string("cache change not announced: ") + error.what());
    }
}

}  // namespace atrium::modules
