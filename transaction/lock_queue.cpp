#include "transaction/lock_queue.hpp"

#include "fiber/waker.hpp"
#include "transaction/fiber_context.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>

namespace atrium {

namespace {

struct queue_state {
    bool held = false;
    std::deque<std::shared_ptr<fiber::waker>> waiters;  // front is next
};

std::mutex queues_mutex;
std::map<std::string, queue_state>& queues() {
    static std::map<std::string, queue_state> all;
    return all;
}

class turn final : public lock_turn {
public:
    explicit turn(std::string key) : key_(std::move(key)) {}
    ~turn() override {
        std::shared_ptr<fiber::waker> next;
        {
            std::lock_guard lock(queues_mutex);
            auto found = queues().find(key_);
            if (found == queues().end()) return;
            auto& state = found->second;
            if (state.waiters.empty()) {
                queues().erase(found);  // nobody queued: forget the key
                return;
            }
            next = std::move(state.waiters.front());  // the turn passes on, still held
            state.waiters.pop_front();
        }
        next->wake();
    }

private:
    std::string key_;
};

}  // namespace

std::unique_ptr<lock_turn> wait_for_lock_turn(const std::string& key, std::chrono::nanoseconds wait) {
    std::shared_ptr<fiber::waker> me;
    {
        std::lock_guard lock(queues_mutex);
        auto& state = queues()[key];
        if (!state.held) {
            state.held = true;
            return std::make_unique<turn>(key);
        }
        me = fiber::current().make_waker();
        state.waiters.push_back(me);
    }
    bool woken = false;
    try {
        woken = me->wait(wait);
    } catch (...) {
        // Clean-up only, and every path rethrows: a fiber's forced_unwind (or
        // any error of the wait) passes through unchanged. Leave the queue, or
        // pass on a turn that was given just before.
        {
            std::lock_guard lock(queues_mutex);
            auto& waiting = queues()[key].waiters;
            auto it = std::find(waiting.begin(), waiting.end(), me);
            if (it != waiting.end()) {
                waiting.erase(it);
                throw;
            }
        }
        turn given(key);  // its destructor wakes the next one
        throw;
    }
    if (woken) return std::make_unique<turn>(key);
    std::lock_guard lock(queues_mutex);
    auto& state = queues()[key];
    auto it = std::find(state.waiters.begin(), state.waiters.end(), me);
    if (it != state.waiters.end()) {
        state.waiters.erase(it);
        return nullptr;  // timed out, still queued: leave
    }
    return std::make_unique<turn>(key);  // woken just as the wait ended: the turn is ours
}

std::size_t lock_turn_waiters(const std::string& key) {
    std::lock_guard lock(queues_mutex);
    auto found = queues().find(key);
    return found == queues().end() ? 0 : found->second.waiters.size();
}

}  // namespace atrium
