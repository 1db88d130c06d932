// Building blocks of non-dominated sorting: lexicographic sorting of small records and
// a short-window search, shared by the sweep-based rankings.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "radix_sort.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace segevo::nds {

struct Point2 {
    double a;
    double b;
    std::int32_t idx;
};

struct Point3 {
    double a;
    double b;
    double c;
    std::int32_t idx;
};

inline bool lex_less2(const Point2& p, const Point2& q) {
    if (p.a != q.a) return p.a < q.a;
    if (p.b != q.b) return p.b < q.b;
    return p.idx < q.idx;
}

inline bool lex_less3(const Point3& p, const Point3& q) {
    if (p.a != q.a) return p.a < q.a;
    if (p.b != q.b) return p.b < q.b;
    if (p.c != q.c) return p.c < q.c;
    return p.idx < q.idx;
}

// From this many points on, a radix sort on the first objective starts the lexicographic
// sort: it is as fast as the distribution sort on random data and, unlike it, stays
// linear on skewed data.
constexpr std::size_t kRadixFrom = 2048;

// Scratch reused between calls: the frequent small sorts of an NSGA-II survival step
// (n ~ 200) should not pay for heap allocations every time.
inline thread_local std::vector<KeyIndex> tl_keys;
inline thread_local std::vector<KeyIndex> tl_keys_tmp;
inline thread_local std::vector<std::uint32_t> tl_bucket_end;

// Completes a stable sort by the first objective into a lexicographic one.
template <class Point, class Less>
inline void sort_runs_of_equal_a(std::vector<Point>& pts, Less less) {
    const std::size_t n = pts.size();
    for (std::size_t s = 0; s < n;) {
        std::size_t e = s + 1;
        while (e < n && pts[e].a == pts[s].a) ++e;
        if (e - s > 1) {
            std::sort(pts.begin() + static_cast<std::ptrdiff_t>(s),
                      pts.begin() + static_cast<std::ptrdiff_t>(e), less);
        }
        s = e;
    }
}

// One distribution pass on a: bucket floor((a - min) * n / range) is monotone in a, so
// sorting each bucket with the exact comparator sorts the whole. Random-looking data
// leaves one or two points per bucket, which costs a few linear passes instead of
// n log n unpredictable branches; a crowded bucket is handed to std::sort.
template <class Point, class Less>
inline void distribution_sort(std::vector<Point>& pts, std::vector<Point>& out, Less less) {
    const std::size_t n = pts.size();
    double lo = pts[0].a, hi = pts[0].a;
    for (const Point& p : pts) {
        lo = std::min(lo, p.a);
        hi = std::max(hi, p.a);
    }
    const double range = hi - lo;
    // A subnormal range makes n / range overflow: 0 * inf would then put the minimum in
    // a NaN bucket, so such inputs take the plain sort too.
    const double scale = static_cast<double>(n) / range;
    if (n < 8 || !(range > 0.0) || !std::isfinite(range) || !std::isfinite(scale)) {
        std::sort(pts.begin(), pts.end(), less);
        return;
    }
    out.resize(n);
    auto bucket_of = [&](double a) {
        const auto b = static_cast<std::size_t>((a - lo) * scale);
        return b < n ? b : n - 1;
    };
    auto& end = tl_bucket_end;
    end.assign(n + 1, 0);
    for (const Point& p : pts) ++end[bucket_of(p.a) + 1];
    for (std::size_t b = 1; b <= n; ++b) end[b] += end[b - 1];
    for (const Point& p : pts) out[end[bucket_of(p.a)]++] = p;
    // end[b] now is one past bucket b.
    std::size_t begin = 0;
    for (std::size_t b = 0; b < n; ++b) {
        const std::size_t stop = end[b];
        if (stop - begin > 16) {
            std::sort(out.begin() + static_cast<std::ptrdiff_t>(begin),
                      out.begin() + static_cast<std::ptrdiff_t>(stop), less);
        } else {
            for (std::size_t i = begin + 1; i < stop; ++i) {
                const Point x = out[i];
                std::size_t j = i;
                for (; j > begin && less(x, out[j - 1]); --j) out[j] = out[j - 1];
                out[j] = x;
            }
        }
        begin = stop;
    }
    pts.swap(out);
}

// Fills pts with the rows of F [n, m] (objectives 0..2 as a, b, c) in lexicographic
// order. + 0.0 folds -0.0 into 0.0 so that equal rows compare equal.
template <class Point, class Less, class Make>
inline void lexicographic_points(const double* F, std::size_t n, std::size_t m,
                                 std::vector<Point>& pts, std::vector<Point>& tmp, Less less,
                                 Make make) {
    pts.resize(n);
    if (n < kRadixFrom) {
        for (std::size_t i = 0; i < n; ++i) pts[i] = make(F + i * m, i);
        distribution_sort(pts, tmp, less);
        return;
    }
    auto& keys = tl_keys;
    keys.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        keys[i] = KeyIndex{order_key(F[i * m]), static_cast<std::uint32_t>(i)};
    }
    radix_sort(keys, tl_keys_tmp);
    for (std::size_t s = 0; s < n; ++s) pts[s] = make(F + keys[s].idx * m, keys[s].idx);
    sort_runs_of_equal_a(pts, less);
}

// Number of leading elements <= x in an ascending array (std::upper_bound). A binary
// search is a chain of dependent loads with unpredictable comparisons, so it is written
// with conditional moves and stops at a window of 32, which a vectorised count finishes
// sooner than five more dependent steps would.
inline std::size_t count_not_above(const double* a, std::size_t n, double x) {
    const double* base = a;
    while (n > 32) {
        const std::size_t half = n / 2;
        base = (base[half] <= x) ? base + half : base;
        n -= half;
    }
    std::size_t count = 0;
    std::size_t i = 0;
#if defined(__SSE2__)
    // Compilers do not vectorise a count of floating-point comparisons by themselves.
    const __m128d xv = _mm_set1_pd(x);
    __m128i acc = _mm_setzero_si128();
    for (; i + 2 <= n; i += 2) {
        const __m128d le = _mm_cmple_pd(_mm_loadu_pd(base + i), xv);
        acc = _mm_sub_epi64(acc, _mm_castpd_si128(le));  // a true lane is -1
    }
    alignas(16) std::int64_t lanes[2];
    _mm_store_si128(reinterpret_cast<__m128i*>(lanes), acc);
    count = static_cast<std::size_t>(lanes[0] + lanes[1]);
#endif
    for (; i < n; ++i) count += base[i] <= x ? 1 : 0;
    return static_cast<std::size_t>(base - a) + count;
}

}  // namespace segevo::nds
