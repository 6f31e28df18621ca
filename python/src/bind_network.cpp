// Bindings of Network: construction from keywords or a TOML config (through the parameter table
// and build_network, exactly as the CLI builds it), fit / partial_fit (Trainer), transform / cost
// (the solver over zero-copy NumPy batches), save / load, and read-only views of the weights.
//
// Concurrency rule: the GIL is released around engine work, and a thread never blocks on the
// network's mutex while it holds the GIL (it releases the GIL first). Engine code may re-acquire
// the GIL briefly (Ctrl-C checks) while holding the mutex; with that rule this cannot deadlock.
// The mutex guards the weights; the config and other Python-visible state are touched only
// with the GIL held, engine calls taking copies of the options they need.
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <memory>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <type_traits>

#include "common.hpp"
#include "simmatch/config.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/error.hpp"
#include "simmatch/learning.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/network.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/objective.hpp"
#include "simmatch/trainer.hpp"

namespace simmatch::python {

namespace {

// Marks layers whose structures were given as Structure objects: their config entry cannot
// rebuild them (the CLI would need the constants as NPY files), but the model file holds them.
constexpr const char* kPythonStructure = "<Structure given in Python>";

// Everything a Python Network owns. Never moved after construction: NumPy views of the weights
// point into the sparse matrices of `f32` / `f64`, which are updated in place.
class Model {
public:
  Config config;
  Grid input_shape;
  std::unique_ptr<Network<float>> f32;
  std::unique_ptr<Network<double>> f64;
  int epochs_trained = 0;
  py::list history;  // one dict per epoch trained by fit (GIL-protected, like every py object)
  std::shared_ptr<const Dataset> config_data;  // the data named by the config, once read
  mutable std::shared_mutex mutex;             // exclusive: fit / partial_fit / initialise

  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  template <typename F>
  decltype(auto) visit(F&& f) {
    return f64 ? f(*f64) : f(*f32);
  }
  template <typename F>
  decltype(auto) visit(F&& f) const {
    return f64 ? f(std::as_const(*f64)) : f(std::as_const(*f32));
  }
  Index input_size() const { return f64 ? f64->input_size() : f32->input_size(); }
  Index num_layers() const { return f64 ? f64->num_layers() : f32->num_layers(); }
  const char* precision() const { return f64 ? "float64" : "float32"; }

