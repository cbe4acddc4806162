#include "server/bus_hub.hpp"

#include <algorithm>

namespace atrium::server {

namespace {

bool listed(const std::vector<std::string>& channels, const std::string& channel) {
    return std::find(channels.begin(), channels.end(), channel) != channels.end();
}

}  // namespace

std::uint64_t bus_hub::position_after(std::optional<std::int64_t> last) const {
    std::lock_guard lock(mutex_);
    const std::uint64_t end = base_ + log_.size();
    if (!last) return end;
    if (const auto found = positions_.find(*last); found != positions_.end()) return found->second + 1;
    // Unknown (older than the log, or from before this process heard it): what came after it by id.
    for (std::size_t i = 0; i < log_.size(); ++i)
        if (log_[i].id > *last) return base_ + i;
    return end;
}

std::optional<bus_entry> bus_hub::next(const std::vector<std::string>& channels, std::uint64_t position) const {
    std::lock_guard lock(mutex_);
    return next_locked(channels, position);
}

std::optional<bus_entry> bus_hub::next_locked(const std::vector<std::string>& channels,
                                              std::uint64_t position) const {
    for (std::uint64_t i = std::max(position, base_) - base_; i < log_.size(); ++i)
        if (listed(channels, log_[i].channel)) return log_[i];
    return std::nullopt;
}

bool bus_hub::park(const std::vector<std::string>& channels, std::uint64_t position,
                   const std::shared_ptr<fiber::waker>& waker) {
    std::lock_guard lock(mutex_);
    if (stopped_ || next_locked(channels, position)) return false;
    for (const auto& channel : channels) waiting_[channel].insert(waker);
    parked_.insert(waker);
    return true;
}

void bus_hub::unpark(const std::vector<std::string>& channels, const std::shared_ptr<fiber::waker>& waker) {
    std::lock_guard lock(mutex_);
    parked_.erase(waker);
    for (const auto& channel : channels) {
        const auto found = waiting_.find(channel);
        if (found == waiting_.end()) continue;
        found->second.erase(waker);
        if (found->second.empty()) waiting_.erase(found);
    }
}

std::size_t bus_hub::append(std::vector<bus_entry> entries, double now) {
    std::vector<std::shared_ptr<fiber::waker>> woken;
    std::size_t appended = 0;
    {
        std::lock_guard lock(mutex_);
        for (auto& entry : entries) {
            if (positions_.count(entry.id)) continue;
            positions_.emplace(entry.id, base_ + log_.size());
            newest_ = std::max(newest_, entry.id);
            if (const auto found = waiting_.find(entry.channel); found != waiting_.end()) {
                woken.insert(woken.end(), found->second.begin(), found->second.end());
                waiting_.erase(found);
            }
            log_.push_back(std::move(entry));
            ++appended;
        }
        expire(now);
    }
    // Outside the lock: a woken fiber of this thread may run at once and park again.
    for (const auto& waker : woken) waker->wake();
    return appended;
}

void bus_hub::expire(double now) {
    while (!log_.empty() && (log_.size() > max_messages_ || log_.front().created < now - retention_)) {
        positions_.erase(log_.front().id);
        log_.pop_front();
        ++base_;
    }
}

void bus_hub::stop() {
    std::vector<std::shared_ptr<fiber::waker>> woken;
    {
        std::lock_guard lock(mutex_);
        stopped_ = true;
        woken.assign(parked_.begin(), parked_.end());
    }
    for (const auto& waker : woken) waker->wake();
}

bool bus_hub::stopped() const {
    std::lock_guard lock(mutex_);
    return stopped_;
}

std::int64_t bus_hub::newest() const {
    std::lock_guard lock(mutex_);
    return newest_;
}

std::size_t bus_hub::size() const {
    std::lock_guard lock(mutex_);
    return log_.size();
}

std::size_t bus_hub::parked() const {
    std::lock_guard lock(mutex_);
    return parked_.size();
}

}  // namespace atrium::server
