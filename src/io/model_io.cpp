// Model files: one NPZ holding every layer's W, L (CSR, as scipy.sparse.csr_matrix reads them),
// the structure constants C^W, C^L on the same patterns, the network description and the
// training config as JSON; a convolutional layer stores its geometry and its banks instead. The layout is documented in docs/formats.md.
#include "simmatch/model_io.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "simmatch/conv2d.hpp"
#include "simmatch/error.hpp"
#include "simmatch/memory_budget.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/saturating.hpp"
#include "simmatch/precision.hpp"

namespace simmatch {
namespace {

using Json = nlohmann::json;
using Arrays = std::map<std::string, NpyArray>;

constexpr const char* kFormatName = "simmatch-model";
constexpr int kFormatVersion = 1;

// --- Writing -------------------------------------------------------------------------------

// The CSR arrays of one weight matrix and its constants: <prefix>{p}_data/_indices/_indptr/_shape
// and C<prefix>{p}_data.
template <typename T>
void put_matrix(Arrays& arrays, const std::string& name, Index p, const SparseWeights<T>& weights,
                const Structure& structure) {
  // The weights must be exactly the structure's synapses in its order (network.hpp's invariant);
  // otherwise the saved pattern would not describe the saved values.
  if (!weights.isCompressed() || weights.nonZeros() != structure.nnz() || weights.rows() != structure.rows() ||
      weights.cols() != structure.cols()) {
    throw InternalError(fmt::format("save_model: {}{} does not match its structure ({} weights, {} synapses)", name, p,
                                    weights.nonZeros(), structure.nnz()));
  }
  const std::string stem = fmt::format("{}{}", name, p);
  const Index nnz = structure.nnz();
  if constexpr (std::is_same_v<T, float>) {
    arrays[stem + "_data"] = NpyArray::from_floats(weights.valuePtr(), {nnz});
  } else {
    arrays[stem + "_data"] = NpyArray::from_doubles(weights.valuePtr(), {nnz});
  }
  arrays[stem + "_indices"] = NpyArray::from_ints(structure.col_index().data(), {nnz});
  arrays[stem + "_indptr"] = NpyArray::from_ints(structure.row_ptr().data(), {structure.rows() + 1});
  const std::int64_t shape[2] = {structure.rows(), structure.cols()};
  arrays[stem + "_shape"] = NpyArray::from_int64s(shape, {2});
  arrays["C" + stem + "_data"] = NpyArray::from_doubles(structure.values().data(), {nnz});
}

// A convolutional layer's tied values, each stored once: <name>{p}_bank in the weights' dtype.
template <typename T>
void put_bank(Arrays& arrays, const std::string& name, Index p, const SparseWeights<T>& weights,
              const WeightSharing& sharing, std::vector<Index> shape) {
  const std::vector<double> bank = sharing.bank_from_weights(weights.valuePtr());
  const std::string key = fmt::format("{}{}_bank", name, p);
  if constexpr (std::is_same_v<T, float>) {
    const std::vector<float> values(bank.begin(), bank.end());
    arrays[key] = NpyArray::from_floats(values.data(), std::move(shape));
  } else {
    arrays[key] = NpyArray::from_doubles(bank.data(), std::move(shape));
  }
}

// The one constant of a convolutional layer's C^W (the geometry gives every synapse the same).
double conv_constant(const Structure& cw) {
  const std::vector<double>& v = cw.values();
  if (v.empty() || std::any_of(v.begin(), v.end(), [&](double c) { return c != v.front(); })) {
    throw InternalError("save_model: a conv2d layer's C^W constants are not all equal");
  }
  return v.front();
}

template <typename T>
Json describe(const Network<T>& network) {
  Json layers = Json::array();
  for (const Layer<T>& layer : network.layers()) {
    const Grid& g = layer.grid();
    Json lj = {{"grid", {g.height, g.width, g.channels}},
               {"activation", layer.activation().name()},
               {"gain", layer.activation().gain()},
               {"clip", layer.activation().clip()}};
    if (const Conv2d* conv = layer.conv()) {
      lj["conv2d"] = {{"input", {conv->input.height, conv->input.width, conv->input.channels}},
                      {"kernel", conv->kernel},
                      {"stride", conv->stride},
                      {"padding", padding_name(conv->padding)},
                      {"lateral_radius", conv->lateral_radius},
                      {"cw_constant", conv_constant(layer.cw())}};
    }
    layers.push_back(std::move(lj));
  }
  Json description = {{"format", kFormatName},         {"version", kFormatVersion},
                      {"precision", precision_name(precision_of<T>())}, {"input_size", network.input_size()},
                      {"gamma", network.gamma()},      {"layers", std::move(layers)}};
  // Only a supervised model has label synapses; older readers see nothing new in the others.
  if (network.classes() > 0) description["classes"] = network.classes();
  return description;
}

// --- Reading -------------------------------------------------------------------------------

// Looks up arrays and JSON fields of one model file, naming the file and the array in every error.
class ModelReader {
public:
  ModelReader(std::string path, Arrays arrays) : path_(std::move(path)), arrays_(std::move(arrays)) {}

