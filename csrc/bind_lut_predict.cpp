#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "bindings.hpp"
#include "lut_predict.hpp"
#include "numpy_args.hpp"
#include "threads.hpp"

namespace segevo::bind {
namespace {

constexpr const char* kInt64Hint = " (convert explicitly, e.g. np.asarray(..., dtype=np.int64))";

py::array int64_array(const py::handle& obj, const char* name, py::ssize_t ndim,
                      const char* layout) {
    py::array a = as_c_array(obj, name);
    require_ndim(a, name, ndim, layout);
    const py::dtype dt = a.dtype();
    if (dt.kind() != 'i' || dt.itemsize() != 8 || !native_byte_order(dt)) {
        throw py::value_error(std::string(name) + " must have dtype int64, got " + dtype_name(a) +
                              kInt64Hint);
    }
    return a;
}

void require_length(const py::array& a, const char* name, py::ssize_t n, const char* what) {
    if (a.shape(0) != n) {
        throw py::value_error(std::string(name) + " must have " + std::to_string(n) + " " + what +
                              ", got shape " + shape_text(a));
    }
}

std::string element_text(const py::array& X, std::size_t flat) {
    // The element as numpy prints it, exact for every integer dtype.
    const py::object flat_view = X.attr("reshape")(-1);
    return py::str(flat_view[py::int_(flat)]).cast<std::string>();
}

// Everything the kernel reads, checked once per call; check_lo / check_span depend on the
// dtype of X and are filled in by set_check_bounds.
struct ParsedTerms {
    PredictLayout layout;
    std::vector<std::int64_t> lower, upper;
    std::vector<std::vector<std::size_t>> term_digits;  // for messages
};

ParsedTerms parse_terms(std::size_t n_var, const py::handle& lower_obj,
                        const py::handle& upper_obj, const py::handle& digits_obj,
                        const py::handle& strides_obj, const py::handle& offsets_obj,
                        const py::array& tables) {
    ParsedTerms p;
    const auto D = static_cast<py::ssize_t>(n_var);
    py::array lower = int64_array(lower_obj, "lower", 1, "[n_digits]");
    py::array upper = int64_array(upper_obj, "upper", 1, "[n_digits]");
    require_length(lower, "lower", D, "entries (one per column of X)");
    require_length(upper, "upper", D, "entries (one per column of X)");
    const auto* lo = static_cast<const std::int64_t*>(lower.data());
    const auto* hi = static_cast<const std::int64_t*>(upper.data());
    p.lower.assign(lo, lo + n_var);
    p.upper.assign(hi, hi + n_var);
    std::vector<std::uint64_t> span(n_var);
    for (std::size_t d = 0; d < n_var; ++d) {
        if (hi[d] < lo[d]) {
            throw py::value_error("digit x" + std::to_string(d) + ": upper = " +
                                  std::to_string(hi[d]) + " is below lower = " +
                                  std::to_string(lo[d]));
        }
        span[d] = static_cast<std::uint64_t>(hi[d]) - static_cast<std::uint64_t>(lo[d]);
        if (span[d] > kMaxDigitSpan) {
            throw py::value_error("digit x" + std::to_string(d) + " has " +
                                  std::to_string(span[d]) +
                                  " + 1 values; at most 2**31 values per digit are allowed");
        }
    }

    py::array digits = int64_array(digits_obj, "term_digits", 2, "[n_terms, max_digits]");
    py::array strides = int64_array(strides_obj, "term_strides", 2, "[n_terms, max_digits]");
    if (strides.shape(0) != digits.shape(0) || strides.shape(1) != digits.shape(1)) {
        throw py::value_error("term_strides must have the shape of term_digits " +
                              shape_text(digits) + ", got " + shape_text(strides));
    }
    const auto n_terms = static_cast<std::size_t>(digits.shape(0));
    const auto K = static_cast<std::size_t>(digits.shape(1));
    if (n_terms * K >= std::numeric_limits<std::uint32_t>::max()) {
        throw py::value_error("term_digits has " + std::to_string(n_terms * K) +
                              " slots; at most 2**32 - 1 are supported");
    }
    py::array offsets = int64_array(offsets_obj, "term_offsets", 1, "[n_terms]");
    require_length(offsets, "term_offsets", digits.shape(0),
                   "entries (one per row of term_digits)");
    const auto* dig = static_cast<const std::int64_t*>(digits.data());
    const auto* str = static_cast<const std::int64_t*>(strides.data());
    const auto* off = static_cast<const std::int64_t*>(offsets.data());
    const auto N = static_cast<std::uint64_t>(tables.shape(0));

    PredictLayout& L = p.layout;
    L.n_var = n_var;
    L.tables = static_cast<const double*>(tables.data());
    for (std::size_t t = 0; t < n_terms; ++t) {
        const std::string term = "term " + std::to_string(t);
        if (off[t] < 0) {
            throw py::value_error(term + ": offset " + std::to_string(off[t]) + " is negative");
        }
        // The largest code, accumulated with a cap so that it cannot overflow.
        std::uint64_t last = static_cast<std::uint64_t>(off[t]);
        std::uint64_t base = last;
        std::vector<std::size_t>& used = p.term_digits.emplace_back();
        for (std::size_t j = 0; j < K; ++j) {
            const std::int64_t d = dig[t * K + j];
            const std::int64_t s = str[t * K + j];
            if (d == -1) continue;  // an unused slot
            if (d < -1 || d >= static_cast<std::int64_t>(n_var)) {
                throw py::value_error(term + ": term_digits[" + std::to_string(t) + ", " +
                                      std::to_string(j) + "] = " + std::to_string(d) +
                                      " is out of range: allowed are -1 (unused) and 0.." +
                                      std::to_string(static_cast<std::int64_t>(n_var) - 1));
            }
            if (s < 0) {
                throw py::value_error(term + ": term_strides[" + std::to_string(t) + ", " +
                                      std::to_string(j) + "] = " + std::to_string(s) +
                                      " is negative");
            }
            const auto us = static_cast<std::uint64_t>(s);
            const std::uint64_t reach = span[static_cast<std::size_t>(d)];
            if (reach > 0 && us > N / reach) {
                last = std::numeric_limits<std::uint64_t>::max();
            } else if (last != std::numeric_limits<std::uint64_t>::max()) {
                const std::uint64_t step = reach * us;
                last = step > std::numeric_limits<std::uint64_t>::max() - last
                           ? std::numeric_limits<std::uint64_t>::max()
                           : last + step;
            }
            base -= static_cast<std::uint64_t>(lo[d]) * us;  // modulo 2**64 by design
            used.push_back(static_cast<std::size_t>(d));
            L.pair_digit.push_back(static_cast<std::uint32_t>(d));
            L.pair_stride.push_back(us);
        }
        if (last >= N) {
            const bool saturated = last == std::numeric_limits<std::uint64_t>::max();
            throw py::value_error(term + " reaches past the end of tables (" + std::to_string(N) +
                                  " entries): its offset plus its largest code is " +
                                  (saturated ? "at least " + std::to_string(N)
                                             : std::to_string(last)));
        }
        L.base.push_back(base);
        L.ends.push_back(static_cast<std::uint32_t>(L.pair_digit.size()));
    }
    L.finalize();
    return p;
}

// The dtype decides how a negative lower bound is checked: an unsigned column never holds
// a negative value, so only its upper bound matters.
template <class I>
void set_check_bounds(ParsedTerms& p) {
    PredictLayout& L = p.layout;
    L.check_lo.resize(L.n_var);
    L.check_span.resize(L.n_var);
    for (std::size_t d = 0; d < L.n_var; ++d) {
        const std::int64_t lo = p.lower[d], hi = p.upper[d];
        if (std::is_signed_v<I> || lo >= 0) {
            L.check_lo[d] = static_cast<std::uint64_t>(lo);
            L.check_span[d] = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
        } else if (hi < 0) {
            L.check_lo[d] = 0;
            L.check_span[d] = std::numeric_limits<std::uint64_t>::max();  // nothing passes
        } else {
            L.check_lo[d] = 0;
            L.check_span[d] = static_cast<std::uint64_t>(hi);
        }
    }
}

template <class I>
py::array_t<double> lut_predict_typed(const py::array& X, ParsedTerms& p) {
    set_check_bounds<I>(p);
    const auto B = static_cast<std::size_t>(X.shape(0));
    const auto* data = static_cast<const I*>(X.data());
    py::array_t<double> out(static_cast<py::ssize_t>(B));
    double* sums = out.mutable_data();
    const unsigned threads = worker_threads();
    PredictFailure failure;
    {
        std::optional<py::gil_scoped_release> release;
        if (B * (p.layout.n_var + p.layout.base.size()) > kReleaseGilAbove) release.emplace();
        failure = segevo::lut_predict<I>(data, B, p.layout, sums, threads);
    }
    if (!failure.found) return out;
    const std::size_t D = p.layout.n_var;
    const std::string row = "row " + std::to_string(failure.row);
    if (!failure.term_invalid) {
        const std::size_t d = failure.index;
        throw py::value_error(row + ": digit x" + std::to_string(d) + " = " +
                              element_text(X, failure.row * D + d) +
                              " is outside its allowed range " + std::to_string(p.lower[d]) +
                              ".." + std::to_string(p.upper[d]));
    }
    const std::size_t t = failure.index;
    std::string digits;
    for (const std::size_t d : p.term_digits[t]) {
        digits += (digits.empty() ? "" : ", ") + std::string("x") + std::to_string(d) + " = " +
                  element_text(X, failure.row * D + d);
    }
    throw py::value_error(row + ": term " + std::to_string(t) + " (" + digits +
                          ") is an invalid combination (its table entry is NaN)");
}

py::array_t<double> lut_predict_py(const py::handle& X_obj, const py::handle& lower,
                                   const py::handle& upper, const py::handle& term_digits,
                                   const py::handle& term_strides, const py::handle& term_offsets,
                                   const py::handle& tables_obj) {
    py::array X = as_c_array(X_obj, "X");
    require_ndim(X, "X", 2, "[n_rows, n_digits]");
    const py::dtype dt = X.dtype();
    const char kind = dt.kind();
    if ((kind != 'i' && kind != 'u') || !native_byte_order(dt)) {
        throw py::value_error(
            "X must have an integer dtype (int8, int16, int32, int64 or unsigned), got " +
            dtype_name(X));
    }
    py::array tables = float64_array(tables_obj, "tables", 1, "[n_entries]");
    {
        const auto* v = static_cast<const double*>(tables.data());
        for (py::ssize_t i = 0; i < tables.shape(0); ++i) {
            if (std::isinf(v[i])) {
                throw py::value_error(
                    "tables must be finite or NaN (an invalid combination), but element " +
                    std::to_string(i) + " is " + py::str(py::float_(v[i])).cast<std::string>());
            }
        }
    }
    ParsedTerms p = parse_terms(static_cast<std::size_t>(X.shape(1)), lower, upper, term_digits,
                                term_strides, term_offsets, tables);
    const bool is_signed = kind == 'i';
    switch (dt.itemsize()) {
        case 1:
            return is_signed ? lut_predict_typed<std::int8_t>(X, p)
                             : lut_predict_typed<std::uint8_t>(X, p);
        case 2:
            return is_signed ? lut_predict_typed<std::int16_t>(X, p)
                             : lut_predict_typed<std::uint16_t>(X, p);
        case 4:
            return is_signed ? lut_predict_typed<std::int32_t>(X, p)
                             : lut_predict_typed<std::uint32_t>(X, p);
        case 8:
            return is_signed ? lut_predict_typed<std::int64_t>(X, p)
                             : lut_predict_typed<std::uint64_t>(X, p);
        default:
            throw py::value_error("X has an unsupported integer dtype " + dtype_name(X));
    }
}

}  // namespace

void bind_lut_predict(py::module_& m) {
    m.def("lut_predict", &lut_predict_py, py::arg("X"), py::arg("lower"), py::arg("upper"),
          py::arg("term_digits"), py::arg("term_strides"), py::arg("term_offsets"),
          py::arg("tables"),
          "Sums of look-up-table terms read straight off integer digit rows (float64[B]): "
          "term t adds tables[term_offsets[t] + sum_j (X[r, d_j] - lower[d_j]) * stride_j]; "
          "a NaN entry marks an invalid combination.");
}

}  // namespace segevo::bind
