#pragma once
// A call's limits as the database layer sees them: the deadline (a point on
// the steady clock; waits and statements stop there) and a cancellation that
// someone else may trigger (the server, when the client disconnects). The
// caller passes them down (begin_options, database::acquire_until); the
// database code never reaches up for them.

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace atrium::db {

using deadline_clock = std::chrono::steady_clock;
/// None: no deadline.
using deadline = std::optional<deadline_clock::time_point>;

/// Time left before `until` (zero once passed); nullopt without a deadline.
std::optional<std::chrono::milliseconds> time_left(const deadline& until) noexcept;

/// The timeout_error (category timeout, SQLSTATE 57014) of a call whose
/// deadline passed, or that was cancelled, while `what`.
[[noreturn]] void throw_deadline_passed(const std::string& what, bool cancelled = false);

/// A call's cancellation. cancel() marks it and runs the canceller of the
/// statement running for it, if any (PostgreSQL: a cancel request), at most
/// once per registration. Thread-safe; the canceller runs under the lock, so
/// a connection that unregisters never frees what it uses meanwhile.
class cancellation {
public:
    bool cancelled() const noexcept;
    void cancel() noexcept;

    /// While it lives, cancel() runs `canceller` (at once if already cancelled).
    class registration {
    public:
        registration() = default;
        registration(cancellation* owner, std::function<void()> canceller);
        registration(const registration&) = delete;
        registration& operator=(const registration&) = delete;
        ~registration();

    private:
        cancellation* owner_ = nullptr;
    };

private:
    mutable std::mutex mutex_;
    bool cancelled_ = false;
    std::function<void()> canceller_;
};

}  // namespace atrium::db
