// The network's own output as a classifier: for train.mode = "contrastive" (docs/theory.md,
// "Contrastive similarity matching") the top layer's free fixed point, one neuron per class; for
// "supervised" ("Supervised similarity matching: labels as an input") the label synapses' reading
// of it, V^T r. The largest score is the predicted class. Shared by `predict` and `evaluate`.
#pragma once

#include <string>
#include <vector>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include "simmatch/config.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/network.hpp"

namespace simmatch::cli {

/// Whether a model's config says it was trained to classify with its own output.
bool classifies_itself(const Config& config);

/// ConfigError naming the model file unless it classifies itself (`what` names the command).
void require_own_output(const Config& config, const std::string& model_path, const std::string& what);

/// Class scores (classes x T, float32) of `data` at the free fixed point (no label input), and
/// their argmax.
struct OwnOutput {
  Eigen::MatrixXf scores;
  std::vector<int> predicted;
};
template <typename T>
OwnOutput own_output(const Network<T>& network, const Config& config, const Dataset& data, Index batch_size,
                     const std::string& what);

}  // namespace simmatch::cli
