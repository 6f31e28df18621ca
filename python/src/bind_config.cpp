// Bindings of the run configuration: the parameter table (the same one that makes the TOML
// reader, the CLI overrides and docs/parameters.md) as Python keywords, and data loading
// through the config so Python and the CLI read and preprocess data identically.
#include <fmt/format.h>

#include "bindings.hpp"
#include "simmatch/config.hpp"
#include "simmatch/dataset.hpp"

namespace simmatch::python {

std::string parameter_key(const std::string& name) {
  // "layers.0.stride" (one layer) and "layers.stride" (every layer): set_parameter checks them.
  if (name.rfind("layers.", 0) == 0) return name;
  for (const ParamInfo& p : parameters()) {
    if (p.per_layer) continue;
    if (p.key == name) return p.key;
    const auto dot = p.key.find('.');
    if (dot != std::string::npos && p.key.compare(dot + 1, std::string::npos, name) == 0) return p.key;
  }
  return "";
}

namespace {

[[noreturn]] void unknown_keyword(const std::string& name, const std::string& context) {
  py::list names;
  for (const ParamInfo& p : parameters()) {
    if (p.per_layer) continue;
    const auto dot = p.key.find('.');
    names.append(py::str(dot == std::string::npos ? p.key : p.key.substr(dot + 1)));
  }
  auto close = py::module_::import("difflib").attr("get_close_matches")(name, names, 3, 0.6).cast<py::list>();
  std::string hint;
  for (auto c : close) hint += (hint.empty() ? "; did you mean " : " or ") + ("'" + c.cast<std::string>() + "'");
  throw py::type_error(context + ": unknown keyword argument '" + name + "'" + hint +
                       " (simmatch.parameters() lists them all)");
}

}  // namespace

void apply_keywords(Config& config, const py::dict& kwargs, const std::string& context) {
  for (auto item : kwargs) {
    const auto name = py::str(item.first).cast<std::string>();
    const std::string key = parameter_key(name);
    if (key.empty()) unknown_keyword(name, context);
    set_parameter(config, key, to_json(item.second, name));
  }
}

namespace {

Config config_from(py::object config, const py::dict& kwargs, const std::string& context) {
  Config c;
  if (!config.is_none()) {
    if (py::isinstance<py::dict>(config)) {
      c = config_from_json(to_json(config, "config"), "config dict");
    } else {
      const auto path = py::str(py::module_::import("os").attr("fspath")(config)).cast<std::string>();
      c = load_config(path);
    }
  } else {
    c.source = context;
  }
  apply_keywords(c, kwargs, context);
  validate_config(c);
  return c;
}

py::dict param_dict(const ParamInfo& p) {
  py::dict d;
  d["key"] = p.key;
  d["type"] = param_type_name(p.type);
  d["default"] = from_json(p.default_value);
  d["doc"] = p.doc;
  d["check"] = p.check;
  d["choices"] = p.choices;
  d["per_layer"] = p.per_layer;
  return d;
}

}  // namespace

void register_config(py::module_& m) {
  m.def(
      "parameters",
      []() {
        py::list out;
        for (const ParamInfo& p : parameters()) out.append(param_dict(p));
        return out;
      },
      R"doc(parameters()
--

Every configuration parameter as a dict (key, type, default, doc, check, choices,
per_layer). Keyword arguments of Network, from_config and load_data take the key either in
full ("train.eta") or without its section ("eta"); per-layer keys go in the `layers` dicts.)doc");

  m.def(
      "load_config",
      [](py::object path, py::kwargs kwargs) {
        return from_json(config_to_json(config_from(path, kwargs, "load_config()")));
      },
      py::arg("path"),
      "load_config(path, **overrides)\n--\n\nThe TOML config at `path` with keyword overrides applied, as a nested dict (what models store).");

  m.def(
      "default_config", []() { return from_json(config_to_json(Config())); },
      "default_config()\n--\n\nThe parameter table's defaults as a nested dict.");

  m.def(
      "load_data",
      [](py::object config, py::kwargs kwargs) {
        const Config c = config_from(config, kwargs, "load_data()");
        auto data = std::make_unique<Dataset>();
        {
          py::gil_scoped_release release;
          *data = load_data(c);
        }
        // X aliases the data set's K x T column-major matrix, which is the T x K C-order array.
        std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(data->size())};
        const Grid g = data->shape;
        if (g.height > 1) {
          shape.push_back(g.height);
          shape.push_back(g.width);
          if (g.channels > 1) shape.push_back(g.channels);
        } else {
          shape.push_back(static_cast<py::ssize_t>(data->dim()));
        }
        py::object labels = py::none();
        if (data->has_labels()) {
          py::array_t<std::int32_t> y(static_cast<py::ssize_t>(data->labels.size()));
          std::copy(data->labels.begin(), data->labels.end(), y.mutable_data());
          labels = y;
        }
        const float* x = data->x.data();
        py::capsule owner(data.release(), [](void* p) { delete static_cast<Dataset*>(p); });
        return py::make_tuple(view(x, shape, owner, true), labels);
      },
      py::arg("config") = py::none(), R"doc(load_data(config=None, **keys)
--

Reads and preprocesses a data set exactly as `simmatch train` does: from a TOML config path (or
a dict), with keyword overrides, or from keywords alone, e.g.
``load_data(format='mnist-json', path='data/mnist/package/src/digits', limit=1000)``.
Returns (X, y): X float32 of shape (samples, height, width[, channels]) for image data or
(samples, features) otherwise; y int32 labels or None.)doc");
}

}  // namespace simmatch::python
