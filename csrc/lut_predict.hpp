// Fused look-up-table prediction: from integer digit vectors straight to summed values.
//
// Each term of the sum reads a few digits of a row x; its code is
//     code = sum_j (x[d_j] - lower[d_j]) * stride_j
// and it adds tables[offset + code]. A NaN in tables marks a combination of digits that
// is invalid: a row that hits one is reported rather than summed. Every digit of every row
// is checked against [lower, upper] before any table is read, and the binding checks once
// per call that no in-range code can leave the table, so the kernel never reads out of
// bounds.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <thread>
#include <type_traits>
#include <vector>

namespace segevo {

// Digit spans are limited so that one OR of (t | (span - t)) over a whole tile tells
// whether every digit lies in its range (see predict_detail::tile_in_range).
inline constexpr std::uint64_t kMaxDigitSpan = (std::uint64_t{1} << 31) - 1;

// The validated terms, in the form the kernel reads. Arithmetic on codes is modulo 2**64:
// `base` folds -sum_j lower[d_j] * stride_j into each term's offset, which is exact for any
// in-range row because its true code lies in [0, table size).
struct PredictLayout {
    std::size_t n_var = 0;
    std::vector<std::uint64_t> check_lo;    // [n_var] lower bound as seen by the dtype
    std::vector<std::uint64_t> check_span;  // [n_var] upper - lower; all ones: nothing passes
    std::vector<std::uint64_t> base;        // [n_terms] offset - sum_j lower * stride (mod 2**64)
    std::vector<std::uint32_t> ends;        // [n_terms] end of each term's (digit, stride) pairs
    std::vector<std::uint32_t> pair_digit;  // [P] column of X
    std::vector<std::uint64_t> pair_stride; // [P]
    const double* tables = nullptr;
};

// The first row (in row order) that cannot be summed: a digit outside its range
// (`term_invalid` false, `index` = the digit) or a term on a NaN entry (`term_invalid`
// true, `index` = the term). `found` is false when every row was summed.
struct PredictFailure {
    bool found = false;
    std::size_t row = 0;
    bool term_invalid = false;
    std::size_t index = 0;
};

namespace predict_detail {

template <class I>
inline std::uint64_t widen(I v) {
    if constexpr (std::is_signed_v<I>) {
        return static_cast<std::uint64_t>(static_cast<std::int64_t>(v));
    } else {
        return static_cast<std::uint64_t>(v);
    }
}

// Rows checked together: the check runs as one flat, vectorisable loop over a tile's
// digits against bounds repeated once per row of the tile.
inline constexpr std::size_t kTileRows = 16;

// With t = x - lo (mod 2**64): x is in range iff t <= span. If so, t and span - t are both
// <= span <= kMaxDigitSpan; otherwise t or span - t (which wraps) has a bit above it.
template <class I>
inline bool tile_in_range(const I* x, std::size_t count, const std::uint64_t* lo_tiled,
                          const std::uint64_t* span_tiled) {
    std::uint64_t flag = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint64_t t = widen(x[i]) - lo_tiled[i];
        flag |= t | (span_tiled[i] - t);
    }
    return flag <= kMaxDigitSpan;
}

template <class I>
inline double row_sum(const I* row, const PredictLayout& layout) {
    const std::uint64_t* base = layout.base.data();
    const std::uint32_t* ends = layout.ends.data();
    const std::uint32_t* digit = layout.pair_digit.data();
    const std::uint64_t* stride = layout.pair_stride.data();
    const double* tables = layout.tables;
    const std::size_t n_terms = layout.base.size();
    double s = 0.0;
    std::size_t k = 0;
    for (std::size_t t = 0; t < n_terms; ++t) {
        std::uint64_t code = base[t];
        for (const std::size_t end = ends[t]; k < end; ++k) code += widen(row[digit[k]]) * stride[k];
        s += tables[code];
    }
    return s;
}

// Rows [r0, r1): false as soon as a tile holds a digit out of range or a NaN sum, in which
// case out is unspecified for that tile.
template <class I>
bool predict_rows(const I* X, std::size_t r0, std::size_t r1, const PredictLayout& layout,
                  const std::uint64_t* lo_tiled, const std::uint64_t* span_tiled, double* out) {
    const std::size_t D = layout.n_var;
    for (std::size_t t0 = r0; t0 < r1; t0 += kTileRows) {
        const std::size_t t1 = std::min(r1, t0 + kTileRows);
        if (!tile_in_range(X + t0 * D, (t1 - t0) * D, lo_tiled, span_tiled)) return false;
        bool nan = false;
        for (std::size_t r = t0; r < t1; ++r) {
            const double s = row_sum(X + r * D, layout);
            out[r] = s;
            nan |= s != s;
        }
        if (nan) return false;
    }
    return true;
}

template <class I>
PredictFailure locate_failure(const I* X, std::size_t B, const PredictLayout& layout) {
    const std::size_t D = layout.n_var;
    for (std::size_t r = 0; r < B; ++r) {
        const I* row = X + r * D;
        for (std::size_t d = 0; d < D; ++d) {
            if (!tile_in_range(row + d, 1, &layout.check_lo[d], &layout.check_span[d])) {
                return PredictFailure{true, r, false, d};
            }
        }
        std::size_t k = 0;
        for (std::size_t t = 0; t < layout.base.size(); ++t) {
            std::uint64_t code = layout.base[t];
            for (; k < layout.ends[t]; ++k) {
                code += widen(row[layout.pair_digit[k]]) * layout.pair_stride[k];
            }
            const double v = layout.tables[code];
            if (v != v) return PredictFailure{true, r, true, t};
        }
    }
    return PredictFailure{};
}

}  // namespace predict_detail

