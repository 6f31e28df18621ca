// TOML config files and key=value overrides, both funnelled through the parameter table.
#include <charconv>
#include <cstdint>

#include <toml++/toml.h>

#include "config/param_table.hpp"
#include "simmatch/error.hpp"
#include "simmatch/files.hpp"

namespace simmatch {
namespace {

using json = nlohmann::json;
using config_detail::fail;

// Configs are a few kilobytes; the limit keeps `simmatch train /dev/zero` (or a data file given in
// place of the config) from reading gigabytes before failing.
constexpr std::uint64_t kMaxConfigBytes = std::uint64_t{1} << 20;

json toml_to_json(const toml::node& node, const std::string& what, const std::string& key) {
  if (const auto* table = node.as_table()) {
    json object = json::object();
    for (const auto& [name, value] : *table) {
      const std::string sub(name.str());
      object[sub] = toml_to_json(value, what, key.empty() ? sub : key + "." + sub);
    }
    return object;
  }
  if (const auto* array = node.as_array()) {
    json list = json::array();
    for (std::size_t i = 0; i < array->size(); ++i)
      list.push_back(toml_to_json(*array->get(i), what, key + "." + std::to_string(i)));
    return list;
  }
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return i->get();
  if (const auto* f = node.as_floating_point()) return f->get();
  if (const auto* b = node.as_boolean()) return b->get();
  fail(what, key, "dates and times are not supported as values");
}

std::string strip_quotes(std::string text) {
  if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') && text.back() == text.front())
    return text.substr(1, text.size() - 2);
  return text;
}

// The override's text as a JSON value of the parameter's type when it reads as one; otherwise
// the raw string, so that coerce() reports the type mismatch.
json parse_value(const std::string& key, const std::string& text) {
  std::string name = key;
  if (name.rfind("layers.", 0) == 0) {  // layers.<i>.<name> or layers.<name>
    name = "layers." + name.substr(name.rfind('.') + 1);
  }
  const config_detail::Param* p = config_detail::find_param(name);
  if (!p) return json(text);
  switch (p->info.type) {
    case ParamType::boolean:
      if (text == "true") return true;
      if (text == "false") return false;
      return json(text);
    case ParamType::integer: {
      std::int64_t value = 0;
      const char* end = text.data() + text.size();
      const auto [ptr, ec] = std::from_chars(text.data(), end, value);
      if (ec == std::errc() && ptr == end && !text.empty()) return value;
      double real = 0;
      const auto [rptr, rec] = std::from_chars(text.data(), end, real);
      if (rec == std::errc() && rptr == end && !text.empty()) return real;  // "got 1.5"
      return json(text);
    }
    case ParamType::real: {
      double value = 0;
      const char* end = text.data() + text.size();
      const auto [ptr, ec] = std::from_chars(text.data(), end, value);
      if (ec == std::errc() && ptr == end && !text.empty()) return value;
      return json(text);
    }
    case ParamType::string:
    case ParamType::choice:
      return json(strip_quotes(text));
  }
  return json(text);
}

void apply_one(Config& config, std::string_view key_value) {
  const std::string text(key_value);
  const auto eq = text.find('=');
  const std::string source = config.source;  // errors name the command line, not the file
  config.source = "command line";
  try {
    if (eq == std::string::npos || eq == 0)
      fail("command line", "", "override '" + text + "' is not of the form key=value");
    const std::string key = text.substr(0, eq);
    set_parameter(config, key, parse_value(key, text.substr(eq + 1)));
    const config_detail::Param* all_layers = config_detail::find_param(key);
    if (all_layers && all_layers->info.per_layer) {  // layers.<name>: every layer
      for (std::size_t i = 0; i < config.layers.size(); ++i)
        config.key_sources[key.substr(0, 7) + std::to_string(i) + key.substr(6)] = "command line";
    } else {
      config.key_sources[key] = "command line";
    }
  } catch (...) {
    config.source = source;
    throw;
  }
  config.source = source;
}

}  // namespace

void apply_override(Config& config, std::string_view key_value) {
  apply_one(config, key_value);
  validate_config(config);
}

void apply_overrides(Config& config, const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) apply_one(config, o);
  validate_config(config);
}

Config parse_config(const std::string& text, const std::string& what) {
  toml::table document;
  try {
    document = toml::parse(text, what);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw ConfigError(what + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                      ": TOML syntax error: " + std::string(e.description()));
  }
  Config config;
  config.source = what;
  config_detail::apply_tree(config, toml_to_json(document, what, ""), what);
  validate_config(config);
  return config;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  // read_file's errors name the path: "<path>: cannot open: ...", "<path>: larger than ...".
  Config config = parse_config(read_file(path, kMaxConfigBytes, "the 1.0 MiB limit of config files"), path);
  apply_overrides(config, overrides);
  return config;
}

}  // namespace simmatch
