#pragma once
// Files as a two-phase-commit participant (the zope.file idea, DESIGN §5).
//
//   atrium::file_manager files("/var/lib/atrium/file-staging", "/srv/orders");
//   files.write(txn, "SO42.txt", text);    // queued in memory: /srv/orders/SO42.txt
//   // commit: the file appears (atomically) only if the whole transaction commits
//
// Names are relative to the manager's root and must stay inside it (they often
// come from data, e.g. an order number): an absolute name, a `..` component, a
// control character or a symbolic link leading outside the root is refused with
// path_error when queued, and the containment is checked again at the vote.
//
// Writes (and removals) queued in a transaction are held in memory by one data
// manager per (transaction, staging directory). At vote, the DM writes a
// manifest `<staging_dir>/<gid>.json` (fsync'd) listing every target and its
// temporary name, then writes each file's new content to `<target>.<gid>.tmp`
// — next to the target, on the same file system, so the final rename is atomic
// — and fsyncs it and its directory. At finish each temporary file is renamed
// over its target (removals unlink the target), the directories are fsync'd and
// the manifest is deleted. Abort removes the temporaries and the manifest.
//
// The manifest is durable before any temporary file exists, so after a crash
// file_manager_store (the participant store recovery uses) always knows every
// temporary file of a gid: commit finishes the renames (tolerating those already
// done), rollback removes the temporaries.
//
// Target directories must exist (a missing one makes the vote fail). A target
// is identified by its absolute, lexically normal path; the last operation
// queued for a target in a transaction wins. A new file gets the mode of the
// file it replaces (else 0666 & ~umask).
//
// Limitation: recovery should run before new transactions write the same
// targets (atriumd recovers at start-up); a commit recovered late renames the
// old transaction's content over whatever was written since.

