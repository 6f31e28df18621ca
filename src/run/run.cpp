// A training run with its outputs: resume checks, metrics log, checkpoints and the final model,
// every I/O step agreed on by the ranks. `simmatch train` and Python's fit share this code.
#include "simmatch/run.hpp"

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <map>
#include <numeric>
#include <span>
#include <tuple>
#include <utility>
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include "simmatch/distributed.hpp"
#include "simmatch/error.hpp"
#include "simmatch/files.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/own_output.hpp"
#include "simmatch/sample_split.hpp"
#include "simmatch/schedule_stability.hpp"
#include "simmatch/progress.hpp"
#include "simmatch/weights.hpp"

namespace simmatch {
namespace {

std::string grid_text(const Grid& g) { return fmt::format("{}x{}x{}", g.height, g.width, g.channels); }

// Temporary files of checkpoint writes cut short by a kill (temporary_files_of) whose writer is
// gone; a run killed repeatedly would otherwise pile them up.
void remove_stale_temporaries(const std::string& path) {
  for (const TemporaryFile& temporary : temporary_files_of(path)) {
    if (::kill(static_cast<pid_t>(temporary.writer_pid), 0) != 0 && errno == ESRCH) {
      std::error_code ec;
      std::filesystem::remove(temporary.path, ec);
    }
  }
}

// The checkpoint at `path` after checking that it belongs to the run `run` of `network`.
template <typename T>
LoadedCheckpoint<T> checked_checkpoint(const std::string& path, const std::string& flag, const std::string& config_json,
                                       const CheckpointState& run, const Network<T>& network) {
  if (path.empty()) throw ConfigError(flag + ": output.checkpoint is empty, so this run keeps no checkpoint");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw IoError(fmt::format("{}: no checkpoint at {} (nothing to resume; run without {} to start afresh)", flag,
                              path, flag));
  }
  LoadedCheckpoint<T> saved = load_checkpoint<T>(path);
  // A key the checkpoint lacks at its default in this run is a parameter added since it was written.
  const auto changed =
      config_differences(saved.state.config_json, config_json, resumable_keys(), config_to_json(Config{}).dump());
  if (!changed.empty()) {
    std::string keys;
    for (const auto& k : changed) keys += (keys.empty() ? "" : ", ") + k;
    throw ConfigError(fmt::format("{}: cannot resume: the config differs from the checkpointed run in {} (resume "
                                  "with the same config and overrides)",
                                  path, keys));
  }
  check_resumable(path, saved, run, network);
  return saved;
}

// The kept and held-out parts of a run's data set (TrainLoopOptions::validation).
std::pair<Dataset, Dataset> validation_parts(const TrainOptions& options, const Dataset& data) {
  if (!(options.validation > 0)) return {};
  if (options.mode == TrainMode::unsupervised) {
    throw ConfigError("train.validation: holding samples out needs train.mode = \"supervised\" or \"contrastive\" "
                      "(scored by the network's own output)");
  }
  if (static_cast<Index>(data.labels.size()) != data.size()) {
    throw ConfigError(fmt::format("train.validation: holding samples out needs one label per sample, got {} for {} "
                                  "samples",
                                  data.labels.size(), data.size()));
  }
  const SampleSplit parts = stratified_split(data.labels, options.validation, options.seed);
  return {subset(data, parts.kept), subset(data, parts.held_out)};
}

}  // namespace

RunOutputs run_outputs(const OutputConfig& output) {
  const std::filesystem::path dir(output.dir);
  RunOutputs out;
  out.folder = output.dir;
  out.model = (dir / output.model).string();
  out.metrics = (dir / output.metrics).string();
  out.checkpoint = output.checkpoint.empty() ? "" : (dir / output.checkpoint).string();
  return out;
}

const std::vector<std::string>& resumable_keys() {
  // The memory budget is a limit of the machine (absent from checkpoints written before it existed).
  static const std::vector<std::string> keys = {"train.epochs", "train.checkpoint_every", "output", "data.path",
                                                "data.labels", "memory_budget_gib"};
  return keys;
}

template <typename T>
TrainingRun<T>::TrainingRun(Network<T>& network, const DynamicsSolver<T>& solver, TrainOptions options,
                            const Dataset& data, std::string config_json, RunOutputs outputs,
                            const Communicator& communicator)
    : network_(network),
      solver_(solver),
      options_(std::move(options)),
      data_(options_.validation > 0 ? kept_ : data),
      config_json_(std::move(config_json)),
      outputs_(std::move(outputs)),
      communicator_(communicator),
      // The data checksum is computed once; each checkpoint only adds its position.
      state_() {
  if (options_.validation > 0) std::tie(kept_, held_out_) = validation_parts(options_, data);
  state_ = checkpoint_state(options_, data_, {}, config_json_);
}

