#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>

#include "bindings.hpp"
#include "ks.hpp"
#include "numpy_args.hpp"

namespace segevo::bind {
namespace {

struct Samples {
    py::array array;
    const double* data;
    std::size_t n;
};

Samples samples_1d(const py::handle& obj, const char* name) {
    py::array a = float64_array(obj, name, 1, "[n]");
    const auto n = static_cast<std::size_t>(a.shape(0));
    const auto* data = static_cast<const double*>(a.data());
    require_finite(data, n, name);
    return Samples{std::move(a), data, n};
}

void check_interval(double lo, double hi) {
    finite_scalar(lo, "lo");
    finite_scalar(hi, "hi");
    if (!(lo < hi)) {
        throw py::value_error(
            "lo must be smaller than hi, got lo=" + py::str(py::float_(lo)).cast<std::string>() +
            " and hi=" + py::str(py::float_(hi)).cast<std::string>());
    }
}

double ks_statistic_py(const py::handle& samples_obj, double lo, double hi) {
    const Samples s = samples_1d(samples_obj, "samples");
    check_interval(lo, hi);
    if (s.n == 0) {
        throw py::value_error("samples is empty; the K-S statistic needs at least one sample");
    }
    std::optional<py::gil_scoped_release> release;
    if (s.n > kReleaseGilAbove) release.emplace();
    return segevo::ks_statistic(s.data, s.n, lo, hi);
}

// operator.index() semantics: Python and numpy integers pass, floats and strings do not.
py::int_ integer_arg(const py::handle& value, const char* name) {
    PyObject* as_int = PyNumber_Index(value.ptr());
    if (as_int == nullptr) {
        PyErr_Clear();
        throw py::value_error(std::string(name) + " must be an integer, got " +
                              py::repr(value).cast<std::string>());
    }
    return py::reinterpret_steal<py::int_>(as_int);
}

std::size_t count_arg(const py::handle& value, const char* name, long long minimum) {
    const py::int_ as_int = integer_arg(value, name);
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(as_int.ptr(), &overflow);
    if (overflow < 0 || (overflow == 0 && v < minimum)) {
        throw py::value_error(std::string(name) + " must be >= " + std::to_string(minimum) +
                              ", got " + py::str(as_int).cast<std::string>());
    }
    if (overflow > 0 || v > INT32_MAX) {
        throw py::value_error(std::string(name) + " is too large (at most 2**31 - 1), got " +
                              py::str(as_int).cast<std::string>());
    }
    return static_cast<std::size_t>(v);
}

std::uint64_t seed_arg(const py::handle& value) {
    const py::int_ as_int = integer_arg(value, "seed");
    const unsigned long long v = PyLong_AsUnsignedLongLong(as_int.ptr());
    if (v == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
        PyErr_Clear();
        throw py::value_error("seed must be an integer in [0, 2**64), got " +
                              py::str(as_int).cast<std::string>());
    }
    return static_cast<std::uint64_t>(v);
}

py::array_t<std::int64_t> ks_subset_select_py(const py::handle& candidates_obj,
                                              const py::handle& fixed_obj, const py::handle& k,
                                              double lo, double hi, const py::handle& pop_size,
                                              const py::handle& generations,
                                              const py::handle& seed) {
    const Samples cand = samples_1d(candidates_obj, "candidates");
    const Samples fixed = samples_1d(fixed_obj, "fixed");
    if (cand.n > static_cast<std::size_t>(INT32_MAX)) {
        throw py::value_error("candidates has too many entries (at most 2**31 - 1)");
    }
    KsSubsetOptions opt;
    opt.k = count_arg(k, "k", 0);
    check_interval(lo, hi);
    opt.lo = lo;
    opt.hi = hi;
    opt.pop_size = count_arg(pop_size, "pop_size", 1);
    opt.generations = count_arg(generations, "generations", 0);
    opt.seed = seed_arg(seed);

    std::vector<std::int64_t> chosen;
    {
        py::gil_scoped_release release;
        chosen = segevo::ks_subset_select(cand.data, cand.n, fixed.data, fixed.n, opt);
    }
    py::array_t<std::int64_t> out(static_cast<py::ssize_t>(chosen.size()));
    std::copy(chosen.begin(), chosen.end(), out.mutable_data());
    return out;
}

}  // namespace

void bind_ks(py::module_& m) {
    m.def("ks_statistic", &ks_statistic_py, py::arg("samples"), py::arg("lo"), py::arg("hi"),
          "Kolmogorov-Smirnov D of float64 samples against Uniform(lo, hi); equals "
          "scipy.stats.kstest(samples, 'uniform', args=(lo, hi - lo)).statistic.");
    m.def("ks_subset_select", &ks_subset_select_py, py::arg("candidates"), py::arg("fixed"),
          py::arg("k"), py::arg("lo"), py::arg("hi"), py::arg("pop_size") = 100,
          py::arg("generations") = 60, py::arg("seed") = 0,
          "Sorted int64 indices of min(k, C) candidates whose union with fixed is closest "
          "(K-S distance) to Uniform(lo, hi), found by a k-bits-set binary GA.");
}

}  // namespace segevo::bind
