#include "participants/mail_outbox.hpp"

#include "fiber/unwind.hpp"
#include "participants/file_manager.hpp"
#include "transaction/logging.hpp"
#include "transaction/transaction.hpp"
#include "util/base64.hpp"
#include "util/text.hpp"

// Every catch (...) below rethrows forced_unwind first (fiber::rethrow_if_unwinding).

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <random>
#include <stdexcept>
#include <system_error>

namespace atrium {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view eml_suffix = ".eml";

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
               return lower(x) == lower(y);
           });
}

/// Spaces, tabs and line ends (the header and address blanks).
std::string_view header_trim(std::string_view s) { return util::trim(s, util::line_whitespace); }

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

void check_header_text(std::string_view what, std::string_view text) {
    if (text.find_first_of("\r\n") != std::string_view::npos) {
        throw std::invalid_argument("mail: line break in " + std::string(what) + " (header injection?)");
    }
}

void check_header_name(std::string_view name) {
    if (name.empty()) throw std::invalid_argument("mail: empty header name");
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 32 || u >= 127 || c == ':') {
            throw std::invalid_argument("mail: invalid header name '" + std::string(name) + "'");
        }
    }
}

std::string random_hex(std::size_t bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::random_device random;
    std::string hex;
    hex.reserve(bytes * 2);
    for (std::size_t i = 0; i < bytes; ++i) {
        const auto b = static_cast<unsigned>(random() & 0xffU);
        hex.push_back(digits[b >> 4]);
        hex.push_back(digits[b & 15U]);
    }
    return hex;
}

/// RFC 2047 encoded words (UTF-8, base64) of at most 45 input bytes each, cut
/// at character boundaries, folded onto continuation lines.
std::string encode_header_words(std::string_view text) {
    if (is_ascii(text)) return std::string(text);
    std::string out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = std::min(text.size(), pos + 45);
        // Do not split a UTF-8 sequence: back off over continuation bytes.
        while (end < text.size() && end > pos + 1 && (static_cast<unsigned char>(text[end]) & 0xC0U) == 0x80U) --end;
        if (!out.empty()) out += "\r\n ";
        out += "=?utf-8?b?" + util::base64_encode(text.substr(pos, end - pos)) + "?=";
        pos = end;
    }
    return out;
}

std::string rfc5322_date(std::time_t now) {
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                  months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buffer;
}

/// Every line end (CRLF, LF or lone CR) becomes CRLF.
std::string crlf(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 32);
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\r') {
            out += "\r\n";
            if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
        } else if (c == '\n') {
            out += "\r\n";
        } else {
            out += c;
        }
    }
    return out;
}

/// Splits an address-list header value on commas outside quotes, comments and angle brackets.
std::vector<std::string> split_addresses(std::string_view value) {
    std::vector<std::string> out;
    std::string current;
    bool quoted = false;
    int angle = 0;
    int comment = 0;
    auto flush = [&] {
        auto address = mail_address(current);
        if (address.find('@') != std::string::npos) out.push_back(std::move(address));
        current.clear();
    };
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (quoted) {
            if (c == '\\' && i + 1 < value.size()) {
                current += c;
                current += value[++i];
                continue;
            }
            if (c == '"') quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == '(') {
            ++comment;
        } else if (c == ')' && comment > 0) {
            --comment;
        } else if (c == '<') {
            ++angle;
        } else if (c == '>' && angle > 0) {
            --angle;
        } else if ((c == ',' || c == ';' || c == ':') && angle == 0 && comment == 0) {
            if (c == ':') {
                current.clear();  // a group name ("undisclosed-recipients:;")
            } else {
                flush();
            }
            continue;
        }
        current += c;
    }
    flush();
    return out;
}

void push_unique(std::vector<std::string>& list, std::string value) {
    if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
}

}  // namespace

std::string mail_address(std::string_view mailbox) {
    const auto open = mailbox.rfind('<');
    if (open != std::string_view::npos) {
        const auto close = mailbox.find('>', open);
        if (close != std::string_view::npos) {
            return std::string(header_trim(mailbox.substr(open + 1, close - open - 1)));
        }
    }
    return std::string(header_trim(mailbox));
}