// Work per thread below which extra threads cost more than they save (digit reads).
inline constexpr std::size_t kPredictReadsPerThread = std::size_t{1} << 17;
// Rows handed out per grab (a multiple of the tile): small enough that a worker descheduled
// by other processes leaves little work stranded.
inline constexpr std::size_t kPredictRowsPerGrab = 1024;

// X: C-contiguous [B, layout.n_var]. Writes out[B]; on failure returns the first failing
// row, and out is unspecified.
template <class I>
PredictFailure lut_predict(const I* X, std::size_t B, const PredictLayout& layout, double* out,
                           unsigned max_threads) {
    using predict_detail::kTileRows;
    const std::size_t D = layout.n_var;
    std::vector<std::uint64_t> lo_tiled(kTileRows * D), span_tiled(kTileRows * D);
    for (std::size_t r = 0; r < kTileRows; ++r) {
        std::copy(layout.check_lo.begin(), layout.check_lo.end(), lo_tiled.begin() + r * D);
        std::copy(layout.check_span.begin(), layout.check_span.end(), span_tiled.begin() + r * D);
    }
    const std::size_t work = B * (D + layout.pair_digit.size() + layout.base.size());
    std::size_t n_threads = std::min<std::size_t>(
        std::max(1u, max_threads), std::max<std::size_t>(1, work / kPredictReadsPerThread));
    n_threads = std::min(n_threads, (B + kPredictRowsPerGrab - 1) / kPredictRowsPerGrab);

    bool ok = true;
    if (n_threads <= 1) {
        ok = predict_detail::predict_rows(X, 0, B, layout, lo_tiled.data(), span_tiled.data(),
                                          out);
    } else {
        // Dynamic scheduling, as in lut_sum: a preempted worker holds up little.
        std::atomic<std::size_t> next_row{0};
        std::atomic<bool> failed{false};
        auto worker = [&] {
            while (!failed.load(std::memory_order_relaxed)) {
                const std::size_t r0 = next_row.fetch_add(kPredictRowsPerGrab);
                if (r0 >= B) return;
                const std::size_t r1 = std::min(B, r0 + kPredictRowsPerGrab);
                if (!predict_detail::predict_rows(X, r0, r1, layout, lo_tiled.data(),
                                                  span_tiled.data(), out)) {
                    failed.store(true, std::memory_order_relaxed);
                }
            }
        };
        std::vector<std::thread> workers;
        workers.reserve(n_threads - 1);
        for (std::size_t t = 1; t < n_threads; ++t) workers.emplace_back(worker);
        worker();
        for (auto& w : workers) w.join();
        ok = !failed.load();
    }
    if (ok) return PredictFailure{};
    return predict_detail::locate_failure(X, B, layout);
}

}  // namespace segevo
