#include "pareto.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "radix_sort.hpp"

namespace segevo {
namespace {

// ---------------------------------------------------------------------------------------
// Lexicographic sorting of small records (the first step of every ranking).

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
thread_local std::vector<KeyIndex> tl_keys;
thread_local std::vector<KeyIndex> tl_keys_tmp;
thread_local std::vector<std::uint32_t> tl_bucket_end;

// Completes a stable sort by the first objective into a lexicographic one.
template <class Point, class Less>
void sort_runs_of_equal_a(std::vector<Point>& pts, Less less) {
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
void distribution_sort(std::vector<Point>& pts, std::vector<Point>& out, Less less) {
    const std::size_t n = pts.size();
    double lo = pts[0].a, hi = pts[0].a;
    for (const Point& p : pts) {
        lo = std::min(lo, p.a);
        hi = std::max(hi, p.a);
    }
    const double range = hi - lo;
    if (n < 8 || !(range > 0.0) || !std::isfinite(range)) {
        std::sort(pts.begin(), pts.end(), less);
        return;
    }
    out.resize(n);
    const double scale = static_cast<double>(n) / range;
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
void lexicographic_points(const double* F, std::size_t n, std::size_t m,
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
    for (std::size_t i = 0; i < n; ++i) count += base[i] <= x ? 1 : 0;
    return static_cast<std::size_t>(base - a) + count;
}

// ---------------------------------------------------------------------------------------
// One and two objectives.

void rank_one_objective(const double* F, std::size_t n, std::int32_t* rank) {
    std::vector<std::pair<double, std::int32_t>> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = {F[i] + 0.0, static_cast<std::int32_t>(i)};
    std::sort(v.begin(), v.end());
    std::int32_t r = -1;
    for (std::size_t s = 0; s < n; ++s) {
        if (s == 0 || v[s].first != v[s - 1].first) ++r;
        rank[v[s].second] = r;
    }
}

thread_local std::vector<Point2> tl_points2;
thread_local std::vector<Point2> tl_points2_tmp;
thread_local std::vector<double> tl_front_min;

// Two objectives (Jensen 2003; ENS with binary search): in lexicographic order, each
// point joins the first front whose smallest second objective exceeds its own. Those
// minima do not decrease from front to front, so the search is a binary search.
void rank_two_objectives(const double* F, std::size_t n, std::int32_t* rank) {
    auto& pts = tl_points2;
    lexicographic_points(F, n, 2, pts, tl_points2_tmp, lex_less2, [](const double* row, std::size_t i) {
        return Point2{row[0] + 0.0, row[1] + 0.0, static_cast<std::int32_t>(i)};
    });
    auto& front_min = tl_front_min;
    front_min.clear();
    for (std::size_t s = 0; s < n; ++s) {
        const Point2& p = pts[s];
        std::int32_t r;
        if (s > 0 && p.a == pts[s - 1].a && p.b == pts[s - 1].b) {
            r = rank[pts[s - 1].idx];  // a duplicate row shares the front of its twin
        } else {
            r = static_cast<std::int32_t>(count_not_above(front_min.data(), front_min.size(), p.b));
            if (static_cast<std::size_t>(r) == front_min.size()) {
                front_min.push_back(p.b);
            } else {
                front_min[static_cast<std::size_t>(r)] = p.b;
            }
        }
        rank[p.idx] = r;
    }
}

// ---------------------------------------------------------------------------------------
// Three objectives.

// One front's points projected on objectives (1, 2), minimal ones only, ascending in
// objective 1 and therefore strictly descending in objective 2. Flat arrays: a lookup is a
// binary search on contiguous memory, far cheaper than walking a tree node by node.
struct Staircase {
    std::vector<double> b;
    std::vector<double> c;

    // Some kept point is weakly below (pb, pc).
    bool covers(double pb, double pc) const {
        const std::size_t pos = count_not_above(b.data(), b.size(), pb);
        return pos > 0 && c[pos - 1] <= pc;
    }

    // Adds a point that no kept point covers and drops the points it covers; returns how
    // many elements had to be shifted (the cost of the flat layout).
    std::size_t add(double pb, double pc) {
        const auto pos =
            static_cast<std::size_t>(std::lower_bound(b.begin(), b.end(), pb) - b.begin());
        std::size_t stop = pos;
        while (stop < b.size() && c[stop] >= pc) ++stop;
        if (stop > pos) {
            // Overwrite the first covered point, erase the rest of the covered run.
            b[pos] = pb;
            c[pos] = pc;
            b.erase(b.begin() + static_cast<std::ptrdiff_t>(pos + 1),
                    b.begin() + static_cast<std::ptrdiff_t>(stop));
            c.erase(c.begin() + static_cast<std::ptrdiff_t>(pos + 1),
                    c.begin() + static_cast<std::ptrdiff_t>(stop));
        } else {
            b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), pb);
            c.insert(c.begin() + static_cast<std::ptrdiff_t>(pos), pc);
        }
        return b.size() - pos;
    }
};

// Inserting into a flat staircase costs O(size). Random fronts keep staircases tiny
// (about 20 shifted elements per point at n = 1e5, 200 for a single flat front of 1e5
// points), but a few huge staircases would make the sweep quadratic, so past this many
// shifts per point the divide-and-conquer below (O(n log^2 n) whatever the shape of the
// fronts) takes over.
constexpr std::size_t kShiftBudgetPerPoint = 512;

thread_local std::vector<Point3> tl_points3;
thread_local std::vector<Point3> tl_points3_tmp;

// Three objectives: ENS with binary search over fronts (Zhang et al. 2015) with a 2-D
// staircase per front. Points arrive in lexicographic order, so an earlier point
// dominates a later, different one iff it is weakly smaller on objectives 1 and 2.
// Returns false (ranks unspecified) when the staircases exceed their shift budget.
bool rank_three_objectives(const double* F, std::size_t n, std::int32_t* rank) {
    auto& pts = tl_points3;
    lexicographic_points(F, n, 3, pts, tl_points3_tmp, lex_less3, [](const double* row, std::size_t i) {
        return Point3{row[0] + 0.0, row[1] + 0.0, row[2] + 0.0, static_cast<std::int32_t>(i)};
    });
    std::vector<Staircase> fronts;
    const std::size_t budget = kShiftBudgetPerPoint * n + 4096;
    std::size_t shifted = 0;
    for (std::size_t s = 0; s < n; ++s) {
        const Point3& p = pts[s];
        if (s > 0 && p.a == pts[s - 1].a && p.b == pts[s - 1].b && p.c == pts[s - 1].c) {
            rank[p.idx] = rank[pts[s - 1].idx];
            continue;
        }
        // The fronts that dominate p form a prefix: a dominator in front r is itself
        // dominated by a point of every earlier front.
        std::size_t lo = 0, hi = fronts.size();
        while (lo < hi) {
            const std::size_t mid = (lo + hi) / 2;
            if (fronts[mid].covers(p.b, p.c)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (lo == fronts.size()) fronts.emplace_back();
        shifted += fronts[lo].add(p.b, p.c);
        if (shifted > budget) return false;
        rank[p.idx] = static_cast<std::int32_t>(lo);
    }
    return true;
}

// ---------------------------------------------------------------------------------------
// Any number of objectives: divide and conquer over objectives (Jensen 2003; Fortin,
// Grenier & Parizeau 2013 for ties; Buzdalov & Shalyto 2014 for the three-way median
// split). Points are replaced by integer coordinates (dense ranks per objective), sorted
// lexicographically and de-duplicated, so that "index order" stands for objective 0:
// a point can only be dominated by a point with a smaller index.
class DivideAndConquerSorter {
public:
    DivideAndConquerSorter(const std::int32_t* coords, std::size_t count, std::size_t m,
                           std::int32_t n_values_obj1, std::int32_t* rank)
        : P_(coords),
          M_(m),
          rank_(rank),
          fen_(static_cast<std::size_t>(n_values_obj1), -1),
          scratch_(count),
          values_(count) {}

    void run(std::int32_t* ids, std::size_t count) { helper_a(ids, count, M_ - 1); }

private:
    static constexpr std::size_t kBruteA = 24;
    static constexpr std::size_t kBruteB = 384;

    std::int32_t coord(std::int32_t id, std::size_t obj) const {
        return P_[static_cast<std::size_t>(id) * M_ + obj];
    }

    // a <= b on objectives 1..k (objective 0 is implied by the index order).
    bool weakly_below(std::int32_t a, std::int32_t b, std::size_t k) const {
        const std::int32_t* pa = P_ + static_cast<std::size_t>(a) * M_;
        const std::int32_t* pb = P_ + static_cast<std::size_t>(b) * M_;
        for (std::size_t j = 1; j <= k; ++j) {
            if (pa[j] > pb[j]) return false;
        }
        return true;
    }

    // Prefix-maximum Fenwick tree over the dense values of objective 1. Every node on an
    // update path covers the previous one, so an update may stop at the first node that
    // already holds a value >= its own; resets clear exactly the touched paths.
    void fen_update(std::int32_t pos, std::int32_t val) {
        const auto size = static_cast<std::int32_t>(fen_.size());
        for (std::int32_t i = pos; i < size; i |= i + 1) {
            if (fen_[i] >= val) break;
            fen_[i] = val;
        }
    }
    std::int32_t fen_query(std::int32_t pos) const {
        std::int32_t best = -1;
        for (std::int32_t i = pos; i >= 0; i = (i & (i + 1)) - 1) best = std::max(best, fen_[i]);
        return best;
    }
    void fen_reset(std::int32_t pos) {
        const auto size = static_cast<std::int32_t>(fen_.size());
        for (std::int32_t i = pos; i < size; i |= i + 1) {
            if (fen_[i] == -1) break;
            fen_[i] = -1;
        }
    }

    void raise_rank(std::int32_t id, std::int32_t at_least) {
        if (rank_[id] < at_least) rank_[id] = at_least;
    }

    // Stable three-way partition of ids by objective k around pivot: [< | == | >].
    void partition3(std::int32_t* ids, std::size_t n, std::size_t k, std::int32_t pivot,
                    std::size_t& n_less, std::size_t& n_equal) {
        std::size_t w = 0, n_eq = 0, n_gt = 0;
        std::int32_t* eq = scratch_.data();
        std::int32_t* gt = scratch_.data() + n;  // greater ones are written backwards
        for (std::size_t i = 0; i < n; ++i) {
            const std::int32_t id = ids[i];
            const std::int32_t v = coord(id, k);
            if (v < pivot) {
                ids[w++] = id;
            } else if (v == pivot) {
                eq[n_eq++] = id;
            } else {
                *(--gt) = id;
                ++n_gt;
            }
        }
        std::memcpy(ids + w, eq, n_eq * sizeof(std::int32_t));
        for (std::size_t i = 0; i < n_gt; ++i) ids[w + n_eq + i] = scratch_[n - 1 - i];
        n_less = w;
        n_equal = n_eq;
    }

    // Merge two adjacent ascending runs ids[0, n1) and ids[n1, n1 + n2) in place.
    void merge_runs(std::int32_t* ids, std::size_t n1, std::size_t n2) {
        if (n1 == 0 || n2 == 0 || ids[n1 - 1] < ids[n1]) return;
        std::memcpy(scratch_.data(), ids, n1 * sizeof(std::int32_t));
        const std::int32_t* a = scratch_.data();
        const std::int32_t* a_end = a + n1;
        const std::int32_t* b = ids + n1;
        const std::int32_t* b_end = b + n2;
        std::int32_t* out = ids;
        while (a < a_end && b < b_end) *out++ = (*b < *a) ? *b++ : *a++;
        while (a < a_end) *out++ = *a++;
    }

    std::int32_t median_of(const std::int32_t* ids1, std::size_t n1, const std::int32_t* ids2,
                           std::size_t n2, std::size_t k) {
        std::size_t n = 0;
        for (std::size_t i = 0; i < n1; ++i) values_[n++] = coord(ids1[i], k);
        for (std::size_t i = 0; i < n2; ++i) values_[n++] = coord(ids2[i], k);
        auto mid = values_.begin() + static_cast<std::ptrdiff_t>(n / 2);
        std::nth_element(values_.begin(), mid, values_.begin() + static_cast<std::ptrdiff_t>(n));
        return *mid;
    }

    // Final ranks inside S, where all of S agrees on objectives > k and every contribution
    // from outside S has already been applied. S is ascending and is left ascending.
    void helper_a(std::int32_t* S, std::size_t n, std::size_t k) {
        if (n < 2) return;
        if (n <= kBruteA) {
            for (std::size_t i = 1; i < n; ++i) {
                std::int32_t r = rank_[S[i]];
                for (std::size_t j = 0; j < i; ++j) {
                    if (rank_[S[j]] >= r && weakly_below(S[j], S[i], k)) r = rank_[S[j]] + 1;
                }
                rank_[S[i]] = r;
            }
            return;
        }
        if (k == 1) {
            for (std::size_t i = 0; i < n; ++i) {
                const std::int32_t v = coord(S[i], 1);
                raise_rank(S[i], fen_query(v) + 1);
                fen_update(v, rank_[S[i]]);
            }
            for (std::size_t i = 0; i < n; ++i) fen_reset(coord(S[i], 1));
            return;
        }
        std::int32_t lo = coord(S[0], k), hi = lo;
        for (std::size_t i = 1; i < n; ++i) {
            const std::int32_t v = coord(S[i], k);
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
        if (lo == hi) {
            helper_a(S, n, k - 1);
            return;
        }
        const std::int32_t pivot = median_of(S, n, nullptr, 0, k);
        std::size_t nl = 0, nm = 0;
        partition3(S, n, k, pivot, nl, nm);
        const std::size_t nh = n - nl - nm;
        helper_a(S, nl, k);
        helper_b(S, nl, S + nl, nm, k - 1);
        helper_a(S + nl, nm, k - 1);
        merge_runs(S, nl, nm);
        helper_b(S, nl + nm, S + nl + nm, nh, k - 1);
        helper_a(S + nl + nm, nh, k);
        merge_runs(S, nl + nm, nh);
    }

    // Raise the ranks of H by the (final) ranks of L, where every point of L is <= every
    // point of H on objectives > k. L and H are ascending and are left ascending.
    void helper_b(std::int32_t* L, std::size_t nl, std::int32_t* H, std::size_t nh,
                  std::size_t k) {
        if (nl == 0 || nh == 0) return;
        if (nl * nh <= kBruteB || nl == 1 || nh == 1) {
            for (std::size_t i = 0; i < nh; ++i) {
                const std::int32_t h = H[i];
                std::int32_t r = rank_[h];
                for (std::size_t j = 0; j < nl && L[j] < h; ++j) {
                    if (rank_[L[j]] >= r && weakly_below(L[j], h, k)) r = rank_[L[j]] + 1;
                }
                rank_[h] = r;
            }
            return;
        }
        if (k == 1) {
            std::size_t i = 0;
            for (std::size_t j = 0; j < nh; ++j) {
                for (; i < nl && L[i] < H[j]; ++i) fen_update(coord(L[i], 1), rank_[L[i]]);
                raise_rank(H[j], fen_query(coord(H[j], 1)) + 1);
            }
            for (std::size_t t = 0; t < i; ++t) fen_reset(coord(L[t], 1));
            return;
        }
        std::int32_t l_lo = coord(L[0], k), l_hi = l_lo;
        for (std::size_t i = 1; i < nl; ++i) {
            const std::int32_t v = coord(L[i], k);
            l_lo = std::min(l_lo, v);
            l_hi = std::max(l_hi, v);
        }
        std::int32_t h_lo = coord(H[0], k), h_hi = h_lo;
        for (std::size_t i = 1; i < nh; ++i) {
            const std::int32_t v = coord(H[i], k);
            h_lo = std::min(h_lo, v);
            h_hi = std::max(h_hi, v);
        }
        if (l_hi <= h_lo) {
            helper_b(L, nl, H, nh, k - 1);
            return;
        }
        if (l_lo > h_hi) return;
        const std::int32_t pivot = median_of(L, nl, H, nh, k);
        std::size_t nll = 0, nlm = 0, nhl = 0, nhm = 0;
        partition3(L, nl, k, pivot, nll, nlm);
        partition3(H, nh, k, pivot, nhl, nhm);
        const std::size_t nlh = nl - nll - nlm;
        const std::size_t nhh = nh - nhl - nhm;
        helper_b(L, nll, H, nhl, k);
        helper_b(L + nll + nlm, nlh, H + nhl + nhm, nhh, k);
        merge_runs(L, nll, nlm);
        merge_runs(H + nhl, nhm, nhh);
        helper_b(L, nll + nlm, H + nhl, nhm + nhh, k - 1);
        merge_runs(L, nll + nlm, nlh);
        merge_runs(H, nhl, nhm + nhh);
    }

    const std::int32_t* P_;
    std::size_t M_;
    std::int32_t* rank_;
    std::vector<std::int32_t> fen_;
    std::vector<std::int32_t> scratch_;
    std::vector<std::int32_t> values_;
};

// Dense rank of each value of column j (equal values share a rank); returns the count.
std::int32_t dense_ranks(const double* F, std::size_t n, std::size_t m, std::size_t j,
                         std::vector<KeyIndex>& keys, std::vector<KeyIndex>& tmp,
                         std::int32_t* out) {
    keys.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        keys[i] = KeyIndex{order_key(F[i * m + j]), static_cast<std::uint32_t>(i)};
    }
    if (n < kRadixFrom) {
        std::sort(keys.begin(), keys.end(),
                  [](const KeyIndex& p, const KeyIndex& q) { return p.key < q.key; });
    } else {
        radix_sort(keys, tmp);
    }
    std::int32_t r = -1;
    for (std::size_t s = 0; s < n; ++s) {
        if (s == 0 || keys[s].key != keys[s - 1].key) ++r;
        out[static_cast<std::size_t>(keys[s].idx) * m + j] = r;
    }
    return r + 1;
}

// Lexicographic order of the rows of C [n, m] (dense ranks): stable counting sorts from
// the last column to the first.
std::vector<std::int32_t> lexicographic_order(const std::int32_t* C, std::size_t n,
                                              std::size_t m,
                                              const std::vector<std::int32_t>& n_values) {
    std::vector<std::int32_t> order(n), next(n);
    std::iota(order.begin(), order.end(), 0);
    std::vector<std::int32_t> count;
    for (std::size_t j = m; j-- > 0;) {
        count.assign(static_cast<std::size_t>(n_values[j]) + 1, 0);
        for (std::size_t i = 0; i < n; ++i) ++count[static_cast<std::size_t>(C[i * m + j]) + 1];
        for (std::size_t v = 1; v < count.size(); ++v) count[v] += count[v - 1];
        for (const std::int32_t id : order) {
            next[static_cast<std::size_t>(count[static_cast<std::size_t>(C[static_cast<std::size_t>(id) * m + j])]++)] = id;
        }
        order.swap(next);
    }
    return order;
}

void rank_many_objectives(const double* F, std::size_t n, std::size_t m, std::int32_t* rank) {
    std::vector<std::int32_t> coords(n * m);
    std::vector<std::int32_t> n_values(m);
    {
        std::vector<KeyIndex> keys, tmp;
        for (std::size_t j = 0; j < m; ++j) {
            n_values[j] = dense_ranks(F, n, m, j, keys, tmp, coords.data());
        }
    }
    const std::int32_t n_values_obj1 = n_values[1];
    const std::vector<std::int32_t> order = lexicographic_order(coords.data(), n, m, n_values);
    const std::int32_t* C = coords.data();

    // Unique points in lexicographic order; the sorter works on their ids 0..u-1.
    std::vector<std::int32_t> unique_coords;
    unique_coords.reserve(n * m);
    std::vector<std::int32_t> unique_of(n);
    std::int32_t u = -1;
    for (std::size_t s = 0; s < n; ++s) {
        const std::int32_t* p = C + static_cast<std::size_t>(order[s]) * m;
        if (s == 0 || !std::equal(p, p + m, C + static_cast<std::size_t>(order[s - 1]) * m)) {
            ++u;
            unique_coords.insert(unique_coords.end(), p, p + m);
        }
        unique_of[order[s]] = u;
    }
    const auto n_unique = static_cast<std::size_t>(u + 1);
    coords.clear();
    coords.shrink_to_fit();

    std::vector<std::int32_t> unique_rank(n_unique, 0);
    std::vector<std::int32_t> ids(n_unique);
    std::iota(ids.begin(), ids.end(), 0);
    DivideAndConquerSorter sorter(unique_coords.data(), n_unique, m, n_values_obj1,
                                  unique_rank.data());
    sorter.run(ids.data(), n_unique);
    for (std::size_t i = 0; i < n; ++i) rank[i] = unique_rank[unique_of[i]];
}

}  // namespace

void nondominated_rank(const double* F, std::size_t n, std::size_t m, std::int32_t* rank) {
    if (n == 0) return;
    if (m == 1) {
        rank_one_objective(F, n, rank);
    } else if (m == 2) {
        rank_two_objectives(F, n, rank);
    } else if (m == 3 && rank_three_objectives(F, n, rank)) {
        return;
    } else {
        rank_many_objectives(F, n, m, rank);
    }
}

void crowding_distance(const double* F, std::size_t n, std::size_t m, double* out) {
    const double inf = std::numeric_limits<double>::infinity();
    if (n <= 2) {
        std::fill(out, out + n, inf);
        return;
    }
    std::fill(out, out + n, 0.0);
    std::vector<std::pair<double, std::int32_t>> sorted(n);
    for (std::size_t j = 0; j < m; ++j) {
        for (std::size_t i = 0; i < n; ++i) sorted[i] = {F[i * m + j], static_cast<std::int32_t>(i)};
        // Ties are broken by row index (a stable sort), which fixes the boundary rows.
        std::sort(sorted.begin(), sorted.end());
        const double range = sorted[n - 1].first - sorted[0].first;
        if (!(range > 0.0)) continue;  // a constant objective separates nothing
        out[sorted[0].second] = inf;
        out[sorted[n - 1].second] = inf;
        for (std::size_t s = 1; s + 1 < n; ++s) {
            out[sorted[s].second] += (sorted[s + 1].first - sorted[s - 1].first) / range;
        }
    }
}

double hypervolume_2d(const double* F, std::size_t n, double ref0, double ref1) {
    std::vector<std::pair<double, double>> pts;
    pts.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const double a = F[2 * i], b = F[2 * i + 1];
        if (a < ref0 && b < ref1) pts.emplace_back(a, b);
    }
    std::sort(pts.begin(), pts.end());
    // Sweep along objective 0; each point that lowers the running minimum of objective 1
    // adds the horizontal slab between the old and the new minimum.
    double hv = 0.0;
    double floor1 = ref1;
    for (const auto& [a, b] : pts) {
        if (b < floor1) {
            hv += (ref0 - a) * (floor1 - b);
            floor1 = b;
        }
    }
    return hv;
}

}  // namespace segevo
