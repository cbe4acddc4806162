#include "database/call_limits.hpp"

#include "database/errors.hpp"

namespace atrium::db {

std::optional<std::chrono::milliseconds> time_left(const deadline& until) noexcept {
    if (!until) return std::nullopt;
    const auto left = *until - deadline_clock::now();
    if (left <= deadline_clock::duration::zero()) return std::chrono::milliseconds(0);
    // Rounded up: 0 ms only once the deadline has passed.
    return std::chrono::ceil<std::chrono::milliseconds>(left);
}

void throw_deadline_passed(const std::string& what, bool cancelled) {
    throw timeout_error(cancelled ? "canceling statement: the call was cancelled (" + what + ") [SQLSTATE 57014]"
                                  : "canceling statement: the call's deadline passed (" + what + ") [SQLSTATE 57014]",
                        error_category::timeout, "57014");
}

bool cancellation::cancelled() const noexcept {
    std::lock_guard lock(mutex_);
    return cancelled_;
}

void cancellation::cancel() noexcept {
    std::lock_guard lock(mutex_);
    if (cancelled_) return;
    cancelled_ = true;
    if (canceller_) {
        auto run = std::move(canceller_);
        canceller_ = nullptr;
        run();  // must not throw (a cancel request; errors are ignored)
    }
}

cancellation::registration::registration(cancellation* owner, std::function<void()> canceller) : owner_(owner) {
    if (!owner_) return;
    std::lock_guard lock(owner_->mutex_);
    if (owner_->cancelled_) {
        canceller();  // cancelled already: the statement is cancelled as it starts
        return;
    }
    owner_->canceller_ = std::move(canceller);
}

cancellation::registration::~registration() {
    if (!owner_) return;
    std::lock_guard lock(owner_->mutex_);
    owner_->canceller_ = nullptr;
}

}  // namespace atrium::db
