// The trainer's options from a Config: the loop options it holds as they are, plus the parts a
// config spells in its own terms (the schedule's four keys, the seed, the layers' eta_scale).
#include <algorithm>

#include "config/param_table.hpp"
#include "simmatch/error.hpp"

namespace simmatch {

TrainOptions train_options(const Config& config) {
  const TrainConfig& tc = config.train;
  TrainOptions options;
  static_cast<TrainLoopOptions&>(options) = tc;
  options.schedule = tc.schedule == "constant" ? LearningRateSchedule::constant(tc.eta)
                                               : LearningRateSchedule::inverse_decay(tc.eta, tc.decay, tc.floor);
  options.seed = config.seed;
  options.mode = train_mode_from_name(tc.mode);
  options.contrastive.beta = tc.beta;
  options.contrastive.nudge = nudge_from_name(tc.nudge);
  options.contrastive.label_scale = tc.label_scale;
  // Sample positions must stay within Index; the data size is not known here, so a run's
  // smallest epoch (one sample) is checked now and the real one by the trainer.
  try {
    check_sample_positions(options, tc.samples_per_epoch > 0 ? tc.samples_per_epoch : 1);
  } catch (const ConfigError& e) {
    const std::string key = tc.batch_size >= tc.samples_per_epoch ? "train.batch_size" : "train.samples_per_epoch";
    config_detail::fail(config.source_of(key), key, e.what());
  }
  // Left empty (eq. 17 as written) unless a layer sets its own scale.
  if (std::any_of(config.layers.begin(), config.layers.end(), [](const LayerConfig& l) { return l.eta_scale != 1.0; })) {
    for (const LayerConfig& layer : config.layers) options.layer_eta_scales.push_back(layer.eta_scale);
  }
  if (std::any_of(config.layers.begin(), config.layers.end(), [](const LayerConfig& l) { return l.lateral_rate != 1.0; })) {
    for (const LayerConfig& layer : config.layers) options.layer_lateral_rates.push_back(layer.lateral_rate);
  }
  return options;
}

}  // namespace simmatch