  /// " (input_shape (28, 28, 1))": appended to size errors so the user sees what was expected.
  std::string shape_hint() const {
    return fmt::format(" (input_shape ({}, {}, {}))", input_shape.height, input_shape.width, input_shape.channels);
  }
  /// Grid of the input of layer p.
  Grid layer_input_grid(Index p) const {
    if (p == 0) return input_shape;
    return visit([&](const auto& net) { return net.layer(p - 1).grid(); });
  }
};

template <typename Net>
using ScalarOf = std::remove_cvref_t<decltype(std::declval<Net&>().layer(0).W().valuePtr()[0])>;

// ---- construction --------------------------------------------------------------------------

std::string dtype_to_precision(py::handle value) {
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  // np.float32, np.dtype('float64'), 'f4'...: normalise through NumPy.
  try {
    const auto dt = py::dtype::from_args(py::reinterpret_borrow<py::object>(value));
    if (dt.kind() == 'f' && dt.itemsize() == 4) return "float32";
    if (dt.kind() == 'f' && dt.itemsize() == 8) return "float64";
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
  if (m.config.network.precision == "float64") {
    m.f64 = build<double>(m.config, m.input_shape, custom);
  } else {
    m.f32 = build<float>(m.config, m.input_shape, custom);
  }
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

std::string fspath(py::handle path) { return py::str(py::module_::import("os").attr("fspath")(path)).cast<std::string>(); }

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
  m.config.network.precision = m.precision();
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
    config_json = model_precision(path) == "float64" ? adopt_network(*m, load_model<double>(path))
                                                     : adopt_network(*m, load_model<float>(path));
  }
  adopt_stored_config(*m, config_json, path);
  return m;
}

// ---- setting weights -----------------------------------------------------------------------

// The values for the synapses of `s` from `given`: a 1-D array of s.nnz() values in the
// structure's order (like W_data), or a dense (rows, cols) matrix that is zero off the structure.
// `what` names the argument ("W" / "L") in errors.
std::vector<double> values_on_structure(const Structure& s, py::handle given, const std::string& what) {
  const auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(given);
  if (!a) throw py::type_error(fmt::format("{}: expected an array of numbers", what));
  std::vector<double> out(static_cast<std::size_t>(s.nnz()));
  if (a.ndim() == 1) {
    if (a.shape(0) != s.nnz()) {
      throw py::value_error(fmt::format("{}: {} values for {} synapses (1-D arrays follow the structure's order, "
                                        "like W_data)", what, a.shape(0), s.nnz()));
    }
    std::copy_n(a.data(), out.size(), out.begin());
  } else if (a.ndim() == 2) {
    if (a.shape(0) != s.rows() || a.shape(1) != s.cols()) {
      throw py::value_error(fmt::format("{}: shape ({}, {}), expected ({}, {})", what, a.shape(0), a.shape(1),
                                        s.rows(), s.cols()));
    }
    const auto dense = a.unchecked<2>();
    for (Index r = 0; r < s.rows(); ++r) {
      Index k = s.row_ptr()[static_cast<std::size_t>(r)];
      const Index end = s.row_ptr()[static_cast<std::size_t>(r) + 1];
      for (Index c = 0; c < s.cols(); ++c) {
        if (k < end && s.col_index()[static_cast<std::size_t>(k)] == c) {
          out[static_cast<std::size_t>(k++)] = dense(r, c);
        } else if (dense(r, c) != 0.0) {
          throw py::value_error(fmt::format("{}: entry ({}, {}) is {} but there is no synapse there (the structure "
                                            "allows only its own entries)", what, r, c, dense(r, c)));
        }
      }
    }
  } else {
    throw py::value_error(fmt::format("{}: expected a 1-D array of synapse values or a 2-D matrix, got {} dimensions",
                                      what, a.ndim()));
  }
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (!std::isfinite(out[k])) throw py::value_error(fmt::format("{}: synapse {} holds {}", what, k, out[k]));
  }
  return out;
}

void set_weights(Model& mo, Index layer, py::handle W, py::handle L) {
  if (layer < 0 || layer >= mo.num_layers()) {
    throw py::index_error(fmt::format("layer {} does not exist (the network has {} layers)", layer, mo.num_layers()));
  }
  std::vector<double> w, l;
  mo.visit([&](const auto& net) {
    if (!W.is_none()) w = values_on_structure(net.layer(layer).cw(), W, "W");
    if (L.is_none()) return;
    const Structure& cl = net.layer(layer).cl();
    l = values_on_structure(cl, L, "L");
    // The dynamics have a Lyapunov function only for symmetric L (THEORY.md, eq. 15).
    for (Index r = 0; r < cl.rows(); ++r) {
      for (Index k = cl.row_ptr()[static_cast<std::size_t>(r)]; k < cl.row_ptr()[static_cast<std::size_t>(r) + 1]; ++k) {
        const Index c = cl.col_index()[static_cast<std::size_t>(k)];
        const double a = l[static_cast<std::size_t>(k)], b = l[static_cast<std::size_t>(cl.find(c, r))];
        if (a != b) throw py::value_error(fmt::format("L: not symmetric: entry ({}, {}) is {} but ({}, {}) is {}", r, c, a, c, r, b));
      }
    }
  });
  py::gil_scoped_release release;
  std::unique_lock lock(mo.mutex);
  mo.visit([&](auto& net) {
    using T = ScalarOf<decltype(net)>;
    auto& target = net.layer(layer);
    for (std::size_t k = 0; k < w.size(); ++k) target.W().valuePtr()[k] = static_cast<T>(w[k]);
    for (std::size_t k = 0; k < l.size(); ++k) target.L().valuePtr()[k] = static_cast<T>(l[k]);
  });
}

// ---- pickling ------------------------------------------------------------------------------

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
  const auto precision = state[1].cast<std::string>();
  {
    py::gil_scoped_release release;
    config_json = precision == "float64" ? adopt_network(*m, model_from_arrays<double>(what, std::move(arrays)))
                                         : adopt_network(*m, model_from_arrays<float>(what, std::move(arrays)));
  }
  adopt_stored_config(*m, config_json, what);
  m->input_shape = grid_from_python(state[3], "input_shape");
  m->epochs_trained = state[4].cast<int>();
  m->history = py::list(state[5]);
  return m;
}

