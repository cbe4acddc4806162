#pragma once
// Numbers read back from a result's columns, whatever type the backend gave them.

#include "database/value.hpp"

#include <cstdint>
#include <string>

namespace atrium::db {

/// A column read as a number whatever the backend returned it as (PostgreSQL
/// numeric comes as text, SQLite may store a whole real); NULL and blobs: 0.
inline std::int64_t integer_of(const value& v) {
    if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
    if (const auto* d = std::get_if<double>(&v)) return static_cast<std::int64_t>(*d);
    if (const auto* s = std::get_if<std::string>(&v)) return std::stoll(*s);
    return 0;
}

inline double real_of(const value& v) {
    if (const auto* d = std::get_if<double>(&v)) return *d;
    if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
    if (const auto* s = std::get_if<std::string>(&v)) return std::stod(*s);
    return 0;
}

}  // namespace atrium::db
