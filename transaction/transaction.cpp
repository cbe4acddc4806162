#include "transaction/transaction.hpp"
// Fiber paths: every catch (...) here lets a fiber's forced_unwind through first
// (fiber::rethrow_if_unwinding(), or is_unwinding() then rethrow), except the two
// noexcept end-of-scope clean-ups, which log nothing for it and cannot rethrow.

#include "database/errors.hpp"
#include "database/introspection.hpp"
#include "fiber/unwind.hpp"
#include "transaction/errors.hpp"
#include "transaction/logging.hpp"
#include "transaction/recovery.hpp"
#include "transaction/tpc_identity.hpp"
#include "transaction/txn_metrics.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>

namespace atrium {

namespace {

std::vector<std::shared_ptr<transaction>>& fiber_stack() { return fiber_state().stack(); }

// Removes the topmost occurrence of `txn` (SPEC §1.1.4).
void pop_reference(const transaction* txn) noexcept {
    auto& stack = fiber_stack();
    for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
        if (it->get() == txn) {
            stack.erase(std::next(it).base());
            return;
        }
    }
}

std::size_t reference_count(const transaction* txn) {
    const auto& stack = fiber_stack();
    return static_cast<std::size_t>(
        std::count_if(stack.begin(), stack.end(), [txn](const auto& p) { return p.get() == txn; }));
}

context_ptr make_context(nlohmann::json context) {
    if (context.is_null()) context = nlohmann::json::object();
    if (!context.is_object()) throw type_error("context must be a dictionary");
    return std::make_shared<const nlohmann::json>(std::move(context));
}

db::begin_options db_options(bool readonly, bool autocommit, std::optional<std::chrono::milliseconds> timeout,
                             const db::deadline& until, const std::shared_ptr<db::cancellation>& cancel) {
    db::begin_options options;
    options.readonly = readonly;
    options.autocommit = autocommit;
    if (timeout && timeout->count() > 0) options.statement_timeout = *timeout;
    options.until = until;
    options.cancel = cancel.get();
    return options;
}

}  // namespace

transaction::transaction() : context_(make_context(nlohmann::json::object())), coordinator_(tpc::facade::tryton) {
    // Gids name the main database, whose commit records their decision.
    coordinator_.set_gid_source([this] {
        if (!database_) throw std::logic_error("transaction is not started");
        return tpc::new_gid(tpc::database_id(database_, connection_.get()));
    });
}

transaction::~transaction() {
    connection_.discard();
}

std::uint64_t transaction::monotonic_time() noexcept {
    // Strictly increasing across the process, so a transaction started later
    // always has a larger started_at even within one clock tick.
    static std::atomic<std::uint64_t> last{0};
    auto now = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::steady_clock::now().time_since_epoch())
                                              .count());
    auto previous = last.load(std::memory_order_relaxed);
    for (;;) {
        auto next = std::max(now, previous + 1);
        if (last.compare_exchange_weak(previous, next, std::memory_order_relaxed)) return next;
    }
}

db::connection& transaction::connection() const {
    if (!connection_) throw std::logic_error("transaction is not started");
    if (needs_begin_) {
        // After an explicit commit()/rollback() the next DB transaction opens on first use.
        connection_->begin(db_options(readonly_, autocommit_, timeout_, deadline_, cancel_));
        needs_begin_ = false;
    }
    return *connection_;
}

std::string transaction::language() const {
    auto it = context_->find("language");
    if (it != context_->end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
        return it->get<std::string>();
    }
    return default_language_;
}

bool transaction::access_checked() const {
    auto it = context_->find("_check_access");
    bool requested = it != context_->end() && it->is_boolean() && it->get<bool>();
    return requested && user_ != root_user;
}

bool transaction::active_records() const {
    auto it = context_->find("active_test");
    if (it == context_->end() || it->is_null()) return true;
    return it->is_boolean() ? it->get<bool>() : true;
}

std::optional<atrium::remote_address> transaction::remote_address(int ipv4_prefix, int ipv6_prefix) const {
    auto request = context_->find("_request");
    if (request == context_->end() || !request->is_object()) return std::nullopt;
    auto address = request->find("remote_addr");
    if (address == request->end() || !address->is_string()) return std::nullopt;
    return make_remote_address(address->get<std::string>(), ipv4_prefix, ipv6_prefix);
}

void transaction::add_cache_clearer(std::function<void()> clear) { cache_clearers_.push_back(std::move(clear)); }

void transaction::clear_caches() {
    for (auto& clear : cache_clearers_) clear();
}

// --- start (SPEC §1.2) ---

