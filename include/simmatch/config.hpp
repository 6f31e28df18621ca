// Run configuration: one table of parameters (key, type, default, doc, check) from which the TOML
// reader, key=value overrides, JSON conversion and docs/parameters.md are all produced.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "simmatch/dataset.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/network.hpp"
#include "simmatch/precision.hpp"
#include "simmatch/structure.hpp"
#include "simmatch/trainer.hpp"

namespace simmatch {

// Every parameter is declared (default, doc, check) once, in the parameter table of
// src/config/params.cpp: the fields below have no defaults of their own ({} only keeps a lone
// struct initialised); Config's constructor fills in the table's. Fields that the library's own
// option types already declare are held as those types (solver: SolverOptions, train: the
// trainer's TrainLoopOptions), so each appears once in the code too. Relative paths are resolved
// against the current working directory, not the config file's folder.

struct DataConfig {
  std::string format;  // data.format: mnist-json | idx | npy
  std::string path;    // data.path
  std::string labels;  // data.labels
  std::string split;   // data.split: train | test | all (mnist-json)
  Index limit{};       // data.limit
};

struct PreprocessConfig {
  std::string scale;    // preprocess.scale: auto | none | byte
  bool subtract_mean{};  // preprocess.subtract_mean
};

struct NetworkConfig {
  double gamma{};
  std::string activation;
  double gain{};
  double clip{};
  Precision precision = Precision::float32;
};

/// One [[layers]] entry; keys "layers.<name>" (per-layer activation/gain/clip override the
/// network's when set). The constructor sets the table's per-layer defaults.
struct LayerConfig {
  LayerConfig();
  std::string type;  // dense | local2d | conv2d | file
  Index neurons{};
  Index stride{};
  Index kernel{};        // conv2d
  std::string padding;   // conv2d: same | valid
  double radius{};
  Index neurons_per_site{};
  double lateral_radius{};
  std::string activation;  // "" = network.activation
  double gain{};           // 0 = network.gain
  double clip{};           // 0 = network.clip
  double eta_scale{};      // multiplier of this layer's learning rate
  double lateral_rate{};   // multiplier of L's step relative to W's (eq. 17: 1)
  double cw_scale{};       // multiplier of every C^W constant of this layer
  std::string cw_file;
  std::string cl_file;
};

/// [train]: the trainer's loop options as trainer.hpp declares them, and the learning-rate
/// schedule as the table spells it; train_options() turns these into the trainer's
/// LearningRateSchedule.
struct TrainConfig : TrainLoopOptions {
  double eta{};          // train.eta: initial learning rate
  std::string schedule;  // train.schedule: constant | inverse
  double decay{};        // train.decay (inverse)
  double floor{};        // train.floor (inverse)
  std::string mode;      // train.mode: unsupervised | contrastive
  double beta{};         // train.beta (contrastive): nudge strength
  std::string nudge;     // train.nudge (contrastive): one_sided | symmetric
  double label_scale{};  // train.label_scale (contrastive): height of the one-hot targets
};

struct OutputConfig {
  std::string dir;
  std::string model;
  std::string metrics;
  std::string checkpoint;  // "" = no checkpoints
};

struct Config {
  /// The table's defaults: the reference configuration of docs/theory.md (one local2d layer), with
  /// an empty data.path.
  Config();
  DataConfig data;
  PreprocessConfig preprocess;
  NetworkConfig network;
  std::vector<LayerConfig> layers;
  SolverOptions solver;
  TrainConfig train;
  OutputConfig output;
  std::uint64_t seed{};
  double memory_budget_gib{};  // 0 = MemoryBudget::from_environment()
  /// Where the config came from (file path, "command line", ...), used in error messages;
  /// not a parameter.
  std::string source = "defaults";
  /// Keys set after loading (command-line overrides) and where they came from, so that an error
  /// found later (e.g. a stride that does not fit the data) names the right origin.
  std::map<std::string, std::string> key_sources;
  /// Where `key` ("train.eta", "layers.0.stride") got its value: key_sources, else `source`.
  const std::string& source_of(const std::string& key) const {
    const auto it = key_sources.find(key);
    return it == key_sources.end() ? source : it->second;
  }
};

// ---- the parameter table -------------------------------------------------------------------

enum class ParamType { boolean, integer, real, string, choice };

/// Description of one parameter, as listed by `simmatch params`.
struct ParamInfo {
  std::string key;           // "train.eta", or "layers.stride" for a per-layer key
  ParamType type = ParamType::string;
  nlohmann::json default_value;
  std::string doc;
  std::string check;         // human-readable: "> 0", ">= 1", "" when unchecked
  std::vector<std::string> choices;  // for ParamType::choice
  bool per_layer = false;
};

/// Every parameter, in documentation order.
const std::vector<ParamInfo>& parameters();
std::string param_type_name(ParamType type);

/// docs/parameters.md, generated from the table.
std::string parameters_markdown();

// ---- reading, overriding, converting --------------------------------------------------------

/// Reads a TOML config file and applies `overrides` ("key=value", see apply_override).
/// Throws IoError when the file cannot be read, ConfigError (naming the file and key) for TOML
/// syntax errors, unknown keys, wrong types and out-of-range values.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

/// Parses TOML text; `what` names its source in error messages.
Config parse_config(const std::string& text, const std::string& what);

/// Applies one "key=value" override: `train.eta=1e-3`, `layers.0.neurons_per_site=8` (layer 0),
/// `layers.neurons_per_site=8` (every layer), `layers.1.type=dense` (index == number of layers
/// appends a layer). Values are TOML-like: true/false, numbers, strings with or without quotes.
/// The config is validated again afterwards. Errors name `config.source` and the key.
void apply_override(Config& config, std::string_view key_value);
void apply_overrides(Config& config, const std::vector<std::string>& overrides);

/// Sets one parameter from a JSON value (checked like a TOML value). `key` is a full key
/// ("train.eta", "seed", "layers.0.stride", "layers.stride"). Does not run validate_config.
void set_parameter(Config& config, std::string_view key, const nlohmann::json& value);
/// The value of one parameter ("layers.0.stride" for a per-layer key).
nlohmann::json get_parameter(const Config& config, std::string_view key);

/// Checks that hold across keys (at least one layer, required per-type keys). Layer sizes that
/// need the input's shape are checked by build_network.
void validate_config(const Config& config);

/// Full config as nested JSON: {"data": {...}, ..., "layers": [{...}], "seed": n}.
nlohmann::json config_to_json(const Config& config);
/// The inverse of config_to_json (missing keys keep their defaults); checks like a TOML file.
Config config_from_json(const nlohmann::json& json, const std::string& what);

// ---- assembling the pieces -----------------------------------------------------------------

/// The network of `config` for inputs of shape `input_shape` (the data set's Grid): structures,
/// activations and gamma, initialised with `config.seed`. Throws ConfigError naming the key when
/// a layer does not fit its input (stride not dividing the grid, empty receptive fields,
/// constants files of the wrong shape).
template <typename T>
Network<T> build_network(const Config& config, const Grid& input_shape);

/// The reference layer of docs/theory.md ("Reference defaults"), as the benchmarks measure it:
/// the table's defaults (one local2d tanh layer, stride 2, radius 4, lateral radius 0, gamma 0) on
/// a 28x28 input, with `neurons_per_site` neurons at each site, initialised with `seed`.
template <typename T>
Network<T> reference_network(Index neurons_per_site, std::uint64_t seed);

/// The data set named by config.data, limited to data.limit samples and preprocessed
/// (scale, subtract each sample's mean); checked for NaN/Inf.
Dataset load_data(const Config& config);

/// Trainer options: config.train's loop options, its schedule, config.seed and the layers'
/// eta_scale. ConfigError naming train.batch_size or train.samples_per_epoch when the sample
/// positions would overflow (check_sample_positions, for the smallest epoch the data allow).
TrainOptions train_options(const Config& config);

/// The activation of layer p (per-layer override, else the network's).
Activation layer_activation(const Config& config, std::size_t p);

/// Valid settings that are likely to make a run fail, one sentence each naming the keys involved
/// (empty when none): a layer whose first learning step exceeds its constants C^W (eq. 17's decay
/// W / C^W overshoots), and two adjacent layers with unbounded activations (linear, relu) joined
/// by feedback (network.gamma > 0). The CLI prints them as warnings; nothing is refused.
std::vector<std::string> config_warnings(const Config& config);

extern template Network<float> build_network<float>(const Config&, const Grid&);
extern template Network<double> build_network<double>(const Config&, const Grid&);
extern template Network<float> reference_network<float>(Index, std::uint64_t);
extern template Network<double> reference_network<double>(Index, std::uint64_t);

}  // namespace simmatch