std::string render_mail(const mail_message& message, std::string* message_id) {
    check_header_text("From", message.from);
    const auto from = mail_address(message.from);
    if (from.empty()) throw std::invalid_argument("mail: no sender");
    std::vector<std::string> recipients;
    for (const auto* list : {&message.to, &message.cc, &message.bcc}) {
        for (const auto& r : *list) {
            check_header_text("a recipient", r);
            auto address = mail_address(r);
            if (address.empty()) throw std::invalid_argument("mail: empty recipient");
            push_unique(recipients, std::move(address));
        }
    }
    if (recipients.empty()) throw std::invalid_argument("mail: no recipient");
    check_header_text("Subject", message.subject);

    const auto at = from.rfind('@');
    const std::string domain = at != std::string::npos && at + 1 < from.size() ? from.substr(at + 1) : "atrium.invalid";
    auto join = [](const std::vector<std::string>& list) {
        std::string out;
        for (const auto& item : list) {
            if (!out.empty()) out += ", ";
            out += header_trim(item);
        }
        return out;
    };

    std::vector<std::pair<std::string, std::string>> fields;
    fields.emplace_back("Date", rfc5322_date(std::time(nullptr)));
    fields.emplace_back("From", std::string(header_trim(message.from)));
    fields.emplace_back("To", message.to.empty() ? std::string("undisclosed-recipients:;") : join(message.to));
    if (!message.cc.empty()) fields.emplace_back("Cc", join(message.cc));
    fields.emplace_back("Subject", encode_header_words(message.subject));
    fields.emplace_back("Message-ID", "<" + random_hex(16) + "@" + domain + ">");
    fields.emplace_back("MIME-Version", "1.0");
    fields.emplace_back("Content-Type", "text/plain; charset=utf-8");
    fields.emplace_back("Content-Transfer-Encoding", is_ascii(message.body) ? "7bit" : "8bit");
    for (const auto& [name, value] : message.headers) {
        check_header_name(name);
        check_header_text(name, value);
        if (iequals(name, envelope_from_header) || iequals(name, envelope_to_header) || iequals(name, "Bcc")) {
            throw std::invalid_argument("mail: header " + name + " cannot be set");
        }
        auto same = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return iequals(f.first, name); });
        if (same != fields.end()) {
            same->second = value;
        } else {
            fields.emplace_back(name, value);
        }
    }

    std::string text;
    text += std::string(envelope_from_header) + ": " + from + "\r\n";
    for (const auto& r : recipients) text += std::string(envelope_to_header) + ": " + r + "\r\n";
    for (const auto& [name, value] : fields) {
        text += name + ": " + value + "\r\n";
        if (message_id && iequals(name, "Message-ID")) *message_id = value;
    }
    text += "\r\n";
    text += crlf(message.body);
    return text;
}

stored_mail parse_stored_mail(std::string_view text) {
    // The header block ends at the first empty line.
    std::size_t body_start = text.size();
    std::size_t header_end = text.size();
    for (std::size_t pos = 0; pos < text.size();) {
        auto eol = text.find('\n', pos);
        const std::size_t next = eol == std::string_view::npos ? text.size() : eol + 1;
        auto line = text.substr(pos, next - pos);
        if (line == "\r\n" || line == "\n") {
            header_end = pos;
            body_start = next;
            break;
        }
        pos = next;
    }
    const auto headers = text.substr(0, header_end);

    struct field {
        std::string name;
        std::string value;  // unfolded
        std::string_view raw;
    };
    std::vector<field> fields;
    for (std::size_t pos = 0; pos < headers.size();) {
        auto eol = headers.find('\n', pos);
        const std::size_t next = eol == std::string_view::npos ? headers.size() : eol + 1;
        auto line = headers.substr(pos, next - pos);
        if ((line.front() == ' ' || line.front() == '\t') && !fields.empty()) {
            auto& last = fields.back();
            last.raw = headers.substr(static_cast<std::size_t>(last.raw.data() - headers.data()),
                                      next - static_cast<std::size_t>(last.raw.data() - headers.data()));
            last.value += " ";
            last.value += header_trim(line);
        } else {
            field f;
            const auto colon = line.find(':');
            f.name = std::string(header_trim(line.substr(0, colon)));
            if (colon != std::string_view::npos) f.value = std::string(header_trim(line.substr(colon + 1)));
            f.raw = line;
            fields.push_back(std::move(f));
        }
        pos = next;
    }

    stored_mail mail;
    bool has_envelope = false;
    for (const auto& f : fields) {
        if (iequals(f.name, envelope_from_header)) {
            mail.envelope_from = mail_address(f.value);
            has_envelope = true;
        } else if (iequals(f.name, envelope_to_header)) {
            push_unique(mail.envelope_to, mail_address(f.value));
            has_envelope = true;
        }
    }
    if (!has_envelope) {
        for (const auto& f : fields) {
            if (iequals(f.name, "From") && mail.envelope_from.empty()) {
                auto list = split_addresses(f.value);
                if (!list.empty()) mail.envelope_from = list.front();
            } else if (iequals(f.name, "To") || iequals(f.name, "Cc") || iequals(f.name, "Bcc")) {
                for (auto& a : split_addresses(f.value)) push_unique(mail.envelope_to, std::move(a));
            }
        }
    }
    for (const auto& f : fields) {
        if (iequals(f.name, envelope_from_header) || iequals(f.name, envelope_to_header) || iequals(f.name, "Bcc")) {
            continue;
        }
        mail.data += f.raw;
    }
    mail.data += "\r\n";
    mail.data += text.substr(body_start);
    return mail;
}

