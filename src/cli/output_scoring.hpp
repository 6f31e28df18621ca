// The network's own output as a classifier (simmatch/own_output.hpp) for the models `predict`
// and `evaluate` read: the mode and solver come from the model's config.
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
