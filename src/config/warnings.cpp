// Settings that are valid but likely to make a run fail, reported before it starts.
#include <fmt/format.h>

#include "simmatch/activation.hpp"
#include "simmatch/config.hpp"
#include "simmatch/network.hpp"

namespace simmatch {

namespace {

bool unbounded(const Activation& a) { return a.kind() == ActivationKind::linear || a.kind() == ActivationKind::relu; }

std::string activation_name(const Activation& a) { return a.kind() == ActivationKind::linear ? "linear" : "relu"; }

// Layer p's first learning step on W: eta * eta_scale * gamma^(p-P) (eq. 17).
double first_step(const Config& config, std::size_t p) {
  const double weight = feedback_layer_weight(config.network.gamma, static_cast<Index>(p),
                                              static_cast<Index>(config.layers.size()));
  return config.train.eta * config.layers[p].eta_scale * weight;
}

}  // namespace

std::vector<std::string> config_warnings(const Config& config) {
  std::vector<std::string> out;
  // eq. 17 moves W by step (A - W / C^W): with step / C^W > 1 the decay overshoots zero every
  // update, so the weights oscillate and, past 2, grow without bound. Files' constants vary and
  // are not checked here.
  for (std::size_t p = 0; p < config.layers.size(); ++p) {
    const LayerConfig& layer = config.layers[p];
    if (layer.type == "file") continue;
    const double ratio = first_step(config, p) / layer.cw_scale;
    if (ratio <= 1.0) continue;
    out.push_back(fmt::format(
        "layer {} starts learning with step eta * eta_scale * gamma^(p-P) = {:.3g} against constants C^W = "
        "layers.{}.cw_scale = {:.3g}: the decay W / C^W overshoots (step / C^W = {:.3g} > 1), so its weights may "
        "oscillate or diverge; lower train.eta or layers.{}.eta_scale, or raise layers.{}.cw_scale",
        p + 1, first_step(config, p), p, layer.cw_scale, ratio, p, p));
  }
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