  [[noreturn]] void fail(const std::string& array, const std::string& why) const {
    throw FormatError(fmt::format("{}: array '{}': {}", path_, array, why));
  }

  // The array `key`, checked to be 1-D with one of the given dtypes and (when >= 0) `length` entries.
  const NpyArray& vector(const std::string& key, std::initializer_list<const char*> dtypes, Index length = -1) const {
    const auto it = arrays_.find(key);
    if (it == arrays_.end()) fail(key, "missing");
    const NpyArray& a = it->second;
    bool dtype_ok = false;
    std::string expected;
    for (const char* d : dtypes) {
      dtype_ok = dtype_ok || a.dtype == d;
      expected += (expected.empty() ? "" : " or ") + std::string(d);
    }
    if (!dtype_ok) fail(key, fmt::format("dtype is {}, expected {}", a.dtype, expected));
    if (a.shape.size() != 1) fail(key, fmt::format("must be 1-D, has {} dimensions", a.shape.size()));
    if (length >= 0 && a.shape[0] != length) fail(key, fmt::format("has {} entries, expected {}", a.shape[0], length));
    return a;
  }

  std::vector<int> ints(const std::string& key, Index length) const {
    const NpyArray& a = vector(key, {"<i4"}, length);
    std::vector<int> out(static_cast<std::size_t>(a.shape[0]));
    if (!out.empty()) std::memcpy(out.data(), a.bytes.data(), out.size() * sizeof(int));
    return out;
  }

  Json json(const std::string& key) const {
    const std::string text = vector(key, {"|u1"}).as_text();
    try {
      return Json::parse(text);
    } catch (const Json::exception& e) {
      fail(key, fmt::format("invalid JSON: {}", e.what()));
    }
  }

  // The network description, with its format, version and precision checked.
  Json network() const {
    Json net = json("network");
    if (!net.is_object()) fail("network", "is not a JSON object");
    if (net.value("format", "") != kFormatName) fail("network", fmt::format("\"format\" is not \"{}\"", kFormatName));
    const Json& version = field(net, "version", "network");
    if (!version.is_number_integer() || version.get<int>() != kFormatVersion) {
      fail("network", fmt::format("unsupported version {} (this build reads version {})", version.dump(), kFormatVersion));
    }
    const std::string precision = net.value("precision", "");
    if (precision != "float32" && precision != "float64") {
      fail("network", fmt::format("\"precision\" must be \"float32\" or \"float64\", got {}", field(net, "precision", "network").dump()));
    }
    return net;
  }

  const Json& field(const Json& object, const char* name, const std::string& where) const {
    if (!object.is_object() || !object.contains(name)) fail("network", fmt::format("{} has no \"{}\"", where, name));
    return object.at(name);
  }
  double number(const Json& object, const char* name, const std::string& where) const {
    const Json& v = field(object, name, where);
    if (!v.is_number()) fail("network", fmt::format("{}: \"{}\" is not a number", where, name));
    return v.get<double>();  // finite: JSON has no NaN or Inf, and the parser refuses 1e999
  }
  Index integer(const Json& object, const char* name, const std::string& where) const {
    const Json& v = field(object, name, where);
    if (!v.is_number_integer() || v.get<Index>() < 0) {
      fail("network", fmt::format("{}: \"{}\" is not a non-negative integer", where, name));
    }
    return v.get<Index>();
  }

