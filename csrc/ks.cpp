#include "ks.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

#include "rng.hpp"

namespace segevo {
namespace {

// scipy's uniform.cdf: standardise with loc = lo and scale = hi - lo, then clip to [0, 1].
inline double uniform_cdf(double x, double lo, double scale) {
    const double z = (x - lo) / scale;
    if (z <= 0.0) return 0.0;
    if (z >= 1.0) return 1.0;
    return z;
}

// The distance of a sorted list of CDF values, given precomputed i/n and (i+1)/n.
struct KsGrid {
    std::vector<double> below;  // i / n
    std::vector<double> above;  // (i + 1) / n
    explicit KsGrid(std::size_t n) : below(n), above(n) {
        const auto dn = static_cast<double>(n);
        for (std::size_t i = 0; i < n; ++i) {
            below[i] = static_cast<double>(i) / dn;
            above[i] = static_cast<double>(i + 1) / dn;
        }
    }
};

// A K-S GA individual: k ascending positions into the candidates sorted by value, so that
// the chosen values come out sorted without another sort.
struct Individual {
    std::vector<std::int32_t> positions;
    std::uint64_t hash = 0;
    double fitness = 0.0;
};

std::uint64_t position_hash(const std::vector<std::int32_t>& positions) {
    // Order-independent and cheap: a sum of well-mixed per-position words.
    std::uint64_t h = 0;
    for (const std::int32_t p : positions) {
        std::uint64_t state = static_cast<std::uint64_t>(p);
        h += splitmix64(state);
    }
    return h;
}

class KsSubsetGa {
public:
    KsSubsetGa(const double* candidates, std::size_t C, const double* fixed, std::size_t F,
               const KsSubsetOptions& opt)
        : C_(C), k_(opt.k), opt_(opt), rng_(opt.seed), grid_(F + opt.k), in_child_(C, 0) {
        const double scale = opt.hi - opt.lo;
        fixed_cdf_.resize(F);
        for (std::size_t i = 0; i < F; ++i) fixed_cdf_[i] = uniform_cdf(fixed[i], opt.lo, scale);
        std::sort(fixed_cdf_.begin(), fixed_cdf_.end());
        order_.resize(C);
        std::iota(order_.begin(), order_.end(), 0);
        std::stable_sort(
            order_.begin(), order_.end(),
            [candidates](std::int32_t a, std::int32_t b) { return candidates[a] < candidates[b]; });
        cand_cdf_.resize(C);
        for (std::size_t s = 0; s < C; ++s)
            cand_cdf_[s] = uniform_cdf(candidates[order_[s]], opt.lo, scale);
        scratch_.resize(C);
    }

    std::vector<std::int64_t> run() {
        const std::size_t pop_size = opt_.pop_size;
        std::vector<Individual> pop;
        pop.reserve(2 * pop_size);
        for (std::size_t i = 0; i < pop_size; ++i) {
            Individual ind;
            for (int attempt = 0; attempt < kRedraws; ++attempt) {
                sample(ind);
                if (!is_duplicate(ind, pop)) break;
            }
            ind.fitness = distance(ind.positions);
            pop.push_back(std::move(ind));
        }
        sort_by_fitness(pop);

        std::vector<Individual> offspring;
        offspring.reserve(pop_size);
        for (std::size_t gen = 0; gen < opt_.generations; ++gen) {
            offspring.clear();
            for (std::size_t i = 0; i < pop_size; ++i) {
                Individual child;
                for (int attempt = 0; attempt < kRedraws; ++attempt) {
                    const Individual& a = pop[tournament(pop_size)];
                    const Individual& b = pop[tournament(pop_size)];
                    crossover(a, b, child);
                    mutate(child);
                    if (!is_duplicate(child, pop) && !is_duplicate(child, offspring)) break;
                }
                child.fitness = distance(child.positions);
                offspring.push_back(std::move(child));
            }
            for (auto& child : offspring) pop.push_back(std::move(child));
            sort_by_fitness(pop);
            pop.resize(pop_size);
        }

        std::vector<std::int64_t> chosen;
        chosen.reserve(k_);
        for (const std::int32_t p : pop.front().positions) chosen.push_back(order_[p]);
        std::sort(chosen.begin(), chosen.end());
        return chosen;
    }

private:
    static constexpr int kRedraws = 16;

    // Merge the sorted fixed and chosen CDF values and take the K-S maximum on the fly.
    double distance(const std::vector<std::int32_t>& positions) const {
        const double* f = fixed_cdf_.data();
        const double* f_end = f + fixed_cdf_.size();
        std::size_t c = 0;
        const std::size_t kc = positions.size();
        double d = 0.0;
        for (std::size_t i = 0; f < f_end || c < kc; ++i) {
            double v;
            if (c == kc || (f < f_end && *f <= cand_cdf_[positions[c]])) {
                v = *f++;
            } else {
                v = cand_cdf_[positions[c++]];
            }
            d = std::max(d, std::max(grid_.above[i] - v, v - grid_.below[i]));
        }
        return d;
    }

