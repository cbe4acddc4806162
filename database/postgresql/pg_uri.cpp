#include "database/postgresql/pg_uri.hpp"

#include "database/uri.hpp"
#include "util/percent.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>

namespace atrium::db {

namespace {

std::string percent_decode(std::string_view text, const std::string& shown_uri,
                           std::string_view what) {
    auto decoded = util::percent_decode(text, /*refuse_nul=*/true);
    switch (decoded.error) {
    case util::percent_error::none:
        return std::move(decoded.text);
    case util::percent_error::bad_escape:
        throw std::invalid_argument("bad percent-escape in the " + std::string(what) +
                                    " of database URI \"" + shown_uri + "\"");
    case util::percent_error::nul_byte:
        break;
    }
    throw std::invalid_argument("NUL byte in the " + std::string(what) + " of database URI \"" +
                                shown_uri + "\"");
}

std::int64_t parse_integer(std::string_view key, std::string_view text, std::int64_t low,
                           std::int64_t high, const std::string& shown_uri) {
    std::int64_t number = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc{} || end != text.data() + text.size() || number < low || number > high) {
        throw std::invalid_argument(std::string(key) + " in database URI \"" + shown_uri +
                                    "\" must be a whole number between " + std::to_string(low) +
                                    " and " + std::to_string(high));
    }
    return number;
}

// "key='value'" with the value escaped for a libpq conninfo string.
void append_conninfo(std::string& out, std::string_view key, std::string_view value) {
    if (!out.empty()) out.push_back(' ');
    out.append(key);
    out.append("='");
    for (char c : value) {
        if (c == '\\' || c == '\'') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('\'');
}

}  // namespace

pg_server_address parse_pg_uri(std::string_view rest, pg_settings& settings) {
    pg_server_address address;
    const std::string_view whole = rest;
    const uri_parts parts = split_uri(rest);
    const std::string_view userinfo = parts.userinfo;
    const std::string_view user_part = parts.user;
    const std::optional<std::string_view> password_part = parts.password;
    const std::string_view hostport = parts.host_port;
    const std::string_view path = parts.path;
    // What errors may show: the URI with the password masked and without the
    // query (errors about a parameter name it; its value could be a secret).
    std::string shown = "postgresql://";
    if (!userinfo.empty()) {
        shown.append(user_part);
        if (password_part) shown.append(":***");
        shown.push_back('@');
    }
    shown.append(hostport);
    shown.append(path);
    if (userinfo.empty() && whole.find('@') != std::string_view::npos) {
        // An '@' outside the authority: a password with an unescaped '/' or
        // '?' may be anywhere in the text. Show none of it.
        shown = "postgresql://(not shown: it may hold a password)";
    }

    if (whole.find('#') != std::string_view::npos) {
        throw std::invalid_argument("database URI \"" + shown + "\" must not have a fragment");
    }
    if (!path.empty() && path != "/") {
        throw std::invalid_argument(
            "database URI \"" + shown +
            "\" names a database; the PostgreSQL URI names the server only "
            "(postgresql://user:password@host:port/) and the database is chosen per request");
    }
    address.user = percent_decode(user_part, shown, "user");
    if (password_part) address.password = percent_decode(*password_part, shown, "password");

    std::string_view host = hostport;
    std::string_view port;
    if (!hostport.empty() && hostport.front() == '[') {
        const auto close = hostport.find(']');
        if (close == std::string_view::npos) {
            throw std::invalid_argument("database URI \"" + shown + "\" has an unclosed '['");
        }
        host = hostport.substr(1, close - 1);
        const std::string_view after = hostport.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                throw std::invalid_argument("database URI \"" + shown + "\": unexpected text after ']'");
            }
            port = after.substr(1);
        }
    } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
        host = hostport.substr(0, colon);
        port = hostport.substr(colon + 1);
    }
    address.host = percent_decode(host, shown, "host");
    if (!port.empty()) address.port = std::to_string(parse_integer("the port", port, 1, 65535, shown));

    std::optional<std::int64_t> pool_wait_ms;
    for_each_query_parameter(parts.query, [&](std::string_view key, std::string_view raw_value) {
        const std::string value = percent_decode(raw_value, shown, "parameter " + std::string(key));
        if (key == "pool_size") {
            settings.pool_size = static_cast<std::size_t>(parse_integer(key, value, 1, 10000, shown));
        } else if (key == "pool_wait_ms") {
            pool_wait_ms = parse_integer(key, value, 0, 24LL * 3600 * 1000, shown);
        } else if (key == "retry") {
            settings.retry = static_cast<int>(parse_integer(key, value, 0, 1000, shown));
        } else if (key == "idle_timeout_s") {
            char* end = nullptr;
            const double seconds = std::strtod(value.c_str(), &end);
            if (value.empty() || end != value.c_str() + value.size() || !std::isfinite(seconds) ||
                seconds <= 0 || seconds > 1e7) {
                throw std::invalid_argument("idle_timeout_s in database URI \"" + shown +
                                            "\" must be a number of seconds above 0");
            }
            settings.idle_timeout = std::chrono::milliseconds(std::llround(seconds * 1000));
        } else if (key == "prepare") {
            if (value != "true" && value != "false") {
                throw std::invalid_argument("prepare in database URI \"" + shown + "\" must be true or false");
            }
            settings.prepare_statements = value == "true";
        } else if (key == "sslmode" || key == "connect_timeout" || key == "application_name") {
            address.options.emplace_back(std::string(key), value);
        } else {
            throw std::invalid_argument(
                "unknown parameter \"" + std::string(key) + "\" in database URI \"" + shown +
                "\" (known: pool_size, pool_wait_ms, idle_timeout_s, retry, prepare, sslmode, "
                "connect_timeout, application_name)");
        }
    });
    // SPEC §1.2: when exhausted, wait 1 s and retry up to database.retry times.
    settings.pool_wait = std::chrono::milliseconds(pool_wait_ms.value_or(static_cast<std::int64_t>(settings.retry.load()) * 1000));
    return address;
}

std::string pg_conninfo(const pg_server_address& address, const std::string& database) {
    std::string info;
    if (!address.host.empty()) append_conninfo(info, "host", address.host);
    if (!address.port.empty()) append_conninfo(info, "port", address.port);
    if (!address.user.empty()) append_conninfo(info, "user", address.user);
    if (!address.password.empty()) append_conninfo(info, "password", address.password);
    append_conninfo(info, "dbname", database);
    append_conninfo(info, "fallback_application_name", "atrium");
    for (const auto& [key, value] : address.options) append_conninfo(info, key, value);
    return info;
}

std::string pg_display_uri(const pg_server_address& address) {
    std::string uri = "postgresql://";
    if (!address.user.empty() || !address.password.empty()) {
        uri += address.user;
        if (!address.password.empty()) uri += ":***";
        uri += '@';
    }
    if (address.host.find(':') != std::string::npos) uri += "[" + address.host + "]";
    else uri += address.host;
    if (!address.port.empty()) uri += ":" + address.port;
    uri += "/";
    return uri;
}

}  // namespace atrium::db
