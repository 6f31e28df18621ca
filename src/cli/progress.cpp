// Progress bar / log lines for training and the metrics log writer.
#include "cli/progress.hpp"

#include <cmath>
#include <cstring>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "simmatch/error.hpp"

namespace simmatch::cli {
namespace {

constexpr int bar_width = 30;

std::string epoch_summary(const EpochMetrics& m, int epochs) {
  const std::string cost = std::isfinite(m.cost) ? fmt::format("{:.6g}", m.cost) : std::string("n/a");
  return fmt::format("epoch {}/{}: cost {}  lr {:.3g}  iterations {:.1f}  converged {:.1f}%  {} samples in {} "
                     "({:.0f} samples/s)",
                     m.epoch, epochs, cost, m.learning_rate, m.mean_iterations, 100.0 * m.converged_fraction,
                     m.samples, format_duration(m.seconds), m.samples_per_second);
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const auto total = static_cast<long long>(std::llround(seconds));
  if (total < 3600) return fmt::format("{} min {} s", total / 60, total % 60);
  return fmt::format("{} h {} min", total / 3600, (total % 3600) / 60);
}

Progress::Progress(int epochs, bool terminal)
    : epochs_(epochs), terminal_(terminal), epoch_start_(std::chrono::steady_clock::now()), last_draw_() {}

void Progress::log(const std::string& line) {
  if (bar_shown_) std::cerr << "\r\x1b[K";
  bar_shown_ = false;
  std::cerr << "simmatch: " << line << std::endl;
}

void Progress::batch(const BatchProgress& p) {
  const auto now = std::chrono::steady_clock::now();
  if (p.epoch != current_epoch_) {
    current_epoch_ = p.epoch;
    epoch_start_ = now;
  }
  if (!terminal_) return;
  const bool last = p.samples_done >= p.samples_in_epoch;
  if (!last && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double fraction =
      p.samples_in_epoch > 0 ? static_cast<double>(p.samples_done) / static_cast<double>(p.samples_in_epoch) : 1.0;
  const int filled = static_cast<int>(std::lround(fraction * bar_width));
  const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(p.samples_done) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(p.samples_in_epoch - p.samples_done) / rate : 0.0;
  std::cerr << "\r\x1b[K"
            << fmt::format("epoch {}/{} [{}{}] {}/{}  {:.0f} samples/s  ETA {}", p.epoch, epochs_,
                           std::string(static_cast<std::size_t>(filled), '#'),
                           std::string(static_cast<std::size_t>(bar_width - filled), '-'), p.samples_done,
                           p.samples_in_epoch, rate, format_duration(eta))
            << std::flush;
  bar_shown_ = true;
}

void Progress::epoch(const EpochMetrics& m) { log(epoch_summary(m, epochs_)); }

MetricsLog::MetricsLog(const std::string& path, bool append)
    : path_(path), out_(path, std::ios::out | (append ? std::ios::app : std::ios::trunc)) {
  if (!out_) throw IoError("cannot write metrics log '" + path + "': " + std::strerror(errno));
}

void MetricsLog::write(const EpochMetrics& m) {
  const auto number = [](double x) { return std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr); };
  nlohmann::ordered_json line;
  line["epoch"] = m.epoch;
  line["learning_rate"] = m.learning_rate;
  line["cost"] = number(m.cost);
  line["mean_iterations"] = number(m.mean_iterations);
  line["converged_fraction"] = number(m.converged_fraction);
  line["samples"] = m.samples;
  line["skipped"] = m.skipped;
  line["seconds"] = number(m.seconds);
  line["samples_per_second"] = number(m.samples_per_second);
  out_ << line.dump() << '\n' << std::flush;
  if (!out_) throw IoError("cannot write metrics log '" + path_ + "'");
}

}  // namespace simmatch::cli
