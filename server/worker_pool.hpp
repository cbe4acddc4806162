#pragma once
/// @file
/// @brief A small pool of threads for blocking or CPU-heavy work (password
/// hashing, synchronous library calls). A fiber hands work over with
/// `run_blocking(fn)` and is suspended until it is done; its thread keeps
/// serving other fibers meanwhile. The completion is posted back to the
/// fiber's own executor, so the fiber resumes on its thread, context intact.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace atrium::server {

class worker_pool {
public:
    explicit worker_pool(std::size_t threads);
    ~worker_pool();  ///< waits for the running jobs
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;

    /// Runs `fn` on a worker and waits for it: called from a fiber, the fiber
    /// is suspended (not its thread); called elsewhere, the caller blocks.
    /// An exception thrown by `fn` is rethrown here.
    void run(const std::function<void()>& fn);

    /// Stops accepting jobs and waits for the running ones.
    void join();

    /// Jobs handed over and not started; jobs running (GET /metrics).
    std::size_t queued() const noexcept;
    std::size_t running() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// Installs the pool `run_blocking` uses (nullptr: run inline); returns the previous one.
worker_pool* set_blocking_pool(worker_pool* pool) noexcept;

/// Runs `fn` on the installed worker pool (inline if none) and waits without
/// blocking the calling fiber's thread.
void run_blocking_void(const std::function<void()>& fn);

/// The same, returning `fn`'s result.
template <class Fn>
auto run_blocking(Fn&& fn) -> std::invoke_result_t<Fn&> {
    using result_type = std::invoke_result_t<Fn&>;
    if constexpr (std::is_void_v<result_type>) {
        run_blocking_void(std::function<void()>([&] { fn(); }));
    } else {
        std::optional<result_type> result;
        run_blocking_void(std::function<void()>([&] { result.emplace(fn()); }));
        return std::move(*result);
    }
}

}  // namespace atrium::server
