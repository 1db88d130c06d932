// The ranking algorithms behind segevo::nondominated_rank, one per shape of input.
// All take a finite, row-major float64 [n, m] matrix and write int32 front indices.
#pragma once

#include <cstddef>
#include <cstdint>

namespace segevo::nds {

// Below this many points (and M >= 4), comparing every pair beats the divide and
// conquer, whose preprocessing alone costs more.
inline constexpr std::size_t kPairwiseUpTo = 128;

void rank_one_objective(const double* F, std::size_t n, std::int32_t* rank);
void rank_two_objectives(const double* F, std::size_t n, std::int32_t* rank);
// Returns false (ranks unspecified) when the input is too adversarial for the sweep.
bool rank_three_objectives(const double* F, std::size_t n, std::int32_t* rank);
void rank_pairwise(const double* F, std::size_t n, std::size_t m, std::int32_t* rank);
void rank_many_objectives(const double* F, std::size_t n, std::size_t m, std::int32_t* rank);

}  // namespace segevo::nds
