// Training progress on stderr: one updating progress-bar line on a terminal, plain log lines
// (one per epoch) otherwise, and the JSON-lines metrics log.
#pragma once

#include <chrono>
#include <fstream>
#include <string>

#include "simmatch/trainer.hpp"

namespace simmatch::cli {

class Progress {
public:
  /// `terminal`: draw the bar (normally isatty(2)).
  Progress(int epochs, bool terminal);
  /// A plain line (clears the bar first on a terminal).
  void log(const std::string& line);
  void batch(const BatchProgress& progress);
  void epoch(const EpochMetrics& metrics);

private:
  int epochs_;
  bool terminal_;
  bool bar_shown_ = false;
  std::chrono::steady_clock::time_point epoch_start_;
  std::chrono::steady_clock::time_point last_draw_;
  int current_epoch_ = 0;
};

/// One JSON object per line and epoch, flushed as it is written; `path` is truncated on open,
/// or appended to (a resumed run continues the log its checkpoint restored).
class MetricsLog {
public:
  explicit MetricsLog(const std::string& path, bool append = false);
  void write(const EpochMetrics& metrics);

private:
  std::string path_;
  std::ofstream out_;
};

/// "1.2 s", "3 min 4 s", ...
std::string format_duration(double seconds);

}  // namespace simmatch::cli