// ---- training ------------------------------------------------------------------------------

py::dict metrics_dict(const EpochMetrics& e) {
  py::dict d;
  d["epoch"] = e.epoch;
  d["learning_rate"] = e.learning_rate;
  d["cost"] = e.cost;
  d["mean_iterations"] = e.mean_iterations;
  d["converged_fraction"] = e.converged_fraction;
  d["samples"] = e.samples;
  d["skipped"] = e.skipped;
  d["seconds"] = e.seconds;
  d["samples_per_second"] = e.samples_per_second;
  return d;
}

// Between batches: briefly takes the GIL to run Python's signal handlers, so Ctrl-C raises
// KeyboardInterrupt out of the C++ loop (as py::error_already_set, restored unchanged).
bool check_signals() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  return false;
}

/// The data set for fit / partial_fit: X copied into the engine's float32 Dataset (the Trainer
/// samples batches from it), or the config's own data when X is None.
std::shared_ptr<const Dataset> training_data(Model& m, py::handle X, const std::string& arg) {
  if (X.is_none()) {
    if (!m.config_data) {
      if (m.config.data.path.empty())
        throw py::type_error(arg + ": required (the network's config names no data.path to train on)");
      const Config config = m.config;
      std::shared_ptr<const Dataset> loaded;
      {
        py::gil_scoped_release release;
        loaded = std::make_shared<const Dataset>(load_data(config));
      }
      m.config_data = std::move(loaded);
    }
    if (m.config_data->dim() != m.input_size())
      throw py::value_error(fmt::format("{}: the config's data have {} features but the network expects {}", arg,
                                        m.config_data->dim(), m.input_size()));
    return m.config_data;
  }
  const InputArray<float> in = input_array<float>(X, arg, m.input_size(), m.shape_hint());
  auto data = std::make_shared<Dataset>();
  data->shape = m.input_shape;
  {
    py::gil_scoped_release release;
    data->x = Eigen::Map<const Eigen::MatrixXf>(in.data, in.features, in.samples);
  }
  return data;
}

py::object fit(py::object self, py::object X, std::optional<int> epochs, std::optional<Index> batch_size,
               py::object callback, bool verbose) {
  Model& m = self.cast<Model&>();
  const std::shared_ptr<const Dataset> data = training_data(m, X, "X");
  TrainOptions options = train_options(m.config);
  const int add = epochs ? *epochs : m.config.train.epochs;
  if (add < 0) throw py::value_error(fmt::format("epochs: must be >= 0, got {}", add));
  if (batch_size) {
    if (*batch_size < 1) throw py::value_error(fmt::format("batch_size: must be >= 1, got {}", *batch_size));
    options.batch_size = *batch_size;
  }
  const SolverOptions solver_options = m.config.solver;
  TrainCallbacks callbacks;
  callbacks.should_stop = check_signals;
  const int first = m.epochs_trained;
  // One Trainer call per epoch, resuming at TrainPosition{epoch, 0}: the same samples and
  // learning rates as one call over all epochs (both derive from the seed and the epoch), while
  // the Python callback runs between epochs without the lock, free to use the network.
  for (int epoch = first; epoch < first + add; ++epoch) {
    EpochMetrics metrics;
    {
      py::gil_scoped_release release;
      std::unique_lock lock(m.mutex);
      m.visit([&](auto& net) {
        using T = ScalarOf<decltype(net)>;
        const auto solver = make_solver<T>(solver_options);
        TrainOptions o = options;
        o.epochs = epoch + 1;
        Trainer<T> trainer(net, *solver, o);
        metrics = trainer.fit(*data, callbacks, TrainPosition{epoch, 0, {}}).back();
      });
    }
    m.epochs_trained = epoch + 1;
    py::dict d = metrics_dict(metrics);
    m.history.append(d);
    if (verbose)
      py::print(fmt::format("epoch {}: cost {:.6g}, learning rate {:.3g}, {:.1f} steps/sample, {:.0f} samples/s",
                            metrics.epoch, metrics.cost, metrics.learning_rate, metrics.mean_iterations,
                            metrics.samples_per_second));
    if (!callback.is_none()) {
      py::object stop = callback(d);
      if (py::isinstance<py::bool_>(stop) && stop.cast<bool>()) break;
    }
  }
  return self;
}

