// Model files: every layer's W, L, C^W, C^L in CSR form plus the network description and the
// full training config as JSON, in one NPZ that numpy.load opens (layout: docs/formats.md).
#pragma once

#include <map>
#include <string>

#include "simmatch/network.hpp"
#include "simmatch/npy.hpp"

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
/// precision. Only the model's own arrays are decompressed (others are ignored unread), their
/// declared sizes summed against `budget`. Throws FormatError naming the file and the array at
/// fault, including the first weight or constant that is not finite.
template <typename T>
LoadedModel<T> load_model(const std::string& path, const MemoryBudget& budget = MemoryBudget::from_environment());

/// The arrays save_model writes, so that other files (checkpoints) can store a model plus arrays
/// of their own in one NPZ that load_model still opens.
template <typename T>
std::map<std::string, NpyArray> model_arrays(const Network<T>& network, const std::string& config_json = "{}");

/// load_model over arrays already read; `path` names the source in errors. Arrays other than the
/// model's are ignored.
template <typename T>
LoadedModel<T> model_from_arrays(const std::string& path, std::map<std::string, NpyArray> arrays);

/// The arrays of a model file that load_model uses (the network description, the config and each
/// layer's arrays), read from an open archive; the archive's other entries are not decompressed.
std::map<std::string, NpyArray> read_model_arrays(NpzReader& npz);

/// "float32" or "float64": the precision a model file stores its weights in (only the `network`
/// entry is read).
std::string model_precision(const std::string& path, const MemoryBudget& budget = MemoryBudget::from_environment());

}  // namespace simmatch
