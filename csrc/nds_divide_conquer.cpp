#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "nds_internal.hpp"
#include "nds_sorting.hpp"
#include "radix_sort.hpp"

namespace segevo::nds {
namespace {

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
          values_(32) {}

    void run(std::int32_t* ids, std::size_t count) { helper_a(ids, count, M_ - 1); }

private:
    static constexpr std::size_t kBruteA = 64;
    static constexpr std::size_t kBruteB = 4096;

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

    // Split value for objective k: the median of at most 31 evenly spaced members of
    // ids1 + ids2. Any value that occurs guarantees progress (its points move on to
    // objective k - 1); a sampled median keeps the halves balanced at a fraction of the
    // cost of an exact selection.
    std::int32_t pivot_of(const std::int32_t* ids1, std::size_t n1, const std::int32_t* ids2,
                          std::size_t n2, std::size_t k) {
        const std::size_t n = n1 + n2;
        const std::size_t samples = std::min<std::size_t>(n, 31);
        for (std::size_t s = 0; s < samples; ++s) {
            const std::size_t pos = s * n / samples;
            values_[s] = coord(pos < n1 ? ids1[pos] : ids2[pos - n1], k);
        }
        auto mid = values_.begin() + static_cast<std::ptrdiff_t>(samples / 2);
        std::nth_element(values_.begin(), mid,
                         values_.begin() + static_cast<std::ptrdiff_t>(samples));
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
        const std::int32_t pivot = pivot_of(S, n, nullptr, 0, k);
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
    void helper_b(std::int32_t* L, std::size_t nl, std::int32_t* H, std::size_t nh, std::size_t k) {
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
        const std::int32_t pivot = pivot_of(L, nl, H, nh, k);
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
std::vector<std::int32_t> lexicographic_order(const std::int32_t* C, std::size_t n, std::size_t m,
                                              const std::vector<std::int32_t>& n_values) {
    std::vector<std::int32_t> order(n), next(n);
    std::iota(order.begin(), order.end(), 0);
    std::vector<std::int32_t> count;
    for (std::size_t j = m; j-- > 0;) {
        count.assign(static_cast<std::size_t>(n_values[j]) + 1, 0);
        for (std::size_t i = 0; i < n; ++i) ++count[static_cast<std::size_t>(C[i * m + j]) + 1];
        for (std::size_t v = 1; v < count.size(); ++v) count[v] += count[v - 1];
        for (const std::int32_t id : order) {
            next[static_cast<std::size_t>(
                count[static_cast<std::size_t>(C[static_cast<std::size_t>(id) * m + j])]++)] = id;
        }
        order.swap(next);
    }
    return order;
}

}  // namespace

void rank_pairwise(const double* F, std::size_t n, std::size_t m, std::int32_t* rank) {
    std::vector<std::int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [F, m](std::int32_t a, std::int32_t b) {
        const double* pa = F + static_cast<std::size_t>(a) * m;
        const double* pb = F + static_cast<std::size_t>(b) * m;
        for (std::size_t j = 0; j < m; ++j) {
            if (pa[j] != pb[j]) return pa[j] < pb[j];
        }
        return a < b;
    });
    // Rows in sorted order, contiguous; outcomes of the pair tests are unpredictable, so
    // they are computed without branches (no early exit, conditional moves).
    std::vector<double> rows(n * m);
    for (std::size_t s = 0; s < n; ++s) {
        std::copy_n(F + static_cast<std::size_t>(order[s]) * m, m, rows.data() + s * m);
    }
    std::vector<std::int32_t> sorted_rank(n);
    for (std::size_t s = 0; s < n; ++s) {
        const double* p = rows.data() + s * m;
        std::int32_t r = 0;
        for (std::size_t t = 0; t < s; ++t) {
            const double* q = rows.data() + t * m;
            // An earlier row that is weakly smaller everywhere dominates p or equals it.
            int below = 1;
            int differs = 0;
            for (std::size_t j = 0; j < m; ++j) {
                below &= q[j] <= p[j] ? 1 : 0;
                differs |= q[j] != p[j] ? 1 : 0;
            }
            const std::int32_t candidate = sorted_rank[t] + differs;
            r = (below != 0 && candidate > r) ? candidate : r;
        }
        sorted_rank[s] = r;
    }
    for (std::size_t s = 0; s < n; ++s) rank[order[s]] = sorted_rank[s];
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

}  // namespace segevo::nds
