// Training checkpoints: the model (as model_io writes it) plus where training stands, in one NPZ
// written atomically, so that a killed run resumes to exactly the model an uninterrupted one gives.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "simmatch/dataset.hpp"
#include "simmatch/memory_budget.hpp"
#include "simmatch/network.hpp"
#include "simmatch/trainer.hpp"

namespace simmatch {

/// Identifies the data a run trains on, so that resuming on other data is refused rather than
/// silently continuing a different run.
struct DatasetFingerprint {
  Index samples = 0;
  Index features = 0;
  std::uint32_t crc32 = 0;  // of the float32 values as stored in Dataset::x (labels excluded)

  bool operator==(const DatasetFingerprint&) const = default;
};
DatasetFingerprint fingerprint(const Dataset& data);

/// Everything besides the weights that exact resumption needs. The learning rule (eq. 17) keeps no
/// optimiser state besides W and L; the batch order is a pure function of (seed, shuffle,
/// batch_size, samples_per_epoch, data size, position) and the learning rate a function of the
/// epoch, so these fields are the whole state of the generator and of the schedule.
struct CheckpointState {
  TrainPosition position;
  int epochs = 0;  // epochs the run was asked for (resuming may ask for more)
  std::uint64_t seed = 0;
  bool shuffle = true;
  Index batch_size = 1;
  Index samples_per_epoch = 0;
  Index batches_per_epoch = 0;
  /// Learning rate of the epoch at `position` (informational: it follows from the schedule).
  double learning_rate = 0;
  DatasetFingerprint data;
  /// The run's full config as JSON text (stored as the model's "config" array).
  std::string config_json = "{}";
  /// The metrics log (JSON lines) up to `position`, so a resumed run's log has each epoch once.
  std::string metrics_jsonl;
};

/// The state of a run of `options` over `data` at `position`; checks the run with
/// check_sample_positions (trainer.hpp) first.
CheckpointState checkpoint_state(const TrainOptions& options, const Dataset& data, const TrainPosition& position,
                                 const std::string& config_json = "{}");

/// Writes the network and `state` to `path` atomically (temporary file, fsync, rename): a reader,
/// or a run killed at any instant, finds the previous checkpoint or the new one, never a mix.
/// Refuses (NumericalError, `path` untouched) a network with NaN/Inf weights, so a broken model
/// never replaces a good checkpoint. The file is also a model file: load_model opens it.
template <typename T>
void save_checkpoint(const std::string& path, const Network<T>& network, const CheckpointState& state);

template <typename T>
struct LoadedCheckpoint {
  Network<T> network;
  CheckpointState state;
};

/// Reads a checkpoint; FormatError naming the file and field for anything malformed (missing or
/// invalid state, a position outside the run, non-finite weights). Weights are converted to T
/// when stored in the other precision. Only the state and the model's arrays are decompressed,
/// within `budget`.
template <typename T>
LoadedCheckpoint<T> load_checkpoint(const std::string& path, const MemoryBudget& budget = MemoryBudget::from_environment());

/// Checks that a run set up as `current` (with `network` freshly built from the current config)
/// can continue from `saved` (read from `path`) and give the model an uninterrupted run gives:
/// same seed, shuffling, batch sizes, data and network structures, and a position inside the
/// run. `saved.epochs` may differ (a finished run can be extended). Throws ConfigError naming
/// the file and every mismatching field.
template <typename T>
void check_resumable(const std::string& path, const LoadedCheckpoint<T>& saved, const CheckpointState& current,
                     const Network<T>& network);

/// Dotted keys ("train.eta", "layers.0.stride") whose values differ between two JSON configs,
/// in sorted order, skipping keys in `ignored` and any key below them ("output" skips
/// "output.dir"). Given `defaults_json` (the default config's JSON), a key the saved config lacks
/// is no difference where the current value is its default: a parameter added since the saved
/// config was written, which that run used at its default without naming it.
std::vector<std::string> config_differences(const std::string& saved_json, const std::string& current_json,
                                            const std::vector<std::string>& ignored = {},
                                            const std::string& defaults_json = {});

extern template void save_checkpoint<float>(const std::string&, const Network<float>&, const CheckpointState&);
extern template void save_checkpoint<double>(const std::string&, const Network<double>&, const CheckpointState&);
extern template LoadedCheckpoint<float> load_checkpoint<float>(const std::string&, const MemoryBudget&);
extern template LoadedCheckpoint<double> load_checkpoint<double>(const std::string&, const MemoryBudget&);
extern template void check_resumable<float>(const std::string&, const LoadedCheckpoint<float>&,
                                            const CheckpointState&, const Network<float>&);
extern template void check_resumable<double>(const std::string&, const LoadedCheckpoint<double>&,
                                             const CheckpointState&, const Network<double>&);

}  // namespace simmatch
