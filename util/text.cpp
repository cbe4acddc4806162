#include "util/text.hpp"

namespace atrium::util {

std::string_view trim(std::string_view text, std::string_view blanks) noexcept {
    const auto first = text.find_first_not_of(blanks);
    if (first == std::string_view::npos) return {};
    return trim_end(text.substr(first), blanks);
}

std::string_view trim_end(std::string_view text, std::string_view blanks) noexcept {
    const auto last = text.find_last_not_of(blanks);
    if (last == std::string_view::npos) return {};
    return text.substr(0, last + 1);
}

}  // namespace atrium::util