#include "transaction/recovery.hpp"

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace atrium {

class transaction;

/// Small durable-I/O helpers shared by the file and mail participants.
namespace durable {

/// Creates `path` (must not exist: O_EXCL), writes `bytes`, fsyncs and closes
/// it. `mode_from`, if it names an existing file, gives the new file's mode.
/// Throws std::system_error (the partial file is removed).
void write_new_file(const std::filesystem::path& path, std::string_view bytes,
                    const std::filesystem::path& mode_from = {});
/// fsync of a directory (makes renames, creations and removals in it durable).
void fsync_directory(const std::filesystem::path& dir);
/// rename(2) (atomic within one file system); throws std::system_error.
void rename_file(const std::filesystem::path& from, const std::filesystem::path& to);
/// unlink(2); false if it did not exist; throws std::system_error on other errors.
bool remove_file(const std::filesystem::path& path);
/// The whole content of a file; throws std::system_error.
std::string read_file(const std::filesystem::path& path);
/// absolute() + lexically_normal(), without a trailing separator.
std::filesystem::path normal_absolute(const std::filesystem::path& path);

}  // namespace durable

/// A file name refused because it would leave its root (the message names
/// the name and the reason, not the root).
class path_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// `root / name` (absolute, lexically normal) for a `name` that stays inside
/// `root`: not empty, relative, no `..` component, no control character, and
/// no existing component — symbolic links resolved — leading outside `root`
/// (itself resolved). Throws path_error.
std::filesystem::path path_within(const std::filesystem::path& root, const std::filesystem::path& name);

/// Throws path_error unless `path`, symbolic links resolved, is inside
/// `root` (both resolved with weakly_canonical). `what` names it in the message.
void check_within(const std::filesystem::path& root, const std::filesystem::path& path, const std::string& what);

/// One queued operation of a file transaction.
struct file_operation {
    enum class kind { write, remove };
    kind what = kind::write;
    std::filesystem::path target;  ///< absolute, lexically normal
    std::filesystem::path temp;    ///< `<target>.<gid>.tmp` (writes only)
    std::string bytes;             ///< the new content (writes only)
    std::filesystem::path root;    ///< the target must stay inside it (checked again at vote); not in the manifest
};

/// The data manager of one transaction's file operations for one staging directory.
class file_manager_dm final : public tpc::recoverable_data_manager {
public:
    /// `gid`: the transaction's (tpc::coordinator::new_gid()); empty: an old-format one.
    explicit file_manager_dm(std::filesystem::path staging_dir, std::string gid = {});
    ~file_manager_dm() override;

    const std::filesystem::path& staging_dir() const noexcept { return staging_dir_; }
    /// The manifest written at vote.
    std::filesystem::path manifest_path() const;
    /// The queued operations, one per target, in first-queued order.
    const std::vector<file_operation>& operations() const noexcept { return ops_; }

    /// Queues a write / removal (replacing an earlier operation on the same target).
    /// `target` is absolute (file_manager resolves names with path_within);
    /// with a `root`, the vote refuses (path_error) a target that a symbolic
    /// link made since leads outside it. Throws std::logic_error after the vote started.
    void queue_write(const std::filesystem::path& target, std::string bytes, const std::filesystem::path& root = {});
    void queue_remove(const std::filesystem::path& target, const std::filesystem::path& root = {});

    // tpc::recoverable_data_manager
    const std::string& gid() const override { return gid_; }
    std::string participant_id() const override;
    std::string sort_key() const override;
    void tpc_begin(tpc::coordinator& txn) override;
    void commit(tpc::coordinator& txn) override;
    void tpc_vote(tpc::coordinator& txn) override;
    void tpc_finish(tpc::coordinator& txn) override;
    void tpc_abort(tpc::coordinator& txn) override;
    void abort(tpc::coordinator& txn) override;
    /// Same staging directory.
    bool equals(const tpc::data_manager& other) const override;

private:
    enum class state { active, voting, voted, finished, aborted };
    void discard();
    void queue(file_operation op);

    std::filesystem::path staging_dir_;
    std::string gid_;
    std::vector<file_operation> ops_;
    state state_ = state::active;
};

/// Queues file writes into transactions. Cheap to copy; holds only the staging directory and the root.
class file_manager {
public:
    /// `staging_dir` holds the manifests (created on demand); it should be on
    /// local, durable storage. Every file written or removed is inside `root`.
    /// Relative paths are made absolute now.
    file_manager(std::filesystem::path staging_dir, std::filesystem::path root);

    const std::filesystem::path& staging_dir() const noexcept { return staging_dir_; }
    const std::filesystem::path& root() const noexcept { return root_; }

    /// Writes `bytes` to `root / name` when `txn` commits. Returns the DM it
    /// joined. A name leaving the root throws path_error and joins nothing.
    std::shared_ptr<file_manager_dm> write(transaction& txn, const std::filesystem::path& name,
                                           std::string bytes) const;
    std::shared_ptr<file_manager_dm> write(tpc::coordinator& txn, const std::filesystem::path& name,
                                           std::string bytes) const;
    /// Removes `root / name` (if it exists) when `txn` commits.
    std::shared_ptr<file_manager_dm> remove(transaction& txn, const std::filesystem::path& name) const;
    std::shared_ptr<file_manager_dm> remove(tpc::coordinator& txn, const std::filesystem::path& name) const;

    /// The DM registered for this staging directory in `txn` (joining a new one if none).
    std::shared_ptr<file_manager_dm> data_manager(transaction& txn) const;
    std::shared_ptr<file_manager_dm> data_manager(tpc::coordinator& txn) const;

private:
    std::filesystem::path staging_dir_;
    std::filesystem::path root_;
};

/// Recovery's view of a staging directory: the manifests left by transactions
/// that voted but did not finish.
class file_manager_store final : public tpc::participant_store {
public:
    explicit file_manager_store(std::filesystem::path staging_dir);

    /// "files:<absolute staging_dir>" — the same as the DMs'.
    std::string participant_id() const override;
    /// Gids with a manifest, sorted.
    std::vector<std::string> in_doubt() override;
    /// Finishes the renames/removals of `gid` (those already done are skipped),
    /// fsyncs the directories and deletes the manifest. No manifest ⇒ no-op.
    /// When the manifest of `gid` was written (unix seconds), if it exists.
    std::optional<std::int64_t> prepared_at(const std::string& gid) override;
    void commit(const std::string& gid) override;
    /// Removes the temporaries of `gid` and its manifest. No manifest ⇒ no-op.
    void rollback(const std::string& gid) override;

private:
    std::filesystem::path staging_dir_;
};

}  // namespace atrium
