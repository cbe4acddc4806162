#pragma once
// Crash safety for two-phase commit (SPEC §5.3, DESIGN §5). The main
// database's commit is the single decision: before it, the Tryton transaction
// writes one decision record per voted recoverable participant inside the main
// DB transaction. Recovery finds what participants still hold in doubt and
// finishes it from those records.
//
// "The coordinator is certainly gone" is decided by a race on the record's
// unique key, never by time: recovery inserts an *abort* marker for a gid that
// has no record. If the coordinator's own insert is pending, recovery's insert
// waits for it (PostgreSQL: the unique index; SQLite: the write lock); whoever
// commits first wins and the loser sees a unique violation. A coordinator that
// loses fails its main commit and aborts every participant.

#include "database/database.hpp"
#include "transaction/data_manager.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atrium::tpc {

/// Every Atrium global transaction id starts with this, so recovery can tell ours apart.
inline constexpr std::string_view gid_prefix = "atrium-";

/// "atrium-<database id>-<32 random lowercase hex>" (72 bytes): the gid names
/// the main database that holds its decision record (its database_id(), see
/// transaction/tpc_identity.hpp), so recovery only ever decides gids whose
/// decision database it is reading. `database_id` must be 32 lowercase hex.
std::string new_gid(std::string_view database_id);

/// The old format, "atrium-" + 32 lowercase hex, naming no database (a
/// transaction without a main database, and gids made before database ids).
/// Recovery decides such gids only from the configured main database.
std::string new_gid();

/// True for ids made by either new_gid().
bool is_atrium_gid(std::string_view gid) noexcept;

/// The database id inside a gid of the new format; empty for an old-format
/// gid (or something that is not an Atrium gid).
std::string_view gid_database(std::string_view gid) noexcept;

/// A data manager whose successful vote is durable (prepared) and that
/// recovery can finish later from its participant store.
class recoverable_data_manager : public data_manager {
public:
    /// The id of this transaction branch in the participant.
    virtual const std::string& gid() const = 0;
    /// Which participant store holds it (never contains a password).
    virtual std::string participant_id() const = 0;
};

/// What recovery needs from one kind of participant (a PostgreSQL database, a
/// mail outbox, a file staging area).
class participant_store {
public:
    virtual ~participant_store() = default;
    virtual std::string participant_id() const = 0;
    /// Atrium gids prepared (staged) here and not yet finished.
    virtual std::vector<std::string> in_doubt() = 0;
    /// Unix time (seconds) at which `gid` was prepared (staged), if known.
    virtual std::optional<std::int64_t> prepared_at(const std::string& gid) {
        (void)gid;
        return std::nullopt;
    }
    virtual void commit(const std::string& gid) = 0;
    virtual void rollback(const std::string& gid) = 0;
};

enum class outcome { commit, abort };