  // The constants of <prefix>{p} rebuilt from the CSR arrays; the weights are copied later.
  Structure structure(const std::string& stem) const {
    const NpyArray& shape_array = vector(stem + "_shape", {"<i8"}, 2);
    std::int64_t shape[2];
    std::memcpy(shape, shape_array.bytes.data(), sizeof(shape));
    if (shape[0] < 0 || shape[1] < 0 || shape[0] > INT32_MAX || shape[1] > INT32_MAX) {
      fail(stem + "_shape", fmt::format("invalid shape [{}, {}]", shape[0], shape[1]));
    }
    const Index nnz = vector(stem + "_indices", {"<i4"}).shape[0];
    std::vector<int> indptr = ints(stem + "_indptr", shape[0] + 1);
    std::vector<int> indices = ints(stem + "_indices", nnz);
    const NpyArray& constants = vector("C" + stem + "_data", {"<f8"}, nnz);
    std::vector<double> values(static_cast<std::size_t>(nnz));
    if (nnz) std::memcpy(values.data(), constants.bytes.data(), values.size() * sizeof(double));
    for (std::size_t k = 0; k < values.size(); ++k) {
      if (!std::isfinite(values[k])) fail("C" + stem + "_data", fmt::format("entry {} is {}; constants must be finite", k, values[k]));
    }
    try {
      return Structure::from_csr(shape[0], shape[1], std::move(indptr), std::move(indices), std::move(values));
    } catch (const Error& e) {
      fail(stem + "_indptr/" + stem + "_indices/C" + stem + "_data", fmt::format("not a valid structure: {}", e.what()));
    }
  }

  // Copies the stored weights of <stem> onto `weights` (which already carry the pattern),
  // bit-exactly when the precisions agree. Every weight must be finite, also once converted
  // (a float64 weight of 1e300 has no float32 value): NaN activities would follow from it.
  template <typename T>
  void copy_weights(const std::string& stem, const std::string& precision, SparseWeights<T>& weights) const {
    const std::string key = stem + "_data";
    const NpyArray& data = vector(key, {precision == "float32" ? "<f4" : "<f8"}, weights.nonZeros());
    T* out = weights.valuePtr();
    const auto n = static_cast<std::size_t>(weights.nonZeros());
    const auto copy = [&]<typename S>(S) {
      std::vector<S> stored(n);
      if (n) std::memcpy(stored.data(), data.bytes.data(), n * sizeof(S));
      for (std::size_t k = 0; k < n; ++k) {
        if (!std::isfinite(stored[k])) fail(key, fmt::format("entry {} is {}; weights must be finite", k, stored[k]));
        out[k] = static_cast<T>(stored[k]);
        if (!std::isfinite(out[k])) {
          fail(key, fmt::format("entry {} is {}, which is not finite in {}", k, stored[k],
                                precision_name(precision_of<T>())));
        }
      }
    };
    if (precision == "float32") {
      copy(float{});
    } else {
      copy(double{});
    }
  }

