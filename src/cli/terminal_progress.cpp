// Progress bar / log lines of `simmatch train` on stderr.
#include "cli/terminal_progress.hpp"

#include <chrono>
#include <iostream>

namespace simmatch::cli {

Progress::Progress(int epochs, bool terminal)
    : epochs_(epochs), terminal_(terminal), meter_(epochs, std::chrono::milliseconds(100)) {}

void Progress::log(const std::string& line) {
  if (bar_shown_) std::cerr << "\r\x1b[K";
  bar_shown_ = false;
  std::cerr << "simmatch: " << line << std::endl;
}

void Progress::batch(const BatchProgress& p) {
  if (!terminal_) return;
  const auto progress = meter_.update(p);
  if (!progress) return;
  std::cerr << "\r\x1b[K" << progress_bar(*progress) << std::flush;
  bar_shown_ = true;
}

void Progress::epoch(const EpochMetrics& m) { log(epoch_summary(m, epochs_)); }

}  // namespace simmatch::cli
