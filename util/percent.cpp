#include "util/percent.hpp"

#include "util/hex.hpp"

namespace atrium::util {

percent_decoded percent_decode(std::string_view text, bool refuse_nul) {
    percent_decoded out;
    out.text.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out.text.push_back(text[i]);
            continue;
        }
        const int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
        const int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
        if (high < 0 || low < 0) {
            out.error = percent_error::bad_escape;
            return out;
        }
        const char decoded = static_cast<char>(high * 16 + low);
        if (decoded == '\0' && refuse_nul) {
            out.error = percent_error::nul_byte;
            return out;
        }
        out.text.push_back(decoded);
        i += 2;
    }
    return out;
}

}  // namespace atrium::util
