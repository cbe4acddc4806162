#include "modules/res/password.hpp"

#include <sodium.h>

#include <mutex>
#include <stdexcept>

namespace atrium::modules::res {

namespace {
void init_sodium() {
    static const int ok = sodium_init();
    if (ok < 0) throw std::runtime_error("libsodium cannot be initialised");
}
std::mutex runner_mutex;
hash_runner& runner_storage() {
    static hash_runner runner;
    return runner;
}

void run_hashing(const std::function<void()>& work) {
    hash_runner runner;
    {
        std::lock_guard lock(runner_mutex);
        runner = runner_storage();
    }
    if (runner)
        runner(work);
    else
        work();
}
}  // namespace

void set_hash_runner(hash_runner runner) {
    std::lock_guard lock(runner_mutex);
    runner_storage() = std::move(runner);
}

std::string hash_password(const std::string& password) {
    init_sodium();
    char out[crypto_pwhash_STRBYTES];
    int rc = 0;
    run_hashing([&] {
        rc = crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                               crypto_pwhash_MEMLIMIT_INTERACTIVE);
    });
    if (rc != 0) throw std::runtime_error("out of memory while hashing a password");
    return out;
}

bool verify_password(const std::string& password, const std::string& hash) {
    init_sodium();
    if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
    bool ok = false;
    run_hashing([&] { ok = crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0; });
    return ok;
}

void dummy_verify(const std::string& password) {
    // Hashed on the calling thread: a fiber must not suspend inside a static
    // initialiser (another fiber of the thread would wait on its guard forever).
    static const std::string dummy = [] {
        init_sodium();
        char out[crypto_pwhash_STRBYTES];
        const std::string text = "atrium dummy password";
        if (crypto_pwhash_str(out, text.data(), text.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
            throw std::runtime_error("out of memory while hashing a password");
        return std::string(out);
    }();
    (void)verify_password(password, dummy);
}

std::string random_key() {
    init_sodium();
    unsigned char bytes[32];
    randombytes_buf(bytes, sizeof bytes);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
    return hex;
}

bool keys_equal(const std::string& a, const std::string& b) {
    init_sodium();
    if (a.size() != b.size()) return false;
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace atrium::modules::res
