#pragma once
// Login and sessions (SPEC §7.2, §7.3). All called INSIDE a transaction the
// server started as root (user 0).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <functional>
#include <string>

namespace atrium::modules::res {

struct session_settings {
    int max_age = 2592000;
    int timeout = 300;
    int max_attempt = 5;
    int max_attempt_ip_network = 300;
    int ip_network_4 = 32;
    int ip_network_6 = 56;
    std::string authentications = "password";
    /// SPEC §7.2's delay after a failed login: called from an atexit callback
    /// with a random 0 … 2^attempts − 1 seconds. Empty: no delay. The server
    /// gives a fiber-aware sleep (a blocking sleep would stall its thread).
    std::function<void(double seconds)> failure_delay{};
};

/// SPEC §7.2: returns the user id; throws login_exception when a parameter
/// (password) is missing, rate_limit_exception when rate limited; returns 0
/// on bad credentials (the attempt is recorded). The attempt bookkeeping is
/// committed by an explicit commit() of the caller's transaction, so it
/// survives whatever the caller does next (start a dedicated transaction for login).
std::int64_t login(const std::string& login, const nlohmann::json& parameters, const std::string& remote_ip,
                   const session_settings&);
std::string create_session(std::int64_t user);  ///< 64 hex chars from 32 random bytes
/// SPEC §7.3: true when (user, key) is a live session (constant-time key
/// compare, max_age; fresh ⇒ also within timeout, else the session is
/// deleted). Expired sessions of the user are deleted.
bool check_session(std::int64_t user, const std::string& key, bool fresh, const session_settings&);
/// The same check; when the session is live, the time (epoch seconds) it
/// expires by max_age, so that a caller may cache the answer until then.
std::optional<double> session_valid_until(std::int64_t user, const std::string& key, bool fresh,
                                          const session_settings&);
/// The channel on which PostgreSQL databases announce (NOTIFY, payload = the
/// user id) that sessions of a user were deleted, at the commit that deletes them.
inline constexpr const char* session_channel = "atrium_session";
void touch_session(std::int64_t user, const std::string& key);  ///< refresh activity
void delete_session(std::int64_t user, const std::string& key);
/// Every session of `user` deleted (announced as delete_session does), and
/// the remembered devices of `login` forgotten: what a deactivation or a new
/// password implies, as in trytond.
void clear_sessions(std::int64_t user, const std::string& login);
std::string user_login(std::int64_t user);  ///< "" if none

}  // namespace atrium::modules::res
