#include "participants/file_manager.hpp"

#include "fiber/unwind.hpp"
#include "transaction/logging.hpp"
#include "transaction/transaction.hpp"

// Every catch (...) below rethrows forced_unwind first (fiber::rethrow_if_unwinding).

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <set>
#include <stdexcept>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace atrium {

namespace fs = std::filesystem;

namespace durable {

namespace {

[[noreturn]] void throw_errno(int error, std::string_view what, const fs::path& path) {
    throw std::system_error(error, std::generic_category(), std::string(what) + " " + path.string());
}

int open_retrying(const char* path, int flags, mode_t mode = 0) {
    int fd;
    do {
        fd = ::open(path, flags, mode);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

}  // namespace

void write_new_file(const fs::path& path, std::string_view bytes, const fs::path& mode_from) {
    // O_EXCL already refuses an existing symbolic link; O_NOFOLLOW says so.
    const int fd = open_retrying(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) throw_errno(errno, "cannot create", path);
    auto fail = [&](std::string_view what) {
        const int error = errno;
        ::close(fd);
        ::unlink(path.c_str());
        throw_errno(error, what, path);
    };
    if (!mode_from.empty()) {
        struct stat st {};
        if (::stat(mode_from.c_str(), &st) == 0 && ::fchmod(fd, st.st_mode & 07777) != 0) fail("cannot chmod");
    }
    const char* data = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, data, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("cannot write");
        }
        data += n;
        left -= static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) fail("cannot fsync");
    if (::close(fd) != 0) {
        const int error = errno;
        ::unlink(path.c_str());
        throw_errno(error, "cannot close", path);
    }
}

void fsync_directory(const fs::path& dir) {
    const int fd = open_retrying(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_errno(errno, "cannot open directory", dir);
    // Some file systems cannot fsync a directory (EINVAL): nothing more can be done there.
    if (::fsync(fd) != 0 && errno != EINVAL) {
        const int error = errno;
        ::close(fd);
        throw_errno(error, "cannot fsync directory", dir);
    }
    ::close(fd);
}

void rename_file(const fs::path& from, const fs::path& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) throw_errno(errno, "cannot rename " + from.string() + " to", to);
}

bool remove_file(const fs::path& path) {
    if (::unlink(path.c_str()) == 0) return true;
    if (errno == ENOENT) return false;
    throw_errno(errno, "cannot remove", path);
}

std::string read_file(const fs::path& path) {
    const int fd = open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_errno(errno, "cannot open", path);
    std::string text;
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int error = errno;
            ::close(fd);
            throw_errno(error, "cannot read", path);
        }
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return text;
}

fs::path normal_absolute(const fs::path& path) {
    auto result = fs::absolute(path).lexically_normal();
    if (!result.has_filename() && result.has_parent_path() && result != result.root_path()) {
        result = result.parent_path();  // "/a/b/" → "/a/b"
    }
    return result;
}

}  // namespace durable

namespace {

/// Component-wise prefix test of two resolved, normal paths.
bool inside(const fs::path& root, const fs::path& path) {
    auto p = path.begin();
    for (const auto& part : root) {
        if (part.empty()) continue;  // a trailing separator
        if (p == path.end() || *p != part) return false;
        ++p;
    }
    return true;
}

/// The name as it may appear in a message: control characters shown as '?'.
std::string shown(const std::string& name) {
    std::string out = name;
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return "\"" + out + "\"";
}

}  // namespace

void check_within(const fs::path& root, const fs::path& path, const std::string& what) {
    std::error_code ec;
    const auto real_root = fs::weakly_canonical(durable::normal_absolute(root), ec);
    if (ec) throw path_error(what + ": its directory cannot be resolved (" + ec.message() + ")");
    const auto lexical = durable::normal_absolute(path);
    const auto real = fs::weakly_canonical(lexical, ec);
    if (ec) throw path_error(what + " cannot be resolved (" + ec.message() + ")");
    if (!inside(real_root, real)) throw path_error(what + " leads outside its directory through a symbolic link");
    // weakly_canonical leaves a dangling link unresolved: it could lead anywhere once its target exists.
    auto at = durable::normal_absolute(root);
    for (const auto& part : lexical.lexically_relative(at)) {
        at /= part;
        const auto st = fs::symlink_status(at, ec);
        if (ec || !fs::exists(st)) break;  // nothing below a missing component exists
        if (fs::is_symlink(st) && !fs::exists(at, ec))
            throw path_error(what + " goes through a dangling symbolic link");
    }
}