  // The tied values of <stem>_bank, shaped `shape`, onto `weights` through `sharing`.
  template <typename T>
  void copy_bank(const std::string& stem, const std::string& precision, const std::vector<Index>& shape,
                 const WeightSharing& sharing, SparseWeights<T>& weights) const {
    const std::string key = stem + "_bank";
    const auto it = arrays_.find(key);
    if (it == arrays_.end()) fail(key, "missing");
    const NpyArray& a = it->second;
    const char* dtype = precision == "float32" ? "<f4" : "<f8";
    if (a.dtype != dtype) fail(key, fmt::format("dtype is {}, expected {}", a.dtype, dtype));
    if (a.shape != shape) {
      std::string want, got;
      for (Index d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      for (Index d : a.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      fail(key, fmt::format("has shape ({}), the layer's geometry gives ({})", got, want));
    }
    std::vector<T> values(static_cast<std::size_t>(weights.nonZeros()));
    try {
      sharing.weights_from_bank(a.to_doubles(), values.data(), key);
    } catch (const Error& e) {
      fail(key, e.what());
    }
    std::copy(values.begin(), values.end(), weights.valuePtr());
  }

  // The label synapses V (rows x classes, C order, the weights' dtype), every entry finite.
  template <typename T>
  Matrix<T> label_weights(const std::string& precision, Index rows, Index classes) const {
    const std::string key = "V";
    const auto it = arrays_.find(key);
    if (it == arrays_.end()) fail(key, fmt::format("missing (the network declares {} classes)", classes));
    const NpyArray& a = it->second;
    const char* dtype = precision == "float32" ? "<f4" : "<f8";
    if (a.dtype != dtype) fail(key, fmt::format("dtype is {}, expected {}", a.dtype, dtype));
    if (a.shape != std::vector<Index>{rows, classes}) {
      std::string got;
      for (Index d : a.shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      fail(key, fmt::format("has shape ({}), expected ({}, {}): top-layer neurons x classes", got, rows, classes));
    }
    const std::vector<double> values = a.to_doubles();  // C order
    Matrix<T> v(rows, classes);
    for (Index i = 0; i < rows; ++i) {
      for (Index c = 0; c < classes; ++c) {
        const double stored = values[static_cast<std::size_t>(i * classes + c)];
        v(i, c) = static_cast<T>(stored);
        if (!std::isfinite(stored) || !std::isfinite(v(i, c))) {
          fail(key, fmt::format("entry ({}, {}) is {}; weights must be finite in {}", i, c, stored,
                                precision_name(precision_of<T>())));
        }
      }
    }
    return v;
  }

  // A conv2d layer's geometry from its description.
  Conv2d conv2d(const Json& cj, const Grid& grid, const std::string& where) const {
    const std::string at = where + ": \"conv2d\"";
    const Json& input = field(cj, "input", at);
    if (!input.is_array() || input.size() != 3 ||
        !std::all_of(input.begin(), input.end(), [](const Json& v) { return v.is_number_unsigned(); }) ||
        input[0].get<std::uint64_t>() > INT32_MAX || input[1].get<std::uint64_t>() > INT32_MAX ||
        input[2].get<std::uint64_t>() > INT32_MAX) {
      fail("network", fmt::format("{}: \"input\" must be [height, width, channels]", at));
    }
    const Json& padding = field(cj, "padding", at);
    if (!padding.is_string()) fail("network", fmt::format("{}: \"padding\" is not a string", at));
    try {
      Conv2d conv{Grid{input[0].get<Index>(), input[1].get<Index>(), input[2].get<Index>()}, integer(cj, "kernel", at),
                  integer(cj, "stride", at), padding_from_name(padding.get<std::string>()), grid.channels,
                  number(cj, "lateral_radius", at)};
      conv.check();
      return conv;
    } catch (const FormatError&) {
      throw;
    } catch (const Error& e) {
      fail("network", fmt::format("{}: {}", at, e.what()));
    }
  }

  const std::string& path() const { return path_; }

private:
  std::string path_;
  Arrays arrays_;
};

}  // namespace

template <typename T>
Arrays model_arrays(const Network<T>& network, const std::string& config_json) {
  Arrays arrays;
  for (Index p = 0; p < network.num_layers(); ++p) {
    const Layer<T>& layer = network.layer(p);
    if (const Conv2d* conv = layer.conv()) {
      put_bank(arrays, "W", p + 1, layer.W(), layer.w_sharing(), conv->w_bank_shape());
      put_bank(arrays, "L", p + 1, layer.L(), layer.l_sharing(), conv->l_bank_shape());
      continue;
    }
    put_matrix(arrays, "W", p + 1, layer.W(), layer.cw());
    put_matrix(arrays, "L", p + 1, layer.L(), layer.cl());
  }
  if (network.classes() > 0) {
    const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> v = network.label_weights();
    const std::vector<Index> shape{v.rows(), v.cols()};
    if constexpr (std::is_same_v<T, float>) {
      arrays["V"] = NpyArray::from_floats(v.data(), shape);
    } else {
      arrays["V"] = NpyArray::from_doubles(v.data(), shape);
    }
  }
  arrays["network"] = NpyArray::from_bytes(describe(network).dump(2));
  arrays["config"] = NpyArray::from_bytes(config_json);
  return arrays;
}

template <typename T>
void save_model(const std::string& path, const Network<T>& network, const std::string& config_json) {
  if (!Json::accept(config_json)) {
    throw ConfigError(fmt::format("save_model {}: the config is not valid JSON", path));
  }
  write_npz(path, model_arrays(network, config_json));
}

template <typename T>
LoadedModel<T> load_model(const std::string& path, const MemoryBudget& budget) {
  NpzReader npz(path, budget);
  return model_from_arrays<T>(path, read_model_arrays(npz));
}

template <typename T>
LoadedModel<T> model_from_arrays(const std::string& path, Arrays arrays) {
  const ModelReader file(path, std::move(arrays));
  const Json net = file.network();
  const std::string precision = net.at("precision").get<std::string>();
  const Index input_size = file.integer(net, "input_size", "network");
  const double gamma = file.number(net, "gamma", "network");
  const Json& layers_json = file.field(net, "layers", "network");
  if (!layers_json.is_array() || layers_json.empty()) file.fail("network", "\"layers\" must be a non-empty list");

  std::vector<Layer<T>> layers;
  for (std::size_t i = 0; i < layers_json.size(); ++i) {
    const Json& lj = layers_json[i];
    const std::string where = fmt::format("layer {}", i + 1);
    const Json& grid_json = file.field(lj, "grid", where);
    if (!grid_json.is_array() || grid_json.size() != 3 ||
        !std::all_of(grid_json.begin(), grid_json.end(), [](const Json& v) { return v.is_number_unsigned(); })) {
      file.fail("network", fmt::format("{}: \"grid\" must be [height, width, channels]", where));
    }
    // The product in checked arithmetic: [2^62 + 196, 4, 1] would wrap to 784 neurons.
    constexpr auto kMaxNeurons = static_cast<std::uint64_t>(std::numeric_limits<int>::max());
    const auto h = grid_json[0].get<std::uint64_t>(), w = grid_json[1].get<std::uint64_t>(),
               c = grid_json[2].get<std::uint64_t>();
    if (saturating_mul(saturating_mul(h, w), c) > kMaxNeurons) {
      file.fail("network", fmt::format("{}: \"grid\" [{}, {}, {}] holds more than {} neurons", where, h, w, c,
                                       kMaxNeurons));
    }
    const Grid grid{static_cast<Index>(h), static_cast<Index>(w), static_cast<Index>(c)};
    const Json& name = file.field(lj, "activation", where);
    if (!name.is_string()) file.fail("network", fmt::format("{}: \"activation\" is not a string", where));
    const std::string wp = fmt::format("W{}", i + 1), lp = fmt::format("L{}", i + 1);
    if (lj.contains("conv2d")) {
      const Json& cj = lj.at("conv2d");
      const Conv2d conv = file.conv2d(cj, grid, where);
      const double constant = file.number(cj, "cw_constant", where + ": \"conv2d\"");
      // The file stores each bank once, so a few bytes of geometry can describe a layer of
      // billions of synapses: refuse one the memory budget cannot hold before building it
      // (CSR column, constant, weight, tie per synapse; the lateral count is at most k per neuron
      // per offset).
      const auto neurons = static_cast<std::uint64_t>(grid.size());
      const double r = std::min(conv.lateral_radius, 4.0e9);
      const auto reach = static_cast<std::uint64_t>(std::floor(r));
      const std::uint64_t offsets =
          saturating_mul(2 * std::min<std::uint64_t>(reach, static_cast<std::uint64_t>(grid.height)) + 1,
                         2 * std::min<std::uint64_t>(reach, static_cast<std::uint64_t>(grid.width)) + 1);
      const std::uint64_t synapses =
          saturating_add(static_cast<std::uint64_t>(conv.w_synapses()),
                         saturating_mul(saturating_mul(neurons, static_cast<std::uint64_t>(grid.channels)), offsets));
      const MemoryBudget budget = MemoryBudget::from_environment();
      const std::uint64_t bytes = saturating_mul(synapses, 4 + 8 + 4 + 2 * sizeof(T));
      if (!budget.allows(bytes)) {
        file.fail("network", budget.refusal(bytes, fmt::format("conv2d layer {} ({} synapses at most)", i + 1, synapses)));
      }
      try {
        const Activation activation = Activation::from_name(name.get<std::string>(), file.number(lj, "gain", where),
                                                            file.number(lj, "clip", where));
        if (!(conv.output() == grid)) throw ShapeError("\"grid\" is not the convolution's output");
        layers.emplace_back(conv.cw(constant), conv.cl(), activation, grid, conv);
      } catch (const FormatError&) {
        throw;
      } catch (const Error& e) {
        file.fail("network", fmt::format("{} is inconsistent: {}", where, e.what()));
      }
      file.copy_bank(wp, precision, conv.w_bank_shape(), layers.back().w_sharing(), layers.back().W());
      file.copy_bank(lp, precision, conv.l_bank_shape(), layers.back().l_sharing(), layers.back().L());
      continue;
    }
    try {
      const Activation activation = Activation::from_name(name.get<std::string>(), file.number(lj, "gain", where),
                                                          file.number(lj, "clip", where));
      // W before L, so that errors report the arrays in a predictable order.
      Structure cw = file.structure(wp);
      Structure cl = file.structure(lp);
      layers.emplace_back(std::move(cw), std::move(cl), activation, grid);
    } catch (const FormatError&) {
      throw;
    } catch (const Error& e) {
      file.fail(fmt::format("network/{}/{}", wp, lp), fmt::format("{} is inconsistent: {}", where, e.what()));
    }
    file.copy_weights(wp, precision, layers.back().W());
    file.copy_weights(lp, precision, layers.back().L());
  }
  try {
    Network<T> network(input_size, std::move(layers), gamma);
    if (net.contains("classes")) {
      const Index classes = file.integer(net, "classes", "network");
      if (classes < 1) file.fail("network", fmt::format("\"classes\" must be >= 1, got {}", classes));
      const Index rows = network.layer(network.num_layers() - 1).size();
      network.set_label_weights(file.label_weights<T>(precision, rows, classes));
    }
    file.json("config");  // validated, but handed back as the exact text that was saved
    return LoadedModel<T>{std::move(network), file.vector("config", {"|u1"}).as_text()};
  } catch (const FormatError&) {
    throw;
  } catch (const Error& e) {
    file.fail("network", fmt::format("the layers do not form a network: {}", e.what()));
  }
}

std::string model_precision(const std::string& path, const MemoryBudget& budget) {
  Arrays arrays;
  arrays.emplace("network", read_npz_array(path, "network", budget));
  return ModelReader(path, std::move(arrays)).network().at("precision").get<std::string>();
}

Arrays read_model_arrays(NpzReader& npz) {
  Arrays arrays;
  // Whatever is missing or malformed is left for model_from_arrays to report in its own words.
  if (!npz.contains("network")) return arrays;
  arrays.emplace("network", npz.read("network"));
  const Json net = ModelReader(npz.path(), arrays).network();
  const auto layers = net.find("layers");
  if (layers == net.end() || !layers->is_array()) return arrays;
  std::vector<std::string> keys{"config", "V"};
  for (std::size_t p = 1; p <= layers->size(); ++p) {
    for (const char* matrix : {"W", "L"}) {
      const std::string stem = fmt::format("{}{}", matrix, p);
      for (const char* part : {"_data", "_indices", "_indptr", "_shape", "_bank"}) keys.push_back(stem + part);
      keys.push_back("C" + stem + "_data");
    }
  }
  for (const std::string& key : keys) {
    if (npz.contains(key)) arrays.emplace(key, npz.read(key));
  }
  return arrays;
}

template void save_model<float>(const std::string&, const Network<float>&, const std::string&);
template void save_model<double>(const std::string&, const Network<double>&, const std::string&);
template Arrays model_arrays<float>(const Network<float>&, const std::string&);
template Arrays model_arrays<double>(const Network<double>&, const std::string&);
template LoadedModel<float> model_from_arrays<float>(const std::string&, Arrays);
template LoadedModel<double> model_from_arrays<double>(const std::string&, Arrays);
template LoadedModel<float> load_model<float>(const std::string&, const MemoryBudget&);
template LoadedModel<double> load_model<double>(const std::string&, const MemoryBudget&);

}  // namespace simmatch