void transaction::start(std::shared_ptr<db::database> database, std::int64_t user,
                        const transaction_options& options) {
    // Preconditions first: a failed start never touches a running transaction (§1.1.5).
    if (started_) throw std::logic_error("transaction already started");
    if (!database) throw value_error("no database given");
    auto context = make_context(options.context);

    started_at_ = monotonic_time();
    commit_ns_ = 0;
    started_ = true;
    user_ = user;
    readonly_ = options.readonly;
    close_ = options.close;
    autocommit_ = options.autocommit;
    timeout_ = options.timeout;
    deadline_ = earliest(options.deadline, fiber_state().call().deadline);
    cancel_ = options.cancel ? options.cancel : fiber_state().call().cancel;
    context_ = std::move(context);
    default_language_ = options.default_language;
    database_ = std::move(database);
    if (!readonly_) {
        // The database's two-phase-commit id (named by every gid this
        // transaction may make), made once per process before the transaction
        // takes SQLite's write lock: no other connection could commit it then.
        try {
            (void)tpc::database_id(database_);
        } catch (const std::exception& error) {
            log_info(std::string("no two-phase-commit id for database ") + database_->name() + " yet: " +
                     error.what());
        }
    }
    try {
        wait_for_lock_turns(options);
        const std::uint64_t wait_start = monotonic_time();
        connection_ = deadline_ ? database_->acquire_until(deadline_) : database_->acquire();
        pool_wait_ns_ = monotonic_time() - wait_start;
        const auto& counted = txn_metrics::get();
        counted.pool_wait_seconds.observe(static_cast<double>(pool_wait_ns_) / 1e9);
        counted.started.add();
        connection_->begin(db_options(readonly_, autocommit_, timeout_, deadline_, cancel_));
        auto extras = options.extras;
        int retries = options.lock_retries;
        for (int count = 0;; ++count) {
            try {
                acquire_start_locks(extras);
                break;
            } catch (const db::operational_error& error) {
                if (count >= retries || error.category() == error_category::timeout) throw;
                log_info(std::string("start-up lock not available, retrying: ") + error.what());
                connection_->rollback();
                const auto backoff = options.lock_backoff * (retries - count);
                if (deadline_ && db::deadline_clock::now() + backoff >= *deadline_) {
                    db::throw_deadline_passed(std::string("retrying the start-up locks: ") + error.what());
                }
                fiber::current().sleep_for(backoff);
                connection_->begin(db_options(readonly_, autocommit_, timeout_, deadline_, cancel_));
                // The retries wait for it, lock_retry_wait in all (bounded: the call's own retries multiply it).
                auto lock_wait = options.lock_retry_wait / std::max(1, retries);
                if (const auto left = db::time_left(deadline_)) lock_wait = std::min(lock_wait, *left);
                connection_->set_lock_wait(lock_wait);
            }
        }
        // Process caches are synchronised here once the modules issue brings them (§1.2.5).
    } catch (...) {
        if (connection_) {
            try {
                if (connection_->in_transaction()) connection_->rollback();
            } catch (...) {
                fiber::rethrow_if_unwinding();
                // the connection is discarded below
            }
            connection_.discard();
        }
        reset();
        throw;
    }
}

void transaction::wait_for_lock_turns(const transaction_options& options) {
    // Only where table locks wait (not where one write lock serialises the writers).
    if (!db::table_locks_wait(*database_) || !options.extras.is_object()) return;
    const auto it = options.extras.find("_lock_tables");
    if (it == options.extras.end() || !it->is_array()) return;
    std::set<std::string> tables;  // sorted: every caller queues in the same order
    for (const auto& table : *it)
        if (table.is_string()) tables.insert(table.get<std::string>());
    for (const auto& table : tables) {
        const std::string key = database_->name() + '\n' + table;
        auto wait = options.lock_wait;
        const auto left = db::time_left(deadline_);
        const bool deadline_first = left && *left < wait;
        if (deadline_first) wait = *left;
        auto turn = wait_for_lock_turn(key, wait);
        if (!turn && deadline_first) db::throw_deadline_passed("waiting for the turn on table \"" + table + "\"");
        if (!turn) {
            throw db::operational_error("lock on table \"" + table + "\" not available after waiting " +
                                            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                               options.lock_wait)
                                                               .count()) +
                                            " ms behind " + std::to_string(lock_turn_waiters(key)) +
                                            " other callers [SQLSTATE 55P03]",
                                        db::error_category::retryable, "55P03");
        }
        lock_turns_.push_back(std::move(turn));
    }
}

void transaction::acquire_start_locks(const nlohmann::json& extras) {
    locked_tables_.clear();
    locked_records_.clear();
    if (!extras.is_object()) return;
    if (auto it = extras.find("_lock_tables"); it != extras.end() && it->is_array()) {
        for (const auto& table : *it) {
            auto name = table.get<std::string>();
            connection_->lock_table(name);
            locked_tables_.insert(name);
        }
    }
    if (auto it = extras.find("_lock_records"); it != extras.end() && it->is_object()) {
        for (const auto& [table, ids_json] : it->items()) {
            std::vector<std::int64_t> ids = ids_json.get<std::vector<std::int64_t>>();
            connection_->lock_records(table, ids);
            locked_records_[table].insert(ids.begin(), ids.end());
        }
    }
}