py::object partial_fit(py::object self, py::object X, std::optional<double> learning_rate,
                       std::optional<Index> batch_size) {
  Model& m = self.cast<Model&>();
  const std::shared_ptr<const Dataset> data = training_data(m, X, "X");
  TrainOptions options = train_options(m.config);
  const double eta = learning_rate ? *learning_rate : options.schedule.at(static_cast<double>(m.epochs_trained));
  if (!(eta > 0) || !std::isfinite(eta)) throw py::value_error(fmt::format("learning_rate: must be > 0, got {}", eta));
  // One pass over X in the given order at a constant rate: the online rule of eq. 17 when
  // batch_size is 1 (the default of train.batch_size).
  options.epochs = 1;
  options.samples_per_epoch = 0;
  options.shuffle = false;
  options.cost_samples = 0;
  options.schedule = LearningRateSchedule::constant(eta);
  if (batch_size) {
    if (*batch_size < 1) throw py::value_error(fmt::format("batch_size: must be >= 1, got {}", *batch_size));
    options.batch_size = *batch_size;
  }
  const SolverOptions solver_options = m.config.solver;
  TrainCallbacks callbacks;
  callbacks.should_stop = check_signals;
  py::gil_scoped_release release;
  std::unique_lock lock(m.mutex);
  m.visit([&](auto& net) {
    using T = ScalarOf<decltype(net)>;
    const auto solver = make_solver<T>(solver_options);
    Trainer<T> trainer(net, *solver, options);
    trainer.fit(*data, callbacks);
  });
  return self;
}

// ---- encoding and cost ---------------------------------------------------------------------

Index layer_index(const Model& m, py::handle layer, const std::string& arg) {
  if (!PyIndex_Check(layer.ptr()) || py::isinstance<py::bool_>(layer))
    throw py::type_error(arg + ": expected None, an int or 'all'");
  Index p = py::reinterpret_steal<py::object>(PyNumber_Index(layer.ptr())).cast<Index>();
  const Index n = m.num_layers();
  if (p < -n || p >= n) throw py::index_error(fmt::format("{}: {} is out of range for {} layers", arg, p, n));
  return p < 0 ? p + n : p;
}

