// Network's state: save / load (the CLI's model NPZ), pickling, set_weights (checked by the
// library before anything changes) and initialise.
#include <fmt/format.h>

#include <map>
#include <mutex>
#include <optional>

#include "model.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/weights.hpp"

namespace simmatch::python {
namespace {

// The input grid of a loaded model: model files store the network, not the data's shape.
// A local2d first layer determines it (sites x stride); otherwise the input is taken as flat.
Grid infer_input_shape(const Config& config, Index input_size, Index num_layers, const Grid& first_grid) {
  if (static_cast<Index>(config.layers.size()) == num_layers && config.layers[0].type == "local2d") {
    const Index s = config.layers[0].stride;
    const Index h = first_grid.height * s, w = first_grid.width * s;
    if (h * w > 0 && input_size % (h * w) == 0) return Grid{h, w, input_size / (h * w)};
  }
  return Grid{1, input_size, 1};
}

// The config, precision, gamma and input shape of a model whose network `m` already holds, from
// the config text stored with it; `what` names the source in the config's messages.
void adopt_stored_config(Model& m, const std::string& config_json, const std::string& what) {
  try {
    m.config = config_from_json(nlohmann::json::parse(config_json), what);
  } catch (const std::exception&) {
    // A model saved without a usable config (e.g. by C++ code with the default "{}"): the
    // network itself is complete; only `config` falls back to the defaults.
    m.config = Config();
    m.config.source = what;
  }
  m.config.network.precision = precision_from_name(m.precision());
  m.config.network.gamma = m.visit([](const auto& net) { return net.gamma(); });
  m.input_shape = infer_input_shape(m.config, m.input_size(), m.num_layers(),
                                    m.visit([](const auto& net) { return net.layer(0).grid(); }));
}

// Moves a loaded network into `m` (its precision's slot); returns the config text stored with it.
template <typename T>
std::string adopt_network(Model& m, LoadedModel<T> loaded) {
  auto network = std::make_unique<Network<T>>(std::move(loaded.network));
  if constexpr (std::is_same_v<T, double>) {
    m.f64 = std::move(network);
  } else {
    m.f32 = std::move(network);
  }
  return std::move(loaded.config_json);
}

std::unique_ptr<Model> load(py::handle path_obj) {
  const std::string path = fspath(path_obj);
  auto m = std::make_unique<Model>();
  std::string config_json;
  {
    py::gil_scoped_release release;
    config_json = with_precision(precision_from_name(model_precision(path)), [&](auto type) {
      return adopt_network(*m, load_model<typename decltype(type)::type>(path));
    });
  }
  adopt_stored_config(*m, config_json, path);
  return m;
}

// The values for the synapses of `s` from `given`: a 1-D array of s.nnz() values in the
// structure's order (like W_data), or a dense (rows, cols) matrix that is zero off the structure.
// The library checks them; `what` names the argument ("W" / "L") in errors.
std::vector<double> values_on_structure(const Structure& s, py::handle given, const std::string& what) {
  const auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(given);
  if (!a) throw py::type_error(fmt::format("{}: expected an array of numbers", what));
  if (a.ndim() == 1) return weights_on_structure(s, a.data(), a.shape(0), what);
  if (a.ndim() == 2) return weights_from_dense(s, a.data(), a.shape(0), a.shape(1), what);
  throw py::value_error(fmt::format("{}: expected a 1-D array of synapse values or a 2-D matrix, got {} dimensions",
                                    what, a.ndim()));
}

void set_weights(Model& mo, Index layer, py::handle W, py::handle L) {
  if (layer < 0 || layer >= mo.num_layers()) {
    throw py::index_error(fmt::format("layer {} does not exist (the network has {} layers)", layer, mo.num_layers()));
  }
  std::optional<std::vector<double>> w, l;
  mo.visit([&](const auto& net) {
    if (!W.is_none()) w = values_on_structure(net.layer(layer).cw(), W, "W");
    if (L.is_none()) return;
    l = values_on_structure(net.layer(layer).cl(), L, "L");
    check_symmetric(net.layer(layer).cl(), *l, "L");
  });
  py::gil_scoped_release release;
  std::unique_lock lock(mo.mutex);
  mo.visit([&](auto& net) { set_layer_weights(net, layer, w ? &*w : nullptr, l ? &*l : nullptr); });
}

// pickle / copy.deepcopy / multiprocessing state: the arrays of the model file (each as NPY
// bytes, so the weights round-trip bit for bit) plus what the file does not hold. Version 1.
constexpr int kPickleVersion = 1;

py::tuple pickle_state(const Model& mo) {
  const std::string config = config_to_json(mo.config).dump();
  std::map<std::string, std::string> serialized;
  {
    py::gil_scoped_release release;
    std::shared_lock lock(mo.mutex);
    mo.visit([&](const auto& net) {
      for (const auto& [name, array] : model_arrays(net, config)) serialized[name] = serialize_npy(array);
    });
  }
  py::dict arrays;
  for (const auto& [name, bytes] : serialized) arrays[py::str(name)] = py::bytes(bytes);
  const Grid& g = mo.input_shape;
  return py::make_tuple(kPickleVersion, mo.precision(), arrays, py::make_tuple(g.height, g.width, g.channels),
                        mo.epochs_trained, py::list(mo.history));
}

std::unique_ptr<Model> unpickle_state(const py::tuple& state) {
  const std::string what = "pickled simmatch.Network";
  if (state.size() != 6 || !py::isinstance<py::int_>(state[0]) || state[0].cast<int>() != kPickleVersion) {
    throw py::value_error(fmt::format("{}: unsupported state (expected version {} with 6 fields)", what, kPickleVersion));
  }
  std::map<std::string, NpyArray> arrays;
  for (auto item : state[2].cast<py::dict>()) {
    const auto name = item.first.cast<std::string>();
    arrays.emplace(name, parse_npy(item.second.cast<std::string>(), what + " array '" + name + "'"));
  }
  auto m = std::make_unique<Model>();
  std::string config_json;
  const Precision precision = precision_from_name(state[1].cast<std::string>());
  {
    py::gil_scoped_release release;
    config_json = with_precision(precision, [&](auto type) {
      return adopt_network(*m, model_from_arrays<typename decltype(type)::type>(what, std::move(arrays)));
    });
  }
  adopt_stored_config(*m, config_json, what);
  m->input_shape = grid_from_python(state[3], "input_shape");
  m->epochs_trained = state[4].cast<int>();
  m->history = py::list(state[5]);
  return m;
}

}  // namespace

void define_network_state(py::module_& module, py::class_<Model>& cls) {
  cls.def(
         "save",
         [](const Model& mo, py::handle path) {
           const std::string p = fspath(path);
           const std::string config = config_to_json(mo.config).dump();
           py::gil_scoped_release release;
           std::shared_lock lock(mo.mutex);
           mo.visit([&](const auto& net) { save_model(p, net, config); });
         },
         py::arg("path"),
         "save(self, /, path)\n--\n\n"
         "Writes the model (weights, structures, config) as NPZ, atomically; simmatch.load reads it.")
      .def(
          "initialise",
          [](Model& mo, std::optional<std::uint64_t> seed) {
            const std::uint64_t s = seed ? *seed : mo.config.seed;
            {
              py::gil_scoped_release release;
              std::unique_lock lock(mo.mutex);
              mo.visit([&](auto& net) { net.initialise(s); });
            }
            mo.epochs_trained = 0;
            mo.history = py::list();
          },
          py::arg("seed") = py::none(),
          "initialise(self, /, seed=None)\n--\n\n"
          "Re-initialises the weights (seed: the seed parameter) and forgets the training history.")
      .def(
          "set_weights",
          [](py::object self, Index layer, py::object W, py::object L) {
            set_weights(self.cast<Model&>(), layer, W, L);
            return self;
          },
          py::arg("layer"), py::kw_only(), py::arg("W") = py::none(), py::arg("L") = py::none(),
          "set_weights(self, /, layer, *, W=None, L=None)\n--\n\n"
          "Replaces layer `layer`'s W and/or L: a 1-D array of synapse values in the structure's order "
          "(like W_data), or a dense matrix that is zero off the structure. Both are checked (size, entries "
          "off the structure, NaN/Inf, symmetric L) before anything changes. Returns self.")
      .def(py::pickle(&pickle_state, &unpickle_state));

  module.def("load", &load, py::arg("path"),
             "load(path)\n--\n\n"
             "Reads a model written by Network.save or `simmatch train` (or a checkpoint) as a Network.");
}

}  // namespace simmatch::python