// --- locks (SPEC §4.1) ---

void transaction::lock_table(const std::string& table) {
    if (!locked_tables_.contains(table)) throw table_lock_required(table);
}

void transaction::lock_records(const std::string& table, const std::vector<std::int64_t>& ids) {
    if (locked_tables_.contains(table)) return;
    const auto it = locked_records_.find(table);
    std::vector<std::int64_t> missing;
    for (auto id : ids) {
        bool locked = it != locked_records_.end() && it->second.contains(id);
        if (!locked && std::find(missing.begin(), missing.end(), id) == missing.end()) missing.push_back(id);
    }
    if (!missing.empty()) throw record_lock_required(table, std::move(missing));
}

// --- data managers and callbacks ---

std::shared_ptr<tpc::data_manager> transaction::join(std::shared_ptr<tpc::data_manager> dm) {
    if (!started_) throw std::logic_error("transaction is not started");
    return coordinator_.join(std::move(dm));
}

void transaction::atexit(std::function<void()> callback) { atexit_.push_back(std::move(callback)); }

// --- ending (SPEC §1.3, §3.3, §3.4) ---

void transaction::flush_buffers() {
    // Log records and consumed warnings are written by the ir/res modules
    // once they exist; until then the buffers are only cleared.
    log_records.clear();
    check_warnings.clear();
}

void transaction::commit_last_resource() {
    started_at_ = monotonic_time();
    clear_caches();
    // Every participant has voted: record the decision for each durable one in
    // the main DB transaction, so this commit is the single point of decision
    // that recovery reads after a crash (SPEC §5.3).
    for (const auto& dm : coordinator_.resources()) {
        if (const auto* durable = dynamic_cast<const tpc::recoverable_data_manager*>(dm.get())) {
            tpc::decisions::record_commit(connection(), durable->gid(), durable->participant_id());
        }
    }
    // The database lock ends with the COMMIT (or its failure): so does the turn
    // in the in-process queue, before tpc_finish of the other participants.
    struct release_turns {
        std::vector<std::unique_ptr<lock_turn>>& turns;
        ~release_turns() { turns.clear(); }
    } release{lock_turns_};
    if (connection_ && connection_->in_transaction()) {
        connection_->allow_commit_batching(coordinator_.resources().empty());
        connection_->commit();
    }
}

void transaction::rollback_last_resource() noexcept {
    clear_caches();
    log_records.clear();
    check_warnings.clear();
    try {
        if (connection_ && connection_->in_transaction()) connection_->rollback();
    } catch (const std::exception& error) {
        log_error(std::string("rollback of the main connection failed: ") + error.what());
    }
    lock_turns_.clear();  // the database lock is gone with the rollback
}

void transaction::timed_commit() {
    const auto& counted = txn_metrics::get();
    const std::uint64_t start = monotonic_time();
    try {
        coordinator_.commit(this);
    } catch (...) {
        counted.commit_failed.add();
        throw;
    }
    const std::uint64_t took = monotonic_time() - start;
    commit_ns_ += took;
    counted.committed.add();
    counted.commit_seconds.observe(static_cast<double>(took) / 1e9);
}

void transaction::commit() {
    if (!started_) throw std::logic_error("transaction is not started");
    if (coordinator_.state() == tpc::status::commit_failed) coordinator_.reset();
    timed_commit();
    coordinator_.reset();
    // Tryton keeps working after an explicit commit. The next DB transaction
    // opens lazily: taking SQLite's write lock again here could fail after a
    // successful commit and make the caller retry committed work.
    needs_begin_ = !autocommit_;
}

void transaction::rollback() {
    if (!started_) throw std::logic_error("transaction is not started");
    if (coordinator_.state() == tpc::status::commit_failed) coordinator_.reset();
    coordinator_.rollback_tryton(this);
    txn_metrics::get().rolled_back.add();
    coordinator_.reset();
    needs_begin_ = !autocommit_;
}

void transaction::end_db_transaction(bool commit) {
    if (coordinator_.state() == tpc::status::commit_failed) coordinator_.reset();
    if (commit && !readonly_) {
        timed_commit();
    } else {
        coordinator_.rollback_tryton(this);
        (readonly_ ? txn_metrics::get().read_only : txn_metrics::get().rolled_back).add();
    }
}

