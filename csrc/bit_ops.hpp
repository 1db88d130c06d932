// Portable count-trailing-zeros and population count on 64-bit words.
#pragma once

#include <cstdint>

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#endif

namespace segevo {

// Index of the lowest set bit; x must not be 0.
inline int lowest_bit(std::uint64_t x) {
#if defined(_MSC_VER) && !defined(__clang__)
    unsigned long index;
    _BitScanForward64(&index, x);
    return static_cast<int>(index);
#else
    return __builtin_ctzll(x);
#endif
}

inline int bit_count(std::uint64_t x) {
#if defined(_MSC_VER) && !defined(__clang__)
    return static_cast<int>(__popcnt64(x));
#elif defined(__POPCNT__)
    return __builtin_popcountll(x);
#else
    // Without the POPCNT instruction (baseline x86-64) the builtin is a library call;
    // the classic SWAR count is a handful of inlined operations.
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return static_cast<int>((x * 0x0101010101010101ULL) >> 56);
#endif
}

}  // namespace segevo
