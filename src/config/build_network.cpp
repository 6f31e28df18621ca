// Assembling a Network from a Config: each layer's structures (dense, local2d, conv2d, from files) and
// activation, checked against the shape of its input and, from the neurons and synapses its
// parameters imply, against the memory budget before anything is allocated.
#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "config/param_table.hpp"
#include "simmatch/conv2d.hpp"
#include "simmatch/error.hpp"
#include "simmatch/memory_budget.hpp"
#include "simmatch/npy.hpp"

namespace simmatch {
namespace {

using config_detail::fail;

std::string grid_text(const Grid& g) {
  return std::to_string(g.height) + "x" + std::to_string(g.width) + "x" + std::to_string(g.channels);
}

// The same synapses with every constant multiplied by `factor` (> 0, checked by the config).
Structure scaled(const Structure& s, double factor) {
  std::vector<double> values = s.values();
  for (double& v : values) v *= factor;
  return Structure::from_csr(s.rows(), s.cols(), s.row_ptr(), s.col_index(), std::move(values));
}

// The first neuron of `cw` without any input synapse, or -1.
Index first_empty_row(const Structure& cw) {
  for (Index i = 0; i < cw.rows(); ++i)
    if (cw.row_ptr()[static_cast<std::size_t>(i) + 1] == cw.row_ptr()[static_cast<std::size_t>(i)]) return i;
  return -1;
}

Structure constants_from_file(const Config& config, const std::string& key, const std::string& path, Index rows,
                              Index cols, const MemoryBudget& budget) {
  NpyArray array;
  try {
    // The raw values, their doubles and the dense matrix they are copied into.
    const NpyArray header = read_npy_header(path);
    const auto count = static_cast<std::uint64_t>(header.num_elements());
    budget.require<FormatError>(saturating_add(saturating_mul(count, dtype_size(header.dtype, path)),
                                               saturating_mul(count, 2 * sizeof(double))),
                                fmt::format("{}: {} constants read as a dense matrix", path, count));
    array = read_npy(path, budget);
  } catch (const Error& e) {
    fail(config.source_of(key), key, e.what());
  }
  if (array.shape.size() != 2 || (rows >= 0 && array.shape[0] != rows) || array.shape[1] != cols) {
    std::string shape;
    for (Index d : array.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    fail(config.source_of(key), key,
         "'" + path + "' has shape (" + shape + "), expected (" + (rows >= 0 ? std::to_string(rows) : "N") + ", " +
             std::to_string(cols) + ")");
  }
  const std::vector<double> values = array.to_doubles();  // C order
  const Eigen::MatrixXd dense =
      Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          values.data(), array.shape[0], array.shape[1]);
  try {
    return Structure::from_dense(dense, path);
  } catch (const Error& e) {
    fail(config.source_of(key), key, e.what());
  }
}

Conv2d conv_geometry(const LayerConfig& lc, const Grid& input) {
  Conv2d conv{input, lc.kernel, lc.stride, padding_from_name(lc.padding), lc.neurons_per_site, lc.lateral_radius};
  conv.check();
  return conv;
}

// A saturated count as an Index (INT64_MAX is over any budget anyway).
Index as_index(std::uint64_t n) {
  return static_cast<Index>(std::min<std::uint64_t>(n, static_cast<std::uint64_t>(std::numeric_limits<Index>::max())));
}

// What a layer's parameters imply, before anything is built: its neurons and synapses (the
// count stops early once it is over `synapse_limit`), and the key that sets its size.
struct LayerPlan {
  Grid grid;
  Index neurons = 0;
  Index w_synapses = 0;
  Index l_synapses = 0;
  bool exact = true;  // false when the synapses were counted with an early stop (local2d)
  std::string key;
  std::string shape;  // for messages: "dense", "local2d, 14 x 14 sites of 4 neurons, ..."
};

// Peak bytes of a layer per synapse and per neuron in precision T, from a run that builds,
// trains and saves it: the network holds the CSR constants (4-byte column, 8-byte value), the
// weights (4-byte column, T value) and the constants again in T; saving the model, the largest
// transient, adds its arrays (T weight, 4-byte column, 8-byte constant), their NPY bytes, the
// in-memory archive and its copy handed to the writer. 4-byte row offsets, twice per matrix.
// Measured peak RSS of `simmatch train` on one dense layer over 28 x 28 inputs (20 samples, one
// epoch): 2000 neurons float32 504 MB (estimate 490 MB), float64 639 MB (624 MB), 4000 neurons
// float32 1700 MB (1684 MB); the rest is the process itself (14 MB for 10 neurons).
template <typename T>
std::uint64_t layer_bytes(Index neurons, Index synapses) {
  constexpr std::uint64_t held = 12 + (4 + sizeof(T)) + sizeof(T);
  constexpr std::uint64_t saving = 4 * (sizeof(T) + 4 + 8);
  return saturating_add(saturating_mul(static_cast<std::uint64_t>(synapses), held + saving),
                        saturating_mul(static_cast<std::uint64_t>(neurons), 4 * sizeof(int)));
}

LayerPlan plan_layer(const Config& config, std::size_t p, const Grid& input, Index synapse_limit) {
  const LayerConfig& lc = config.layers[p];
  const std::string prefix = "layers." + std::to_string(p) + ".";
  LayerPlan plan;
  try {
    if (lc.type == "dense") {
      plan.grid = Grid{1, lc.neurons, 1};
      plan.neurons = lc.neurons;
      plan.w_synapses = Structure::dense_synapses(lc.neurons, input.size());
      plan.l_synapses = Structure::dense_synapses(lc.neurons, lc.neurons);
      plan.key = prefix + "neurons";
      plan.shape = "dense";
    } else if (lc.type == "local2d") {
      plan.key = prefix + "neurons_per_site";
      if (input.height % lc.stride != 0 || input.width % lc.stride != 0) return plan;  // build_layer names the stride
      plan.grid = Structure::local2d_output(input, lc.stride, lc.neurons_per_site);
      plan.neurons = as_index(saturating_mul(saturating_mul(plan.grid.height, plan.grid.width), lc.neurons_per_site));
      plan.shape = fmt::format("local2d, {} x {} sites of {} neurons, radius {}, lateral_radius {}", plan.grid.height,
                               plan.grid.width, lc.neurons_per_site, lc.radius, lc.lateral_radius);
      if (plan.neurons > std::numeric_limits<int>::max()) return plan;  // refused by the budget on neurons alone
      plan.exact = false;
      plan.w_synapses = Structure::local2d_synapses(input, lc.stride, lc.radius, lc.neurons_per_site, synapse_limit);
      plan.l_synapses = Structure::lateral2d_synapses(plan.grid, lc.lateral_radius, synapse_limit);
    } else if (lc.type == "conv2d") {
      plan.key = prefix + "kernel";  // what the geometry's checks are about, bar the channel count
      const Conv2d conv = conv_geometry(lc, input);
      plan.key = prefix + "neurons_per_site";
      plan.grid = conv.output();
      plan.neurons = as_index(saturating_mul(saturating_mul(plan.grid.height, plan.grid.width), lc.neurons_per_site));
      plan.shape = fmt::format("conv2d, {} x {} sites of {} filters {}x{}, stride {}, padding {}, lateral_radius {}",
                               plan.grid.height, plan.grid.width, lc.neurons_per_site, lc.kernel, lc.kernel, lc.stride,
                               lc.padding, lc.lateral_radius);
      if (plan.neurons > std::numeric_limits<int>::max()) return plan;
      plan.exact = false;
      plan.w_synapses = conv.w_synapses();
      plan.l_synapses = Structure::lateral2d_synapses(plan.grid, lc.lateral_radius, synapse_limit);
    } else if (lc.type == "file") {
      // The shape from the header alone; the file is read (within the budget) when building.
      plan.key = prefix + "cw_file";
      const NpyArray header = read_npy_header(lc.cw_file);
      if (header.shape.size() != 2) return plan;  // constants_from_file names the shape
      plan.neurons = header.shape[0];
      plan.grid = Grid{1, plan.neurons, 1};
      plan.w_synapses = Structure::dense_synapses(header.shape[0], header.shape[1]);  // at most
      plan.l_synapses = Structure::dense_synapses(plan.neurons, plan.neurons);
      plan.shape = "file, counted as dense";
    }
  } catch (const Error& e) {
    fail(config.source_of(plan.key), plan.key, e.what());
  }
  return plan;
}

// Refuses, naming the key that sets the size, a network whose layers would not fit in `budget`;
// each layer's synapses are counted from its parameters, nothing is built.
template <typename T>
void check_network_size(const Config& config, const Grid& input_shape, const MemoryBudget& budget) {
  const Index synapse_limit = as_index(budget.bytes() / layer_bytes<T>(0, 1) + 1);
  std::uint64_t total = 0;
  Grid input = input_shape;
  for (std::size_t p = 0; p < config.layers.size(); ++p) {
    const LayerPlan plan = plan_layer(config, p, input, synapse_limit);
    const Index synapses = as_index(saturating_add(plan.w_synapses, plan.l_synapses));
    total = saturating_add(total, layer_bytes<T>(plan.neurons, synapses));
    if (!budget.allows(total)) {
      const auto count = [&](Index n) {
        return !plan.exact && n > synapse_limit ? fmt::format("more than {}", synapse_limit) : std::to_string(n);
      };
      // Past int's range the synapses are not counted (the neurons alone exceed any budget).
      const std::string synapses =
          plan.neurons > std::numeric_limits<int>::max()
              ? std::string("synapses not counted")
              : fmt::format("{} synapses in C^W and {} in C^L", count(plan.w_synapses), count(plan.l_synapses));
      fail(config.source_of(plan.key), plan.key,
           budget.refusal(total, fmt::format("layer {} ({}: {} neurons, {}){}", p + 1, plan.shape, plan.neurons,
                                             synapses, p > 0 ? " with the layers below it" : "")));
    }
    if (plan.neurons == 0) return;  // a layer the builder refuses for its own reasons
    input = plan.grid;
  }
}

template <typename T>
Layer<T> build_layer(const Config& config, std::size_t p, const Grid& input, const MemoryBudget& budget) {
  const LayerConfig& lc = config.layers[p];
  const std::string prefix = "layers." + std::to_string(p) + ".";
  const Activation activation = layer_activation(config, p);
  Structure cw;
  Structure cl;
  Grid grid;
  if (lc.type == "dense") {
    grid = Grid{1, lc.neurons, 1};
    cw = Structure::dense(lc.neurons, input.size());
    cl = Structure::dense(lc.neurons, lc.neurons);
  } else if (lc.type == "local2d") {
    if (input.height % lc.stride != 0 || input.width % lc.stride != 0)
      fail(config.source_of(prefix + "stride"), prefix + "stride",
           "stride " + std::to_string(lc.stride) + " does not divide the " + std::to_string(input.height) + "x" +
               std::to_string(input.width) + " grid of the layer's input (" + grid_text(input) + ")");
    grid = Structure::local2d_output(input, lc.stride, lc.neurons_per_site);
    cw = Structure::local2d(input, lc.stride, lc.radius, lc.neurons_per_site);
    if (const Index empty = first_empty_row(cw); empty >= 0) {
      const Index site = empty / lc.neurons_per_site;
      fail(config.source_of(prefix + "radius"), prefix + "radius",
           "radius " + config_detail::show(nlohmann::json(lc.radius)) + " leaves site (" +
               std::to_string(site / grid.width) + ", " + std::to_string(site % grid.width) +
               ") without input pixels (no pixel centre within that distance of the site centre)");
    }
    cl = Structure::lateral2d(grid, lc.lateral_radius);
  } else if (lc.type == "conv2d") {
    const Conv2d conv = conv_geometry(lc, input);
    return Layer<T>(conv.cw(lc.cw_scale), conv.cl(), activation, conv.output(), conv);
  } else if (lc.type == "file") {
    cw = constants_from_file(config, prefix + "cw_file", lc.cw_file, -1, input.size(), budget);
    const Index n = cw.rows();
    grid = Grid{1, n, 1};
    cl = lc.cl_file.empty() ? Structure::dense(n, n)
                            : constants_from_file(config, prefix + "cl_file", lc.cl_file, n, n, budget);
    if (const Index empty = first_empty_row(cw); empty >= 0)
      fail(config.source_of(prefix + "cw_file"), prefix + "cw_file",
           "'" + lc.cw_file + "': neuron " + std::to_string(empty) + " has no input synapse (row of zeros)");
    if (!cl.is_symmetric()) fail(config.source_of(prefix + "cl_file"), prefix + "cl_file", "'" + lc.cl_file + "' is not symmetric");
  } else {
    throw InternalError("build_network: unchecked layer type '" + lc.type + "'");
  }
  if (lc.cw_scale != 1.0) cw = scaled(cw, lc.cw_scale);
  return Layer<T>(std::move(cw), std::move(cl), activation, grid);
}

}  // namespace

Activation layer_activation(const Config& config, std::size_t p) {
  const LayerConfig& lc = config.layers.at(p);
  const std::string name = lc.activation.empty() ? config.network.activation : lc.activation;
  const double gain = lc.gain > 0 ? lc.gain : config.network.gain;
  const double clip = lc.clip > 0 ? lc.clip : config.network.clip;
  return Activation::from_name(name, gain, clip);
}

template <typename T>
Network<T> build_network(const Config& config, const Grid& input_shape) {
  validate_config(config);
  if (input_shape.size() <= 0) throw ShapeError(config.source + ": the input has no values (shape " +
                                                grid_text(input_shape) + ")");
  const MemoryBudget budget =
      MemoryBudget::resolve(config.memory_budget_gib, config.source_of(MemoryBudget::kConfigKey) + ": " +
                                                          MemoryBudget::kConfigKey);
  check_network_size<T>(config, input_shape, budget);
  std::vector<Layer<T>> layers;
  Grid input = input_shape;
  for (std::size_t p = 0; p < config.layers.size(); ++p) {
    try {
      layers.push_back(build_layer<T>(config, p, input, budget));
    } catch (const ConfigError&) {
      throw;
    } catch (const Error& e) {  // a structure builder's own complaint: add where it came from
      fail(config.source, "layers." + std::to_string(p), e.what());
    }
    input = layers.back().grid();
  }
  Network<T> network(input_shape.size(), std::move(layers), config.network.gamma);
  network.initialise(config.seed);
  return network;
}

// Built from the structure builders directly, not through build_network(Config): the benchmarks
// that take it answer sizes beyond any memory budget with the builders' own limits (`simmatch
// bench --neurons-per-site 10000000`: "more than 2147483647 synapses"), not a config key's. A test
// (config_test.cpp) checks it is the network the table's defaults build.
template <typename T>
Network<T> reference_network(Index neurons_per_site, std::uint64_t seed) {
  const Grid input{28, 28, 1};
  const Grid out = Structure::local2d_output(input, 2, neurons_per_site);
  std::vector<Layer<T>> layers;
  layers.emplace_back(Structure::local2d(input, 2, 4.0, neurons_per_site),
                      Structure::lateral2d(Grid{out.height, out.width, neurons_per_site}, 0.0), Activation::tanh(),
                      out);
  Network<T> network(input.size(), std::move(layers), 0.0);
  network.initialise(seed);
  return network;
}

template Network<float> build_network<float>(const Config&, const Grid&);
template Network<double> build_network<double>(const Config&, const Grid&);
template Network<float> reference_network<float>(Index, std::uint64_t);
template Network<double> reference_network<double>(Index, std::uint64_t);

}  // namespace simmatch