void transaction::stop(bool commit) {
    if (reference_count(this) > 1) {
        pop_reference(this);
        return;
    }
    std::exception_ptr error;
    bool clean = true;
    try {
        if (started_) end_db_transaction(commit);
    } catch (...) {
        error = std::current_exception();
        if (fiber::is_unwinding(error)) {
            pop_reference(this);
            throw;
        }
        clean = false;
    }
    if (connection_) {
        // The pool rolls back anything left open and discards broken connections.
        if (close_) connection_.discard();
        else connection_.return_to_pool();
    }
    auto callbacks = std::move(atexit_);
    reset();
    if (clean) {
        try {
            for (auto& callback : callbacks) callback();
        } catch (...) {
            error = std::current_exception();
            if (fiber::is_unwinding(error)) {
                pop_reference(this);
                throw;
            }
        }
    }
    pop_reference(this);
    if (error) std::rethrow_exception(error);
}

void transaction::reset() noexcept {
    started_ = false;
    needs_begin_ = false;
    connection_.discard();  // given back already, unless start-up failed half-way
    database_.reset();
    user_ = 0;
    readonly_ = false;
    close_ = false;
    autocommit_ = false;
    timeout_.reset();
    deadline_.reset();
    cancel_.reset();
    context_ = make_context(nlohmann::json::object());
    create_records.clear();
    delete_records.clear();
    trigger_records.clear();
    log_records.clear();
    check_warnings.clear();
    timestamp = nlohmann::json::object();
    counter = 0;
    started_at_ = 0;
    locked_tables_.clear();
    locked_records_.clear();
    lock_turns_.clear();  // after the connection went back: the lock is released by then
    atexit_.clear();
    cache_clearers_.clear();
    coordinator_.reset();
}

// --- the stack (SPEC §1.1) ---

transaction& current() {
    auto* txn = current_or_null();
    if (!txn) throw no_transaction();
    return *txn;
}

transaction* current_or_null() noexcept {
    auto& stack = fiber_stack();
    return stack.empty() ? nullptr : stack.back().get();
}

transaction_scope::transaction_scope(std::shared_ptr<transaction> txn)
    : txn_(std::move(txn)), uncaught_at_entry_(std::uncaught_exceptions()) {}

transaction_scope::transaction_scope(transaction_scope&& other) noexcept
    : txn_(std::move(other.txn_)),
      open_(std::exchange(other.open_, false)),
      uncaught_at_entry_(other.uncaught_at_entry_) {}

transaction_scope::~transaction_scope() {
    if (!open_) return;
    open_ = false;
    bool commit = std::uncaught_exceptions() <= uncaught_at_entry_;
    try {
        txn_->stop(commit);
    } catch (const std::exception& error) {
        log_error(std::string("transaction ended with an error: ") + error.what());
    } catch (...) {
        // A destructor cannot rethrow while unwinding; the fiber is going away.
        if (!fiber::is_unwinding(std::current_exception())) log_error("transaction ended with an unknown error");
    }
}

void transaction_scope::close(bool commit) {
    if (!open_) throw std::logic_error("transaction scope already closed");
    open_ = false;
    txn_->stop(commit);
}

transaction_scope begin(std::shared_ptr<db::database> database, std::int64_t user, transaction_options options) {
    auto txn = std::make_shared<transaction>();
    fiber_stack().push_back(txn);
    try {
        txn->start(std::move(database), user, options);
    } catch (...) {
        pop_reference(txn.get());
        throw;
    }
    return transaction_scope(std::move(txn));
}

transaction_scope new_transaction(transaction_options options) {
    auto& outer = current();
    if (!outer.started()) throw std::logic_error("the current transaction is not started");
    nlohmann::json context = outer.context();
    if (options.context.is_object()) context.update(options.context);
    options.context = std::move(context);
    options.close = outer.close();
    options.default_language = outer.default_language_;
    // Work done on the call's behalf ends with the call.
    options.deadline = earliest(options.deadline, outer.deadline_);
    if (!options.cancel) options.cancel = outer.cancel_;
    return begin(outer.database(), outer.user(), std::move(options));
}

reference_scope::reference_scope(transaction& txn)
    : txn_(txn.shared_from_this()), uncaught_at_entry_(std::uncaught_exceptions()) {
    if (!txn.started()) throw std::logic_error("cannot push a reference to a transaction that is not started");
    fiber_stack().push_back(txn_);
}

reference_scope::reference_scope(reference_scope&& other) noexcept
    : txn_(std::move(other.txn_)), uncaught_at_entry_(other.uncaught_at_entry_) {}

reference_scope::~reference_scope() {
    if (!txn_) return;
    try {
        txn_->stop(std::uncaught_exceptions() <= uncaught_at_entry_);
    } catch (const std::exception& error) {
        log_error(std::string("transaction ended with an error: ") + error.what());
    } catch (...) {
        if (!fiber::is_unwinding(std::current_exception())) log_error("transaction ended with an unknown error");
    }
}

reference_scope set_current_transaction(transaction& txn) { return reference_scope(txn); }

}  // namespace atrium