template <typename T>
py::object transform_impl(Model& m, const Network<T>& net, py::handle X, py::handle layer, Index batch_size) {
  const InputArray<T> in = input_array<T>(X, "X", m.input_size(), m.shape_hint());
  std::vector<Index> wanted;
  const bool all = py::isinstance<py::str>(layer) && layer.cast<std::string>() == "all";
  if (all) {
    for (Index p = 0; p < net.num_layers(); ++p) wanted.push_back(p);
  } else if (layer.is_none()) {
    wanted.push_back(net.num_layers() - 1);
  } else {
    if (py::isinstance<py::str>(layer))
      throw py::value_error("layer: expected None, an int or 'all', got '" + layer.cast<std::string>() + "'");
    wanted.push_back(layer_index(m, layer, "layer"));
  }
  // Outputs written in place by the solver loop: T x N_p C-order = N_p x T column-major.
  std::vector<py::array_t<T>> outputs;
  std::vector<T*> out_ptr(static_cast<std::size_t>(net.num_layers()), nullptr);
  for (Index p : wanted) {
    outputs.emplace_back(std::vector<py::ssize_t>{in.samples, net.layer(p).size()});
    out_ptr[static_cast<std::size_t>(p)] = outputs.back().mutable_data();
  }
  {
    const SolverOptions solver_options = m.config.solver;  // config is only touched with the GIL
    py::gil_scoped_release release;
    std::shared_lock lock(m.mutex);
    const auto solver = make_solver<T>(solver_options);
    FixedPoints<T> fixed;
    for (Index begin = 0; begin < in.samples; begin += batch_size) {
      const Index count = std::min(batch_size, in.samples - begin);
      const Eigen::Map<const Matrix<T>> x(in.data + begin * in.features, in.features, count);
      fixed = FixedPoints<T>{};  // every sample starts from u = 0, as in training and encode()
      solver->solve(net, x, fixed);
      for (Index p : wanted) {
        const Index n = net.layer(p).size();
        Eigen::Map<Matrix<T>>(out_ptr[static_cast<std::size_t>(p)] + begin * n, n, count) =
            fixed.r[static_cast<std::size_t>(p)];
      }
      check_signals();
    }
  }
  if (all) {
    py::list out;
    for (auto& a : outputs) out.append(a);
    return out;
  }
  return outputs.front();
}

template <typename T>
py::object cost_impl(Model& m, const Network<T>& net, py::handle X, bool per_layer, Index batch_size) {
  const InputArray<T> in = input_array<T>(X, "X", m.input_size(), m.shape_hint());
  std::vector<double> terms;
  {
    const SolverOptions solver_options = m.config.solver;  // config is only touched with the GIL
    py::gil_scoped_release release;
    std::shared_lock lock(m.mutex);
    const auto solver = make_solver<T>(solver_options);
    Correlations sums = Correlations::zeros_like(net);
    FixedPoints<T> fixed;
    for (Index begin = 0; begin < in.samples; begin += batch_size) {
      const Index count = std::min(batch_size, in.samples - begin);
      const Eigen::Map<const Matrix<T>> x(in.data + begin * in.features, in.features, count);
      fixed = FixedPoints<T>{};
      solver->solve(net, x, fixed);
      accumulate_correlations(net, x, fixed, sums, true);
      check_signals();
    }
    terms = structured_cost_per_layer(net, sums);
  }
  if (per_layer) return py::cast(terms);
  double total = 0;
  for (double t : terms) total += t;
  return py::float_(total);
}

