#include "server/config.hpp"

#include "database/uri.hpp"
#include "modules/registry.hpp"
#include "participants/pg_participant.hpp"

#include "util/text.hpp"

#include <boost/property_tree/ini_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

extern char** environ;

namespace atrium::server {

namespace {

constexpr std::string_view env_prefix = "ATRIUM_";
constexpr std::string_view env_separator = "__";

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string known_list() {
    std::string out;
    for (const auto& key : known_config_keys()) {
        if (!out.empty()) out += ", ";
        out += key;
    }
    return out;
}

[[noreturn]] void fail(std::string_view where, std::string_view message) {
    throw config_error(std::string(where) + ": " + std::string(message));
}

int parse_int(std::string_view where, std::string_view text, int min, int max) {
    int value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
        fail(where, "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", got '" +
                        std::string(text) + "'");
    }
    return value;
}

std::string_view trimmed(std::string_view text) { return util::trim(text, util::line_whitespace); }

std::uint64_t parse_size(std::string_view where, std::string_view text) {
    std::uint64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || value < 1 || value > (1ull << 40)) {
        fail(where, "expected a size in bytes from 1 to 2^40, got '" + std::string(text) + "'");
    }
    return value;
}

/// `web.cors`: origins separated by commas or whitespace.
std::vector<std::string> parse_origins(std::string_view where, std::string_view text) {
    std::vector<std::string> origins;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto start = text.find_first_not_of(", \t", pos);
        if (start == std::string_view::npos) break;
        auto end = text.find_first_of(", \t", start);
        if (end == std::string_view::npos) end = text.size();
        const auto origin = text.substr(start, end - start);
        if (origin.find("://") == std::string_view::npos ||
            std::any_of(origin.begin(), origin.end(), [](unsigned char c) { return std::iscntrl(c); })) {
            fail(where, "expected origins such as https://app.example.com, got '" + std::string(origin) + "'");
        }
        origins.emplace_back(origin);
        pos = end;
    }
    return origins;
}

/// `web.method_timeouts`: `method=seconds` pairs separated by commas or whitespace.
std::map<std::string, int, std::less<>> parse_method_timeouts(std::string_view where, std::string_view text) {
    std::map<std::string, int, std::less<>> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto start = text.find_first_not_of(", \t", pos);
        if (start == std::string_view::npos) break;
        auto end = text.find_first_of(", \t", start);
        if (end == std::string_view::npos) end = text.size();
        const auto item = text.substr(start, end - start);
        pos = end;
        const auto equals = item.find('=');
        const auto method = item.substr(0, equals);
        const bool named = !method.empty() && std::all_of(method.begin(), method.end(), [](unsigned char c) {
            return std::isalnum(c) || c == '_' || c == '.';
        });
        if (equals == std::string_view::npos || !named) {
            fail(where, "expected method=seconds pairs such as model.sale.order.confirm=120, got '" +
                            std::string(item) + "'");
        }
        if (out.contains(method)) fail(where, "method " + std::string(method) + " is listed twice");
        out.emplace(std::string(method), parse_int(where, item.substr(equals + 1), 1, 24 * 3600));
    }
    return out;
}

/// `tpc.participants`: comma-separated PostgreSQL DSNs naming a database each.
std::vector<std::string> parse_participants(std::string_view where, std::string_view text) {
    std::vector<std::string> dsns;
    std::vector<std::string> ids;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        auto comma = text.find(',', pos);
        if (comma == std::string_view::npos) comma = text.size();
        const auto item = trimmed(text.substr(pos, comma - pos));
        pos = comma + 1;
        if (item.empty()) continue;
        db::pg_participant_dsn parsed;
        try {
            parsed = db::pg_participant_dsn::parse(item);
        } catch (const std::invalid_argument& e) {
            // The message of parse() never shows the password.
            fail(where, std::string("expected postgresql://user@host:port/dbname DSNs separated by commas: ") +
                            e.what());
        }
        if (std::find(ids.begin(), ids.end(), parsed.participant_id) != ids.end()) {
            fail(where, "participant " + parsed.participant_id + " is listed twice");
        }
        ids.push_back(parsed.participant_id);
        dsns.emplace_back(item);
    }
    return dsns;
}

