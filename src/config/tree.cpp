// Applying nested values (from TOML or JSON) onto a Config through the parameter table, single
// parameters by key, cross-key validation, and the conversion back to JSON.
#include <algorithm>
#include <set>

#include "config/param_table.hpp"
#include "simmatch/error.hpp"

namespace simmatch {
namespace {

using json = nlohmann::json;
using config_detail::coerce;
using config_detail::fail;
using config_detail::fail_unknown;
using config_detail::find_param;
using config_detail::Param;
using config_detail::table;

std::set<std::string> sections() {
  std::set<std::string> names;
  for (const Param& p : table()) {
    const auto dot = p.info.key.find('.');
    if (dot != std::string::npos) names.insert(p.info.key.substr(0, dot));
  }
  return names;
}

bool is_index(std::string_view text) {
  return !text.empty() && text.size() < 7 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

LayerConfig read_layer(const json& entry, const std::string& what, const std::string& prefix) {
  if (!entry.is_object()) fail(what, prefix, "expected a table ([[layers]] entry)");
  LayerConfig layer;
  for (const auto& [name, value] : entry.items()) {
    const std::string key = prefix + "." + name;
    const Param* p = find_param("layers." + name);
    if (!p || !p->info.per_layer) fail_unknown(what, key);
    p->set_layer(layer, coerce(*p, value, what, key));
  }
  return layer;
}

}  // namespace

namespace config_detail {

void apply_tree(Config& config, const json& tree, const std::string& what) {
  if (!tree.is_object()) fail(what, "", "expected a table of keys at the top level");
  const std::set<std::string> known_sections = sections();
  for (const auto& [name, value] : tree.items()) {
    if (name == "layers") {
      if (!value.is_array()) fail(what, "layers", "expected an array of tables ([[layers]])");
      std::vector<LayerConfig> layers;
      for (std::size_t i = 0; i < value.size(); ++i)
        layers.push_back(read_layer(value[i], what, "layers." + std::to_string(i)));
      config.layers = std::move(layers);
    } else if (known_sections.count(name)) {
      if (!value.is_object()) fail(what, name, "expected a table [" + name + "]");
      for (const auto& [sub, sub_value] : value.items()) {
        const std::string key = name + "." + sub;
        const Param* p = find_param(key);
        if (!p || p->info.per_layer) fail_unknown(what, key);
        p->set(config, 0, coerce(*p, sub_value, what, key));
      }
    } else {
      const Param* p = find_param(name);
      if (!p || p->info.per_layer) fail_unknown(what, name);
      p->set(config, 0, coerce(*p, value, what, name));
    }
  }
}

}  // namespace config_detail

void set_parameter(Config& config, std::string_view key_view, const json& value) {
  const std::string key(key_view);
  const std::string& what = config.source;
  if (key.rfind("layers.", 0) == 0) {
    const std::string rest = key.substr(7);
    const auto dot = rest.find('.');
    const std::string first = rest.substr(0, dot);
    if (is_index(first)) {
      if (dot == std::string::npos) fail(what, key, "expected layers.<index>.<name>");
      const std::string name = rest.substr(dot + 1);
      const Param* p = find_param("layers." + name);
      if (!p || !p->info.per_layer) fail_unknown(what, key);
      const std::size_t index = std::stoul(first);
      if (index > config.layers.size())
        fail(what, key,
             "layer index " + first + " is out of range (the config has " + std::to_string(config.layers.size()) +
                 " layers; index " + std::to_string(config.layers.size()) + " appends one)");
      const json checked = coerce(*p, value, what, key);
      if (index == config.layers.size()) config.layers.emplace_back();
      p->set(config, index, checked);
      return;
    }
    const Param* p = find_param(key);
    if (!p || !p->info.per_layer) fail_unknown(what, key);
    const json checked = coerce(*p, value, what, key);
    for (std::size_t i = 0; i < config.layers.size(); ++i) p->set(config, i, checked);
    return;
  }
  const Param* p = find_param(key);
  if (!p || p->info.per_layer) fail_unknown(what, key);
  p->set(config, 0, coerce(*p, value, what, key));
}

json get_parameter(const Config& config, std::string_view key_view) {
  const std::string key(key_view);
  if (key.rfind("layers.", 0) == 0) {
    const std::string rest = key.substr(7);
    const auto dot = rest.find('.');
    if (dot != std::string::npos && is_index(rest.substr(0, dot))) {
      const Param* p = find_param("layers." + rest.substr(dot + 1));
      const std::size_t index = std::stoul(rest.substr(0, dot));
      if (!p || !p->info.per_layer) fail_unknown(config.source, key);
      if (index >= config.layers.size()) fail(config.source, key, "no such layer");
      return p->get(config, index);
    }
    fail(config.source, key, "a per-layer key needs an index: layers.<index>.<name>");
  }
  const Param* p = find_param(key);
  if (!p || p->info.per_layer) fail_unknown(config.source, key);
  return p->get(config, 0);
}

void validate_config(const Config& config) {
  const std::string& what = config.source;
  if (config.layers.empty()) fail(what, "layers", "at least one [[layers]] entry is required");
  for (std::size_t i = 0; i < config.layers.size(); ++i) {
    const LayerConfig& layer = config.layers[i];
    const std::string prefix = "layers." + std::to_string(i) + ".";
    if (layer.type == "dense" && layer.neurons < 1)
      fail(config.source_of(prefix + "neurons"), prefix + "neurons", "a dense layer needs neurons >= 1, got " + std::to_string(layer.neurons));
    if (layer.type == "file" && layer.cw_file.empty())
      fail(config.source_of(prefix + "cw_file"), prefix + "cw_file", "a file layer needs the constants file cw_file");
  }
  if (config.train.schedule == "inverse" && config.train.floor > config.train.eta)
    fail(config.source_of("train.floor"), "train.floor",
         "must be <= train.eta (" + config_detail::show(json(config.train.eta)) + "), got " +
             config_detail::show(json(config.train.floor)));
  if (config.train.validation > 0 && config.train.mode == "unsupervised")
    fail(config.source_of("train.validation"), "train.validation",
         "holds out samples to score the network's own output, which only train.mode = \"supervised\" or "
         "\"contrastive\" has (got train.mode = \"unsupervised\"; use `simmatch evaluate` to read out its "
         "representation)");
  // The nudge adds beta to the top layer's stiffness: Euler steps of size h stay stable only while
  // h (beta + the largest eigenvalue of L, about 1) < 2 (docs/theory.md, "Contrastive similarity
  // matching"), and the fast solver follows the trajectory with them where the fixed point is not
  // unique. beta h < 1 keeps that margin for L's growth in training.
  if (config.train.mode == "contrastive" && config.train.beta * config.solver.step_initial >= 1.0)
    fail(config.source_of("train.beta"), "train.beta",
         "must be < 1 / solver.step_initial (" + config_detail::show(json(1.0 / config.solver.step_initial)) +
             ") for the Euler steps of the nudged phase to be stable, got " + config_detail::show(json(config.train.beta)));
}

json config_to_json(const Config& config) {
  json result = json::object();
  json layers = json::array();
  for (std::size_t i = 0; i < config.layers.size(); ++i) {
    json layer = json::object();
    for (const Param& p : table())
      if (p.info.per_layer) layer[p.info.key.substr(7)] = p.get_layer(config.layers[i]);
    layers.push_back(std::move(layer));
  }
  for (const Param& p : table()) {
    if (p.info.per_layer) continue;
    const auto dot = p.info.key.find('.');
    if (dot == std::string::npos)
      result[p.info.key] = p.get(config, 0);
    else
      result[p.info.key.substr(0, dot)][p.info.key.substr(dot + 1)] = p.get(config, 0);
  }
  result["layers"] = std::move(layers);
  return result;
}

Config config_from_json(const json& tree, const std::string& what) {
  Config config;
  config.source = what;
  config_detail::apply_tree(config, tree, what);
  validate_config(config);
  return config;
}

}  // namespace simmatch