void ensure_maildir(const fs::path& maildir) {
    for (const char* sub : {"tmp", "new", "cur"}) fs::create_directories(maildir / sub);
}

// --- mail_outbox_dm ---

mail_outbox_dm::mail_outbox_dm(fs::path maildir, std::string gid)
    : maildir_(durable::normal_absolute(maildir)), gid_(gid.empty() ? tpc::new_gid() : std::move(gid)) {}

mail_outbox_dm::~mail_outbox_dm() = default;

std::string mail_outbox_dm::file_name(std::size_t n) const {
    return gid_ + "." + std::to_string(n) + std::string(eml_suffix);
}

std::string mail_outbox_dm::participant_id() const { return "mail:" + maildir_.string(); }

std::string mail_outbox_dm::sort_key() const { return participant_id(); }

bool mail_outbox_dm::equals(const tpc::data_manager& other) const {
    if (this == &other) return true;
    const auto* dm = dynamic_cast<const mail_outbox_dm*>(&other);
    return dm && dm->maildir_ == maildir_;
}

void mail_outbox_dm::queue_rendered(std::string text) {
    if (state_ != state::active) throw std::logic_error("mail_outbox: the transaction's mail is already being committed");
    messages_.push_back(std::move(text));
}

void mail_outbox_dm::tpc_begin(tpc::coordinator&) {}

void mail_outbox_dm::commit(tpc::coordinator&) {}

void mail_outbox_dm::tpc_vote(tpc::coordinator&) {
    if (state_ != state::active) throw std::logic_error("mail_outbox: tpc_vote in the wrong state");
    state_ = state::voting;  // from here on, abort removes whatever exists
    ensure_maildir(maildir_);
    // Messages go only inside the maildir: tmp/ or new/ leading elsewhere (a symbolic link) is refused.
    for (const char* sub : {"tmp", "new"}) check_within(maildir_, maildir_ / sub, std::string("mail outbox ") + sub + "/");
    const auto tmp = maildir_ / "tmp";
    for (std::size_t i = 0; i < messages_.size(); ++i) {
        staged_ = i + 1;
        durable::write_new_file(tmp / file_name(i + 1), messages_[i]);
    }
    durable::fsync_directory(tmp);
    state_ = state::voted;
}

void mail_outbox_dm::tpc_finish(tpc::coordinator&) {
    if (state_ == state::finished) return;
    if (state_ != state::voted) throw std::logic_error("mail_outbox: tpc_finish without a successful vote");
    // A failure leaves the rest in tmp/: recovery (or a repeated tpc_finish) moves it.
    for (std::size_t n = 1; n <= staged_; ++n) {
        const auto from = maildir_ / "tmp" / file_name(n);
        const auto to = maildir_ / "new" / file_name(n);
        if (::rename(from.c_str(), to.c_str()) != 0) {
            const int error = errno;
            if (error == ENOENT && fs::exists(to)) continue;  // moved by an earlier attempt
            throw std::system_error(error, std::generic_category(), "cannot move " + from.string() + " to new/");
        }
    }
    durable::fsync_directory(maildir_ / "new");
    durable::fsync_directory(maildir_ / "tmp");
    state_ = state::finished;
    messages_.clear();
}

void mail_outbox_dm::discard() {
    if (state_ == state::voting || state_ == state::voted) {
        try {
            for (std::size_t n = 1; n <= staged_; ++n) durable::remove_file(maildir_ / "tmp" / file_name(n));
        } catch (...) {
            fiber::rethrow_if_unwinding();
            // What is left is found and removed by recovery (no decision record ⇒ rollback).
            log_error("mail_outbox: cannot remove the staged messages of " + gid_ + ": " +
                      describe_exception(std::current_exception()));
        }
    }
    state_ = state::aborted;
    messages_.clear();
}