fs::path path_within(const fs::path& root, const fs::path& name) {
    const std::string text = name.string();
    const std::string what = "the file name " + shown(text);
    if (text.empty()) throw path_error("empty file name");
    if (std::any_of(text.begin(), text.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
        throw path_error(what + " contains a control character");
    if (name.is_absolute() || name.has_root_name() || name.has_root_directory())
        throw path_error(what + " is absolute; only names inside the directory are allowed");
    for (const auto& part : name)
        if (part == "..") throw path_error(what + " contains \"..\"");
    if (!name.has_filename() || name.filename() == ".") throw path_error(what + " does not name a file");
    const auto base = durable::normal_absolute(root);
    auto target = durable::normal_absolute(base / name);
    if (target == base || !target.has_filename() || target.filename() == ".")
        throw path_error(what + " does not name a file");
    check_within(base, target, what);
    return target;
}

namespace {

constexpr std::string_view manifest_suffix = ".json";

std::string op_name(file_operation::kind kind) { return kind == file_operation::kind::write ? "write" : "remove"; }

std::string manifest_text(const std::string& gid, const std::vector<file_operation>& ops) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& op : ops) {
        nlohmann::json entry = {{"op", op_name(op.what)}, {"target", op.target.string()}};
        if (op.what == file_operation::kind::write) entry["temp"] = op.temp.string();
        list.push_back(std::move(entry));
    }
    return nlohmann::json{{"gid", gid}, {"operations", std::move(list)}}.dump(2) + "\n";
}

std::vector<file_operation> parse_manifest(const std::string& text) {
    const auto doc = nlohmann::json::parse(text);
    std::vector<file_operation> ops;
    for (const auto& entry : doc.at("operations")) {
        file_operation op;
        const auto name = entry.at("op").get<std::string>();
        if (name == "write") {
            op.what = file_operation::kind::write;
            op.temp = entry.at("temp").get<std::string>();
        } else if (name == "remove") {
            op.what = file_operation::kind::remove;
        } else {
            throw std::runtime_error("unknown file operation in manifest: " + name);
        }
        op.target = entry.at("target").get<std::string>();
        ops.push_back(std::move(op));
    }
    return ops;
}

/// Phase 2, shared by tpc_finish and recovery: rename every temporary into
/// place (one already renamed — temporary gone, target present — is skipped),
/// apply removals, fsync the directories, then delete the manifest.
void finish_operations(const std::vector<file_operation>& ops, const fs::path& manifest, const fs::path& staging) {
    std::set<fs::path> dirs;
    for (const auto& op : ops) {
        if (op.what == file_operation::kind::write) {
            if (::rename(op.temp.c_str(), op.target.c_str()) != 0) {
                const int error = errno;
                if (error != ENOENT) {
                    throw std::system_error(error, std::generic_category(),
                                            "cannot rename " + op.temp.string() + " to " + op.target.string());
                }
                if (!fs::exists(op.target)) {
                    log_warning("file participant: neither " + op.temp.string() + " nor " + op.target.string() +
                                " exists; the write is lost");
                }
            }
        } else {
            durable::remove_file(op.target);
        }
        dirs.insert(op.target.parent_path());
    }
    for (const auto& dir : dirs) durable::fsync_directory(dir);
    durable::remove_file(manifest);
    durable::fsync_directory(staging);
}

/// Removes every temporary, then the manifest (last, so a crash in between leaves it findable).
void remove_staged(const std::vector<file_operation>& ops, const fs::path& manifest) {
    for (const auto& op : ops) {
        if (op.what == file_operation::kind::write) durable::remove_file(op.temp);
    }
    durable::remove_file(manifest);
}

fs::path manifest_for(const fs::path& staging, const std::string& gid) {
    // A gid may come from an operator or a database: never a path of its own.
    if (!tpc::is_atrium_gid(gid)) throw std::invalid_argument("not an Atrium gid: " + shown(gid));
    return staging / (gid + std::string(manifest_suffix));
}

}  // namespace

// --- file_manager_dm ---

