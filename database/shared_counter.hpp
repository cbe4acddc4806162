#pragma once
// A 64-bit counter that every process using one database sees at once, for
// in-process caches of database rows: whoever changes what is cached
// increments it, and a cache entry remembered under an older value is stale.
// File-backed counters live in a small file next to the database, mapped
// shared, so reading one costs no system call; in-memory databases, which
// one process alone can see, get a process-local counter.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>

namespace atrium::db {

class shared_counter {
public:
    /// Maps `file` (created holding zero if missing). Throws std::system_error.
    static std::shared_ptr<shared_counter> open_file(const std::filesystem::path& file);
    /// A counter of this process only.
    static std::shared_ptr<shared_counter> in_process();

    ~shared_counter();
    shared_counter(const shared_counter&) = delete;
    shared_counter& operator=(const shared_counter&) = delete;

    std::uint64_t load() const noexcept;
    void increment() noexcept;

private:
    shared_counter() = default;

    void* mapping_ = nullptr;  // the file's first page, or nullptr for local_
    std::atomic<std::uint64_t> local_{0};
};

}  // namespace atrium::db
