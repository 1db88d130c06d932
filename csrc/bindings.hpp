// One registration function per area; module.cpp calls them all.
#pragma once

#include <pybind11/pybind11.h>

namespace segevo::bind {

void bind_pareto(pybind11::module_& m);
void bind_lut(pybind11::module_& m);
void bind_lut_predict(pybind11::module_& m);
void bind_ks(pybind11::module_& m);

}  // namespace segevo::bind
