// Text of the training reports: durations, epoch summaries, within-epoch progress.
#include "simmatch/progress.hpp"

#include <cmath>

#include <fmt/format.h>

namespace simmatch {
namespace {

constexpr int kBarWidth = 30;

double fraction_done(const EpochProgress& p) {
  return p.samples_in_epoch > 0 ? static_cast<double>(p.samples_done) / static_cast<double>(p.samples_in_epoch)
                                : 1.0;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const auto total = static_cast<long long>(std::llround(seconds));
  if (total < 3600) return fmt::format("{} min {} s", total / 60, total % 60);
  return fmt::format("{} h {} min", total / 3600, (total % 3600) / 60);
}

std::string epoch_summary(const EpochMetrics& m, int epochs) {
  const std::string cost = std::isfinite(m.cost) ? fmt::format("{:.6g}", m.cost) : std::string("n/a");
  // Which solver path the samples took, when not all went straight to a unique fixed point.
  std::string paths;
  if (m.continued_fraction > 0 || m.followed_fraction > 0) {
    paths = fmt::format(" (along the trajectory: continued {:.1f}%, followed {:.1f}%)", 100.0 * m.continued_fraction,
                        100.0 * m.followed_fraction);
  }
  const std::string validation = std::isfinite(m.validation_accuracy)
                                     ? fmt::format("  validation accuracy {:.2f}%", 100.0 * m.validation_accuracy)
                                     : std::string();
  return fmt::format("epoch {}/{}: cost {}  lr {:.3g}  iterations {:.1f}  converged {:.1f}%{}  {} samples in {} "
                     "({:.0f} samples/s){}",
                     m.epoch, epochs, cost, m.learning_rate, m.mean_iterations, 100.0 * m.converged_fraction, paths,
                     m.samples, format_duration(m.seconds), m.samples_per_second, validation);
}

ProgressMeter::ProgressMeter(int epochs, std::chrono::duration<double> interval)
    : epochs_(epochs), interval_(interval), epoch_start_(std::chrono::steady_clock::now()) {}

std::optional<EpochProgress> ProgressMeter::update(const BatchProgress& p) {
  const auto now = std::chrono::steady_clock::now();
  if (p.epoch != current_epoch_) {
    current_epoch_ = p.epoch;
    epoch_start_ = now;
    // The first report of an epoch comes after one interval, when there is a rate to report.
    last_report_ = now;
  }
  const bool last = p.samples_done >= p.samples_in_epoch;
  if (!last && now - last_report_ < interval_) return std::nullopt;
  last_report_ = now;
  EpochProgress out;
  out.epoch = p.epoch;
  out.epochs = epochs_;
  out.samples_done = p.samples_done;
  out.samples_in_epoch = p.samples_in_epoch;
  const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  out.samples_per_second = elapsed > 0 ? static_cast<double>(p.samples_done) / elapsed : 0.0;
  out.seconds_left = out.samples_per_second > 0
                         ? static_cast<double>(p.samples_in_epoch - p.samples_done) / out.samples_per_second
                         : 0.0;
  return out;
}

std::string progress_bar(const EpochProgress& p) {
  const int filled = static_cast<int>(std::lround(fraction_done(p) * kBarWidth));
  return fmt::format("epoch {}/{} [{}{}] {}/{}  {:.0f} samples/s  ETA {}", p.epoch, p.epochs,
                     std::string(static_cast<std::size_t>(filled), '#'),
                     std::string(static_cast<std::size_t>(kBarWidth - filled), '-'), p.samples_done,
                     p.samples_in_epoch, p.samples_per_second, format_duration(p.seconds_left));
}

std::string progress_line(const EpochProgress& p) {
  return fmt::format("epoch {}/{}: {}/{} samples ({:.0f}%), {:.0f} samples/s, ETA {}", p.epoch, p.epochs,
                     p.samples_done, p.samples_in_epoch, 100.0 * fraction_done(p), p.samples_per_second,
                     format_duration(p.seconds_left));
}

}  // namespace simmatch
