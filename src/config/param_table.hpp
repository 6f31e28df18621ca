// Internal: the parameter table entries with their accessors into Config, and the shared helpers
// that check a JSON value against an entry and format error messages.
#pragma once

#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "simmatch/config.hpp"

namespace simmatch::config_detail {

/// A numeric bound: value > bound (strict) or value >= bound.
struct Check {
  enum class Op { none, greater, greater_equal } op = Op::none;
  double bound = 0;
  std::optional<double> max;  // value <= max
  bool non_empty = false;     // strings
};

struct Param {
  ParamInfo info;
  Check check;
  /// Read and write the field; `layer` is ignored for global parameters.
  std::function<nlohmann::json(const Config&, std::size_t layer)> get;
  std::function<void(Config&, std::size_t layer, const nlohmann::json&)> set;
  /// Per-layer parameters only: the same on one LayerConfig.
  std::function<nlohmann::json(const LayerConfig&)> get_layer;
  std::function<void(LayerConfig&, const nlohmann::json&)> set_layer;
};

/// The table (built once, immutable).
const std::vector<Param>& table();
/// The entry for a global key ("train.eta") or a per-layer name ("layers.stride"); null if none.
const Param* find_param(std::string_view key);

/// Checks `value` against `param` and returns it in canonical form (integers stay integers,
/// reals become floats). Throws ConfigError "<what>: key '<key>': <reason>".
nlohmann::json coerce(const Param& param, const nlohmann::json& value, const std::string& what,
                      const std::string& key);

/// "<what>: key '<key>': <message>".
[[noreturn]] void fail(const std::string& what, const std::string& key, const std::string& message);
/// "unknown key 'x'" with a "did you mean" hint.
[[noreturn]] void fail_unknown(const std::string& what, const std::string& key);

/// Short JSON rendering of a value for messages and docs ("1e-3", "\"tanh\"", "true").
std::string show(const nlohmann::json& value);

/// Applies a nested JSON tree (as read from TOML or a model file) onto `config`.
void apply_tree(Config& config, const nlohmann::json& tree, const std::string& what);

/// Table defaults for the per-layer keys.
void apply_layer_defaults(LayerConfig& layer);

}  // namespace simmatch::config_detail