/// A directory path for a participant store (empty: none). No control characters.
std::string parse_directory(std::string_view where, const std::string& value) {
    const auto text = trimmed(value);
    if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return std::iscntrl(c); })) {
        fail(where, "expected a directory path");
    }
    return std::string(text);
}

bool parse_bool(std::string_view where, const std::string& value) {
    const auto text = trimmed(value);
    if (text == "true" || text == "True" || text == "1" || text == "yes") return true;
    if (text == "false" || text == "False" || text == "0" || text == "no") return false;
    fail(where, "expected true or false, got '" + std::string(text) + "'");
}

/// `password` or alternatives such as `password,password+sms`: letters, digits, '_', '+', ','.
std::string parse_word_list(std::string_view where, const std::string& value) {
    const auto text = trimmed(value);
    const bool ok = !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '+' || c == ',';
    });
    if (!ok) fail(where, "expected methods such as password or password+totp, got '" + std::string(text) + "'");
    return std::string(text);
}

using setter = std::function<void(config&, std::string_view where, const std::string& value)>;

struct key_entry {
    std::string_view section;
    std::string_view key;
    std::string_view default_value;  ///< as etc/atrium.conf states it; what modules read when nothing is set
    setter set;
};

const std::vector<key_entry>& key_table() {
    static const std::vector<key_entry> table{
        {"database", "uri", "sqlite://./var",
         [](config& cfg, std::string_view where, const std::string& value) {
             const auto scheme_end = value.find("://");
             if (scheme_end == std::string::npos || scheme_end == 0) {
                 fail(where, "expected a URI such as sqlite://./var, got '" + value + "'");
             }
             cfg.database.uri = value;
         }},
        {"database", "name", "atrium",
         [](config& cfg, std::string_view where, const std::string& value) {
             const bool ok = !value.empty() && value.front() != '.' &&
                             value.size() <= 63 &&
                             std::all_of(value.begin(), value.end(), [](unsigned char c) {
                                 return std::isalnum(c) || c == '_' || c == '-';
                             });
             if (!ok) fail(where, "expected a database name of 1 to 63 letters, digits, '_', '-', got '" + value + "'");
             cfg.database.name = value;
         }},
        {"database", "retry", "5",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.database.retry = parse_int(where, value, 0, 1000);
         }},
        {"database", "timeout", "1800",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.database.timeout = parse_int(where, value, 1, 7 * 24 * 3600);
         }},
        {"database", "language", "en",
         [](config& cfg, std::string_view where, const std::string& value) {
             const bool ok = !value.empty() && std::all_of(value.begin(), value.end(), [](unsigned char c) {
                 return std::isalnum(c) || c == '_' || c == '-' || c == '@';
             });
             if (!ok) fail(where, "expected a language code such as en or fr_FR, got '" + value + "'");
             cfg.database.language = value;
         }},
        {"database", "list", "true",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.database.list = parse_bool(where, value);
         }},
        {"web", "listen", "127.0.0.1:8000",
         [](config& cfg, std::string_view where, const std::string& value) {
             try {
                 parse_listen(value, cfg.web.host, cfg.web.port);
             } catch (const config_error& e) {
                 fail(where, e.what());
             }
             cfg.web.listen = value;
         }},
        {"web", "threads", "0",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.threads = parse_int(where, value, 0, 256);
         }},
        {"web", "workers", "4",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.workers = parse_int(where, value, 1, 256);
         }},
        {"web", "processes", "1",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.processes = parse_int(where, value, 1, 64);
         }},
        {"web", "max_connections", "1000",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.max_connections = parse_int(where, value, 1, 30000);
         }},
        {"web", "max_connections_per_network", "64",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.max_connections_per_network = parse_int(where, value, 0, 30000);
         }},
        {"web", "max_header_size", "65536",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.max_header_size = parse_int(where, value, 1024, 16 * 1024 * 1024);
         }},
        {"web", "header_timeout", "10",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.header_timeout = parse_int(where, value, 1, 3600);
         }},
        {"web", "keepalive_timeout", "30",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.keepalive_timeout = parse_int(where, value, 1, 3600);
         }},
        {"web", "request_timeout", "300",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.request_timeout = parse_int(where, value, 1, 24 * 3600);
         }},
        {"web", "call_timeout", "60",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.call_timeout = parse_int(where, value, 1, 24 * 3600);
         }},
        {"web", "method_timeouts", "",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.method_timeouts = parse_method_timeouts(where, value);
         }},
        {"web", "tryton_series", "6.0",
         [](config& cfg, std::string_view where, const std::string& value) {
             // The client compares the first two dot-separated parts: "6.0" or "6.0.29".
             const bool ok = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
                 return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
             }) && value.find('.') != std::string::npos;
             if (!ok) fail(where, "expected a Tryton series such as 6.0, got '" + value + "'");
             cfg.web.tryton_series = value;
         }},
        {"web", "drain_timeout", "30",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.drain_timeout = parse_int(where, value, 0, 3600);
         }},
        {"web", "cors", "",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.cors = parse_origins(where, value);
         }},
        {"web", "root", "/usr/share/tryton-sao/www",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.root = parse_directory(where, value);
             // Only the default may name a directory that is not there (sao not installed).
             std::error_code ec;
             if (!cfg.web.root.empty() && cfg.web.root != "/usr/share/tryton-sao/www" &&
                 !std::filesystem::is_directory(cfg.web.root, ec)) {
                 fail(where, "'" + cfg.web.root + "' is not a directory");
             }
         }},
        {"web", "cache_timeout", "43200",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.cache_timeout = parse_int(where, value, 0, 365 * 24 * 3600);
         }},
        {"web", "metrics", "true",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.web.metrics = parse_bool(where, value);
         }},
        {"web", "metrics_listen", "",
         [](config& cfg, std::string_view where, const std::string& value) {
             if (!value.empty()) {
                 std::string host;
                 std::uint16_t port = 0;
                 try {
                     parse_listen(value, host, port);
                 } catch (const config_error& e) {
                     fail(where, e.what());
                 }
             }
             cfg.web.metrics_listen = value;
         }},
        {"log", "format", "text",
         [](config& cfg, std::string_view where, const std::string& value) {
             if (value != "text" && value != "json") fail(where, "expected text or json, got '" + value + "'");
             cfg.log.json = value == "json";
         }},
        {"log", "slow_call_ms", "0",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.log.slow_call_ms = parse_int(where, value, 0, 24 * 3600 * 1000);
         }},
        {"request", "max_size", "2097152",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.request.max_size = parse_size(where, value);
         }},
        {"request", "max_size_authenticated", "2147483648",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.request.max_size_authenticated = parse_size(where, value);
         }},
        {"session", "max_age", "2592000",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.session.max_age = parse_int(where, value, 1, 50 * 365 * 24 * 3600);
         }},
        {"session", "timeout", "300",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.session.timeout = parse_int(where, value, 1, 365 * 24 * 3600);
         }},
        {"session", "max_attempt", "5",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.session.max_attempt = parse_int(where, value, 1, 1000000);
         }},
        {"session", "max_attempt_ip_network", "300",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.session.max_attempt_ip_network = parse_int(where, value, 1, 100000000);
         }},
        {"session", "ip_network_4", "32",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.session.ip_network_4 = parse_int(where, value, 0, 32);
         }},
        {"session", "ip_network_6", "56",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.session.ip_network_6 = parse_int(where, value, 0, 128);
         }},
        {"session", "authentications", "password",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.session.authentications = parse_word_list(where, value);
         }},
        {"tpc", "participants", "",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.tpc.participants = parse_participants(where, value);
         }},
        {"tpc", "recovery_interval", "60",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.tpc.recovery_interval = parse_int(where, value, 0, 7 * 24 * 3600);
         }},
        {"mail", "maildir", "./var/mail",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.mail.maildir = parse_directory(where, value);
         }},
        {"files", "staging", "./var/staging",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.files.staging = parse_directory(where, value);
         }},
        {"queue", "workers", "1",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.queue.workers = parse_int(where, value, 0, 256);
         }},
        {"queue", "max_tries", "5",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.queue.max_tries = parse_int(where, value, 1, 1000);
         }},
        {"queue", "lease_margin", "60",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.queue.lease_margin = parse_int(where, value, 1, 7 * 24 * 3600);
         }},
        {"queue", "backoff", "1",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.queue.backoff = parse_int(where, value, 0, 3600);
         }},
        {"queue", "poll", "5",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.queue.poll = parse_int(where, value, 1, 3600);
         }},
        {"queue", "keep_done", "604800",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.queue.keep_done = parse_int(where, value, 0, 366 * 24 * 3600);
         }},
        {"bus", "enabled", "true",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.bus.enabled = parse_bool(where, value);
         }},
        {"bus", "long_polling_timeout", "300",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.bus.long_polling_timeout = parse_int(where, value, 1, 24 * 3600);
         }},
        {"bus", "retention", "300",
         [](config& cfg, std::string_view where, const std::string& value) {
             cfg.bus.retention = parse_int(where, value, 1, 7 * 24 * 3600);
         }},
    };
    return table;
}

