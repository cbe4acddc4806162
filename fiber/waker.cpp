#include "fiber/waker.hpp"

#include <condition_variable>
#include <mutex>

namespace atrium::fiber {

namespace {

class thread_waker final : public waker {
public:
    bool wait(std::chrono::nanoseconds timeout) override {
        std::unique_lock lock(mutex_);
        return woken_cv_.wait_for(lock, timeout, [this] { return woken_; });
    }
    void wake() noexcept override {
        {
            std::lock_guard lock(mutex_);
            woken_ = true;
        }
        woken_cv_.notify_one();
    }

private:
    std::mutex mutex_;
    std::condition_variable woken_cv_;
    bool woken_ = false;
};

}  // namespace

std::shared_ptr<waker> make_thread_waker() { return std::make_shared<thread_waker>(); }

}  // namespace atrium::fiber
