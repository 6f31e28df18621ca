// Checking one value against its parameter entry, and the wording of configuration errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <fmt/format.h>

#include "config/param_table.hpp"
#include "simmatch/error.hpp"

namespace simmatch::config_detail {
namespace {

using json = nlohmann::json;

// JSON text of a value for a message. Overrides come from the command line as raw bytes, which
// need not be UTF-8; dump() would throw a non-simmatch exception on them (found by fuzz_config).
std::string quoted(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string describe(const json& value) {
  if (value.is_string()) return "string " + quoted(value);
  if (value.is_boolean()) return "boolean " + value.dump();
  if (value.is_number()) return show(value);
  if (value.is_array()) return "an array";
  if (value.is_object()) return "a table";
  return value.type_name();
}

// A float where an integer is expected: TOML's 4.0 and 1e5 are floats, and show() prints them as
// 4 and 100000, which read as integers; say what the value is and, if whole, what to write.
std::string describe_for_integer(const json& value) {
  if (!value.is_number_float()) return describe(value);
  const double x = value.get<double>();
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 1e15)
    return fmt::format("the floating-point number {:.1f} (write {} for an integer)", x, static_cast<long long>(x));
  return "the floating-point number " + show(value);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string last_part(std::string_view key) {
  const auto dot = key.rfind('.');
  return std::string(dot == std::string_view::npos ? key : key.substr(dot + 1));
}

// "layers.3.strid" -> "layers.strid" so that it compares with the table's per-layer keys.
std::string without_layer_index(const std::string& key) {
  if (key.rfind("layers.", 0) != 0) return key;
  const auto dot = key.find('.', 7);
  if (dot == std::string::npos) return key;
  const std::string index = key.substr(7, dot - 7);
  if (index.empty() || !std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return key;
  return "layers." + key.substr(dot + 1);
}

}  // namespace

std::string show(const json& value) {
  if (value.is_number_float()) {
    const double x = value.get<double>();
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
    if (x == std::floor(x) && std::fabs(x) < 1e15) return std::to_string(static_cast<long long>(x));
  }
  return quoted(value);
}

void fail(const std::string& what, const std::string& key, const std::string& message) {
  if (key.empty()) throw ConfigError(what + ": " + message);
  throw ConfigError(what + ": key '" + key + "': " + message);
}

void fail_unknown(const std::string& what, const std::string& key) {
  const std::string plain = without_layer_index(key);
  const Param* best = nullptr;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const Param& p : table()) {
    std::size_t d = edit_distance(plain, p.info.key);
    if (last_part(plain) == last_part(p.info.key)) d = std::min<std::size_t>(d, 1);
    if (d < best_distance) {
      best_distance = d;
      best = &p;
    }
  }
  std::string message = "unknown key";
  if (best && best_distance <= std::max<std::size_t>(2, plain.size() / 4)) {
    std::string suggestion = best->info.key;
    if (best->info.per_layer && plain != key)  // keep the user's layer index in the hint
      suggestion = key.substr(0, key.size() - last_part(key).size()) + last_part(suggestion);
    message += " (did you mean '" + suggestion + "'?)";
  }
  message += "; `simmatch params` lists every key";
  fail(what, key, message);
}

json coerce(const Param& param, const json& value, const std::string& what, const std::string& key) {
  const ParamInfo& info = param.info;
  const Check& check = param.check;
  json result;
  double number = 0;
  switch (info.type) {
    case ParamType::boolean:
      if (!value.is_boolean()) fail(what, key, "expected a boolean (true or false), got " + describe(value));
      return value;
    case ParamType::integer:
      if (value.is_number_unsigned()) {
        if (value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          fail(what, key, "integer too large: " + value.dump());
        result = value.get<std::int64_t>();
      } else if (value.is_number_integer()) {
        result = value.get<std::int64_t>();
      } else {
        fail(what, key, "expected an integer, got " + describe_for_integer(value));
      }
      number = static_cast<double>(result.get<std::int64_t>());
      break;
    case ParamType::real:
      if (!value.is_number()) fail(what, key, "expected a number, got " + describe(value));
      number = value.get<double>();
      if (!std::isfinite(number)) fail(what, key, "must be finite, got " + show(json(number)));
      result = number;
      break;
    case ParamType::string:
    case ParamType::choice:
      if (!value.is_string()) fail(what, key, "expected a string, got " + describe(value));
      if (check.non_empty && value.get<std::string>().empty()) fail(what, key, "must not be empty");
      // Strings end up in the model file's config JSON, which must be valid UTF-8 text.
      try {
        (void)value.dump();
      } catch (const json::type_error&) {
        fail(what, key, "is not valid UTF-8 text: " + quoted(value));
      }
      if (info.type == ParamType::choice &&
          std::find(info.choices.begin(), info.choices.end(), value.get<std::string>()) == info.choices.end()) {
        std::string list;
        for (const std::string& c : info.choices) list += (list.empty() ? "" : ", ") + json(c).dump();
        fail(what, key, "must be one of " + list + ", got " + quoted(value));
      }
      return value;
  }
  const std::string got = ", got " + show(result);
  if (check.op == Check::Op::greater && !(number > check.bound))
    fail(what, key, "must be > " + show(json(check.bound)) + got);
  if (check.op == Check::Op::greater_equal && !(number >= check.bound))
    fail(what, key, "must be >= " + show(json(check.bound)) + got);
  if (check.max && !(number <= *check.max)) fail(what, key, "must be <= " + show(json(*check.max)) + got);
  return result;
}

}  // namespace simmatch::config_detail
