#pragma once
// Password hashing with libsodium's argon2id (crypto_pwhash_str,
// INTERACTIVE limits, 50-70 ms). Hashes are "$argon2id$…" strings; the clear
// password is never stored. Verification is constant-time (libsodium).

#include <functional>
#include <string>

namespace atrium::modules::res {

/// Runs the CPU-heavy hashing somewhere else and waits for it. The server
/// installs its worker pool (a fiber waits without blocking its I/O thread);
/// by default the work runs on the calling thread.
using hash_runner = std::function<void(const std::function<void()>&)>;
void set_hash_runner(hash_runner runner);

std::string hash_password(const std::string& password);
bool verify_password(const std::string& password, const std::string& hash);
/// Spends the time a verification takes (unknown logins answer as slowly as known ones).
void dummy_verify(const std::string& password);
/// 32 random bytes as 64 hex characters.
std::string random_key();
/// Constant-time equality of two keys.
bool keys_equal(const std::string& a, const std::string& b);

}  // namespace atrium::modules::res