void mail_outbox_dm::tpc_abort(tpc::coordinator&) {
    if (state_ == state::finished || state_ == state::aborted) return;
    discard();
}

void mail_outbox_dm::abort(tpc::coordinator&) {
    if (state_ == state::finished || state_ == state::aborted) return;
    discard();
}

// --- mail_outbox ---

mail_outbox::mail_outbox(fs::path maildir) : maildir_(durable::normal_absolute(maildir)) {}

std::shared_ptr<mail_outbox_dm> mail_outbox::data_manager(tpc::coordinator& txn) const {
    return std::dynamic_pointer_cast<mail_outbox_dm>(txn.join(std::make_shared<mail_outbox_dm>(maildir_, txn.new_gid())));
}

std::shared_ptr<mail_outbox_dm> mail_outbox::data_manager(transaction& txn) const {
    return std::dynamic_pointer_cast<mail_outbox_dm>(
        txn.join(std::make_shared<mail_outbox_dm>(maildir_, txn.coordinator().new_gid())));
}

std::string mail_outbox::queue(transaction& txn, const mail_message& message) const {
    std::string id;
    auto text = render_mail(message, &id);  // before joining: a bad message joins nothing
    data_manager(txn)->queue_rendered(std::move(text));
    return id;
}

std::string mail_outbox::queue(tpc::coordinator& txn, const mail_message& message) const {
    std::string id;
    auto text = render_mail(message, &id);
    data_manager(txn)->queue_rendered(std::move(text));
    return id;
}

// --- mail_outbox_store ---

mail_outbox_store::mail_outbox_store(fs::path maildir) : maildir_(durable::normal_absolute(maildir)) {}

std::string mail_outbox_store::participant_id() const { return "mail:" + maildir_.string(); }

namespace {

/// The gid of a staged file name "<gid>.<n>.eml", or "".
std::string staged_gid(const std::string& name) {
    if (!name.ends_with(eml_suffix)) return {};
    const auto dot = name.find('.');
    if (dot == std::string::npos) return {};
    auto gid = name.substr(0, dot);
    return tpc::is_atrium_gid(gid) ? gid : std::string();
}

}  // namespace

std::vector<fs::path> mail_outbox_store::staged(const std::string& gid) const {
    std::vector<fs::path> files;
    std::error_code ec;
    fs::directory_iterator it(maildir_ / "tmp", ec);
    if (ec) {
        if (ec == std::errc::no_such_file_or_directory) return files;
        throw std::system_error(ec, "cannot list " + (maildir_ / "tmp").string());
    }
    for (const auto& entry : it) {
        if (staged_gid(entry.path().filename().string()) == gid) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<std::string> mail_outbox_store::in_doubt() {
    std::vector<std::string> gids;
    std::error_code ec;
    fs::directory_iterator it(maildir_ / "tmp", ec);
    if (ec) {
        if (ec == std::errc::no_such_file_or_directory) return gids;
        throw std::system_error(ec, "cannot list " + (maildir_ / "tmp").string());
    }
    for (const auto& entry : it) {
        auto gid = staged_gid(entry.path().filename().string());
        if (!gid.empty()) gids.push_back(std::move(gid));
    }
    std::sort(gids.begin(), gids.end());
    gids.erase(std::unique(gids.begin(), gids.end()), gids.end());
    return gids;
}

std::optional<std::int64_t> mail_outbox_store::prepared_at(const std::string& gid) {
    std::optional<std::int64_t> first;
    for (const auto& file : staged(gid)) {
        std::error_code ec;
        const auto written = fs::last_write_time(file, ec);
        if (ec) continue;
        const std::int64_t at = std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::file_clock::to_sys(written).time_since_epoch())
                                    .count();
        if (!first || at < *first) first = at;
    }
    return first;
}

void mail_outbox_store::commit(const std::string& gid) {
    const auto files = staged(gid);
    if (files.empty()) return;
    ensure_maildir(maildir_);
    check_within(maildir_, maildir_ / "new", "mail outbox new/");
    for (const auto& file : files) durable::rename_file(file, maildir_ / "new" / file.filename());
    durable::fsync_directory(maildir_ / "new");
    durable::fsync_directory(maildir_ / "tmp");
}

void mail_outbox_store::rollback(const std::string& gid) {
    const auto files = staged(gid);
    if (files.empty()) return;
    for (const auto& file : files) durable::remove_file(file);
    durable::fsync_directory(maildir_ / "tmp");
}

}  // namespace atrium
