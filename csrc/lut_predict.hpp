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
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "threads.hpp"

namespace segevo {

// Digit spans are limited so that one OR of (t | (span - t)) over the digits of a few rows
// tells whether every digit lies in its range (see predict_detail::tile_in_range).
inline constexpr std::uint64_t kMaxDigitSpan = (std::uint64_t{1} << 31) - 1;

// The validated terms, in the form the kernel reads. Arithmetic on codes is modulo 2**64:
// `base` folds -sum_j lower[d_j] * stride_j into each term's offset, which is exact for any
// in-range row because its true code lies in [0, table size). A (digit, stride) pair that
// every term has is computed once per row (`shared`) instead of once per term.
struct PredictLayout {
    std::size_t n_var = 0;
    std::vector<std::uint64_t> check_lo;    // [n_var] lower bound as seen by the dtype
    std::vector<std::uint64_t> check_span;  // [n_var] upper - lower; all ones: nothing passes
    std::vector<std::uint32_t> shared_digit;
    std::vector<std::uint64_t> shared_stride;
    std::vector<std::uint64_t> base;         // [n_terms] offset - sum lower * stride (mod 2**64)
    std::vector<std::uint32_t> ends;         // [n_terms] end of each term's own pairs
    std::vector<std::uint32_t> pair_digit;   // [P] column of X
    std::vector<std::uint64_t> pair_stride;  // [P]
    // Runs of consecutive terms with the same number of own pairs: [first, last) terms.
    struct Run {
        std::uint32_t first, last, pairs;
    };
    std::vector<Run> runs;
    const double* tables = nullptr;

    std::size_t n_terms() const { return base.size(); }
    std::uint32_t begin(std::size_t t) const { return t == 0 ? 0 : ends[t - 1]; }

