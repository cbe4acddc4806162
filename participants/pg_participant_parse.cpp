#include "participants/pg_participant.hpp"

#include "database/uri.hpp"
#include "util/percent.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <utility>

namespace atrium::db {

namespace {

std::string percent_decode(std::string_view text, const std::string& shown) {
    auto decoded = util::percent_decode(text);
    if (decoded.error != util::percent_error::none) {
        throw std::invalid_argument("participant DSN \"" + shown + "\" has a bad percent escape");
    }
    return std::move(decoded.text);
}

}  // namespace

// ---------------------------------------------------------------------------
// DSN

pg_participant_dsn pg_participant_dsn::parse(std::string_view dsn) {
    std::string_view rest;
    for (std::string_view scheme : {std::string_view("postgresql://"), std::string_view("postgres://")}) {
        if (dsn.substr(0, scheme.size()) == scheme) rest = dsn.substr(scheme.size());
    }
    if (rest.data() == nullptr) {
        throw std::invalid_argument(
            "a participant DSN is a URI postgresql://[user[:password]@][host][:port]/dbname (key/value "
            "conninfo strings are not accepted)");
    }
    // Split as the backends split theirs (database/uri.hpp); the path after its '/'.
    const db::uri_parts parts = db::split_uri(rest);
    std::string_view query = parts.query;
    const std::string_view path = parts.path.empty() ? std::string_view{} : parts.path.substr(1);
    const std::string_view userinfo = parts.userinfo;
    const std::string_view hostport = parts.host_port;
    const std::string_view user = parts.user;
    const bool has_password = parts.password.has_value();
    std::string shown = "postgresql://";
    if (!userinfo.empty()) {
        shown.append(user);
        if (has_password) shown.append(":***");
        shown.push_back('@');
    }
    shown.append(hostport);
    shown.push_back('/');
    shown.append(path);

    if (path.empty() || path.find('/') != std::string_view::npos) {
        throw std::invalid_argument("participant DSN \"" + shown +
                                    "\" must name one database: postgresql://user@host:port/dbname");
    }
    if (shown.find('#') != std::string::npos) {
        throw std::invalid_argument("participant DSN \"" + shown + "\" must not have a fragment");
    }

    pg_participant_dsn out;
    out.database = percent_decode(path, shown);
    if (out.database.empty()) throw std::invalid_argument("participant DSN \"" + shown + "\" has an empty database name");
    percent_decode(userinfo, shown);  // validates the escapes
    percent_decode(hostport, shown);

    out.participant_id = "postgresql://";
    if (!user.empty()) {
        out.participant_id.append(user);
        out.participant_id.push_back('@');
    }
    out.participant_id.append(hostport);
    out.participant_id.push_back('/');
    out.participant_id.append(path);

    std::string params;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (item.empty()) continue;
        const std::string_view key = item.substr(0, item.find('='));
        if (key == "sslmode" || key == "connect_timeout" || key == "application_name") {
            params.append(item);
            params.push_back('&');
        } else if (key == "pool_size" || key == "pool_wait_ms" || key == "idle_timeout_s" || key == "retry") {
            // the backend's pool settings: a participant connection is not pooled
        } else {
            throw std::invalid_argument("unknown parameter \"" + std::string(key) + "\" in participant DSN \"" +
                                        shown + "\" (known: sslmode, connect_timeout, application_name)");
        }
    }
    params.append("fallback_application_name=atrium-tpc");

    out.conninfo = "postgresql://";
    if (!userinfo.empty()) {
        out.conninfo.append(userinfo);
        out.conninfo.push_back('@');
    }
    out.conninfo.append(hostport);
    out.conninfo.push_back('/');
    out.conninfo.append(path);
    out.conninfo.push_back('?');
    out.conninfo.append(params);
    return out;
}

// ---------------------------------------------------------------------------
// Notifications

pg_notification pg_notification::parse(std::string_view text) {
    auto bad = [&](const char* why) {
        return std::invalid_argument("notification \"" + std::string(text) + "\": " + why);
    };
    std::size_t i = 0;
    auto skip_space = [&] {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
    };
    skip_space();
    std::string channel;
    if (i < text.size() && text[i] == '"') {
        ++i;
        for (;;) {
            if (i >= text.size()) throw bad("unclosed quoted channel");
            if (text[i] == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    channel.push_back('"');
                    i += 2;
                    continue;
                }
                ++i;
                break;
            }
            channel.push_back(text[i++]);
        }
    } else {
        while (i < text.size() && text[i] != ',' && text[i] != ' ' && text[i] != '\t') {
            char c = text[i++];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // SQL folds unquoted names
            channel.push_back(c);
        }
    }
    if (channel.empty()) throw bad("no channel");
    skip_space();
    if (i == text.size()) return pg_notification(std::move(channel));
    if (text[i] != ',') throw bad("expected ', \\'payload\\''");
    ++i;
    skip_space();
    if (i >= text.size() || text[i] != '\'') throw bad("the payload must be a quoted literal");
    ++i;
    std::string payload;
    for (;;) {
        if (i >= text.size()) throw bad("unclosed payload literal");
        if (text[i] == '\'') {
            if (i + 1 < text.size() && text[i + 1] == '\'') {
                payload.push_back('\'');
                i += 2;
                continue;
            }
            ++i;
            break;
        }
        payload.push_back(text[i++]);
    }
    skip_space();
    if (i != text.size()) throw bad("unexpected text after the payload");
    return pg_notification(std::move(channel), std::move(payload));
}
}  // namespace atrium::db