const key_entry* find_key(std::string_view section, std::string_view key) {
    for (const auto& entry : key_table()) {
        if (entry.section == section && entry.key == key) return &entry;
    }
    return nullptr;
}

/// A key of a module's own section (module_def::settings): the module checks it.
struct module_key {
    std::string section;  ///< the module's name
    modules::module_setting setting;
};

const std::vector<module_key>& module_keys() {
    static const std::vector<module_key> keys = [] {
        std::vector<module_key> out;
        const auto& registry = modules::builtin_modules();
        for (const auto& name : registry.names()) {
            for (const auto& setting : registry.find(name)->settings) {
                if (find_key(name, setting.key)) {
                    throw std::logic_error("module '" + name + "' declares the server's key " + name + "." + setting.key);
                }
                out.push_back({name, setting});
            }
        }
        return out;
    }();
    return keys;
}

const module_key* find_module_key(std::string_view section, std::string_view key) {
    for (const auto& entry : module_keys()) {
        if (entry.section == section && entry.setting.key == key) return &entry;
    }
    return nullptr;
}

bool known_section(std::string_view section) {
    return std::any_of(key_table().begin(), key_table().end(),
                       [&](const key_entry& entry) { return entry.section == section; }) ||
           std::any_of(module_keys().begin(), module_keys().end(),
                       [&](const module_key& entry) { return entry.section == section; });
}

