#include "database/postgresql/pg_sql.hpp"

#include "database/errors.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

namespace atrium::db {

namespace {

bool is_ident_start(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

bool is_ident_char(unsigned char c) {
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

bool is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

[[noreturn]] void fail(std::string_view sql, std::string message, const char* sqlstate) {
    throw programming_error(std::move(message) + " [SQLSTATE " + sqlstate + "]",
                            error_category::programming, sqlstate, 0, std::string(sql));
}

// One placeholder found by the scan.
struct placeholder {
    std::size_t begin;  // offset of '?' or '$'
    std::size_t end;    // one past its last character
    std::size_t index;  // 0-based parameter for `$n`; unused for '?'
    bool dollar;
};

// Skips a comment starting at `i` (at "--" or "/*"); returns the offset after it,
// or nullopt when there is no comment at `i`.
std::optional<std::size_t> skip_comment(std::string_view s, std::size_t i) {
    if (i + 1 >= s.size()) return std::nullopt;
    if (s[i] == '-' && s[i + 1] == '-') {
        const auto nl = s.find('\n', i + 2);
        return nl == std::string_view::npos ? s.size() : nl + 1;
    }
    if (s[i] == '/' && s[i + 1] == '*') {
        // Block comments nest in PostgreSQL.
        int depth = 1;
        std::size_t j = i + 2;
        while (j < s.size() && depth > 0) {
            if (j + 1 < s.size() && s[j] == '/' && s[j + 1] == '*') {
                ++depth;
                j += 2;
            } else if (j + 1 < s.size() && s[j] == '*' && s[j + 1] == '/') {
                --depth;
                j += 2;
            } else {
                ++j;
            }
        }
        return j;
    }
    return std::nullopt;
}

struct scan_result {
    std::vector<placeholder> found;
    bool any_dollar = false;
    bool multiple_statements = false;
};

scan_result scan(std::string_view s) {
    scan_result out;
    bool prev_ident = false;      // the previous character belongs to a word
    bool after_semicolon = false; // a top-level ';' was seen
    std::size_t i = 0;
    auto note_token = [&] {
        if (after_semicolon) out.multiple_statements = true;
    };
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (auto next = skip_comment(s, i)) {
            i = *next;
            prev_ident = false;
            continue;
        }
        if (is_space(c)) {
            ++i;
            prev_ident = false;
            continue;
        }
        if (c == ';') {
            after_semicolon = true;
            ++i;
            prev_ident = false;
            continue;
        }
        note_token();
        if (c == '\'') {
            // E'...' (a lone E or e before the quote) takes backslash escapes.
            const bool escapes =
                i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
                (i < 2 || !is_ident_char(static_cast<unsigned char>(s[i - 2])));
            std::size_t j = i + 1;
            while (j < s.size()) {
                if (escapes && s[j] == '\\') {
                    j += 2;
                } else if (s[j] == '\'') {
                    if (j + 1 < s.size() && s[j + 1] == '\'') {
                        j += 2;
                    } else {
                        ++j;
                        break;
                    }
                } else {
                    ++j;
                }
            }
            i = std::min(j, s.size());
            prev_ident = false;
            continue;
        }
        if (c == '"') {
            std::size_t j = i + 1;
            while (j < s.size()) {
                if (s[j] == '"') {
                    if (j + 1 < s.size() && s[j + 1] == '"') {
                        j += 2;
                    } else {
                        ++j;
                        break;
                    }
                } else {
                    ++j;
                }
            }
            i = std::min(j, s.size());
            prev_ident = false;
            continue;
        }
        if (c == '$' && !prev_ident) {
            if (i + 1 < s.size() && is_digit(static_cast<unsigned char>(s[i + 1]))) {
                std::size_t j = i + 1;
                std::size_t number = 0;
                bool overflow = false;
                while (j < s.size() && is_digit(static_cast<unsigned char>(s[j]))) {
                    if (number > 100000000) overflow = true;
                    number = number * 10 + static_cast<std::size_t>(s[j] - '0');
                    ++j;
                }
                const std::size_t index =
                    (overflow || number == 0) ? static_cast<std::size_t>(-1) : number - 1;
                out.found.push_back({i, j, index, true});
                out.any_dollar = true;
                i = j;
                prev_ident = false;
                continue;
            }
            // Dollar quote: $$ or $tag$ (tag: an identifier without '$').
            std::size_t j = i + 1;
            if (j < s.size() && is_ident_start(static_cast<unsigned char>(s[j]))) {
                while (j < s.size() && is_ident_char(static_cast<unsigned char>(s[j])) && s[j] != '$') ++j;
            }
            if (j < s.size() && s[j] == '$') {
                const std::string_view tag = s.substr(i, j - i + 1);
                const auto close = s.find(tag, j + 1);
                i = close == std::string_view::npos ? s.size() : close + tag.size();
                prev_ident = false;
                continue;
            }
            ++i;
            prev_ident = false;
            continue;
        }
        if (c == '?') {
            out.found.push_back({i, i + 1, 0, false});
            ++i;
            prev_ident = false;
            continue;
        }
        prev_ident = is_ident_char(c);
        ++i;
    }
    return out;
}

}  // namespace

std::string pg_expand_placeholders(std::string_view sql, std::size_t count,
                                   const std::function<std::string(std::size_t)>& literal) {
    const scan_result found = scan(sql);
    if (found.multiple_statements) {
        fail(sql, "execute() runs one SQL statement at a time; split the statements", "42601");
    }
    std::vector<placeholder> used;
    if (found.any_dollar) {
        std::vector<bool> referenced(count, false);
        for (const auto& p : found.found) {
            if (!p.dollar) continue;
            if (p.index >= count) {
                fail(sql,
                     "statement refers to parameter $" +
                         std::string(sql.substr(p.begin + 1, p.end - p.begin - 1)) + " but " +
                         std::to_string(count) + " parameter(s) were given",
                     "42P02");
            }
            referenced[p.index] = true;
            used.push_back(p);
        }
        const auto missing = std::find(referenced.begin(), referenced.end(), false);
        if (missing != referenced.end()) {
            fail(sql,
                 "parameter $" + std::to_string(missing - referenced.begin() + 1) +
                     " is not used by the statement (" + std::to_string(count) +
                     " parameter(s) given)",
                 "42P02");
        }
    } else {
        if (count == 0) return std::string(sql);
        std::size_t index = 0;
        for (const auto& p : found.found) {
            used.push_back(p);
            used.back().index = index++;
        }
        if (used.size() != count) {
            fail(sql,
                 "statement has " + std::to_string(used.size()) + " placeholder(s), got " +
                     std::to_string(count) + " parameter(s)",
                 "42P02");
        }
    }
    if (used.empty()) return std::string(sql);

    std::vector<std::string> literals(count);
    std::vector<bool> made(count, false);
    std::string out;
    out.reserve(sql.size() + 16 * used.size());
    std::size_t at = 0;
    for (const auto& p : used) {
        out.append(sql.substr(at, p.begin - at));
        if (!made[p.index]) {
            literals[p.index] = literal(p.index);
            made[p.index] = true;
        }
        // Keep tokens apart: "LIMIT?" must not become "LIMIT5", nor "x-?" a
        // "--" comment.
        if (!out.empty() && (is_ident_char(static_cast<unsigned char>(out.back())) || out.back() == '-')) {
            out.push_back(' ');
        }
        out.append(literals[p.index]);
        at = p.end;
        if (at < sql.size() && is_ident_char(static_cast<unsigned char>(sql[at]))) out.push_back(' ');
    }
    out.append(sql.substr(at));
    return out;
}

std::vector<std::string> pg_leading_keywords(std::string_view sql, std::size_t max) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < sql.size() && words.size() < max) {
        if (auto next = skip_comment(sql, i)) {
            i = *next;
            continue;
        }
        const auto c = static_cast<unsigned char>(sql[i]);
        if (is_space(c)) {
            ++i;
            continue;
        }
        if (!is_ident_start(c)) break;
        std::string word;
        while (i < sql.size() && is_ident_char(static_cast<unsigned char>(sql[i]))) {
            word.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i]))));
            ++i;
        }
        words.push_back(std::move(word));
    }
    return words;
}

bool pg_is_plain_identifier(std::string_view name) noexcept {
    if (name.empty()) return false;
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
    if (!alpha(name.front())) return false;
    return std::all_of(name.begin(), name.end(),
                       [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

bool pg_contains_word(std::string_view text, std::string_view lower_word) noexcept {
    if (lower_word.empty() || text.size() < lower_word.size()) return lower_word.empty();
    for (std::size_t i = 0; i + lower_word.size() <= text.size(); ++i) {
        bool match = true;
        for (std::size_t k = 0; k < lower_word.size(); ++k) {
            if (std::tolower(static_cast<unsigned char>(text[i + k])) != lower_word[k]) {
                match = false;
                break;
            }
        }
        if (match) return true;
    }
    return false;
}

}  // namespace atrium::db