template <typename T>
TrainPosition TrainingRun<T>::resume(const std::string& flag) {
  // Every rank reads the checkpoint itself, as it reads the data; nothing is written before it has
  // been accepted, so a refused resume leaves the run's folder as it was.
  const TrainPosition position = agree(communicator_, "reading the checkpoint", [&] {
    LoadedCheckpoint<T> saved = checked_checkpoint(outputs_.checkpoint, flag, config_json_, state_, network_);
    // In place: the network's storage stays where it is (Python holds views of it).
    copy_weights(saved.network, network_);
    metrics_jsonl_ = std::move(saved.state.metrics_jsonl);
    checkpointed_epochs_ = saved.state.epochs;
    return saved.state.position;
  });
  resumed_ = true;
  return position;
}

template <typename T>
void TrainingRun<T>::set_epochs(int epochs) {
  if (epochs < kMinEpochs) {
    throw ConfigError(fmt::format("train: epochs must be >= {}, got {}", kMinEpochs, epochs));
  }
  options_.epochs = epochs;
  state_.epochs = epochs;
}

template <typename T>
void TrainingRun<T>::set_earlier_metrics(std::string jsonl) { metrics_jsonl_ = std::move(jsonl); }

template <typename T>
void TrainingRun<T>::open_outputs() {
  agree(communicator_, "creating the outputs", [&] {
    if (!communicator_.is_root()) return;
    if (!outputs_.folder.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(outputs_.folder, ec);
      if (ec) throw IoError("cannot create output folder '" + outputs_.folder + "': " + ec.message());
    }
    if (resumed_) {
      // The log as it stood at the checkpoint: epochs logged after it are run (and logged) again.
      if (!outputs_.metrics.empty()) write_file_atomically(outputs_.metrics, metrics_jsonl_);
      if (!outputs_.checkpoint.empty()) remove_stale_temporaries(outputs_.checkpoint);
    }
    if (!outputs_.metrics.empty()) log_.emplace(outputs_.metrics, resumed_);
  });
}

template <typename T>
void TrainingRun<T>::write_checkpoint(const TrainPosition& position) {
  agree(communicator_, "writing the checkpoint", [&] {
    if (!communicator_.is_root()) return;
    CheckpointState state = state_;
    state.position = position;
    state.learning_rate = options_.schedule.at(static_cast<double>(position.epoch));
    state.metrics_jsonl = metrics_jsonl_;
    try {
      save_checkpoint(outputs_.checkpoint, network_, state);
    } catch (const NumericalError&) {
      throw;
    } catch (const Error& e) {
      throw IoError(fmt::format("after epoch {}, batch {}: the checkpoint was not written: {}",
                                position.epoch + (position.batch ? 1 : 0), position.batch, e.what()));
    }
  });
}

template <typename T>
std::vector<EpochMetrics> TrainingRun<T>::train(const TrainPosition& from, int until, const RunHooks& hooks) {
  if (until > options_.epochs) {
    throw InternalError(fmt::format("run: training to epoch {} of a run of {}", until, options_.epochs));
  }
  TrainCallbacks callbacks;
  const bool root = communicator_.is_root();
  if (root) callbacks.on_batch = hooks.on_batch;
  std::map<int, double> validation;  // epoch -> accuracy on the held-out samples
  callbacks.on_epoch = [&](const EpochMetrics& epoch_metrics, const TrainPosition&) {
    EpochMetrics m = epoch_metrics;
    if (held_out_.size() > 0) {
      m.validation_accuracy = held_out_accuracy();
      validation[m.epoch] = m.validation_accuracy;
    }
    if (!root) return;
    if (log_) log_->write(m);
    metrics_jsonl_ += metrics_line(m);
    if (hooks.on_epoch) hooks.on_epoch(m);
  };
  callbacks.should_stop = hooks.should_stop;
  // On every rank (the trainer calls it everywhere), so that a failed write stops every rank.
  if (!outputs_.checkpoint.empty()) callbacks.on_checkpoint = [&](const TrainPosition& p) { write_checkpoint(p); };
  TrainOptions options = options_;
  options.epochs = until;
  Trainer<T> trainer(network_, solver_, options, communicator_);
  std::vector<EpochMetrics> trained = trainer.fit(data_, callbacks, from);
  for (EpochMetrics& m : trained) {
    if (const auto it = validation.find(m.epoch); it != validation.end()) m.validation_accuracy = it->second;
  }
  return trained;
}

