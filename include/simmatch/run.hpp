// A training run: a network trained on a data set together with its outputs (metrics log,
// checkpoints, final model) and its resumption after a kill. `simmatch train` is one call of
// train_config(); Python's fit(checkpoint=...) drives a TrainingRun epoch by epoch.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "simmatch/checkpoint.hpp"
#include "simmatch/communicator.hpp"
#include "simmatch/config.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/metrics_log.hpp"
#include "simmatch/network.hpp"
#include "simmatch/trainer.hpp"

namespace simmatch {

/// Where a run writes. An empty path writes nothing of that kind (the metrics are still kept in
/// memory, for the checkpoints).
struct RunOutputs {
  std::string folder;      // created by open_outputs() when missing ("" = none)
  std::string model;       // final model NPZ, written atomically by finish()
  std::string metrics;     // metrics log, one JSON line per epoch
  std::string checkpoint;  // model + training position, after each epoch and every checkpoint_every batches
};

/// The outputs of a config: output.dir, and output.dir joined with output.model, .metrics and .checkpoint.
RunOutputs run_outputs(const OutputConfig& output);

/// Config keys a resumed run may change: more epochs, the checkpoint frequency, where outputs go
/// and where the data live (the data themselves are compared by checksum). Anything else would
/// make the resumed model differ from the uninterrupted one.
const std::vector<std::string>& resumable_keys();

/// What a front end hears from a run. Every member may be empty. log, on_batch and on_epoch are
/// called on rank 0 only; should_stop on every rank (see TrainCallbacks::should_stop).
struct RunHooks {
  /// A line for a person: what is trained, warnings, resumption, the outputs written.
  std::function<void(const std::string&)> log;
  std::function<void(const BatchProgress&)> on_batch;
  /// After the epoch's metrics line is written (and before its checkpoint).
  std::function<void(const EpochMetrics&)> on_epoch;
  std::function<bool()> should_stop;
};

/// One run of `network` over `data`. With several ranks (`communicator`), every member function
/// is collective: each rank calls it, rank 0 alone writes, and the ranks agree on each write so
/// that none goes on waiting for a rank that failed.
template <typename T>
class TrainingRun {
public:
  /// options.epochs is the length of the run: what its checkpoints record and what a resumed run
  /// continues to. `config_json` is stored in checkpoints and the model, and compared on resume.
  /// With options.validation > 0 the run trains on the kept part of stratified_split(data.labels,
  /// options.validation, options.seed) (the checkpoints' data checksum is that part's) and scores
  /// the held-out part after each epoch (ConfigError for the unsupervised mode or unlabelled
  /// data). The network, solver, data and communicator must outlive the run.
  TrainingRun(Network<T>& network, const DynamicsSolver<T>& solver, TrainOptions options, const Dataset& data,
              std::string config_json, RunOutputs outputs, const Communicator& communicator);

  /// Continues from the checkpoint at outputs.checkpoint: checks that it belongs to this run
  /// (ConfigError naming the file and every differing key or field; IoError when there is none),
  /// copies its weights into the network in place and takes its metrics log. Returns where
  /// training continues. `flag` names the request in messages ("--resume", "resume=True").
  TrainPosition resume(const std::string& flag);

  /// The length of the run recorded by the checkpoint that resume() read (0 before).
  int checkpointed_epochs() const { return checkpointed_epochs_; }

  /// Changes the length of the run (what its checkpoints record and train() may reach): a resumed
  /// run may be extended, as train.epochs may grow on `simmatch train --resume`.
  void set_epochs(int epochs);

  /// The log of the epochs trained before the run began (JSON lines: a Python network trained
  /// earlier), so that its checkpoints hold the whole history.
  void set_earlier_metrics(std::string jsonl);

  /// Creates outputs.folder and the metrics log (after resume(): the log as it stood at the
  /// checkpoint, since epochs logged after it are run and logged again) and removes temporary
  /// files of checkpoint writes cut short by a kill.
  void open_outputs();

  /// Trains from `from` to the end of epoch `until` (0-based exclusive, at most options.epochs),
  /// writing a metrics line after each epoch and the checkpoint after each epoch and every
  /// options.checkpoint_every batches. Returns the metrics of the epochs trained. The ranks share
  /// the held-out samples (rank_range) and sum their counts of correct predictions, so every rank
  /// logs the accuracy one process would.
  std::vector<EpochMetrics> train(const TrainPosition& from, int until, const RunHooks& hooks);

  /// Writes outputs.model and removes the checkpoint: the model holds everything the checkpoint
  /// did, and keeping it would only invite resuming a finished run.
  void finish();

  /// The metrics log so far (JSON lines), also when it is not written to a file.
  const std::string& metrics_jsonl() const { return metrics_jsonl_; }
  const RunOutputs& outputs() const { return outputs_; }
  /// The run's identity as its checkpoints record it (position zero).
  const CheckpointState& state() const { return state_; }
  /// The samples the run trains on: the data set, or its kept part when samples are held out.
  const Dataset& training_data() const { return data_; }
  /// The held-out samples (empty without options.validation).
  const Dataset& held_out() const { return held_out_; }

private:
  void write_checkpoint(const TrainPosition& position);
  double held_out_accuracy() const;

  Network<T>& network_;
  const DynamicsSolver<T>& solver_;
  TrainOptions options_;
  Dataset kept_;      // the training part when samples are held out (else empty)
  Dataset held_out_;  // scored after each epoch
  const Dataset& data_;
  std::string config_json_;
  RunOutputs outputs_;
  const Communicator& communicator_;
  CheckpointState state_;  // the run's identity; each checkpoint adds its position
  bool resumed_ = false;
  int checkpointed_epochs_ = 0;
  std::string metrics_jsonl_;
  std::optional<MetricsLog> log_;
};

/// `simmatch train`: the network of `config` for `data`, trained to config.train.epochs with the
/// config's solver and outputs, resumed from output.checkpoint when `resume`. Collective.
template <typename T>
void train_config(const Config& config, const Dataset& data, const Communicator& communicator, bool resume,
                  const RunHooks& hooks);

extern template class TrainingRun<float>;
extern template class TrainingRun<double>;
extern template void train_config<float>(const Config&, const Dataset&, const Communicator&, bool, const RunHooks&);
extern template void train_config<double>(const Config&, const Dataset&, const Communicator&, bool, const RunHooks&);

}  // namespace simmatch
