// Shared pieces of the Python bindings: the register_<area> entry points that bind_module.cpp
// calls (one bind_<area>.cpp file each), and the conversions every binding file needs (NumPy views,
// JSON <-> Python, argument checks; implemented in convert.cpp).
//
// Signatures: bind_module.cpp turns off pybind11's generated signature lines, and every function's
// docstring starts with its own "name(self, /, x, y=None)\n--\n\n" line, which CPython exposes as
// __text_signature__, so inspect.signature() and help() show the real parameters. The stubs in
// python/simmatch/_simmatch.pyi repeat them for IDEs (tests/python/test_signatures.py compares).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "simmatch/precision.hpp"
#include "simmatch/structure.hpp"
#include "simmatch/types.hpp"

namespace py = pybind11;

namespace simmatch {
struct Config;
}

namespace simmatch::python {

// One function per binding file; bind_module.cpp calls them in this order (errors first, so the
// exception types exist when the docstrings of later registrations mention them).
void register_errors(py::module_& m);
void register_structure(py::module_& m);
void register_config(py::module_& m);
void register_network(py::module_& m);
void register_readout(py::module_& m);

/// A NumPy array over memory owned by `base` (which the array keeps alive), optionally read-only.
/// Used for zero-copy views of structures, weights and data sets.
template <typename T>
py::array_t<T> view(const T* data, std::vector<py::ssize_t> shape, py::handle base, bool writeable = false) {
  py::array_t<T> a(std::move(shape), data, base);
  if (!writeable) py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

/// Grid from an int (flat: 1 x n x 1) or a tuple (H, W) / (H, W, C); TypeError/ValueError naming `arg`.
Grid grid_from_python(py::handle value, const std::string& arg);
/// (H, W, C) tuple.
py::tuple grid_to_python(const Grid& grid);

/// Python value (None, bool, int, float, str, list/tuple, dict, NumPy scalar) as JSON; TypeError naming `arg`.
nlohmann::json to_json(py::handle value, const std::string& arg);
py::object from_json(const nlohmann::json& value);

/// Full parameter key of a Python keyword: a short name ("eta" -> "train.eta", "seed") or a
/// full key ("train.eta"); "" when there is none. Short names are the table's keys without their
/// section, which the table keeps unique.
std::string parameter_key(const std::string& name);

/// Sets each keyword (short or full key) on `config` through the parameter table, as a TOML
/// file or a CLI override would. TypeError for an unknown name (with the closest ones),
/// simmatch.ConfigError for a bad value. Does not validate across keys.
void apply_keywords(Config& config, const py::dict& kwargs, const std::string& context);

/// NumPy dtype name of a float type: "float32" / "float64" (NumPy's names are the precisions').
template <typename T>
const char* dtype_name() {
  return precision_name(precision_of<T>());
}

/// An input array checked against a network: C-contiguous, of dtype T, samples x features with
/// features == `features`, finite. `array` owns (or borrows) the memory; `data` is column-major
/// K x T in the engine's batch layout. `copied` tells whether a conversion had to copy.
template <typename T>
struct InputArray {
  py::array_t<T> array;
  const T* data = nullptr;
  Index samples = 0;
  Index features = 0;
  bool copied = false;
};

/// Checks and, only where dtype or layout demand it, converts `value`. `arg` names the argument
/// in messages; `features` < 0 accepts any width. Must be called with the GIL held.
template <typename T>
InputArray<T> input_array(py::handle value, const std::string& arg, Index features, const std::string& shape_hint);

}  // namespace simmatch::python
