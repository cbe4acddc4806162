#pragma once
/// @file
/// @brief The characters XML 1.0 can carry, and UTF-8 decoding one code point
/// at a time: shared by the XML-RPC reader (which refuses anything else) and
/// writer (which replaces it).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace atrium::server::xml_chars {

/// XML 1.0's Char production: tab, LF, CR, U+0020–U+D7FF, U+E000–U+FFFD, U+10000–U+10FFFF.
constexpr bool allowed(std::uint32_t c) noexcept {
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
           (c >= 0x10000 && c <= 0x10FFFF);
}

/// The code point starting at text[i], advancing i past it; -1 (i unchanged)
/// for invalid UTF-8: a bad lead or continuation byte, a truncated, overlong
/// or surrogate sequence, or a value beyond U+10FFFF.
inline std::int32_t decode_utf8(std::string_view text, std::size_t& i) noexcept {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    if (lead < 0x80) {
        ++i;
        return lead;
    }
    std::size_t length = 0;
    std::uint32_t c = 0;
    std::uint32_t minimum = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2, c = lead & 0x1Fu, minimum = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3, c = lead & 0x0Fu, minimum = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4, c = lead & 0x07u, minimum = 0x10000;
    } else {
        return -1;
    }
    if (text.size() - i < length) return -1;
    for (std::size_t k = 1; k < length; ++k) {
        const unsigned char next = byte(i + k);
        if ((next & 0xC0) != 0x80) return -1;
        c = (c << 6) | (next & 0x3Fu);
    }
    if (c < minimum || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return -1;
    i += length;
    return static_cast<std::int32_t>(c);
}

}  // namespace atrium::server::xml_chars
