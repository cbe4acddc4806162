#include "modules/sale/sale_settings.hpp"

#include "participants/pg_participant.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace atrium::modules::sale {

namespace {

std::string_view trimmed(std::string_view text) { return util::trim(text, util::line_whitespace); }

/// Empty, or one participant DSN (postgresql://user@host:port/dbname).
std::string optional_dsn(std::string_view value) {
    const auto text = trimmed(value);
    if (text.empty()) return {};
    try {
        (void)db::pg_participant_dsn::parse(text);
    } catch (const std::invalid_argument& e) {
        // The message of parse() never shows the password.
        throw std::invalid_argument(std::string("expected postgresql://user@host:port/dbname: ") + e.what());
    }
    return std::string(text);
}

/// A directory path (empty: none). No control characters.
std::string directory(std::string_view value) {
    const auto text = trimmed(value);
    if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return std::iscntrl(c); }))
        throw std::invalid_argument("expected a directory path");
    return std::string(text);
}

/// Empty, or a mail address without spaces or control characters.
std::string mail_address(std::string_view value) {
    const auto text = trimmed(value);
    if (text.empty()) return {};
    const bool ok = text.find('@') != std::string_view::npos &&
                    std::none_of(text.begin(), text.end(), [](unsigned char c) { return std::iscntrl(c) || c == ' '; });
    if (!ok)
        throw std::invalid_argument("expected a mail address such as sales@example.com, got '" + std::string(text) +
                                    "'");
    return std::string(text);
}

}  // namespace

std::vector<module_setting> settings() {
    return {
        {"warehouse", "", optional_dsn},
        {"orders_dir", "./var/orders", directory},
        {"mail_to", "", mail_address},
        {"mail_from", fulfilment_settings{}.mail_from, mail_address},
    };
}

fulfilment_settings read_fulfilment_settings(const module_config& config) {
    fulfilment_settings settings;
    settings.warehouse_dsn = config.text("sale", "warehouse");
    settings.maildir = config.text("mail", "maildir");
    settings.staging = config.text("files", "staging");
    settings.orders_dir = config.text("sale", "orders_dir");
    settings.mail_to = config.text("sale", "mail_to");
    settings.mail_from = config.text("sale", "mail_from", settings.mail_from);
    return settings;
}

}  // namespace atrium::modules::sale