file_manager_dm::file_manager_dm(fs::path staging_dir, std::string gid)
    : staging_dir_(durable::normal_absolute(staging_dir)), gid_(gid.empty() ? tpc::new_gid() : std::move(gid)) {}

file_manager_dm::~file_manager_dm() = default;

fs::path file_manager_dm::manifest_path() const { return manifest_for(staging_dir_, gid_); }

std::string file_manager_dm::participant_id() const { return "files:" + staging_dir_.string(); }

std::string file_manager_dm::sort_key() const { return participant_id(); }

bool file_manager_dm::equals(const tpc::data_manager& other) const {
    if (this == &other) return true;
    const auto* dm = dynamic_cast<const file_manager_dm*>(&other);
    return dm && dm->staging_dir_ == staging_dir_;
}

void file_manager_dm::queue(file_operation op) {
    if (state_ != state::active) throw std::logic_error("file_manager: the transaction's files are already being committed");
    auto same = std::find_if(ops_.begin(), ops_.end(), [&](const file_operation& o) { return o.target == op.target; });
    if (same != ops_.end()) {
        *same = std::move(op);
    } else {
        ops_.push_back(std::move(op));
    }
}

void file_manager_dm::queue_write(const fs::path& target, std::string bytes, const fs::path& root) {
    file_operation op;
    op.what = file_operation::kind::write;
    op.target = durable::normal_absolute(target);
    if (!op.target.has_filename()) throw std::invalid_argument("file_manager: not a file path: " + target.string());
    op.temp = op.target;
    op.temp += "." + gid_ + ".tmp";
    op.bytes = std::move(bytes);
    op.root = root;
    queue(std::move(op));
}

void file_manager_dm::queue_remove(const fs::path& target, const fs::path& root) {
    file_operation op;
    op.what = file_operation::kind::remove;
    op.target = durable::normal_absolute(target);
    if (!op.target.has_filename()) throw std::invalid_argument("file_manager: not a file path: " + target.string());
    op.root = root;
    queue(std::move(op));
}

void file_manager_dm::tpc_begin(tpc::coordinator&) {}

void file_manager_dm::commit(tpc::coordinator&) {}

void file_manager_dm::tpc_vote(tpc::coordinator&) {
    if (state_ != state::active) throw std::logic_error("file_manager: tpc_vote in the wrong state");
    // Again, before anything exists: a symbolic link may have appeared since the write was queued.
    for (const auto& op : ops_)
        if (!op.root.empty()) check_within(op.root, op.target, "the file " + shown(op.target.filename().string()));
    state_ = state::voting;  // from here on, abort removes whatever exists
    fs::create_directories(staging_dir_);
    // The manifest first: once it is durable, recovery can find every temporary.
    durable::write_new_file(manifest_path(), manifest_text(gid_, ops_));
    durable::fsync_directory(staging_dir_);
    std::set<fs::path> dirs;
    for (const auto& op : ops_) {
        if (op.what != file_operation::kind::write) continue;
        durable::write_new_file(op.temp, op.bytes, op.target);
        dirs.insert(op.target.parent_path());
    }
    for (const auto& dir : dirs) durable::fsync_directory(dir);
    state_ = state::voted;
}

void file_manager_dm::tpc_finish(tpc::coordinator&) {
    if (state_ == state::finished) return;
    if (state_ != state::voted) throw std::logic_error("file_manager: tpc_finish without a successful vote");
    // A failure leaves the manifest: recovery (or a repeated tpc_finish) completes it.
    finish_operations(ops_, manifest_path(), staging_dir_);
    state_ = state::finished;
    ops_.clear();
}

void file_manager_dm::discard() {
    if (state_ == state::voting || state_ == state::voted) {
        try {
            remove_staged(ops_, manifest_path());
        } catch (...) {
            fiber::rethrow_if_unwinding();
            // What is left is found and removed by recovery (no decision record ⇒ rollback).
            log_error("file_manager: cannot remove the staged files of " + gid_ + ": " +
                      describe_exception(std::current_exception()));
        }
    }
    state_ = state::aborted;
    ops_.clear();
}

void file_manager_dm::tpc_abort(tpc::coordinator&) {
    if (state_ == state::finished || state_ == state::aborted) return;
    discard();
}

