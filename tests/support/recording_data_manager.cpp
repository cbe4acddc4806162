#include "tests/support/recording_data_manager.hpp"

#include <stdexcept>

namespace atrium::test {

// ---------------------------------------------------------------------------
// failure_plan

void failure_plan::fail_at(std::string method, std::exception_ptr error, int times) {
    plans_[std::move(method)] = plan{std::move(error), times};
}

void failure_plan::check(const std::string& name, const std::string& method) {
    auto found = plans_.find(method);
    if (found == plans_.end()) return;
    plan& p = found->second;
    if (p.times == 0) return;
    if (p.times > 0) --p.times;
    if (p.error) std::rethrow_exception(p.error);
    throw std::runtime_error(name + "." + method + " failed");
}

// ---------------------------------------------------------------------------
// recording_data_manager

class recording_data_manager::snapshot final : public tpc::dm_savepoint {
public:
    snapshot(recording_data_manager& dm, int value) : dm_(dm), value_(value) {}
    void rollback() override {
        dm_.record("savepoint_rollback");
        dm_.value_ = value_;
    }

private:
    recording_data_manager& dm_;  // the coordinator's savepoint keeps the DM alive
    int value_;
};

recording_data_manager::recording_data_manager(std::string name, std::shared_ptr<call_log> log, std::string sort_key)
    : name_(std::move(name)), log_(std::move(log)), sort_key_(std::move(sort_key)) {
    if (!log_) log_ = std::make_shared<call_log>();
}

std::shared_ptr<recording_data_manager> recording_data_manager::make(std::string name, std::shared_ptr<call_log> log,
                                                                     std::string sort_key) {
    return std::make_shared<recording_data_manager>(std::move(name), std::move(log), std::move(sort_key));
}

recording_data_manager& recording_data_manager::fail_at(std::string method, std::exception_ptr error, int times) {
    failures_.fail_at(std::move(method), std::move(error), times);
    return *this;
}

recording_data_manager& recording_data_manager::clear_failures() {
    failures_.clear();
    return *this;
}

recording_data_manager& recording_data_manager::set_sort_key(std::string key) {
    sort_key_ = std::move(key);
    return *this;
}

recording_data_manager& recording_data_manager::enable_savepoints(bool on) {
    savepoints_ = on;
    return *this;
}

recording_data_manager& recording_data_manager::set_should_retry(
    std::function<bool(const std::exception_ptr&)> predicate) {
    should_retry_ = std::move(predicate);
    return *this;
}

recording_data_manager& recording_data_manager::set_equals(std::function<bool(const tpc::data_manager&)> predicate) {
    equals_ = std::move(predicate);
    return *this;
}

recording_data_manager& recording_data_manager::set_equality_key(std::string key) {
    equality_key_ = std::move(key);
    return *this;
}

std::shared_ptr<tpc::data_manager> recording_data_manager::change(tpc::coordinator& txn, int value) {
    value_ = value;
    return txn.join(shared_from_this());
}

int recording_data_manager::calls(std::string_view method) const {
    auto found = calls_.find(method);
    return found == calls_.end() ? 0 : found->second;
}

void recording_data_manager::record(const std::string& method) {
    log_->push_back(name_ + "." + method);
    ++calls_[method];
    failures_.check(name_, method);
}

void recording_data_manager::record(tpc::coordinator& txn, const std::string& method) {
    last_txn_ = &txn;
    record(method);
}

std::unique_ptr<tpc::dm_savepoint> recording_data_manager::savepoint() {
    record("savepoint");
    return std::make_unique<snapshot>(*this, value_);
}

bool recording_data_manager::should_retry(const std::exception_ptr& error) const {
    if (!should_retry_) return false;
    log_->push_back(name_ + ".should_retry");
    ++calls_["should_retry"];
    return should_retry_(error);
}

bool recording_data_manager::equals(const tpc::data_manager& other) const {
    if (equals_) return equals_(other);
    if (!equality_key_.empty()) {
        if (auto* rec = dynamic_cast<const recording_data_manager*>(&other))
            return rec->equality_key_ == equality_key_;
    }
    return this == &other;
}

// ---------------------------------------------------------------------------
// recording_last_resource

recording_last_resource::recording_last_resource(std::shared_ptr<call_log> log, std::string name)
    : log_(std::move(log)), name_(std::move(name)) {}

recording_last_resource& recording_last_resource::fail_at(std::string method, std::exception_ptr error, int times) {
    failures_.fail_at(std::move(method), std::move(error), times);
    return *this;
}

void recording_last_resource::flush_buffers() {
    log_->push_back(name_ + ".flush_buffers");
    failures_.check(name_, "flush_buffers");
}

void recording_last_resource::commit_last_resource() {
    log_->push_back(name_ + ".commit");
    failures_.check(name_, "commit");
}

void recording_last_resource::rollback_last_resource() noexcept { log_->push_back(name_ + ".rollback"); }

// ---------------------------------------------------------------------------
// recording_synchronizer

recording_synchronizer::recording_synchronizer(std::shared_ptr<call_log> log, std::string prefix)
    : log_(std::move(log)), prefix_(std::move(prefix)) {}

recording_synchronizer& recording_synchronizer::fail_at(std::string method, std::exception_ptr error, int times) {
    failures_.fail_at(std::move(method), std::move(error), times);
    return *this;
}

void recording_synchronizer::record(tpc::coordinator& txn, const std::string& entry, const std::string& method) {
    seen.push_back(&txn);
    log_->push_back(prefix_ + entry);
    failures_.check(prefix_.empty() ? "synchronizer" : prefix_, method);
}

void recording_synchronizer::new_transaction(tpc::coordinator& txn) {
    record(txn, "newTransaction", "new_transaction");
}

void recording_synchronizer::before_completion(tpc::coordinator& txn) {
    record(txn, "beforeCompletion", "before_completion");
}

void recording_synchronizer::after_completion(tpc::coordinator& txn) {
    seen.push_back(&txn);
    log_->push_back(prefix_ + "afterCompletion");
    if (on_after_completion) on_after_completion(txn);
    failures_.check(prefix_.empty() ? "synchronizer" : prefix_, "after_completion");
}

// ---------------------------------------------------------------------------
// log_capture

log_capture::log_capture()
    : entries_(std::make_shared<std::vector<entry>>()),
      sink_([entries = entries_](log_level level, std::string_view message) {
          entries->push_back({level, std::string(message)});
      }) {}

std::size_t log_capture::count(log_level level) const {
    std::size_t n = 0;
    for (const auto& e : *entries_)
        if (e.level == level) ++n;
    return n;
}

bool log_capture::contains(log_level level, std::string_view text) const {
    for (const auto& e : *entries_)
        if (e.level == level && e.message.find(text) != std::string::npos) return true;
    return false;
}

}  // namespace atrium::test
