// Human-readable reports of a training run, as text (the front ends print them): durations, one
// summary line per epoch, and the progress of the samples within an epoch (bar or plain line).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "simmatch/trainer.hpp"

namespace simmatch {

/// "1.2 s", "3 min 4 s", "2 h 5 min"; "?" for a negative or non-finite value.
std::string format_duration(double seconds);

/// "epoch 3/10: cost 0.12  lr 0.005  iterations 31.2  converged 100.0%  1000 samples in 1.2 s (833 samples/s)".
std::string epoch_summary(const EpochMetrics& metrics, int epochs);

/// Where the current epoch stands after a batch.
struct EpochProgress {
  int epoch = 0;   // 1-based
  int epochs = 0;  // of the run
  Index samples_done = 0;
  Index samples_in_epoch = 0;
  double samples_per_second = 0;  // since the epoch (or the resumed part of it) began
  double seconds_left = 0;        // at that rate
};

/// Turns the trainer's batch reports into EpochProgress at most every `interval`, the first one
/// an interval into the epoch (the epoch's last batch always reports), timing each epoch from its
/// first batch report.
class ProgressMeter {
public:
  ProgressMeter(int epochs, std::chrono::duration<double> interval);
  std::optional<EpochProgress> update(const BatchProgress& batch);

private:
  int epochs_;
  std::chrono::duration<double> interval_;
  int current_epoch_ = 0;
  std::chrono::steady_clock::time_point epoch_start_;
  std::chrono::steady_clock::time_point last_report_;
};

/// "epoch 2/10 [#########---------------------] 18000/60000  830 samples/s  ETA 50.6 s" (a
/// terminal's updating line).
std::string progress_bar(const EpochProgress& progress);
/// "epoch 2/10: 18000/60000 samples (30%), 830 samples/s, ETA 50.6 s" (a log line).
std::string progress_line(const EpochProgress& progress);

}  // namespace simmatch
