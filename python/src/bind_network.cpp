// Bindings of Network: construction from keywords or a TOML config (through the parameter table
// and build_network, exactly as the CLI builds it), parameters, layer views of the weights and the
// class itself, whose other methods come from bind_network_{state,training,encoding}.cpp.
#include <fmt/format.h>

#include <memory>
#include <mutex>

#include "model.hpp"
#include "simmatch/pooling.hpp"
#include "simmatch/config.hpp"
#include "simmatch/error.hpp"
#include "simmatch/precision.hpp"
#include "simmatch/schedule_stability.hpp"

namespace simmatch::python {

std::string fspath(py::handle path) { return py::str(py::module_::import("os").attr("fspath")(path)).cast<std::string>(); }

namespace {

// Marks layers whose structures were given as Structure objects: their config entry cannot
// rebuild them (the CLI would need the constants as NPY files), but the model file holds them.
constexpr const char* kPythonStructure = "<Structure given in Python>";

// ---- construction --------------------------------------------------------------------------

std::string dtype_to_precision(py::handle value) {
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  // np.float32, np.dtype('float64'), 'f4'...: normalise through NumPy.
  try {
    const auto dt = py::dtype::from_args(py::reinterpret_borrow<py::object>(value));
    if (dt.kind() == 'f' && dt.itemsize() == 4) return precision_name(Precision::float32);
    if (dt.kind() == 'f' && dt.itemsize() == 8) return precision_name(Precision::float64);
    return py::str(static_cast<const py::handle&>(dt)).cast<std::string>();
  } catch (py::error_already_set&) {
    throw py::type_error("precision: expected 'float32' or 'float64'");
  }
}

// Keywords naming an Activation object set the activation, gain and clip keys together.
void set_activation(Config& config, const std::string& prefix, py::handle value) {
  if (py::isinstance<Activation>(value)) {
    const auto& a = value.cast<const Activation&>();
    set_parameter(config, prefix + "activation", a.name());
    set_parameter(config, prefix + "gain", a.gain());
    set_parameter(config, prefix + "clip", a.clip());
  } else {
    set_parameter(config, prefix + "activation", to_json(value, "activation"));
  }
}

// Layers given directly as structures (a `cw` Structure in the layer dict).
struct CustomLayer {
  Structure cw;
  Structure cl;
  Grid grid;
};

/// Applies the `layers` list: dicts of per-layer keys, or of `cw` / `cl` Structures and `grid`.
std::vector<CustomLayer> apply_layers(Config& config, py::handle layers) {
  std::vector<CustomLayer> custom;
  if (layers.is_none()) return custom;
  if (!py::isinstance<py::sequence>(layers) || py::isinstance<py::str>(layers) || py::isinstance<py::dict>(layers))
    throw py::type_error("layers: expected a list of dicts, e.g. [dict(type='dense', neurons=10)]");
  const auto seq = py::reinterpret_borrow<py::sequence>(layers);
  if (seq.size() == 0) throw py::value_error("layers: at least one layer is required");
  config.layers.clear();
  for (std::size_t i = 0; i < seq.size(); ++i) {
    const std::string prefix = "layers." + std::to_string(i) + ".";
    if (!py::isinstance<py::dict>(seq[i]))
      throw py::type_error(fmt::format("layers[{}]: expected a dict of layer parameters", i));
    config.layers.emplace_back();
    const auto d = seq[i].cast<py::dict>();
    if (d.contains("cw")) {
      if (!py::isinstance<Structure>(d["cw"])) throw py::type_error(fmt::format("layers[{}]['cw']: expected a Structure", i));
      CustomLayer c;
      c.cw = d["cw"].cast<Structure>();
      c.cl = d.contains("cl") ? d["cl"].cast<Structure>() : Structure::dense(c.cw.rows(), c.cw.rows());
      c.grid = d.contains("grid") ? grid_from_python(d["grid"], fmt::format("layers[{}]['grid']", i))
                                  : Grid{1, c.cw.rows(), 1};
      custom.push_back(std::move(c));
      set_parameter(config, prefix + "type", "file");
      set_parameter(config, prefix + "cw_file", kPythonStructure);
      set_parameter(config, prefix + "cl_file", kPythonStructure);
    } else if (d.contains("cl") || d.contains("grid")) {
      throw py::value_error(fmt::format("layers[{}]: 'cl' and 'grid' need the layer's 'cw' Structure too", i));
    }
    for (auto item : d) {
      const auto key = py::str(item.first).cast<std::string>();
      if (key == "cw" || key == "cl" || key == "grid") continue;
      if (key == "activation") {
        set_activation(config, prefix, item.second);
        continue;
      }
      set_parameter(config, prefix + key, to_json(item.second, fmt::format("layers[{}]['{}']", i, key)));
    }
  }
  if (!custom.empty() && custom.size() != config.layers.size())
    throw py::value_error("layers: give every layer as Structures ('cw') or none (a config cannot mix them)");
  return custom;
}

template <typename T>
std::unique_ptr<Network<T>> build(const Config& config, const Grid& input, const std::vector<CustomLayer>& custom) {
  if (custom.empty()) return std::make_unique<Network<T>>(build_network<T>(config, input));
  std::vector<Layer<T>> layers;
  for (std::size_t p = 0; p < custom.size(); ++p)
    layers.emplace_back(custom[p].cw, custom[p].cl, layer_activation(config, p), custom[p].grid);
  auto net = std::make_unique<Network<T>>(input.size(), std::move(layers), config.network.gamma);
  net->initialise(config.seed);
  return net;
}

void build_model(Model& m, const std::vector<CustomLayer>& custom) {
  py::gil_scoped_release release;
  with_precision(m.config.network.precision, [&](auto type) {
    using T = typename decltype(type)::type;
    if constexpr (std::is_same_v<T, double>) {
      m.f64 = build<double>(m.config, m.input_shape, custom);
    } else {
      m.f32 = build<float>(m.config, m.input_shape, custom);
    }
  });
}

// The settings that are valid but likely to fail (config_warnings) as Python RuntimeWarnings.
void warn_about(const Config& config) {
  for (const std::string& text : config_warnings(config)) {
    py::module_::import("warnings").attr("warn")(text, py::module_::import("builtins").attr("RuntimeWarning"), 2);
  }
}

std::unique_ptr<Model> make_network(py::handle input_shape, py::handle layers, py::kwargs kwargs) {
  auto m = std::make_unique<Model>();
  m->config.source = "Network()";
  m->input_shape = grid_from_python(input_shape, "input_shape");
  const std::vector<CustomLayer> custom = apply_layers(m->config, layers);
  py::dict rest;
  for (auto item : kwargs) {
    const auto name = py::str(item.first).cast<std::string>();
    if (name == "activation" || name == "network.activation") {
      set_activation(m->config, "network.", item.second);
    } else if (name == "precision" || name == "network.precision") {
      set_parameter(m->config, "network.precision", dtype_to_precision(item.second));
    } else {
      rest[item.first] = item.second;
    }
  }
  apply_keywords(m->config, rest, "Network()");
  if (custom.empty()) validate_config(m->config);
  build_model(*m, custom);
  warn_about(m->config);
  return m;
}

std::unique_ptr<Model> from_config(py::handle path, py::object input_shape, py::kwargs kwargs) {
  auto m = std::make_unique<Model>();
  m->config = load_config(fspath(path));
  apply_keywords(m->config, kwargs, m->config.source);
  validate_config(m->config);
  if (input_shape.is_none()) {
    // The shape of the input comes from the data, as in the CLI; keep the data for fit().
    if (m->config.data.path.empty())
      throw py::value_error(m->config.source + ": input_shape is required when the config names no data.path");
    py::gil_scoped_release release;
    m->config_data = std::make_shared<const Dataset>(load_data(m->config));
    m->input_shape = m->config_data->shape;
  } else {
    m->input_shape = grid_from_python(input_shape, "input_shape");
  }
  build_model(*m, {});
  warn_about(m->config);
  return m;
}

// ---- weights -------------------------------------------------------------------------------

/// A view of layer p of a Network; keeps the Network alive.
struct LayerView {
  py::object owner;
  Model* model;
  Index p;
};

template <typename T>
py::array_t<T> dense_copy(const SparseWeights<T>& w) {
  py::array_t<T> out(std::vector<py::ssize_t>{w.rows(), w.cols()});
  using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<RowMajor>(out.mutable_data(), w.rows(), w.cols()) = w.toDense();
  return out;
}

py::object weights_view(py::object self, bool lateral) {
  const auto& v = self.cast<const LayerView&>();
  return v.model->visit([&](const auto& net) -> py::object {
    const auto& w = lateral ? net.layer(v.p).L() : net.layer(v.p).W();
    return view(w.valuePtr(), {static_cast<py::ssize_t>(w.nonZeros())}, self);
  });
}

py::object weights_dense(const LayerView& v, bool lateral) {
  std::shared_lock lock(v.model->mutex, std::defer_lock);
  {
    py::gil_scoped_release release;
    lock.lock();
  }
  return v.model->visit([&](const auto& net) -> py::object {
    return dense_copy(lateral ? net.layer(v.p).L() : net.layer(v.p).W());
  });
}

py::object structure_ref(py::object self, bool lateral) {
  const auto& v = self.cast<const LayerView&>();
  return v.model->visit([&](const auto& net) -> py::object {
    const Structure& s = lateral ? net.layer(v.p).cl() : net.layer(v.p).cw();
    return py::cast(&s, py::return_value_policy::reference_internal, self);
  });
}

std::string network_repr(const Model& m) {
  std::vector<Index> sizes;
  m.visit([&](const auto& net) {
    for (const auto& l : net.layers()) sizes.push_back(l.size());
  });
  return fmt::format("Network(input_shape=({}, {}, {}), layer_sizes=[{}], gamma={}, precision='{}', epochs_trained={})",
                     m.input_shape.height, m.input_shape.width, m.input_shape.channels, fmt::join(sizes, ", "),
                     m.visit([](const auto& net) { return net.gamma(); }), m.precision(), m.epochs_trained);
}

// get_params / set_params: every global parameter by its short name (the sklearn convention).
py::dict get_params(const Model& m) {
  py::dict d;
  for (const ParamInfo& p : parameters()) {
    if (p.per_layer) continue;
    const auto dot = p.key.find('.');
    d[py::str(dot == std::string::npos ? p.key : p.key.substr(dot + 1))] = from_json(get_parameter(m.config, p.key));
  }
  py::list layers;
  for (std::size_t i = 0; i < m.config.layers.size(); ++i) {
    py::dict layer;
    for (const ParamInfo& p : parameters())
      if (p.per_layer)
        layer[py::str(p.key.substr(7))] = from_json(get_parameter(m.config, "layers." + std::to_string(i) + "." + p.key.substr(7)));
    layers.append(layer);
  }
  d["layers"] = layers;
  return d;
}

void set_params(Model& m, py::kwargs kwargs) {
  // Only what does not change the network's shape or weights can change after construction.
  Config updated = m.config;
  apply_keywords(updated, kwargs, "set_params()");
  for (auto item : kwargs) {
    const std::string key = parameter_key(py::str(item.first).cast<std::string>());
    if (key.rfind("network.", 0) == 0 || key == "data.format" || key == "data.path")
      throw py::value_error("set_params(): '" + key +
                            "' fixes the network's shape or weights; build a new Network instead");
  }
  // The config is read and written only with the GIL held (engine calls work on copies of
  // its options), so no lock is needed here.
  m.config = std::move(updated);
}

}  // namespace

void register_network(py::module_& m) {
  py::class_<LayerView>(m, "Layer", "One layer of a Network (a view: it keeps the network alive).")
      .def_property_readonly("index", [](const LayerView& v) { return v.p; })
      .def_property_readonly("size", [](const LayerView& v) {
        return v.model->visit([&](const auto& net) { return net.layer(v.p).size(); });
      }, "Number of neurons N_p.")
      .def_property_readonly("input_size", [](const LayerView& v) {
        return v.model->visit([&](const auto& net) { return net.layer(v.p).input_size(); });
      })
      .def_property_readonly("grid", [](const LayerView& v) {
        return grid_to_python(v.model->visit([&](const auto& net) { return net.layer(v.p).grid(); }));
      }, "(sites_y, sites_x, neurons_per_site); flat layers are (1, N_p, 1).")
      .def("pooled_grid",
           [](const LayerView& v, const std::string& pool) {
             const Grid grid = v.model->visit([&](const auto& net) { return net.layer(v.p).grid(); });
             return grid_to_python(Pooling::from_text(pool).output(grid));
           },
           py::arg("pool"),
           "pooled_grid(self, /, pool)\n--\n\n"
           "The grid of this layer's activities pooled as transform(pool=...) pools them.")
      .def_property_readonly("input_grid", [](const LayerView& v) { return grid_to_python(v.model->layer_input_grid(v.p)); },
                             "Grid of this layer's input (the data's input_shape for layer 0).")
      .def_property_readonly("activation", [](const LayerView& v) {
        return v.model->visit([&](const auto& net) { return net.layer(v.p).activation(); });
      })
      .def_property_readonly("cw", [](py::object self) { return structure_ref(self, false); },
                             "Structure C^W of the feedforward weights.")
      .def_property_readonly("cl", [](py::object self) { return structure_ref(self, true); },
                             "Structure C^L of the lateral weights.")
      .def_property_readonly("W_data", [](py::object self) { return weights_view(self, false); },
                             "Feedforward weights on the synapses of `cw` (same order as cw.indices): a "
                             "read-only view that follows training.")
      .def_property_readonly("L_data", [](py::object self) { return weights_view(self, true); },
                             "Lateral weights on the synapses of `cl`: a read-only view.")
      .def_property_readonly("W", [](const LayerView& v) { return weights_dense(v, false); },
                             "Dense copy of W (N_p x N_{p-1}), zeros off the structure.")
      .def_property_readonly("L", [](const LayerView& v) { return weights_dense(v, true); },
                             "Dense copy of L (N_p x N_p), zeros off the structure.")
      .def("__repr__", [](const LayerView& v) {
        return v.model->visit([&](const auto& net) {
          const auto& l = net.layer(v.p);
          return fmt::format("Layer(index={}, size={}, grid=({}, {}, {}), activation='{}', W synapses={}, L synapses={})",
                             v.p, l.size(), l.grid().height, l.grid().width, l.grid().channels, l.activation().name(),
                             l.cw().nnz(), l.cl().nnz());
        });
      });

  py::class_<Model> n(m, "Network", R"doc(
A structured deep similarity-matching network (docs/theory.md, eqs. 11-17) on the C++ engine: the
low-level API (simmatch.SimilarityMatching is the scikit-learn estimator built on it).

    Network(input_shape, layers=None, **parameters)

input_shape: int (flat inputs) or (height, width[, channels]).
layers: list of dicts of per-layer parameters, e.g. [dict(type='local2d', stride=2, radius=4,
    neurons_per_site=4)] or [dict(type='dense', neurons=10)]; or dicts holding Structures
    {'cw': Structure, 'cl': Structure, 'grid': (h, w, c), 'activation': ...}.
parameters: any key of simmatch.parameters() by its short name (gamma, activation, precision,
    seed, eta, epochs, batch_size, tolerance...) or full key ("train.eta"). `activation` also
    takes an Activation; `precision` 'float32' / 'float64' or a NumPy float dtype.
The same keys in a TOML file give the same network through Network.from_config and the CLI.
)doc");
  n.def(py::init(&make_network), py::arg("input_shape"), py::arg("layers") = py::none(),
        "__init__(self, /, input_shape, layers=None, **parameters)\n--\n\n"
        "A network for inputs of `input_shape` with `layers` and any parameters by name (see the class).")
      .def_static("from_config", &from_config, py::arg("path"), py::arg("input_shape") = py::none(),
                  "from_config(path, input_shape=None, **overrides)\n--\n\n"
                  "The network of a TOML config (the file `simmatch train` reads), with keyword overrides\n"
                  "(short or full keys). Without input_shape the config's data set is read to learn it (and is\n"
                  "kept: fit() without X then trains on it, exactly as `simmatch train` does).")
      .def("get_params", &get_params,
           "get_params(self, /)\n--\n\n"
           "Every parameter by its short name (layers as a list of dicts).")
      .def(
          "set_params",
          [](py::object self, py::kwargs kwargs) {
            set_params(self.cast<Model&>(), kwargs);
            return self;
          },
          "set_params(self, /, **parameters)\n--\n\n"
          "Changes training / solver parameters (eta, epochs, batch_size, tolerance, seed...). Returns self.")
      .def_property_readonly("layers", [](py::object self) {
        Model& mo = self.cast<Model&>();
        py::list out;
        for (Index p = 0; p < mo.num_layers(); ++p) out.append(py::cast(LayerView{self, &mo, p}));
        return out;
      }, "The layers, as Layer views.")
      .def_property_readonly("input_shape", [](const Model& mo) { return grid_to_python(mo.input_shape); })
      .def_property_readonly("n_features_in_", &Model::input_size)
      .def_property_readonly("n_layers", &Model::num_layers)
      .def_property_readonly("layer_sizes", [](const Model& mo) {
        std::vector<Index> sizes;
        mo.visit([&](const auto& net) {
          for (const auto& l : net.layers()) sizes.push_back(l.size());
        });
        return sizes;
      })
      .def_property_readonly("n_synapses", [](const Model& mo) { return mo.visit([](const auto& net) { return net.num_synapses(); }); })
      .def_property_readonly("gamma", [](const Model& mo) { return mo.visit([](const auto& net) { return net.gamma(); }); })
      .def(
          "jacobian_eigenvalue_bound",
          [](const Model& mo) {
            py::gil_scoped_release release;
            std::shared_lock lock(mo.mutex);
            return mo.visit([](const auto& net) { return jacobian_eigenvalue_bound(net); });
          },
          "jacobian_eigenvalue_bound(self, /)\n--\n\n"
          "lambda_max: a bound on the eigenvalues of the Jacobian of eq. 15's u -> u - g(u) at every state\n"
          "(exact at rest for tanh and linear units; docs/theory.md, \"Euler's stability limit\"). Euler\n"
          "steps (solver.step_min, solver.step_initial) above 2 / lambda_max can oscillate.")
      .def_property_readonly("precision", &Model::precision)
      .def_property_readonly("dtype", [](const Model& mo) {
        return mo.f64 ? py::dtype::of<double>() : py::dtype::of<float>();
      })
      .def_property_readonly("config", [](const Model& mo) { return from_json(config_to_json(mo.config)); },
                             "The full config as a nested dict (what save() stores).")
      .def_property_readonly(
          "label_weights_",
          [](const Model& mo) -> py::object {
            std::shared_lock lock(mo.mutex, std::defer_lock);
            {
              py::gil_scoped_release release;
              lock.lock();
            }
            return mo.visit([](const auto& net) -> py::object {
              using T = typename std::decay_t<decltype(net.label_weights())>::Scalar;
              if (net.classes() == 0) return py::none();
              const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> v = net.label_weights();
              return py::array_t<T>({v.rows(), v.cols()}, v.data());
            });
          },
          "The label synapses V (top-layer neurons x classes, the network's dtype) learnt with\n"
          "mode=\"supervised\"; None for a network trained without them. V.T @ r scores the classes.")
      .def_property_readonly("epochs_trained_", [](const Model& mo) { return mo.epochs_trained; })
      .def_property_readonly("history_", [](const Model& mo) { return mo.history; },
                             "Metrics of every epoch trained by fit (list of dicts).")
      .def("__repr__", &network_repr);
  define_network_training(n);
  define_network_encoding(n);
  define_network_state(m, n);
}

}  // namespace simmatch::python
