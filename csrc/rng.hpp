// Small, fast, deterministic random numbers for the GA (xoshiro256** seeded by splitmix64).
#pragma once

#include <cstdint>

namespace segevo {

inline std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

class Xoshiro256 {
public:
    explicit Xoshiro256(std::uint64_t seed) {
        // splitmix64 expands any seed (0 included) into a non-zero xoshiro state.
        std::uint64_t sm = seed;
        for (auto& word : s_) word = splitmix64(sm);
    }

    std::uint64_t next() {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform integer in [0, bound) by Lemire's multiply-shift; the bias (< bound / 2^64)
    // is irrelevant for a GA and keeps the draw branch-free.
    std::uint32_t below(std::uint32_t bound) {
        const auto x = static_cast<std::uint32_t>(next() >> 32);
        return static_cast<std::uint32_t>((static_cast<std::uint64_t>(x) * bound) >> 32);
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4];
};

}  // namespace segevo
