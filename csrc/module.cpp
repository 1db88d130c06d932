#include <pybind11/pybind11.h>

#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() =
        "segevo native core: non-dominated sorting, crowding distance, 2-D hypervolume, "
        "look-up-table sums and predictions, Kolmogorov-Smirnov statistic and subset selection.";
    segevo::bind::bind_pareto(m);
    segevo::bind::bind_lut(m);
    segevo::bind::bind_lut_predict(m);
    segevo::bind::bind_ks(m);
}