    void sample(Individual& ind) {
        // Partial Fisher-Yates over 0..C-1 draws k distinct positions.
        std::iota(scratch_.begin(), scratch_.end(), 0);
        for (std::size_t i = 0; i < k_; ++i) {
            const std::size_t j = i + rng_.below(static_cast<std::uint32_t>(C_ - i));
            std::swap(scratch_[i], scratch_[j]);
        }
        ind.positions.assign(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(k_));
        std::sort(ind.positions.begin(), ind.positions.end());
        ind.hash = position_hash(ind.positions);
    }

    std::size_t tournament(std::size_t pop_size) {
        // The population is kept sorted by fitness, so the smaller position wins.
        const std::size_t a = rng_.below(static_cast<std::uint32_t>(pop_size));
        const std::size_t b = rng_.below(static_cast<std::uint32_t>(pop_size));
        return std::min(a, b);
    }

    void crossover(const Individual& a, const Individual& b, Individual& child) {
        child.positions.clear();
        std::size_t n_diff = 0;
        const auto& pa = a.positions;
        const auto& pb = b.positions;
        std::size_t i = 0, j = 0;
        while (i < k_ || j < k_) {
            if (j == k_ || (i < k_ && pa[i] < pb[j])) {
                scratch_[n_diff++] = pa[i++];
            } else if (i == k_ || pb[j] < pa[i]) {
                scratch_[n_diff++] = pb[j++];
            } else {
                child.positions.push_back(pa[i]);
                ++i;
                ++j;
            }
        }
        // Fill up from the bits that only one parent has (there are always enough).
        const std::size_t need = k_ - child.positions.size();
        for (std::size_t t = 0; t < need; ++t) {
            const std::size_t s = t + rng_.below(static_cast<std::uint32_t>(n_diff - t));
            std::swap(scratch_[t], scratch_[s]);
            child.positions.push_back(scratch_[t]);
        }
        std::sort(child.positions.begin(), child.positions.end());
    }

    void mutate(Individual& child) {
        // Swap one set bit for one unset bit (C > k, so an unset bit exists).
        auto& pos = child.positions;
        for (const std::int32_t p : pos) in_child_[p] = 1;
        std::int32_t added;
        do {
            added = static_cast<std::int32_t>(rng_.below(static_cast<std::uint32_t>(C_)));
        } while (in_child_[added]);
        for (const std::int32_t p : pos) in_child_[p] = 0;
        const std::size_t removed = rng_.below(static_cast<std::uint32_t>(k_));
        pos.erase(pos.begin() + static_cast<std::ptrdiff_t>(removed));
        pos.insert(std::upper_bound(pos.begin(), pos.end(), added), added);
        child.hash = position_hash(pos);
    }

    static bool is_duplicate(const Individual& ind, const std::vector<Individual>& others) {
        for (const auto& o : others) {
            if (o.hash == ind.hash && o.positions == ind.positions) return true;
        }
        return false;
    }

    static void sort_by_fitness(std::vector<Individual>& pop) {
        std::stable_sort(pop.begin(), pop.end(), [](const Individual& a, const Individual& b) {
            return a.fitness < b.fitness;
        });
    }

    std::size_t C_;
    std::size_t k_;
    KsSubsetOptions opt_;
    Xoshiro256 rng_;
    KsGrid grid_;
    std::vector<double> fixed_cdf_;
    std::vector<std::int32_t> order_;
    std::vector<double> cand_cdf_;
    std::vector<std::int32_t> scratch_;
    std::vector<char> in_child_;
};

}  // namespace

double ks_statistic(const double* samples, std::size_t n, double lo, double hi) {
    const double scale = hi - lo;
    std::vector<double> cdf(samples, samples + n);
    std::sort(cdf.begin(), cdf.end());
    const KsGrid grid(n);
    double d_plus = -std::numeric_limits<double>::infinity();
    double d_minus = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < n; ++i) {
        const double v = uniform_cdf(cdf[i], lo, scale);
        d_plus = std::max(d_plus, grid.above[i] - v);
        d_minus = std::max(d_minus, v - grid.below[i]);
    }
    return std::max(d_plus, d_minus);
}

std::vector<std::int64_t> ks_subset_select(const double* candidates, std::size_t C,
                                           const double* fixed, std::size_t F,
                                           const KsSubsetOptions& options) {
    if (options.k == 0 || C == 0) return {};
    if (C <= options.k) {
        std::vector<std::int64_t> all(C);
        std::iota(all.begin(), all.end(), 0);
        return all;
    }
    KsSubsetGa ga(candidates, C, fixed, F, options);
    return ga.run();
}

}  // namespace segevo
