// Kolmogorov-Smirnov distance to Uniform(lo, hi) and the K-S subset-selection GA.
// Inputs are validated by the bindings (finite values, lo < hi).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace segevo {

// D = max(D+, D-) of the samples against Uniform(lo, hi), computed with the same
// floating-point operations as scipy.stats.kstest, so the two agree bit for bit. n >= 1.
double ks_statistic(const double* samples, std::size_t n, double lo, double hi);

struct KsSubsetOptions {
    std::size_t k = 0;
    double lo = 0.0;
    double hi = 1.0;
    std::size_t pop_size = 100;
    std::size_t generations = 60;
    std::uint64_t seed = 0;
};

// Ascending indices of min(k, C) candidates whose union with `fixed` has the smallest
// K-S distance to Uniform(lo, hi) that a binary GA finds. The operators keep exactly k
// bits set: sampling draws k distinct bits; crossover keeps the parents' common bits and
// fills up from the bits only one parent has; mutation swaps one set and one unset bit.
// Survival is elitist (parents and offspring, best pop_size kept); parents are chosen by
// binary tournament; duplicate individuals are redrawn a bounded number of times.
std::vector<std::int64_t> ks_subset_select(const double* candidates, std::size_t C,
                                           const double* fixed, std::size_t F,
                                           const KsSubsetOptions& options);

}  // namespace segevo
