// Training progress on stderr: one updating progress-bar line on a terminal, plain log lines
// (one per epoch) otherwise. The text comes from the library (simmatch/progress.hpp).
#pragma once

#include <string>

#include "simmatch/progress.hpp"
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
  ProgressMeter meter_;
};

}  // namespace simmatch::cli
