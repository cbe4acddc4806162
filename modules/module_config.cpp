#include "modules/module_config.hpp"

#include <charconv>
#include <stdexcept>

namespace atrium::modules {

namespace {

std::string name_of(std::string_view section, std::string_view key) {
    return std::string(section) + "." + std::string(key);
}

}  // namespace

std::optional<std::string> module_config::find(std::string_view section, std::string_view key) const {
    const auto s = values_.find(section);
    if (s == values_.end()) return std::nullopt;
    const auto k = s->second.find(key);
    if (k == s->second.end()) return std::nullopt;
    return k->second;
}

std::string module_config::text(std::string_view section, std::string_view key, std::string_view fallback) const {
    auto value = find(section, key);
    return value ? std::move(*value) : std::string(fallback);
}

long long module_config::integer(std::string_view section, std::string_view key, long long fallback) const {
    const auto value = find(section, key);
    if (!value) return fallback;
    long long number = 0;
    const auto* end = value->data() + value->size();
    const auto [ptr, ec] = std::from_chars(value->data(), end, number);
    if (value->empty() || ec != std::errc() || ptr != end)
        throw std::invalid_argument(name_of(section, key) + ": expected an integer, got '" + *value + "'");
    return number;
}

bool module_config::boolean(std::string_view section, std::string_view key, bool fallback) const {
    const auto value = find(section, key);
    if (!value) return fallback;
    if (*value == "true" || *value == "True" || *value == "1" || *value == "yes") return true;
    if (*value == "false" || *value == "False" || *value == "0" || *value == "no") return false;
    throw std::invalid_argument(name_of(section, key) + ": expected true or false, got '" + *value + "'");
}

void module_config::set(std::string_view section, std::string_view key, std::string value) {
    auto& keys = values_[std::string(section)];
    keys.insert_or_assign(std::string(key), std::move(value));
}

}  // namespace atrium::modules
