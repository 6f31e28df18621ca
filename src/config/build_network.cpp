// Assembling a Network from a Config: each layer's structures (dense, local2d, from files) and
// activation, checked against the shape of its input before anything is allocated.
#include <cmath>

#include "config/param_table.hpp"
#include "simmatch/error.hpp"
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
                              Index cols) {
  NpyArray array;
  try {
    array = read_npy(path);
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

template <typename T>
Layer<T> build_layer(const Config& config, std::size_t p, const Grid& input) {
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
  } else if (lc.type == "file") {
    cw = constants_from_file(config, prefix + "cw_file", lc.cw_file, -1, input.size());
    const Index n = cw.rows();
    grid = Grid{1, n, 1};
    cl = lc.cl_file.empty() ? Structure::dense(n, n)
                            : constants_from_file(config, prefix + "cl_file", lc.cl_file, n, n);
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
  std::vector<Layer<T>> layers;
  Grid input = input_shape;
  for (std::size_t p = 0; p < config.layers.size(); ++p) {
    try {
      layers.push_back(build_layer<T>(config, p, input));
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

template Network<float> build_network<float>(const Config&, const Grid&);
template Network<double> build_network<double>(const Config&, const Grid&);

}  // namespace simmatch
