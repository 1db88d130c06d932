// Batched look-up-table sums: out[b] = sum_j table[indices[b, j]], -1 = absent.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "threads.hpp"

namespace segevo {

// Where the first out-of-range index sits; found == false when every index is valid.
struct BadIndex {
    bool found = false;
    std::size_t row = 0;
    std::size_t col = 0;
};

namespace lut_detail {

template <class I>
bool block_in_range(const I* idx, std::size_t count, std::int64_t table_size) {
    // A separate min/max pass vectorises well and touches rows that the gather below
    // reads next (so they come from cache), which is cheaper than a compare per lookup.
    I lo = idx[0], hi = idx[0];
    for (std::size_t i = 1; i < count; ++i) {
        lo = std::min(lo, idx[i]);
        hi = std::max(hi, idx[i]);
    }
    if constexpr (std::is_signed_v<I>) {
        return static_cast<std::int64_t>(lo) >= -1 && static_cast<std::int64_t>(hi) < table_size;
    } else {
        (void)lo;
        return static_cast<std::uint64_t>(hi) < static_cast<std::uint64_t>(table_size);
    }
}

// Rows [r0, r1). `shifted` points one past a zero so that shifted[-1] == 0.0 (absent).
// Four rows run side by side so that four independent addition chains hide the latency
// of the floating-point adds; each row is still summed left to right.
template <class I>
bool sum_rows(const I* idx, std::size_t r0, std::size_t r1, std::size_t L, const double* shifted,
              std::int64_t table_size, double* out) {
    std::size_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const I* a = idx + r * L;
        if (L > 0 && !block_in_range(a, 4 * L, table_size)) return false;
        const I* b = a + L;
        const I* c = b + L;
        const I* d = c + L;
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        for (std::size_t j = 0; j < L; ++j) {
            s0 += shifted[static_cast<std::ptrdiff_t>(a[j])];
            s1 += shifted[static_cast<std::ptrdiff_t>(b[j])];
            s2 += shifted[static_cast<std::ptrdiff_t>(c[j])];
            s3 += shifted[static_cast<std::ptrdiff_t>(d[j])];
        }
        out[r] = s0;
        out[r + 1] = s1;
        out[r + 2] = s2;
        out[r + 3] = s3;
    }
    for (; r < r1; ++r) {
        const I* a = idx + r * L;
        if (L > 0 && !block_in_range(a, L, table_size)) return false;
        double s = 0.0;
        for (std::size_t j = 0; j < L; ++j) s += shifted[static_cast<std::ptrdiff_t>(a[j])];
        out[r] = s;
    }
    return true;
}

template <class I>
BadIndex locate_bad(const I* idx, std::size_t B, std::size_t L, std::int64_t table_size) {
    for (std::size_t r = 0; r < B; ++r) {
        for (std::size_t j = 0; j < L; ++j) {
            if (!block_in_range(idx + r * L + j, 1, table_size)) return BadIndex{true, r, j};
        }
    }
    return BadIndex{};
}

}  // namespace lut_detail

// Lookups per thread below which extra threads cost more than they save.
inline constexpr std::size_t kLutLookupsPerThread = std::size_t{1} << 17;
// Rows handed out per grab: small enough that a worker descheduled by other processes
// leaves little work stranded, large enough that the shared counter is rarely touched.
inline constexpr std::size_t kLutRowsPerGrab = 2048;

// indices: C-contiguous [B, L]; table: [T]. Writes out[B]; returns the first bad index
// (row-major order) if any, in which case out is unspecified.
template <class I>
BadIndex lut_sum(const I* indices, std::size_t B, std::size_t L, const double* table, std::size_t T,
                 double* out, unsigned max_threads) {
    std::vector<double> padded(T + 1);
    padded[0] = 0.0;
    std::copy(table, table + T, padded.begin() + 1);
    const double* shifted = padded.data() + 1;
    const auto table_size = static_cast<std::int64_t>(T);

    const std::size_t work = B * std::max<std::size_t>(L, 1);
    std::size_t n_threads = std::min<std::size_t>(
        std::max(1u, max_threads), std::max<std::size_t>(1, work / kLutLookupsPerThread));
    n_threads = std::min(n_threads, (B + kLutRowsPerGrab - 1) / kLutRowsPerGrab);

    auto sum_block = [&](std::size_t r0, std::size_t r1) {
        return lut_detail::sum_rows(indices, r0, r1, L, shifted, table_size, out);
    };
    const bool ok = parallel_rows(B, kLutRowsPerGrab, n_threads, sum_block);
    if (ok) return BadIndex{};
    return lut_detail::locate_bad(indices, B, L, table_size);
}

}  // namespace segevo
