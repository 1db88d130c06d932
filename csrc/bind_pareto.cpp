#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>

#include "bindings.hpp"
#include "numpy_args.hpp"
#include "pareto.hpp"

namespace segevo::bind {
namespace {

struct ObjectiveMatrix {
    py::array array;
    const double* data;
    std::size_t n;
    std::size_t m;
};

ObjectiveMatrix objective_matrix(const py::handle& obj, const char* name,
                                 std::optional<std::size_t> required_m = std::nullopt) {
    py::array a = float64_array(obj, name, 2, "[n_points, n_objectives]");
    const auto n = static_cast<std::size_t>(a.shape(0));
    const auto m = static_cast<std::size_t>(a.shape(1));
    if (required_m && m != *required_m) {
        throw py::value_error(std::string(name) + " must have shape [n_points, " +
                              std::to_string(*required_m) + "], got " + shape_text(a));
    }
    if (m == 0 && n > 0) {
        throw py::value_error(std::string(name) + " has no objective columns (shape " +
                              shape_text(a) + "); at least one objective is required");
    }
    if (n > static_cast<std::size_t>(INT32_MAX)) {
        throw py::value_error(std::string(name) + " has too many rows for int32 ranks");
    }
    const auto* data = static_cast<const double*>(a.data());
    require_finite(data, n * m, name);
    return ObjectiveMatrix{std::move(a), data, n, m};
}

py::array_t<std::int32_t> nondominated_rank_py(const py::handle& F_obj) {
    const ObjectiveMatrix F = objective_matrix(F_obj, "F");
    py::array_t<std::int32_t> out(static_cast<py::ssize_t>(F.n));
    std::int32_t* rank = out.mutable_data();
    if (F.n * F.m > kReleaseGilAbove) {
        py::gil_scoped_release release;
        segevo::nondominated_rank(F.data, F.n, F.m, rank);
    } else {
        segevo::nondominated_rank(F.data, F.n, F.m, rank);
    }
    return out;
}

py::array_t<bool> first_front_py(const py::handle& F_obj) {
    const ObjectiveMatrix F = objective_matrix(F_obj, "F");
    py::array_t<bool> out(static_cast<py::ssize_t>(F.n));
    bool* first = out.mutable_data();
    {
        std::optional<py::gil_scoped_release> release;
        if (F.n * F.m > kReleaseGilAbove) release.emplace();
        std::vector<std::int32_t> rank(F.n);
        segevo::nondominated_rank(F.data, F.n, F.m, rank.data());
        for (std::size_t i = 0; i < F.n; ++i) first[i] = rank[i] == 0;
    }
    return out;
}

py::array_t<double> crowding_distance_py(const py::handle& F_obj) {
    const ObjectiveMatrix F = objective_matrix(F_obj, "F");
    py::array_t<double> out(static_cast<py::ssize_t>(F.n));
    double* dist = out.mutable_data();
    std::optional<py::gil_scoped_release> release;
    if (F.n * F.m > kReleaseGilAbove) release.emplace();
    segevo::crowding_distance(F.data, F.n, F.m, dist);
    return out;
}

double hypervolume_2d_py(const py::handle& F_obj, const py::handle& ref_obj) {
    const ObjectiveMatrix F = objective_matrix(F_obj, "F", 2);
    const char* ref_problem = "ref must be a sequence of two real numbers (the reference point)";
    if (!PySequence_Check(ref_obj.ptr()) || PySequence_Size(ref_obj.ptr()) != 2) {
        PyErr_Clear();
        throw py::value_error(ref_problem);
    }
    double ref[2];
    for (Py_ssize_t i = 0; i < 2; ++i) {
        const auto item = py::reinterpret_steal<py::object>(PySequence_GetItem(ref_obj.ptr(), i));
        if (!item) {
            PyErr_Clear();
            throw py::value_error(ref_problem);
        }
        ref[i] = PyFloat_AsDouble(item.ptr());
        if (ref[i] == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            throw py::value_error(ref_problem);
        }
    }
    const double r0 = finite_scalar(ref[0], "ref[0]");
    const double r1 = finite_scalar(ref[1], "ref[1]");
    std::optional<py::gil_scoped_release> release;
    if (F.n > kReleaseGilAbove) release.emplace();
    return segevo::hypervolume_2d(F.data, F.n, r0, r1);
}

}  // namespace

void bind_pareto(py::module_& m) {
    m.def("nondominated_rank", &nondominated_rank_py, py::arg("F"),
          "Front index (int32[N], 0 = non-dominated) of each row of a float64 [N, M] "
          "objective matrix under minimisation; equal rows share a front.");
    m.def("first_front", &first_front_py, py::arg("F"),
          "bool[N]: True for the rows of F that no other row dominates.");
    m.def("crowding_distance", &crowding_distance_py, py::arg("F"),
          "NSGA-II crowding distance (float64[N]) of the rows of a float64 [N, M] matrix.");
    m.def("hypervolume_2d", &hypervolume_2d_py, py::arg("F"), py::arg("ref"),
          "Area dominated by the rows of a float64 [N, 2] matrix and bounded by ref "
          "(minimisation).");
}

}  // namespace segevo::bind
