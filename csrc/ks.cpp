#include "ks.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

#include "bit_ops.hpp"
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

// The GA keeps individuals as C-bit strings over the candidates sorted by value, all
// in one flat array, so that the operators are word operations and the chosen values
// come out sorted. Slots [0, P) hold the population (best first), [P, 2P) the offspring.
class KsSubsetGa {
public:
    KsSubsetGa(const double* candidates, std::size_t C, const double* fixed, std::size_t F,
               const KsSubsetOptions& opt)
        : C_(C),
          W_((C + 63) / 64),
          k_(opt.k),
          P_(opt.pop_size),
          opt_(opt),
          rng_(opt.seed),
          grid_(F + opt.k),
          bits_(2 * opt.pop_size * W_, 0),
          next_bits_(opt.pop_size * W_, 0),
          next_fitness_(opt.pop_size),
          next_hash_(opt.pop_size),
          fitness_(2 * opt.pop_size),
          hash_(2 * opt.pop_size),
          order_(2 * opt.pop_size),
          merged_(2 * opt.pop_size) {
        const double scale = opt.hi - opt.lo;
        fixed_cdf_.resize(F);
        for (std::size_t i = 0; i < F; ++i) fixed_cdf_[i] = uniform_cdf(fixed[i], opt.lo, scale);
        std::sort(fixed_cdf_.begin(), fixed_cdf_.end());
        by_value_.resize(C);
        std::iota(by_value_.begin(), by_value_.end(), 0);
        std::stable_sort(
            by_value_.begin(), by_value_.end(),
            [candidates](std::int32_t a, std::int32_t b) { return candidates[a] < candidates[b]; });
        cand_cdf_.resize(C);
        fixed_not_above_.resize(C);
        for (std::size_t s = 0; s < C; ++s) {
            cand_cdf_[s] = uniform_cdf(candidates[by_value_[s]], opt.lo, scale);
            // Fixed values <= this candidate precede it in the merged order.
            fixed_not_above_[s] = static_cast<std::uint32_t>(
                std::upper_bound(fixed_cdf_.begin(), fixed_cdf_.end(), cand_cdf_[s]) -
                fixed_cdf_.begin());
        }
        std::size_t capacity = 16;
        while (capacity < 4 * P_) capacity *= 2;
        table_.resize(capacity);
        diff_.resize(2 * k_);
    }

    std::vector<std::int64_t> run() {
        clear_table();
        for (std::size_t slot = 0; slot < P_; ++slot) {
            for (int attempt = 0; attempt < kRedraws; ++attempt) {
                sample(bits(slot));
                hash_[slot] = hash_of(bits(slot));
                if (!contains(slot)) break;
            }
            insert(slot);
            fitness_[slot] = distance(bits(slot));
        }
        survive(P_);

        for (std::size_t gen = 0; gen < opt_.generations; ++gen) {
            clear_table();
            for (std::size_t slot = 0; slot < P_; ++slot) insert(slot);
            for (std::size_t slot = P_; slot < 2 * P_; ++slot) {
                for (int attempt = 0; attempt < kRedraws; ++attempt) {
                    crossover(bits(tournament()), bits(tournament()), bits(slot));
                    mutate(bits(slot));
                    hash_[slot] = hash_of(bits(slot));
                    if (!contains(slot)) break;
                }
                insert(slot);
                fitness_[slot] = distance(bits(slot));
            }
            survive(2 * P_);
        }

        std::vector<std::int64_t> chosen;
        chosen.reserve(k_);
        for_each_bit(bits(0), [&](std::size_t s) { chosen.push_back(by_value_[s]); });
        std::sort(chosen.begin(), chosen.end());
        return chosen;
    }

private:
    static constexpr int kRedraws = 16;

    std::uint64_t* bits(std::size_t slot) { return bits_.data() + slot * W_; }

    template <class Visit>
    void for_each_bit(const std::uint64_t* b, Visit visit) const {
        for (std::size_t w = 0; w < W_; ++w) {
            for (std::uint64_t x = b[w]; x != 0; x &= x - 1) {
                visit(w * 64 + static_cast<std::size_t>(lowest_bit(x)));
            }
        }
    }

    // The K-S distance of the fixed values merged with the chosen ones. The fixed values
    // that precede each chosen one are known in advance, so the merge has no comparisons.
    double distance(const std::uint64_t* b) const {
        const double* above = grid_.above.data();
        const double* below = grid_.below.data();
        std::size_t i = 0, f = 0;
        double d = 0.0;
        auto emit = [&](double v) {
            d = std::max(d, std::max(above[i] - v, v - below[i]));
            ++i;
        };
        for_each_bit(b, [&](std::size_t s) {
            for (const std::size_t stop = fixed_not_above_[s]; f < stop; ++f) emit(fixed_cdf_[f]);
            emit(cand_cdf_[s]);
        });
        for (; f < fixed_cdf_.size(); ++f) emit(fixed_cdf_[f]);
        return d;
    }

    // Sampling: k distinct random bits (Floyd's algorithm).
    void sample(std::uint64_t* b) {
        std::fill(b, b + W_, 0);
        for (std::size_t j = C_ - k_; j < C_; ++j) {
            std::size_t t = rng_.below(static_cast<std::uint32_t>(j + 1));
            if (test(b, t)) t = j;
            set(b, t);
        }
    }