/// Checks and sets `[section] key` (the server's or a module's); false if there is no such key.
bool set_key(config& cfg, std::string_view section, std::string_view key, std::string_view where,
             const std::string& value) {
    if (const auto* entry = find_key(section, key)) {
        entry->set(cfg, where, value);
        cfg.sections.set(section, key, std::string(trimmed(value)));
        return true;
    }
    if (const auto* entry = find_module_key(section, key)) {
        try {
            cfg.sections.set(section, key, entry->setting.check(value));
        } catch (const std::invalid_argument& e) {
            fail(where, e.what());
        }
        return true;
    }
    return false;
}

/// Boost's INI parser only knows ';' comments: blank out '#' comment lines
/// (keeping the line numbers of error messages right).
std::string strip_hash_comments(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const auto line = text.substr(pos, end - pos);
        const auto first = line.find_first_not_of(" \t\r");
        if (first == std::string_view::npos || line[first] != '#') out.append(line);
        if (end < text.size()) out.push_back('\n');
        pos = end + 1;
    }
    return out;
}

}  // namespace

environment process_environment() {
    environment env;
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string_view text(*entry);
        if (text.substr(0, env_prefix.size()) != env_prefix) continue;
        const auto equals = text.find('=');
        if (equals == std::string_view::npos) continue;
        env.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
    }
    return env;
}

modules::module_config default_sections() {
    modules::module_config sections;
    for (const auto& entry : key_table()) sections.set(entry.section, entry.key, std::string(entry.default_value));
    for (const auto& entry : module_keys()) sections.set(entry.section, entry.setting.key, entry.setting.default_value);
    return sections;
}

const std::vector<std::string>& known_config_keys() {
    static const std::vector<std::string> keys = [] {
        std::vector<std::string> out;
        for (const auto& entry : key_table()) out.push_back(std::string(entry.section) + "." + std::string(entry.key));
        for (const auto& entry : module_keys()) out.push_back(entry.section + "." + entry.setting.key);
        return out;
    }();
    return keys;
}

void parse_listen(std::string_view listen, std::string& host, std::uint16_t& port) {
    const auto where = "listen address '" + std::string(listen) + "'";
    std::string_view host_part;
    std::string_view port_part;
    if (!listen.empty() && listen.front() == '[') {
        const auto close = listen.find(']');
        if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
            fail(where, "expected [ipv6]:port");
        }
        host_part = listen.substr(1, close - 1);
        port_part = listen.substr(close + 2);
    } else {
        const auto colon = listen.rfind(':');
        if (colon == std::string_view::npos) fail(where, "expected host:port");
        host_part = listen.substr(0, colon);
        port_part = listen.substr(colon + 1);
        if (host_part.find(':') != std::string_view::npos) fail(where, "write IPv6 addresses as [address]:port");
    }
    if (host_part.empty()) fail(where, "the host is empty");
    const int number = parse_int(where, port_part, 0, 65535);  // 0: any free port
    host = std::string(host_part);
    port = static_cast<std::uint16_t>(number);
}