    // Moves pairs present in every term to `shared` and groups the terms into runs; call
    // once after filling base, ends and the pairs.
    void finalize();
};

inline void PredictLayout::finalize() {
    const std::size_t T = n_terms();
    std::vector<std::vector<std::pair<std::uint32_t, std::uint64_t>>> own(T);
    for (std::size_t t = 0; t < T; ++t) {
        for (std::uint32_t k = begin(t); k < ends[t]; ++k) {
            own[t].emplace_back(pair_digit[k], pair_stride[k]);
        }
    }
    if (T >= 2) {
        const auto first_pairs = own[0];
        for (const auto& candidate : first_pairs) {
            bool everywhere = true;
            for (std::size_t t = 1; t < T && everywhere; ++t) {
                everywhere = std::find(own[t].begin(), own[t].end(), candidate) != own[t].end();
            }
            if (!everywhere) continue;
            shared_digit.push_back(candidate.first);
            shared_stride.push_back(candidate.second);
            for (auto& pairs : own) pairs.erase(std::find(pairs.begin(), pairs.end(), candidate));
        }
    }
    pair_digit.clear();
    pair_stride.clear();
    runs.clear();
    for (std::size_t t = 0; t < T; ++t) {
        for (const auto& [d, s] : own[t]) {
            pair_digit.push_back(d);
            pair_stride.push_back(s);
        }
        ends[t] = static_cast<std::uint32_t>(pair_digit.size());
        const auto n = static_cast<std::uint32_t>(own[t].size());
        if (runs.empty() || runs.back().pairs != n) {
            runs.push_back({static_cast<std::uint32_t>(t), static_cast<std::uint32_t>(t), n});
        }
        runs.back().last = static_cast<std::uint32_t>(t + 1);
    }
}

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

// Rows are handled in pairs: a pair's digits are checked in one flat loop against the
// bounds laid out twice, then both rows are summed side by side (see add_run). Checking
// larger tiles first measured slower: the long check loop and the latency-bound sums then
// overlap less in the CPU.
inline constexpr std::size_t kTileRows = 2;

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
inline std::uint64_t shared_code(const I* row, const PredictLayout& layout) {
    std::uint64_t code = 0;
    for (std::size_t k = 0; k < layout.shared_digit.size(); ++k) {
        code += widen(row[layout.shared_digit[k]]) * layout.shared_stride[k];
    }
    return code;
}

// Adds the terms of one run to the sums of two rows x and y. K >= 0: every term of the run
// has K own pairs, known at compile time (unrolled, no inner branch); K < 0: read off the run.
// The two rows share the loads of digits and strides and give the CPU two independent
// chains of additions.
template <int K, class I>
inline void add_run(const I* x, const I* y, const PredictLayout& layout,
                    const PredictLayout::Run& run, std::uint64_t shared_x, std::uint64_t shared_y,
                    double& sum_x, double& sum_y) {
    const std::uint32_t n = K >= 0 ? static_cast<std::uint32_t>(K) : run.pairs;
    const std::uint32_t* digit = layout.pair_digit.data() + layout.begin(run.first);
    const std::uint64_t* stride = layout.pair_stride.data() + layout.begin(run.first);
    const std::uint64_t* base = layout.base.data();
    const double* tables = layout.tables;
    for (std::uint32_t t = run.first; t < run.last; ++t, digit += n, stride += n) {
        std::uint64_t code_x = base[t] + shared_x;
        std::uint64_t code_y = base[t] + shared_y;
        for (std::uint32_t j = 0; j < n; ++j) {
            code_x += widen(x[digit[j]]) * stride[j];
            code_y += widen(y[digit[j]]) * stride[j];
        }
        sum_x += tables[code_x];
        sum_y += tables[code_y];
    }
}

// Sums of rows x and y (the same row twice for a lone row), terms in order.
template <class I>
inline void sum_two_rows(const I* x, const I* y, const PredictLayout& layout, double& out_x,
                         double& out_y) {
    const std::uint64_t shared_x = shared_code(x, layout);
    const std::uint64_t shared_y = shared_code(y, layout);
    // Local sums (not the references) so that they stay in registers across the runs.
    double sum_x = 0.0;
    double sum_y = 0.0;
    for (const PredictLayout::Run& run : layout.runs) {
        switch (run.pairs) {
#define SEGEVO_PREDICT_RUN(K)                                                          \
    case K:                                                                            \
        add_run<K>(x, y, layout, run, shared_x, shared_y, sum_x, sum_y);               \
        break;
            SEGEVO_PREDICT_RUN(0)
            SEGEVO_PREDICT_RUN(1)
            SEGEVO_PREDICT_RUN(2)
            SEGEVO_PREDICT_RUN(3)
            SEGEVO_PREDICT_RUN(4)
            SEGEVO_PREDICT_RUN(5)
            SEGEVO_PREDICT_RUN(6)
            SEGEVO_PREDICT_RUN(7)
            SEGEVO_PREDICT_RUN(8)
#undef SEGEVO_PREDICT_RUN
            default:
                add_run<-1>(x, y, layout, run, shared_x, shared_y, sum_x, sum_y);
        }
    }
    out_x = sum_x;
    out_y = sum_y;
}

// The check of a pair waits for its rows to arrive from memory, stalling the sums, which
// have nothing else to do; asking for the rows a few pairs ahead overlaps the two.
inline constexpr std::size_t kPrefetchTiles = 8;

inline void prefetch_rows(const void* start, std::size_t bytes) {
#if defined(__GNUC__) || defined(__clang__)
    const char* p = static_cast<const char*>(start);
    for (std::size_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b);
#else
    (void)start;
    (void)bytes;
#endif
}

// Rows [r0, r1): false as soon as a pair of rows holds a digit out of range or sums to NaN,
// in which case out is unspecified for that pair.
template <class I>
bool predict_rows(const I* X, std::size_t r0, std::size_t r1, const PredictLayout& layout,
                  const std::uint64_t* lo_tiled, const std::uint64_t* span_tiled, double* out) {
    const std::size_t D = layout.n_var;
    for (std::size_t r = r0; r < r1; r += kTileRows) {
        if (r + (kPrefetchTiles + 1) * kTileRows <= r1) {
            prefetch_rows(X + (r + kPrefetchTiles * kTileRows) * D, kTileRows * D * sizeof(I));
        }
        const bool pair = r + 1 < r1;
        const I* x = X + r * D;
        if (!tile_in_range(x, (pair ? 2 : 1) * D, lo_tiled, span_tiled)) return false;
        double sum_x, sum_y;
        sum_two_rows(x, pair ? x + D : x, layout, sum_x, sum_y);
        out[r] = sum_x;
        if (pair) out[r + 1] = sum_y;
        if ((sum_x != sum_x) | (sum_y != sum_y)) return false;
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
        const std::uint64_t shared = shared_code(row, layout);
        for (std::size_t t = 0; t < layout.n_terms(); ++t) {
            std::uint64_t code = layout.base[t] + shared;
            for (std::uint32_t k = layout.begin(t); k < layout.ends[t]; ++k) {
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
// Rows handed out per grab: small enough that a worker descheduled by other processes leaves
// little work stranded; even, so that only the batch's last block can end on a lone row.
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
    const std::size_t work = B * (D + layout.pair_digit.size() + layout.n_terms());
    std::size_t n_threads = std::min<std::size_t>(
        std::max(1u, max_threads), std::max<std::size_t>(1, work / kPredictReadsPerThread));
    n_threads = std::min(n_threads, (B + kPredictRowsPerGrab - 1) / kPredictRowsPerGrab);

    auto predict_block = [&](std::size_t r0, std::size_t r1) {
        return predict_detail::predict_rows(X, r0, r1, layout, lo_tiled.data(), span_tiled.data(),
                                            out);
    };
    const bool ok = parallel_rows(B, kPredictRowsPerGrab, n_threads, predict_block);
    if (ok) return PredictFailure{};
    return predict_detail::locate_failure(X, B, layout);
}

}  // namespace segevo