void check_batch_size(Index batch_size) {
  if (batch_size < 1) throw py::value_error(fmt::format("batch_size: must be >= 1, got {}", batch_size));
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
A structured deep similarity-matching network (THEORY.md, eqs. 11-17) on the C++ engine.

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
  n.def(py::init(&make_network), py::arg("input_shape"), py::arg("layers") = py::none())
      .def_static("from_config", &from_config, py::arg("path"), py::arg("input_shape") = py::none(), R"doc(
The network of a TOML config (the file `simmatch train` reads), with keyword overrides
(short or full keys). Without input_shape the config's data set is read to learn it (and is
kept: fit() without X then trains on it, exactly as `simmatch train` does).)doc")
      .def("fit", &fit, py::arg("X") = py::none(), py::arg("epochs") = py::none(), py::arg("batch_size") = py::none(),
           py::arg("callback") = py::none(), py::arg("verbose") = false, R"doc(
Trains for `epochs` more epochs (default: the epochs parameter) with the local rules of eq. 17.
X: (samples, features) or (samples, height, width[, channels]), float32 or float64; copied once
into the engine's float32 data set. None trains on the config's data. Training continues from
the current weights and epoch count: fit(X, epochs=2) twice equals fit(X, epochs=4).
callback(metrics) runs after each epoch with a dict (epoch, learning_rate, cost, ...); returning
True stops training there. Ctrl-C stops between batches with KeyboardInterrupt, the weights as
updated by the last finished batch. Returns self.)doc")
      .def("partial_fit", &partial_fit, py::arg("X"), py::arg("learning_rate") = py::none(),
           py::arg("batch_size") = py::none(), R"doc(
One pass over X in order at a constant learning rate (default: the schedule's rate at the current
epoch); with batch_size 1 (the default parameter) this is the exact online rule. Returns self.)doc")
      .def(
          "transform",
          [](py::object self, py::handle X, py::handle layer, Index batch_size) {
            Model& mo = self.cast<Model&>();
            check_batch_size(batch_size);
            return mo.visit([&](const auto& net) { return transform_impl(mo, net, X, layer, batch_size); });
          },
          py::arg("X"), py::arg("layer") = py::none(), py::arg("batch_size") = 256, R"doc(
Fixed points of the dynamics (eq. 15) for every sample of X: the top layer's activities
(samples x N_P) by default, layer p's for layer=p (negative counts from the top), or a list of
every layer's for layer='all'. Output dtype = the network's precision. X is read in place when it
is C-contiguous in the network's precision.)doc")
      .def(
          "cost",
          [](py::object self, py::handle X, bool per_layer, Index batch_size) {
            Model& mo = self.cast<Model&>();
            check_batch_size(batch_size);
            return mo.visit([&](const auto& net) { return cost_impl(mo, net, X, per_layer, batch_size); });
          },
          py::arg("X"), py::arg("per_layer") = false, py::arg("batch_size") = 256,
          "The structured deep similarity-matching cost (eq. 11) of X at its fixed points (a list of the "
          "per-layer terms with per_layer=True).")
      .def(
          "score",
          [](py::object self, py::handle X) {
            Model& mo = self.cast<Model&>();
            return -mo.visit([&](const auto& net) { return cost_impl(mo, net, X, false, 256); }).template cast<double>();
          },
          py::arg("X"), "-cost(X): higher is better, the scikit-learn convention.")
      .def(
          "save",
          [](const Model& mo, py::handle path) {
            const std::string p = fspath(path);
            const std::string config = config_to_json(mo.config).dump();
            py::gil_scoped_release release;
            std::shared_lock lock(mo.mutex);
            mo.visit([&](const auto& net) { save_model(p, net, config); });
          },
          py::arg("path"), "Writes the model (weights, structures, config) as NPZ, atomically; simmatch.load reads it.")
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
          py::arg("seed") = py::none(), "Re-initialises the weights (seed: the seed parameter) and forgets the training history.")
      .def(
          "set_weights",
          [](py::object self, Index layer, py::object W, py::object L) {
            set_weights(self.cast<Model&>(), layer, W, L);
            return self;
          },
          py::arg("layer"), py::kw_only(), py::arg("W") = py::none(), py::arg("L") = py::none(),
          "Replaces layer `layer`'s W and/or L: a 1-D array of synapse values in the structure's order "
          "(like W_data), or a dense matrix that is zero off the structure. Returns self.")
      .def("get_params", &get_params, "Every parameter by its short name (layers as a list of dicts).")
      .def(
          "set_params",
          [](py::object self, py::kwargs kwargs) {
            set_params(self.cast<Model&>(), kwargs);
            return self;
          },
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
      .def_property_readonly("precision", &Model::precision)
      .def_property_readonly("dtype", [](const Model& mo) {
        return mo.f64 ? py::dtype::of<double>() : py::dtype::of<float>();
      })
      .def_property_readonly("config", [](const Model& mo) { return from_json(config_to_json(mo.config)); },
                             "The full config as a nested dict (what save() stores).")
      .def_property_readonly("epochs_trained_", [](const Model& mo) { return mo.epochs_trained; })
      .def_property_readonly("history_", [](const Model& mo) { return mo.history; },
                             "Metrics of every epoch trained by fit (list of dicts).")
      .def("__repr__", &network_repr)
      .def(py::pickle(&pickle_state, &unpickle_state));

  m.def("load", &load, py::arg("path"), "Reads a model written by Network.save or `simmatch train`.");
}

}  // namespace simmatch::python