// Collective. A rank whose scoring fails stops every rank (agree_on_failure) before the sum, so
// none waits in it for a peer that has left.
template <typename T>
double TrainingRun<T>::held_out_accuracy() const {
  const auto [first, last] = rank_range(held_out_.size(), communicator_.rank(), communicator_.size());
  std::vector<double> counts{0.0, static_cast<double>(last - first)};  // correct, scored
  std::exception_ptr failure;
  try {
    if (last > first) {
      std::vector<Index> mine(static_cast<std::size_t>(last - first));
      std::iota(mine.begin(), mine.end(), first);
      const Dataset part = subset(held_out_, mine);
      const Matrix<T> scores = own_output_scores(network_, solver_, options_.mode, part);
      const std::vector<int> predicted = predicted_classes<T>(ConstMatrixRef<T>(scores));
      for (std::size_t i = 0; i < predicted.size(); ++i) counts[0] += predicted[i] == part.labels[i] ? 1.0 : 0.0;
    }
  } catch (...) {
    failure = std::current_exception();
  }
  agree_on_failure(communicator_, "scoring the held-out samples", failure);
  communicator_.allreduce_sum(std::span<double>(counts));
  return counts[0] / counts[1];
}

template <typename T>
void TrainingRun<T>::finish() {
  const bool root = communicator_.is_root();
  agree(communicator_, "writing the model", [&] {
    if (root && !outputs_.model.empty()) save_model(outputs_.model, network_, config_json_);
  });
  if (root && !outputs_.checkpoint.empty()) {
    std::error_code ec;
    std::filesystem::remove(outputs_.checkpoint, ec);
  }
}

template <typename T>
void train_config(const Config& config, const Dataset& data, const Communicator& communicator, bool resume,
                  const RunHooks& hooks) {
  Network<T> network = build_network<T>(config, data.shape);
  const auto solver = make_solver<T>(config.solver);
  const TrainOptions options = train_options(config);
  // Before any output is written: the labels must fit the top layer.
  check_training_data(network, options, data, config.data.labels.empty() ? config.data.path : config.data.labels);
  const RunOutputs outputs = run_outputs(config.output);
  TrainingRun<T> run(network, *solver, options, data, config_to_json(config).dump(), outputs, communicator);
  TrainPosition start;
  if (resume) start = run.resume("--resume");
  run.open_outputs();

  const bool report = communicator.is_root() && hooks.log;
  if (report) {
    std::string sizes;
    for (const auto& layer : network.layers()) sizes += (sizes.empty() ? "" : " -> ") + grid_text(layer.grid());
    const Index trained_on = run.training_data().size();
    const std::string held_out =
        run.held_out().size() > 0 ? fmt::format(" ({} more held out for validation)", run.held_out().size()) : "";
    hooks.log(fmt::format("training {} on {} samples{} ({}), {} layer(s) {}, {} synapses, {}, {} epochs of {} samples{}",
                          config.source, trained_on, held_out, grid_text(data.shape), network.num_layers(), sizes,
                          network.num_synapses(), precision_name(config.network.precision), options.epochs,
                          options.samples_per_epoch > 0 ? options.samples_per_epoch : trained_on,
                          communicator.size() > 1 ? fmt::format(", on {} processes", communicator.size()) : ""));
    for (const std::string& warning : config_warnings(config)) hooks.log("warning: " + warning);
    if (resume) {
      hooks.log(fmt::format("resuming from {} at epoch {}, batch {} of {}", outputs.checkpoint, start.epoch + 1,
                            start.batch, run.state().batches_per_epoch));
    }
  }
  const auto began = std::chrono::steady_clock::now();
  const std::vector<EpochMetrics> trained = run.train(start, options.epochs, hooks);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  run.finish();
  if (report) {
    hooks.log(fmt::format("wrote {} and {} ({} in all)", outputs.model, outputs.metrics, format_duration(seconds)));
    // The trained network's bound: the last epochs' solves saw weights closest to it.
    const std::string unstable = schedule_warning(network, training_report(trained), config.solver, "trained on");
    if (!unstable.empty()) hooks.log("warning: " + unstable);
  }
}

template class TrainingRun<float>;
template class TrainingRun<double>;
template void train_config<float>(const Config&, const Dataset&, const Communicator&, bool, const RunHooks&);
template void train_config<double>(const Config&, const Dataset&, const Communicator&, bool, const RunHooks&);

}  // namespace simmatch
