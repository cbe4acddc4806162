#pragma once
// Errors a client user reads (SPEC §8.3). The server maps each to the wire:
// Tryton dialect error arrays, bare-mode HTTP statuses, JSON-RPC 2.0 codes
// (§8.4). Every one knows its Tryton error array (`payload()`).
// Programming errors are not user errors: they stay std::logic_error & co.

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace atrium::modules {

/// Any error whose text is meant for the client's user.
class tryton_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
    /// The Tryton error array, e.g. ["UserError", [message, description, domain]].
    virtual nlohmann::json payload() const = 0;
};

/// ["UserError", [message, description, domain]]; without a domain the
/// domain slot is null, as Tryton sends it.
class user_error : public tryton_error {
public:
    explicit user_error(std::string message, std::string description = {},
                        nlohmann::json domain = nullptr)
        : tryton_error(message), message_(std::move(message)), description_(std::move(description)),
          domain_(std::move(domain)) {}
    const std::string& message() const noexcept { return message_; }
    const std::string& description() const noexcept { return description_; }
    nlohmann::json payload() const override {
        return nlohmann::json::array({"UserError", nlohmann::json::array({message_, description_, domain_})});
    }

private:
    std::string message_;
    std::string description_;
    nlohmann::json domain_;
};

/// Access denied by ir.model.access (SPEC §7.4); the client sees a UserError.
class access_error : public user_error {
public:
    using user_error::user_error;
};

/// ["UserWarning", [name, message, description]]: the client may confirm and retry.
class user_warning : public tryton_error {
public:
    user_warning(std::string name, std::string message, std::string description = {})
        : tryton_error(message), name_(std::move(name)), message_(std::move(message)),
          description_(std::move(description)) {}
    const std::string& name() const noexcept { return name_; }
    nlohmann::json payload() const override {
        return nlohmann::json::array({"UserWarning", nlohmann::json::array({name_, message_, description_})});
    }

private:
    std::string name_, message_, description_;
};

/// ["LoginException", [name, message, type]]: the client must ask for `name`.
class login_exception : public tryton_error {
public:
    login_exception(std::string name, std::string message, std::string type)
        : tryton_error(message), name_(std::move(name)), message_(std::move(message)), type_(std::move(type)) {}
    nlohmann::json payload() const override {
        return nlohmann::json::array({"LoginException", nlohmann::json::array({name_, message_, type_})});
    }

private:
    std::string name_, message_, type_;
};

/// ["ConcurrencyException", message]: optimistic lock failed (`_timestamp`).
class concurrency_exception : public tryton_error {
public:
    using tryton_error::tryton_error;
    nlohmann::json payload() const override { return nlohmann::json::array({"ConcurrencyException", what()}); }
};

/// Too many login attempts (HTTP 429 in every dialect).
class rate_limit_exception : public tryton_error {
public:
    rate_limit_exception() : tryton_error("Too many requests") {}
    nlohmann::json payload() const override { return nlohmann::json::array({"RateLimitException", what()}); }
};

}  // namespace atrium::modules
