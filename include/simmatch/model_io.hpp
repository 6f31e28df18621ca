// Model files: every layer's W, L, C^W, C^L in CSR form plus the network description and the
// full training config as JSON, in one NPZ that numpy.load opens (layout: docs/formats.md).
#pragma once

#include <string>

#include "simmatch/network.hpp"

namespace simmatch {

/// Writes `network` and `config_json` (the full config, any JSON text) to `path` atomically.
template <typename T>
void save_model(const std::string& path, const Network<T>& network, const std::string& config_json = "{}");

/// A model read back: the network (weights bit-exact in their stored precision) and the config.
template <typename T>
struct LoadedModel {
  Network<T> network;
  std::string config_json;
};

/// Reads a model written by save_model, converting weights to T when stored in the other
/// precision. Throws FormatError naming the file and the array at fault.
template <typename T>
LoadedModel<T> load_model(const std::string& path);

/// "float32" or "float64": the precision a model file stores its weights in.
std::string model_precision(const std::string& path);

}  // namespace simmatch