/// The decision records, kept in the main database (table atrium_tpc_decision).
namespace decisions {

inline constexpr std::string_view table = "atrium_tpc_decision";

/// Creates the table if missing (in its own transaction on `main`).
void ensure_table(db::database& main);
/// Inside the coordinator's main DB transaction, before its commit.
void record_commit(db::connection& main_transaction, const std::string& gid, const std::string& participant);
/// The final outcome of `gid`, deciding it when nobody has: commit if a commit
/// record exists (waiting for a coordinator whose insert is pending), else an
/// abort marker is inserted and committed, and the outcome is abort.
outcome decide(db::database& main, const std::string& gid, const std::string& participant);
/// An operator's decision (atrium-admin tpc commit/rollback): the recorded
/// outcome if there is one, else `wanted`, recorded now (the same race as
/// decide(): a coordinator whose insert is pending wins or loses cleanly).
outcome settle(db::database& main, const std::string& gid, const std::string& participant, outcome wanted);
/// An operator overruling the recorded decision (--force): the record now
/// says `forced`, so recovery finishes the gid's other branches the same way.
void overrule(db::database& main, const std::string& gid, const std::string& participant, outcome forced);
/// Records present, with their outcomes (for tests and the admin command).
std::optional<outcome> lookup(db::database& main, const std::string& gid);
/// Deletes commit records whose gid no store holds any more, and abort markers
/// older than `keep_abort_markers` (a coordinator slower than that has failed anyway).
///
/// A commit record is only deleted when it was created more than a minute
/// before now (see forget_options::clock_margin): its participant prepared
/// before the record was written, so a listing taken just before this call
/// showed it if it was still prepared. `still_in_doubt` must therefore be
/// listed shortly before the call; recover() passes the exact listing time.
std::size_t forget_finished(db::database& main, const std::vector<std::string>& still_in_doubt,
                            std::chrono::seconds keep_abort_markers);

/// Limits of forget_finished() (recover() uses them).
struct forget_options {
    /// Only records of these participants are considered (empty: every
    /// participant). A recovery pass that listed only some stores must not
    /// delete the commit records of the others (a mail outbox not listed
    /// still needs its records).
    std::vector<std::string> participants;
    /// Unix time (seconds) at which `still_in_doubt` was listed; 0 = now.
    std::int64_t listed_at = 0;
    /// Commit records created later than `listed_at - clock_margin` are kept:
    /// their participants may have prepared after the listing (the margin
    /// also covers clock skew between coordinator and recovery machines).
    std::chrono::seconds clock_margin{60};
};

std::size_t forget_finished(db::database& main, const std::vector<std::string>& still_in_doubt,
                            std::chrono::seconds keep_abort_markers, const forget_options& options);

}  // namespace decisions

struct recovery_report {
    int committed = 0;
    int rolled_back = 0;
    int failed = 0;      ///< left for the next pass (logged)
    std::size_t forgotten = 0;
    int foreign = 0;     ///< gids whose decision database was not among those given: left alone
};

/// The main databases one recovery pass may decide from.
class decision_directory {
public:
    virtual ~decision_directory() = default;
    /// The database holding the decisions of gids that carry `database_id`;
    /// nullptr: not one of ours, its gids are left alone.
    virtual db::database* find(std::string_view database_id) = 0;
    /// The database that decides old-format gids (naming no database);
    /// nullptr: they are left alone.
    virtual db::database* legacy() = 0;
    /// Every database whose finished decision records the pass may forget.
    virtual std::vector<db::database*> all() = 0;
};

/// A fixed list of main databases; their ids are read (never created) when
/// the directory is made. A database without an id only decides old gids.
class database_list final : public decision_directory {
public:
    /// `legacy`: the one of `databases` (or nullptr) that decides old-format gids.
    database_list(const std::vector<db::database*>& databases, db::database* legacy);
    db::database* find(std::string_view database_id) override;
    db::database* legacy() override { return legacy_; }
    std::vector<db::database*> all() override;

private:
    std::vector<std::pair<std::string, db::database*>> by_id_;
    std::vector<db::database*> all_;
    db::database* legacy_;
};

/// One recovery pass over `stores` against the decisions in `main`: for each
/// gid a store holds in doubt, decide() it (commit record ⇒ store.commit,
/// otherwise an abort marker wins ⇒ store.rollback). Errors of one gid or one
/// store are logged and counted in `failed`; the pass goes on. Finally
/// forget_finished() for the participants that could be listed, with what is
/// still in doubt. Creates the decision table if missing (an error there
/// propagates: nothing can be decided without the main database).
/// Run it at start-up with stores whose in_doubt() lists everything; a
/// periodic pass while coordinators run is safe too (the unique-key race), but
/// may abort a live transaction between its votes and its main commit unless
/// the stores skip branches younger than a grace period.
recovery_report recover(db::database& main, const std::vector<participant_store*>& stores,
                        std::chrono::seconds keep_abort_markers = std::chrono::hours(24));

/// The same pass over several main databases: each gid is decided in the
/// database its id names (old-format gids in directory.legacy()); a gid naming
/// a database the directory does not know is left alone (counted in
/// `foreign`): another coordinator's decision, which only its own database
/// holds. recover(main, …) is this with `main` alone, also deciding old gids.
recovery_report recover(decision_directory& directory, const std::vector<participant_store*>& stores,
                        std::chrono::seconds keep_abort_markers = std::chrono::hours(24));


}  // namespace atrium::tpc
