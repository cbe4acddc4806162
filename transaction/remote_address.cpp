#include "transaction/remote_address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace atrium {

namespace {

template <std::size_t N>
void mask(std::array<unsigned char, N>& bytes, int prefix) {
    prefix = std::clamp(prefix, 0, static_cast<int>(N * 8));
    for (std::size_t i = 0; i < N; ++i) {
        int bits = std::clamp(prefix - static_cast<int>(i * 8), 0, 8);
        bytes[i] &= static_cast<unsigned char>(0xFF00 >> bits);
    }
}

}  // namespace

std::optional<remote_address> make_remote_address(const std::string& ip, int ipv4_prefix, int ipv6_prefix) {
    char text[INET6_ADDRSTRLEN] = {};
    std::array<unsigned char, 4> v4{};
    if (inet_pton(AF_INET, ip.c_str(), v4.data()) == 1) {
        mask(v4, ipv4_prefix);
        inet_ntop(AF_INET, v4.data(), text, sizeof text);
        return remote_address{ip, std::string(text) + "/" + std::to_string(std::clamp(ipv4_prefix, 0, 32))};
    }
    std::array<unsigned char, 16> v6{};
    if (inet_pton(AF_INET6, ip.c_str(), v6.data()) == 1) {
        mask(v6, ipv6_prefix);
        inet_ntop(AF_INET6, v6.data(), text, sizeof text);
        return remote_address{ip, std::string(text) + "/" + std::to_string(std::clamp(ipv6_prefix, 0, 128))};
    }
    return std::nullopt;
}

}  // namespace atrium
