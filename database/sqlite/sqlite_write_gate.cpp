#include "database/sqlite/sqlite_write_gate.hpp"

namespace atrium::db {

bool sqlite_write_gate::acquire(const make_waker_fn& make_waker, std::chrono::nanoseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!held_) {  // the turn is handed over while held_ stays true: free means nobody queued
        held_ = true;
        return true;
    }
    auto me = std::make_shared<waiter>();
    me->wake_up = make_waker();
    queue_.push_back(me);
    lock.unlock();

    // Whatever ends the wait, the queue entry is settled under the lock: a turn
    // granted while timing out (or being unwound) is kept, or handed on.
    struct settle {
        sqlite_write_gate& gate;
        const std::shared_ptr<waiter>& me;
        bool keep = false;
        ~settle() {
            std::unique_lock lock(gate.mutex_);
            if (me->granted) {
                if (!keep) {
                    lock.unlock();
                    gate.release();
                }
                return;
            }
            gate.queue_.remove(me);
        }
    } settle_on_exit{*this, me};
    me->wake_up->wait(timeout);
    {
        std::lock_guard check(mutex_);
        settle_on_exit.keep = me->granted;
    }
    return settle_on_exit.keep;
}

bool sqlite_write_gate::release() noexcept {
    std::shared_ptr<waiter> next;
    {
        std::lock_guard lock(mutex_);
        if (queue_.empty()) {
            held_ = false;
            return false;
        }
        next = std::move(queue_.front());
        queue_.pop_front();
        next->granted = true;
    }
    const bool here = next->wake_up->resumes_on_this_thread();
    next->wake_up->wake();
    return here;
}

bool sqlite_write_gate::pass_to_next() noexcept {
    std::shared_ptr<waiter> next;
    {
        std::lock_guard lock(mutex_);
        if (queue_.empty()) return false;
        next = std::move(queue_.front());
        queue_.pop_front();
        next->granted = true;
    }
    next->wake_up->wake();
    return true;
}

std::size_t sqlite_write_gate::waiting() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

}  // namespace atrium::db