    // Binary tournament; the population is sorted by fitness, so the lower slot wins.
    std::size_t tournament() {
        const std::size_t a = rng_.below(static_cast<std::uint32_t>(P_));
        const std::size_t b = rng_.below(static_cast<std::uint32_t>(P_));
        return std::min(a, b);
    }

    // Crossover: the parents' common bits, then random bits that only one parent has
    // until k are set (there are 2 (k - common) of those, always enough).
    void crossover(const std::uint64_t* a, const std::uint64_t* b, std::uint64_t* child) {
        std::size_t n_common = 0, n_diff = 0;
        for (std::size_t w = 0; w < W_; ++w) {
            child[w] = a[w] & b[w];
            n_common += static_cast<std::size_t>(bit_count(child[w]));
            for (std::uint64_t x = a[w] ^ b[w]; x != 0; x &= x - 1) {
                diff_[n_diff++] = static_cast<std::uint32_t>(w * 64 + lowest_bit(x));
            }
        }
        const std::size_t need = k_ - n_common;
        for (std::size_t t = 0; t < need; ++t) {
            const std::size_t s = t + rng_.below(static_cast<std::uint32_t>(n_diff - t));
            std::swap(diff_[t], diff_[s]);
            set(child, diff_[t]);
        }
    }

    // Mutation: swap one set bit (the r-th, r uniform) for one unset bit (C > k).
    void mutate(std::uint64_t* b) {
        std::size_t r = rng_.below(static_cast<std::uint32_t>(k_));
        for (std::size_t w = 0;; ++w) {
            const auto count = static_cast<std::size_t>(bit_count(b[w]));
            if (r < count) {
                std::uint64_t x = b[w];
                for (; r > 0; --r) x &= x - 1;
                b[w] &= ~(x & (~x + 1));  // clear the lowest remaining bit
                break;
            }
            r -= count;
        }
        std::size_t added;
        do {
            added = rng_.below(static_cast<std::uint32_t>(C_));
        } while (test(b, added));
        set(b, added);
    }

    static bool test(const std::uint64_t* b, std::size_t i) { return (b[i / 64] >> (i % 64)) & 1U; }
    static void set(std::uint64_t* b, std::size_t i) { b[i / 64] |= std::uint64_t{1} << (i % 64); }

    std::uint64_t hash_of(const std::uint64_t* b) const {
        std::uint64_t h = 0x243F6A8885A308D3ULL;
        for (std::size_t w = 0; w < W_; ++w) {
            std::uint64_t state = h ^ b[w];
            h = splitmix64(state);
        }
        return h;
    }

    // Open-addressing set of the slots alive in this generation, to refuse duplicates.
    void clear_table() { std::fill(table_.begin(), table_.end(), 0); }
    bool contains(std::size_t slot) {
        const std::size_t mask = table_.size() - 1;
        for (std::size_t i = hash_[slot] & mask; table_[i] != 0; i = (i + 1) & mask) {
            const std::size_t other = table_[i] - 1;
            if (hash_[other] == hash_[slot] &&
                std::equal(bits(other), bits(other) + W_, bits(slot))) {
                return true;
            }
        }
        return false;
    }
    void insert(std::size_t slot) {
        const std::size_t mask = table_.size() - 1;
        std::size_t i = hash_[slot] & mask;
        while (table_[i] != 0) i = (i + 1) & mask;
        table_[i] = static_cast<std::uint32_t>(slot + 1);
    }

    // Elitist survival: the best P of the first n slots move to [0, P), best first. Ties
    // go to the lower slot, so parents (already sorted) only need merging with the
    // sorted offspring.
    void survive(std::size_t n) {
        auto by_fitness = [this](std::uint32_t a, std::uint32_t b) {
            return fitness_[a] < fitness_[b] || (fitness_[a] == fitness_[b] && a < b);
        };
        const std::size_t n_sorted = n > P_ ? P_ : 0;  // slots already in order
        std::iota(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(n), 0);
        auto first_new = order_.begin() + static_cast<std::ptrdiff_t>(n_sorted);
        auto last = order_.begin() + static_cast<std::ptrdiff_t>(n);
        std::sort(first_new, last, by_fitness);
        std::merge(order_.begin(), first_new, first_new, last, merged_.begin(), by_fitness);
        for (std::size_t r = 0; r < P_; ++r) {
            const std::size_t from = merged_[r];
            std::copy_n(bits(from), W_, next_bits_.data() + r * W_);
            next_fitness_[r] = fitness_[from];
            next_hash_[r] = hash_[from];
        }
        std::copy_n(next_bits_.data(), P_ * W_, bits_.data());
        std::copy_n(next_fitness_.data(), P_, fitness_.data());
        std::copy_n(next_hash_.data(), P_, hash_.data());
    }

    std::size_t C_;
    std::size_t W_;
    std::size_t k_;
    std::size_t P_;
    KsSubsetOptions opt_;
    Xoshiro256 rng_;
    KsGrid grid_;
    std::vector<double> fixed_cdf_;
    std::vector<std::int32_t> by_value_;
    std::vector<double> cand_cdf_;
    std::vector<std::uint32_t> fixed_not_above_;
    std::vector<std::uint64_t> bits_;
    std::vector<std::uint64_t> next_bits_;
    std::vector<double> next_fitness_;
    std::vector<std::uint64_t> next_hash_;
    std::vector<double> fitness_;
    std::vector<std::uint64_t> hash_;
    std::vector<std::uint32_t> order_;
    std::vector<std::uint32_t> merged_;
    std::vector<std::uint32_t> table_;
    std::vector<std::uint32_t> diff_;
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
