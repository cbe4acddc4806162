#pragma once
// What a module sees of the server's configuration: every section and key of
// the loaded configuration as text (defaults, INI file, environment overrides
// already applied by the server), read-only, with typed getters. A module
// declares the keys of its own section (module_def::settings) so that the
// server accepts and checks them at start; it reads them back through the pool
// it runs in (pool::config()). With no configuration loaded (tests, tools)
// the view is empty and every getter answers its fallback.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace atrium::modules {

/// One key of a module's configuration section.
struct module_setting {
    std::string key;
    std::string default_value;
    /// The value as the module will read it (e.g. trimmed). Throws
    /// std::invalid_argument saying what was expected; the server adds where
    /// the value came from and refuses to start.
    std::function<std::string(std::string_view value)> check;
};

class module_config {
public:
    using section = std::map<std::string, std::string, std::less<>>;
    using sections = std::map<std::string, section, std::less<>>;

    module_config() = default;
    explicit module_config(sections values) : values_(std::move(values)) {}

    /// The value of `[section] key`, if the configuration has it.
    std::optional<std::string> find(std::string_view section, std::string_view key) const;
    /// The value, or `fallback` when absent.
    std::string text(std::string_view section, std::string_view key, std::string_view fallback = {}) const;
    /// The value as an integer, or `fallback` when absent. Throws std::invalid_argument if it is not one.
    long long integer(std::string_view section, std::string_view key, long long fallback) const;
    /// true/True/1/yes or false/False/0/no, or `fallback` when absent. Throws std::invalid_argument otherwise.
    bool boolean(std::string_view section, std::string_view key, bool fallback) const;

    /// Sets a value (the server, while loading the configuration).
    void set(std::string_view section, std::string_view key, std::string value);
    const sections& values() const noexcept { return values_; }

private:
    sections values_;
};

}  // namespace atrium::modules
