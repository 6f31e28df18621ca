// Conversions shared by the binding files: grids, JSON, and the checked NumPy input arrays that
// give the engine its K x T batches without a copy when dtype and layout allow.
#include "bindings.hpp"

#include <cmath>
#include <fmt/format.h>

namespace simmatch::python {

namespace {

std::string shape_text(const py::array& a) {
  // fmt::join rather than string concatenation: GCC 12 under LTO warns falsely (-Wstringop-overflow)
  // about the inlined std::string operator+.
  const std::vector<py::ssize_t> dims(a.shape(), a.shape() + a.ndim());
  return fmt::format("({}{})", fmt::join(dims, ", "), a.ndim() == 1 ? "," : "");
}

Index positive_int(py::handle v, const std::string& arg) {
  if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v)) {
    // NumPy integers are not Python ints; accept them through the index protocol.
    if (!PyIndex_Check(v.ptr()) || py::isinstance<py::bool_>(v))
      throw py::type_error(arg + ": expected integers, got " + std::string(py::str(py::type::of(v).attr("__name__"))));
  }
  const auto n = py::cast<Index>(py::reinterpret_steal<py::object>(PyNumber_Index(v.ptr())));
  if (n < 1) throw py::value_error(fmt::format("{}: sizes must be >= 1, got {}", arg, n));
  return n;
}

}  // namespace

Grid grid_from_python(py::handle value, const std::string& arg) {
  if (PyIndex_Check(value.ptr()) && !py::isinstance<py::bool_>(value)) return Grid{1, positive_int(value, arg), 1};
  if (!py::isinstance<py::sequence>(value) || py::isinstance<py::str>(value))
    throw py::type_error(arg + ": expected an int or a tuple (height, width[, channels]), got " +
                         std::string(py::str(py::type::of(value).attr("__name__"))));
  const auto seq = py::reinterpret_borrow<py::sequence>(value);
  if (seq.size() < 1 || seq.size() > 3)
    throw py::value_error(fmt::format("{}: expected (height, width[, channels]), got {} values", arg, seq.size()));
  if (seq.size() == 1) return Grid{1, positive_int(seq[0], arg), 1};
  return Grid{positive_int(seq[0], arg), positive_int(seq[1], arg), seq.size() == 3 ? positive_int(seq[2], arg) : 1};
}

py::tuple grid_to_python(const Grid& grid) { return py::make_tuple(grid.height, grid.width, grid.channels); }

nlohmann::json to_json(py::handle value, const std::string& arg) {
  py::object v = py::reinterpret_borrow<py::object>(value);
  // NumPy scalars (np.float32(1e-3), np.int64(4)) become their Python equivalents first.
  if (py::isinstance(v, py::module_::import("numpy").attr("generic"))) v = v.attr("item")();
  if (v.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>();
  if (py::isinstance<py::int_>(v)) return v.cast<std::int64_t>();
  if (py::isinstance<py::float_>(v)) return v.cast<double>();
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::isinstance<py::dict>(v)) {
    nlohmann::json out = nlohmann::json::object();
    for (auto item : v.cast<py::dict>()) {
      const auto key = py::str(item.first).cast<std::string>();
      out[key] = to_json(item.second, arg + "['" + key + "']");
    }
    return out;
  }
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    nlohmann::json out = nlohmann::json::array();
    std::size_t i = 0;
    for (auto item : v) out.push_back(to_json(item, fmt::format("{}[{}]", arg, i++)));
    return out;
  }
  if (py::hasattr(v, "__fspath__")) return py::str(v.attr("__fspath__")()).cast<std::string>();
  throw py::type_error(arg + ": unsupported value of type " + std::string(py::str(py::type::of(v).attr("__name__"))));
}

py::object from_json(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return py::none();
    case nlohmann::json::value_t::boolean: return py::bool_(value.get<bool>());
    case nlohmann::json::value_t::number_integer: return py::int_(value.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: return py::int_(value.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float: return py::float_(value.get<double>());
    case nlohmann::json::value_t::string: return py::str(value.get<std::string>());
    case nlohmann::json::value_t::array: {
      py::list out;
      for (const auto& item : value) out.append(from_json(item));
      return out;
    }
    case nlohmann::json::value_t::object: {
      py::dict out;
      for (const auto& [key, item] : value.items()) out[py::str(key)] = from_json(item);
      return out;
    }
    default: return py::none();
  }
}

template <typename T>
InputArray<T> input_array(py::handle value, const std::string& arg, Index features, const std::string& shape_hint) {
  auto np = py::module_::import("numpy");
  if (value.is_none())
    throw py::type_error(arg + ": expected an array of shape (samples, features), got None");
  py::object obj = py::reinterpret_borrow<py::object>(value);
  InputArray<T> in;
  if (!py::isinstance<py::array>(obj)) {
    // Nested lists and other array-likes: convert once, straight to the network's precision.
    try {
      obj = np.attr("asarray")(obj, py::dtype::of<T>());
    } catch (py::error_already_set& e) {
      throw py::type_error(arg + ": expected an array of numbers of shape (samples, features) (" + e.what() + ")");
    }
    in.copied = true;
  }
  auto a = obj.cast<py::array>();
  const char kind = a.dtype().kind();
  if (kind != 'f' || (a.itemsize() != 4 && a.itemsize() != 8)) {
    throw py::type_error(fmt::format("{}: expected float32 or float64 values, got {}{}", arg,
                                     py::str(static_cast<py::handle>(a.dtype())).cast<std::string>(),
                                     kind == 'u' || kind == 'i' || kind == 'b'
                                         ? " (convert explicitly, e.g. X.astype(np.float32) / 255 for bytes)"
                                         : ""));
  }
  if (a.ndim() < 2)
    throw py::value_error(fmt::format("{}: expected a 2-D array (samples, features), got shape {}{}", arg,
                                      shape_text(a), a.ndim() == 1 ? "; use X[None, :] for a single sample" : ""));
  Index width = 1;
  for (py::ssize_t d = 1; d < a.ndim(); ++d) width *= a.shape(d);
  if (features >= 0 && width != features) {
    // A lone image (28, 28) where the network expects (samples, 28, 28) reads as 28 samples.
    const std::string single =
        a.size() == features ? fmt::format("; for one sample of shape {} pass X[None]", shape_text(a)) : "";
    throw py::value_error(fmt::format("{}: samples of shape {} have {} features but the network expects {}{}{}", arg,
                                      shape_text(a), width, features, shape_hint, single));
  }
  if (a.shape(0) == 0) throw py::value_error(arg + ": no samples (shape " + shape_text(a) + ")");
  if (width == 0) throw py::value_error(arg + ": samples have no features (shape " + shape_text(a) + ")");
  // Zero copy when the array already is C-contiguous T: its bytes are the K x T column-major batch.
  if (!py::isinstance<py::array_t<T, py::array::c_style>>(a)) in.copied = true;
  in.array = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(a);
  if (!in.array) throw py::error_already_set();
  in.data = in.array.data();
  in.samples = a.shape(0);
  in.features = width;
  const Index n = in.samples * in.features;
  for (Index i = 0; i < n; ++i) {
    if (!std::isfinite(in.data[i])) {
      throw py::value_error(fmt::format("{}: sample {} holds {} (feature {})", arg, i / width,
                                        std::isnan(in.data[i]) ? "NaN" : "Inf", i % width));
    }
  }
  return in;
}

template InputArray<float> input_array<float>(py::handle, const std::string&, Index, const std::string&);
template InputArray<double> input_array<double>(py::handle, const std::string&, Index, const std::string&);

}  // namespace simmatch::python
