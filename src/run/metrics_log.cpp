// The JSON-lines metrics log: one object per epoch, written and read back.
#include "simmatch/metrics_log.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {

nlohmann::ordered_json metrics_to_json(const EpochMetrics& m) {
  const auto number = [](double x) { return std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr); };
  nlohmann::ordered_json line;
  line["epoch"] = m.epoch;
  line["learning_rate"] = m.learning_rate;
  line["cost"] = number(m.cost);
  line["mean_iterations"] = number(m.mean_iterations);
  line["converged_fraction"] = number(m.converged_fraction);
  line["continued_fraction"] = number(m.continued_fraction);
  line["followed_fraction"] = number(m.followed_fraction);
  line["samples"] = m.samples;
  line["skipped"] = m.skipped;
  line["seconds"] = number(m.seconds);
  line["samples_per_second"] = number(m.samples_per_second);
  // Only runs that hold samples out have it, as Keras logs val_* only with validation data.
  if (std::isfinite(m.validation_accuracy)) line["validation_accuracy"] = m.validation_accuracy;
  return line;
}

std::string metrics_line(const EpochMetrics& metrics) { return metrics_to_json(metrics).dump() + '\n'; }

EpochMetrics metrics_from_json(const nlohmann::json& json, const std::string& what) {
  if (!json.is_object()) throw FormatError(fmt::format("{}: a metrics line is not a JSON object", what));
  const auto field = [&](const char* name) -> const nlohmann::json& {
    if (!json.contains(name)) throw FormatError(fmt::format("{}: metrics field '{}' is missing", what, name));
    return json.at(name);
  };
  const auto real = [&](const char* name) {
    const nlohmann::json& v = field(name);
    if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (!v.is_number()) throw FormatError(fmt::format("{}: metrics field '{}' is not a number", what, name));
    return v.get<double>();
  };
  const auto integer = [&](const char* name) {
    const nlohmann::json& v = field(name);
    if (!v.is_number_integer()) throw FormatError(fmt::format("{}: metrics field '{}' is not an integer", what, name));
    return v.get<Index>();
  };
  EpochMetrics m;
  m.epoch = static_cast<int>(integer("epoch"));
  m.learning_rate = real("learning_rate");
  m.cost = real("cost");
  m.mean_iterations = real("mean_iterations");
  m.converged_fraction = real("converged_fraction");
  // Logs written before the solver reported its paths have neither: every sample went directly.
  m.continued_fraction = json.contains("continued_fraction") ? real("continued_fraction") : 0.0;
  m.followed_fraction = json.contains("followed_fraction") ? real("followed_fraction") : 0.0;
  m.samples = integer("samples");
  m.skipped = integer("skipped");
  m.seconds = real("seconds");
  m.samples_per_second = real("samples_per_second");
  if (json.contains("validation_accuracy")) m.validation_accuracy = real("validation_accuracy");
  return m;
}

std::vector<EpochMetrics> parse_metrics_log(const std::string& jsonl, const std::string& what) {
  std::vector<EpochMetrics> out;
  std::istringstream in(jsonl);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}, metrics line {}", what, number);
    nlohmann::json json;
    try {
      json = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(fmt::format("{}: not JSON ({})", where, e.what()));
    }
    out.push_back(metrics_from_json(json, where));
  }
  return out;
}

MetricsLog::MetricsLog(const std::string& path, bool append)
    : path_(path), out_(path, std::ios::out | (append ? std::ios::app : std::ios::trunc)) {
  if (!out_) throw IoError("cannot write metrics log '" + path + "': " + std::strerror(errno));
}

void MetricsLog::write(const EpochMetrics& m) {
  out_ << metrics_to_json(m).dump() << '\n' << std::flush;
  if (!out_) throw IoError("cannot write metrics log '" + path_ + "'");
}

}  // namespace simmatch
