// Non-dominated sorting by sweeping the points in lexicographic order (M <= 3), and the
// entry point that picks an algorithm by the number of objectives and points.
#include <algorithm>
#include <numeric>
#include <vector>

#include "nds_internal.hpp"
#include "nds_sorting.hpp"
#include "pareto.hpp"

namespace segevo {
namespace nds {

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

namespace {
// Scratch reused between calls (see nds_sorting.hpp).
thread_local std::vector<Point2> tl_points2;
thread_local std::vector<Point2> tl_points2_tmp;
thread_local std::vector<double> tl_front_min;
}  // namespace

// Two objectives (Jensen 2003; ENS with binary search): in lexicographic order, each
// point joins the first front whose smallest second objective exceeds its own. Those
// minima do not decrease from front to front, so the search is a binary search.
void rank_two_objectives(const double* F, std::size_t n, std::int32_t* rank) {
    auto& pts = tl_points2;
    lexicographic_points(
        F, n, 2, pts, tl_points2_tmp, lex_less2, [](const double* row, std::size_t i) {
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

namespace {

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

}  // namespace

// Three objectives: ENS with binary search over fronts (Zhang et al. 2015) with a 2-D
// staircase per front. Points arrive in lexicographic order, so an earlier point
// dominates a later, different one iff it is weakly smaller on objectives 1 and 2.
// Returns false (ranks unspecified) when the staircases exceed their shift budget.
bool rank_three_objectives(const double* F, std::size_t n, std::int32_t* rank) {
    auto& pts = tl_points3;
    lexicographic_points(
        F, n, 3, pts, tl_points3_tmp, lex_less3, [](const double* row, std::size_t i) {
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

}  // namespace nds

void nondominated_rank(const double* F, std::size_t n, std::size_t m, std::int32_t* rank) {
    if (n == 0) return;
    if (m == 1) {
        nds::rank_one_objective(F, n, rank);
    } else if (m == 2) {
        nds::rank_two_objectives(F, n, rank);
    } else if (m == 3 && nds::rank_three_objectives(F, n, rank)) {
        return;
    } else if (n <= nds::kPairwiseUpTo) {
        nds::rank_pairwise(F, n, m, rank);
    } else {
        nds::rank_many_objectives(F, n, m, rank);
    }
}

}  // namespace segevo
