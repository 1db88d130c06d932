// Crowding distance and the 2-D hypervolume.
#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "pareto.hpp"

namespace segevo {

void crowding_distance(const double* F, std::size_t n, std::size_t m, double* out) {
    const double inf = std::numeric_limits<double>::infinity();
    if (n <= 2) {
        std::fill(out, out + n, inf);
        return;
    }
    std::fill(out, out + n, 0.0);
    std::vector<std::pair<double, std::int32_t>> sorted(n);
    for (std::size_t j = 0; j < m; ++j) {
        for (std::size_t i = 0; i < n; ++i)
            sorted[i] = {F[i * m + j], static_cast<std::int32_t>(i)};
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