void file_manager_dm::abort(tpc::coordinator&) {
    if (state_ == state::finished || state_ == state::aborted) return;
    discard();
}

// --- file_manager ---

file_manager::file_manager(fs::path staging_dir, fs::path root)
    : staging_dir_(durable::normal_absolute(staging_dir)), root_(durable::normal_absolute(root)) {}

std::shared_ptr<file_manager_dm> file_manager::data_manager(tpc::coordinator& txn) const {
    auto joined = txn.join(std::make_shared<file_manager_dm>(staging_dir_, txn.new_gid()));
    return std::dynamic_pointer_cast<file_manager_dm>(joined);
}

std::shared_ptr<file_manager_dm> file_manager::data_manager(transaction& txn) const {
    auto joined = txn.join(std::make_shared<file_manager_dm>(staging_dir_, txn.coordinator().new_gid()));
    return std::dynamic_pointer_cast<file_manager_dm>(joined);
}

std::shared_ptr<file_manager_dm> file_manager::write(transaction& txn, const fs::path& name,
                                                     std::string bytes) const {
    const auto target = path_within(root_, name);  // before joining: a bad name joins nothing
    auto dm = data_manager(txn);
    dm->queue_write(target, std::move(bytes), root_);
    return dm;
}

std::shared_ptr<file_manager_dm> file_manager::write(tpc::coordinator& txn, const fs::path& name,
                                                     std::string bytes) const {
    const auto target = path_within(root_, name);  // before joining: a bad name joins nothing
    auto dm = data_manager(txn);
    dm->queue_write(target, std::move(bytes), root_);
    return dm;
}

std::shared_ptr<file_manager_dm> file_manager::remove(transaction& txn, const fs::path& name) const {
    const auto target = path_within(root_, name);
    auto dm = data_manager(txn);
    dm->queue_remove(target, root_);
    return dm;
}

std::shared_ptr<file_manager_dm> file_manager::remove(tpc::coordinator& txn, const fs::path& name) const {
    const auto target = path_within(root_, name);
    auto dm = data_manager(txn);
    dm->queue_remove(target, root_);
    return dm;
}

// --- file_manager_store ---

file_manager_store::file_manager_store(fs::path staging_dir) : staging_dir_(durable::normal_absolute(staging_dir)) {}

std::string file_manager_store::participant_id() const { return "files:" + staging_dir_.string(); }

std::vector<std::string> file_manager_store::in_doubt() {
    std::vector<std::string> gids;
    std::error_code ec;
    fs::directory_iterator it(staging_dir_, ec);
    if (ec) {
        if (ec == std::errc::no_such_file_or_directory) return gids;
        throw std::system_error(ec, "cannot list " + staging_dir_.string());
    }
    for (const auto& entry : it) {
        const auto name = entry.path().filename().string();
        if (name.size() <= manifest_suffix.size() || !name.ends_with(manifest_suffix)) continue;
        auto gid = name.substr(0, name.size() - manifest_suffix.size());
        if (tpc::is_atrium_gid(gid)) gids.push_back(std::move(gid));
    }
    std::sort(gids.begin(), gids.end());
    return gids;
}

std::optional<std::int64_t> file_manager_store::prepared_at(const std::string& gid) {
    std::error_code ec;
    const auto written = fs::last_write_time(manifest_for(staging_dir_, gid), ec);
    if (ec) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::file_clock::to_sys(written).time_since_epoch())
        .count();
}

void file_manager_store::commit(const std::string& gid) {
    const auto manifest = manifest_for(staging_dir_, gid);
    if (!fs::exists(manifest)) return;
    finish_operations(parse_manifest(durable::read_file(manifest)), manifest, staging_dir_);
}

void file_manager_store::rollback(const std::string& gid) {
    const auto manifest = manifest_for(staging_dir_, gid);
    if (!fs::exists(manifest)) return;
    std::vector<file_operation> ops;
    try {
        ops = parse_manifest(durable::read_file(manifest));
    } catch (const nlohmann::json::exception&) {
        // A manifest cut short by a crash: it was not yet durable, so no
        // temporary file was written after it. Only the manifest is left.
        log_warning("file participant: unreadable manifest " + manifest.string() + " removed");
    }
    remove_staged(ops, manifest);
    durable::fsync_directory(staging_dir_);
}

}  // namespace atrium
