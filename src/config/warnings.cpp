// Settings that are valid but likely to make a run fail, reported before it starts.
#include <fmt/format.h>

#include "simmatch/activation.hpp"
#include "simmatch/config.hpp"

namespace simmatch {

namespace {

bool unbounded(const Activation& a) { return a.kind() == ActivationKind::linear || a.kind() == ActivationKind::relu; }

std::string activation_name(const Activation& a) { return a.kind() == ActivationKind::linear ? "linear" : "relu"; }

}  // namespace

std::vector<std::string> config_warnings(const Config& config) {
  std::vector<std::string> out;
  if (!(config.network.gamma > 0)) return out;
  // Feedback couples layer p + 1 back into layer p with weight gamma (eq. 15); when neither layer
  // saturates, nothing bounds that loop and the activities can grow without limit.
  for (std::size_t p = 0; p + 1 < config.layers.size(); ++p) {
    const Activation below = layer_activation(config, p);
    const Activation above = layer_activation(config, p + 1);
    if (!unbounded(below) || !unbounded(above)) continue;
    out.push_back(fmt::format(
        "layers {} and {} are both unbounded ({} and {}) and network.gamma = {} feeds layer {} back into layer {}: "
        "nothing limits that loop, so the dynamics may diverge (a 3-layer all-relu network with gamma = 0.1 did, "
        "docs/results.md); a saturating activation (tanh, clipped_relu) in one of them bounds it",
        p + 1, p + 2, activation_name(below), activation_name(above), config.network.gamma, p + 2, p + 1));
  }
  return out;
}

}  // namespace simmatch
