#pragma once
// A transactional mail outbox (the zope.sendmail idea, DESIGN §5).
//
//   atrium::mail_outbox outbox("/var/spool/atrium/mail");
//   outbox.queue(txn, {.from = "shop@example.com", .to = {"customer@example.com"},
//                      .subject = "Your order", .body = "Thank you!\n"});
//   // the message reaches <maildir>/new/ only if the whole transaction commits;
//   // atrium-mail-sender (server/mail_sender.hpp) delivers new/ over SMTP.
//
// Messages queued in a transaction are rendered at once (RFC 5322, CRLF, Date,
// Message-ID) and held in memory by one data manager per (transaction, maildir).
// At vote each is written to `<maildir>/tmp/<gid>.<n>.eml` (file and directory
// fsync'd: durable staging); at finish they are renamed into `<maildir>/new/`
// (atomic; new/ fsync'd); abort removes the staged files. mail_outbox_store is
// the participant store recovery uses: the gids staged in tmp/ are in doubt.
//
// A stored message starts with envelope headers (X-Atrium-Envelope-From, one
// X-Atrium-Envelope-To per recipient — To, Cc and Bcc), which the sender uses
// for MAIL FROM / RCPT TO and strips before transmitting. Bcc recipients appear
// nowhere else.

#include "transaction/recovery.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atrium {

class transaction;

struct mail_message {
    std::string from;             ///< "addr@example.com" or "Name <addr@example.com>"
    std::vector<std::string> to;  ///< at least one recipient over to, cc and bcc
    std::string subject;          ///< UTF-8; encoded as an RFC 2047 word when not ASCII
    std::string body;             ///< UTF-8 text/plain; line ends become CRLF
    std::vector<std::string> cc{};
    std::vector<std::string> bcc{};  ///< envelope only
    /// Extra headers, in order. A Date or Message-ID given here replaces the generated one.
    std::vector<std::pair<std::string, std::string>> headers{};
};

inline constexpr std::string_view envelope_from_header = "X-Atrium-Envelope-From";
inline constexpr std::string_view envelope_to_header = "X-Atrium-Envelope-To";

/// The address part of a mailbox: "Name <a@b>" → "a@b", " a@b " → "a@b".
std::string mail_address(std::string_view mailbox);

/// The message as stored in the maildir: envelope headers, then the RFC 5322
/// text (CRLF line ends). Throws std::invalid_argument for a message without
/// sender or recipient, or with CR/LF inside a header (header injection).
/// `message_id` receives the Message-ID (with angle brackets) if not null.
std::string render_mail(const mail_message& message, std::string* message_id = nullptr);

/// A stored message split for SMTP.
struct stored_mail {
    std::string envelope_from;
    std::vector<std::string> envelope_to;
    std::string data;  ///< the RFC 5322 text without the envelope headers (CRLF line ends)
};
/// Parses a stored message. Without envelope headers (a message placed in the
/// maildir by something else) the envelope comes from From and To/Cc/Bcc, and
/// Bcc is removed from the data.
stored_mail parse_stored_mail(std::string_view text);

/// Creates `<maildir>/{tmp,new,cur}` if missing.
void ensure_maildir(const std::filesystem::path& maildir);

/// The data manager of one transaction's messages for one maildir.
class mail_outbox_dm final : public tpc::recoverable_data_manager {
public:
    /// `gid`: the transaction's (tpc::coordinator::new_gid()); empty: an old-format one.
    explicit mail_outbox_dm(std::filesystem::path maildir, std::string gid = {});
    ~mail_outbox_dm() override;

    const std::filesystem::path& maildir() const noexcept { return maildir_; }
    /// The rendered messages queued so far.
    const std::vector<std::string>& messages() const noexcept { return messages_; }
    /// The staging name of message n (1-based): `<gid>.<n>.eml`.
    std::string file_name(std::size_t n) const;

    /// Queues an already rendered message. Throws std::logic_error after the vote started.
    void queue_rendered(std::string text);

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
    /// Same maildir.
    bool equals(const tpc::data_manager& other) const override;

private:
    enum class state { active, voting, voted, finished, aborted };
    void discard();

    std::filesystem::path maildir_;
    std::string gid_;
    std::vector<std::string> messages_;
    std::size_t staged_ = 0;  // files tmp/<gid>.1 … .<staged_> may exist
    state state_ = state::active;
};

/// Queues mail into transactions. Cheap to copy; holds only the maildir path.
class mail_outbox {
public:
    /// Relative paths are made absolute now; the directories are created on demand.
    explicit mail_outbox(std::filesystem::path maildir);

    const std::filesystem::path& maildir() const noexcept { return maildir_; }

    /// Renders `message` and queues it in `txn`; returns its Message-ID.
    std::string queue(transaction& txn, const mail_message& message) const;
    std::string queue(tpc::coordinator& txn, const mail_message& message) const;

    /// The DM registered for this maildir in `txn` (joining a new one if none).
    std::shared_ptr<mail_outbox_dm> data_manager(transaction& txn) const;
    std::shared_ptr<mail_outbox_dm> data_manager(tpc::coordinator& txn) const;

private:
    std::filesystem::path maildir_;
};

/// Recovery's view of a maildir: messages staged in tmp/ by transactions that
/// voted but did not finish.
class mail_outbox_store final : public tpc::participant_store {
public:
    explicit mail_outbox_store(std::filesystem::path maildir);

    /// "mail:<absolute maildir>" — the same as the DMs'.
    std::string participant_id() const override;
    /// Gids with staged files in tmp/, sorted.
    std::vector<std::string> in_doubt() override;
    /// Moves the staged files of `gid` into new/ (fsync'd). Idempotent.
    /// When the first message of `gid` was staged (unix seconds), if any is.
    std::optional<std::int64_t> prepared_at(const std::string& gid) override;
    void commit(const std::string& gid) override;
    /// Removes the staged files of `gid`. Idempotent.
    void rollback(const std::string& gid) override;

private:
    std::vector<std::filesystem::path> staged(const std::string& gid) const;
    std::filesystem::path maildir_;
};

}  // namespace atrium
