#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>

#include "bindings.hpp"
#include "lut.hpp"
#include "numpy_args.hpp"
#include "threads.hpp"

namespace segevo::bind {
namespace {

template <class I>
py::array_t<double> lut_sum_typed(const py::array& indices, const py::array& table) {
    const auto B = static_cast<std::size_t>(indices.shape(0));
    const auto L = static_cast<std::size_t>(indices.shape(1));
    const auto T = static_cast<std::size_t>(table.shape(0));
    const auto* idx = static_cast<const I*>(indices.data());
    const auto* tab = static_cast<const double*>(table.data());
    py::array_t<double> out(static_cast<py::ssize_t>(B));
    double* sums = out.mutable_data();
    const unsigned threads = worker_threads();
    BadIndex bad;
    {
        std::optional<py::gil_scoped_release> release;
        if (B * L > kReleaseGilAbove) release.emplace();
        bad = segevo::lut_sum<I>(idx, B, L, tab, T, sums, threads);
    }
    if (bad.found) {
        const py::object value = py::int_(idx[bad.row * L + bad.col]);
        throw py::value_error("indices[" + std::to_string(bad.row) + ", " +
                              std::to_string(bad.col) +
                              "] = " + py::str(value).cast<std::string>() +
                              " is out of range: allowed are -1 (absent) and 0.." +
                              std::to_string(static_cast<long long>(T) - 1) + " (table has " +
                              std::to_string(T) + " entries)");
    }
    return out;
}

py::array_t<double> lut_sum_py(const py::handle& indices_obj, const py::handle& table_obj) {
    py::array indices = as_c_array(indices_obj, "indices");
    require_ndim(indices, "indices", 2, "[n_architectures, n_slots]");
    py::array table = float64_array(table_obj, "table", 1, "[n_entries]");
    require_finite(static_cast<const double*>(table.data()),
                   static_cast<std::size_t>(table.shape(0)), "table");

    const py::dtype dt = indices.dtype();
    const char kind = dt.kind();
    if ((kind != 'i' && kind != 'u') || !native_byte_order(dt)) {
        throw py::value_error(
            "indices must have an integer dtype (int8, int16, int32, int64 or "
            "unsigned), got " +
            dtype_name(indices));
    }
    const bool is_signed = kind == 'i';
    switch (dt.itemsize()) {
        case 1:
            return is_signed ? lut_sum_typed<std::int8_t>(indices, table)
                             : lut_sum_typed<std::uint8_t>(indices, table);
        case 2:
            return is_signed ? lut_sum_typed<std::int16_t>(indices, table)
                             : lut_sum_typed<std::uint16_t>(indices, table);
        case 4:
            return is_signed ? lut_sum_typed<std::int32_t>(indices, table)
                             : lut_sum_typed<std::uint32_t>(indices, table);
        case 8:
            return is_signed ? lut_sum_typed<std::int64_t>(indices, table)
                             : lut_sum_typed<std::uint64_t>(indices, table);
        default:
            throw py::value_error("indices has an unsupported integer dtype " +
                                  dtype_name(indices));
    }
}

}  // namespace

void bind_lut(py::module_& m) {
    m.def("lut_sum", &lut_sum_py, py::arg("indices"), py::arg("table"),
          "Row sums of table[indices] (float64[B]) for an integer [B, L] index array into a "
          "float64 [T] table; -1 marks an absent slot.");
}

}  // namespace segevo::bind