config parse_config(std::string_view ini_text, std::string_view origin) {
    namespace pt = boost::property_tree;
    pt::ptree tree;
    std::istringstream in(strip_hash_comments(ini_text));
    try {
        pt::ini_parser::read_ini(in, tree);
    } catch (const pt::ini_parser_error& e) {
        fail(std::string(origin) + ":" + std::to_string(e.line()), e.message());
    }

    config cfg;
    for (const auto& [section, body] : tree) {
        if (body.empty() && !body.data().empty()) {
            fail(origin, "key '" + section + "' is outside any [section] (known keys: " + known_list() + ")");
        }
        if (!known_section(section)) {
            fail(origin, "unknown section [" + section + "] (known keys: " + known_list() + ")");
        }
        for (const auto& [key, node] : body) {
            const std::string where = std::string(origin) + ": [" + section + "] " + key;
            if (!set_key(cfg, section, key, where, node.data())) {
                fail(where, "unknown key (known keys: " + known_list() + ")");
            }
        }
    }
    cfg.sources = {std::string(origin)};
    return cfg;
}

void apply_environment(config& cfg, const environment& env) {
    for (const auto& [name, value] : env) {
        if (name.substr(0, env_prefix.size()) != env_prefix) continue;
        const std::string_view rest = std::string_view(name).substr(env_prefix.size());
        const auto separator = rest.find(env_separator);
        if (separator == std::string_view::npos) continue;  // ATRIUM_SANITIZE and friends are not config keys
        const std::string section = lower(rest.substr(0, separator));
        const std::string key = lower(rest.substr(separator + env_separator.size()));
        if (!set_key(cfg, section, key, "environment " + name, value)) {
            fail("environment " + name, "no configuration key " + section + "." + key + " (known keys: " +
                                            known_list() + ")");
        }
        cfg.sources.push_back(name);
    }
}

config load_config(const std::string& path, const environment& env) {
    config cfg;
    if (!path.empty()) {
        std::ifstream file(path, std::ios::binary);
        if (!file) throw config_error(path + ": cannot open configuration file");
        std::ostringstream text;
        text << file.rdbuf();
        if (file.bad()) throw config_error(path + ": cannot read configuration file");
        cfg = parse_config(text.str(), path);
    }
    apply_environment(cfg, env);
    if (cfg.web.processes > 1 && !cfg.web.metrics_listen.empty()) {
        // Every child would bind that address; only web.listen is shared (SO_REUSEPORT).
        fail("[web] metrics_listen", "cannot be used with web.processes > 1: leave it empty (/metrics, /livez and "
                                     "/readyz are then served on web.listen to loopback peers)");
    }
    return cfg;
}

std::string masked_uri(const std::string& uri) {
    const auto scheme_end = uri.find("://");
    if (scheme_end == std::string::npos) return uri;
    const std::size_t start = scheme_end + 3;
    const db::uri_parts parts = db::split_uri(std::string_view(uri).substr(start));
    if (!parts.password) return uri;
    const std::size_t password_at = start + parts.user.size() + 1;  // after "user:"
    return uri.substr(0, password_at) + "***" + uri.substr(password_at + parts.password->size());
}

std::string backend_uri(const config& cfg) {
    const std::string& uri = cfg.database.uri;
    const bool postgresql = uri.rfind("postgresql://", 0) == 0 || uri.rfind("postgres://", 0) == 0;
    if (!postgresql) return uri;
    // The pool takes database.retry and database.timeout unless the URI sets them.
    std::string result = uri;
    auto add = [&](const std::string& key, const std::string& value) {
        if (result.find("?" + key + "=") != std::string::npos || result.find("&" + key + "=") != std::string::npos) {
            return;
        }
        result += (result.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
    };
    add("retry", std::to_string(cfg.database.retry));
    add("idle_timeout_s", std::to_string(cfg.database.timeout));
    return result;
}

}  // namespace atrium::server
