// Argument checks shared by the bind_*.cpp files: exact dtypes (no silent casts), shapes,
// finiteness. Only the memory layout is normalised (a non-contiguous view is copied
// into C order with its dtype unchanged).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstddef>
#include <string>

namespace segevo::bind {

namespace py = pybind11;

inline std::string dtype_name(const py::array& a) {
    return py::str(a.dtype()).cast<std::string>();
}

inline std::string shape_text(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t d = 0; d < a.ndim(); ++d) {
        if (d > 0) s += ", ";
        s += std::to_string(a.shape(d));
    }
    if (a.ndim() == 1) s += ",";
    return s + ")";
}

inline bool native_byte_order(const py::dtype& dt) {
    const char order = dt.byteorder();
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return order == '=' || order == '|' || order == '>';
#else
    return order == '=' || order == '|' || order == '<';
#endif
}

// Any array-like becomes an ndarray (a list of floats becomes float64), C-contiguous.
inline py::array as_c_array(const py::handle& obj, const char* name) {
    py::array arr = py::array::ensure(obj, py::array::c_style);
    if (!arr) {
        PyErr_Clear();
        throw py::value_error(std::string(name) + " must be a numpy array (or convertible to one)");
    }
    return arr;
}

inline void require_ndim(const py::array& a, const char* name, py::ssize_t ndim,
                         const char* layout) {
    if (a.ndim() != ndim) {
        throw py::value_error(std::string(name) + " must be a " + std::to_string(ndim) +
                              "-D array " + layout + ", got shape " + shape_text(a));
    }
}

inline void require_float64(const py::array& a, const char* name) {
    const py::dtype dt = a.dtype();
    if (dt.kind() != 'f' || dt.itemsize() != 8 || !native_byte_order(dt)) {
        throw py::value_error(std::string(name) + " must have dtype float64, got " + dtype_name(a) +
                              " (convert explicitly, e.g. np.asarray(" + name +
                              ", dtype=np.float64))");
    }
}

// A float64 array of the given ndim, C-contiguous; shape is checked by the caller.
inline py::array float64_array(const py::handle& obj, const char* name, py::ssize_t ndim,
                               const char* layout) {
    py::array a = as_c_array(obj, name);
    require_ndim(a, name, ndim, layout);
    require_float64(a, name);
    return a;
}

inline void require_finite(const double* data, std::size_t count, const char* name) {
    // A sum of x - x is 0 for finite x and NaN otherwise: one branch-free pass that the
    // compiler vectorises, then a slow pass only to name the culprit.
    double probe = 0.0;
    for (std::size_t i = 0; i < count; ++i) probe += data[i] - data[i];
    if (probe == 0.0) return;
    for (std::size_t i = 0; i < count; ++i) {
        if (!std::isfinite(data[i])) {
            throw py::value_error(std::string(name) + " must be finite, but element " +
                                  std::to_string(i) + " (flat index) is " +
                                  py::str(py::float_(data[i])).cast<std::string>());
        }
    }
}

inline double finite_scalar(double v, const char* name) {
    if (!std::isfinite(v)) {
        throw py::value_error(std::string(name) + " must be finite, got " +
                              py::str(py::float_(v)).cast<std::string>());
    }
    return v;
}

// Inputs smaller than this run without releasing the GIL: for tiny calls the release
// and re-acquire would cost more than the work.
inline constexpr std::size_t kReleaseGilAbove = 4096;

}  // namespace segevo::bind
