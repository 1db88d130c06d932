// Pareto kernels on row-major float64 [n, m] objective matrices (minimisation).
// Inputs are validated by the bindings: finite values, m >= 1.
#pragma once

#include <cstddef>
#include <cstdint>

namespace segevo {

// Front index of every row, 0 = non-dominated. a dominates b iff a <= b everywhere and
// a < b somewhere, so equal rows share a front. m = 2: lexicographic sort and a binary
// search over fronts, O(n log n). m = 3: the same sweep with a 2-D staircase per front,
// which falls back on adversarial input to the divide and conquer of Jensen / Fortin et
// al. / Buzdalov & Shalyto, O(n log^{m-1} n), that also serves m >= 4 (all pairs for
// n <= 128). See nds_internal.hpp.
void nondominated_rank(const double* F, std::size_t n, std::size_t m, std::int32_t* rank);

// NSGA-II crowding distance of each row (see _core.pyi for the tie and zero-range rules).
void crowding_distance(const double* F, std::size_t n, std::size_t m, double* out);

// Area dominated by the rows of F [n, 2] and bounded by ref (minimisation).
double hypervolume_2d(const double* F, std::size_t n, double ref0, double ref1);

}  // namespace segevo
