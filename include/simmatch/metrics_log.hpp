// The metrics log of a training run: one JSON object per epoch (JSON lines), the format of
// `simmatch train`'s metrics.jsonl, of the log a checkpoint carries, and of Python's history_.
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "simmatch/trainer.hpp"

namespace simmatch {

/// {"epoch", "learning_rate", "cost", "mean_iterations", "converged_fraction", "samples",
///  "skipped", "seconds", "samples_per_second"} in that order; non-finite values are null
/// (a cost that was not evaluated, cost_samples = 0).
nlohmann::ordered_json metrics_to_json(const EpochMetrics& metrics);

/// One line of the log: metrics_to_json(metrics) and a newline.
std::string metrics_line(const EpochMetrics& metrics);

/// The inverse of metrics_to_json (null reads as NaN); FormatError naming `what` and the field
/// for a missing or mistyped field.
EpochMetrics metrics_from_json(const nlohmann::json& json, const std::string& what);

/// Every line of a metrics log (blank lines skipped); FormatError naming `what` and the line.
std::vector<EpochMetrics> parse_metrics_log(const std::string& jsonl, const std::string& what);

/// The log file: truncated on open, or appended to (a resumed run continues the log its
/// checkpoint restored); each line is flushed as it is written. IoError when it cannot be written.
class MetricsLog {
public:
  explicit MetricsLog(const std::string& path, bool append = false);
  void write(const EpochMetrics& metrics);

private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace simmatch
