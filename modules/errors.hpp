#pragma once
// Errors a client user reads (SPEC §8.3). The server maps each to the wire:
// Tryton dialect error arrays, bare-mode HTTP statuses, JSON-RPC 2.0 codes
// (§8.4). Every one is an atrium::error (util/error.hpp) whose category names
// its Tryton exception, and knows its Tryton error array (`payload()`).

#include "util/error.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace atrium::modules {

/// Any error whose text is meant for the client's user.
class tryton_error : public error {
public:
    explicit tryton_error(const std::string& message) : error(message, error_category::user) {}
    /// The Tryton error array, e.g. ["UserError", [message, description, domain]].
    nlohmann::json payload() const override = 0;
    /// A direct subclass in category user is not a UserError: a "TrytonError".
    wire_shape wire() const override {
        if (category() == error_category::user) return {"TrytonError", -32000, 400};
        return default_wire_shape(category());
    }

protected:
    tryton_error(const std::string& message, error_category category) : error(message, category) {}
};

/// ["UserError", [message, description, domain]]; without a domain the
/// domain slot is null, as Tryton sends it.
class user_error : public tryton_error {
public:
    explicit user_error(std::string message, std::string description = {},
                        nlohmann::json domain = nullptr)
        : user_error(error_category::user, std::move(message), std::move(description), std::move(domain)) {}
    const std::string& message() const noexcept { return message_; }
    const std::string& description() const noexcept { return description_; }
    nlohmann::json payload() const override {
        return nlohmann::json::array({"UserError", nlohmann::json::array({message_, description_, domain_})});
    }
    wire_shape wire() const override { return default_wire_shape(category()); }

protected:
    user_error(error_category category, std::string message, std::string description, nlohmann::json domain)
        : tryton_error(message, category), message_(std::move(message)), description_(std::move(description)),
          domain_(std::move(domain)) {}

private:
    std::string message_;
    std::string description_;
    nlohmann::json domain_;
};

/// Access denied by ir.model.access (SPEC §7.4); the client sees a UserError.
class access_error : public user_error {
public:
    explicit access_error(std::string message, std::string description = {}, nlohmann::json domain = nullptr)
        : user_error(error_category::access, std::move(message), std::move(description), std::move(domain)) {}
};

/// ["UserWarning", [name, message, description]]: the client may confirm and retry.
class user_warning : public tryton_error {
public:
    user_warning(std::string name, std::string message, std::string description = {})
        : tryton_error(message, error_category::user_warning), name_(std::move(name)), message_(std::move(message)),
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
        : tryton_error(message, error_category::login), name_(std::move(name)), message_(std::move(message)),
          type_(std::move(type)) {}
    nlohmann::json payload() const override {
        return nlohmann::json::array({"LoginException", nlohmann::json::array({name_, message_, type_})});
    }

private:
    std::string name_, message_, type_;
};

/// ["ConcurrencyException", message]: optimistic lock failed (`_timestamp`).
class concurrency_exception : public tryton_error {
public:
    explicit concurrency_exception(const std::string& message)
        : tryton_error(message, error_category::concurrency) {}
    nlohmann::json payload() const override { return nlohmann::json::array({"ConcurrencyException", what()}); }
};

/// Too many login attempts (HTTP 429 in every dialect).
class rate_limit_exception : public tryton_error {
public:
    rate_limit_exception() : tryton_error("Too many requests", error_category::rate_limited) {}
    nlohmann::json payload() const override { return nlohmann::json::array({"RateLimitException", what()}); }
};

}  // namespace atrium::modules
