// `simmatch train CONFIG.toml [key=value ...]`: config + data -> network -> Trainer -> model NPZ,
// metrics log and progress on stderr.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <cstdlib>
#include <memory>
#include <optional>
#include <signal.h>
#include <tuple>
#include <unistd.h>
#include <utility>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "simmatch/checkpoint.hpp"
#include "simmatch/config.hpp"
#include "simmatch/distributed.hpp"
#include "simmatch/error.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"

namespace simmatch::cli {
namespace {

struct TrainArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  bool resume = false;
};

// Set by SIGINT/SIGTERM; training stops cleanly after the current batch.
volatile std::sig_atomic_t stop_requested = 0;
extern "C" void request_stop(int) { stop_requested = 1; }

// Installs the stop handler for the lifetime of a training run.
class StopOnSignal {
public:
  StopOnSignal() {
    stop_requested = 0;
    old_int_ = std::signal(SIGINT, request_stop);
    old_term_ = std::signal(SIGTERM, request_stop);
  }
  ~StopOnSignal() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

std::string grid_text(const Grid& g) { return fmt::format("{}x{}x{}", g.height, g.width, g.channels); }

// Keys a resumed run may change: more epochs, the checkpoint frequency, where outputs go and where
// the data live (the data themselves are compared by checksum), and the memory budget (a limit of
// the machine, absent from checkpoints written before it existed). Anything else would make the
// resumed model differ from the uninterrupted one.
const std::vector<std::string> kResumableChanges = {"train.epochs", "train.checkpoint_every", "output", "data.path",
                                                    "data.labels", "memory_budget_gib"};

// Loads the checkpoint at `path` into `network` after checking that it belongs to this run;
// returns where to continue and the metrics log up to there.
template <typename T>
std::pair<TrainPosition, std::string> resume_from(const std::string& path, const std::string& config_json,
                                                  const CheckpointState& run, Network<T>& network) {
  if (path.empty()) throw ConfigError("--resume: output.checkpoint is empty, so this run keeps no checkpoint");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw IoError(fmt::format("--resume: no checkpoint at {} (nothing to resume; run without --resume to start afresh)",
                              path));
  }
  LoadedCheckpoint<T> saved = load_checkpoint<T>(path);
  const auto changed = config_differences(saved.state.config_json, config_json, kResumableChanges);
  if (!changed.empty()) {
    std::string keys;
    for (const auto& k : changed) keys += (keys.empty() ? "" : ", ") + k;
    throw ConfigError(fmt::format("{}: cannot resume: the config differs from the checkpointed run in {} (resume "
                                  "with the same config and overrides)",
                                  path, keys));
  }
  check_resumable(path, saved, run, network);
  network = std::move(saved.network);
  return {saved.state.position, std::move(saved.state.metrics_jsonl)};
}

// Temporary files of checkpoint writes cut short by a kill (`<path>.tmp-<pid>-...`, see
// write_file_atomically) whose writer is gone; a run killed repeatedly would otherwise pile them up.
void remove_stale_temporaries(const std::string& path) {
  const std::filesystem::path p(path);
  const std::string prefix = p.filename().string() + ".tmp-";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(p.parent_path().empty() ? "." : p.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) std::filesystem::remove(entry.path(), ec);
  }
}

template <typename T>
void train_with(const Config& config, const Dataset& data, const Communicator& comm, bool resume) {
  Network<T> network = build_network<T>(config, data.shape);
  const auto solver = make_solver<T>(config.solver);
  const TrainOptions options = train_options(config);
  const std::string config_json = config_to_json(config).dump();
  // The data checksum is computed once; each checkpoint only adds its position.
  const CheckpointState run_state = checkpoint_state(options, data, {}, config_json);

  // With several MPI ranks, rank 0 alone writes the outputs and reports progress; the ranks agree on
  // each write so that none goes on waiting for a rank that failed.
  const bool root = comm.is_root();
  const std::filesystem::path dir(config.output.dir);
  const std::string model_path = (dir / config.output.model).string();
  const std::string metrics_path = (dir / config.output.metrics).string();
  const std::string checkpoint_path = config.output.checkpoint.empty() ? "" : (dir / config.output.checkpoint).string();
  // Every rank reads the checkpoint itself, as it reads the data; nothing is written before it
  // has been accepted, so a refused --resume leaves the run's folder as it was.
  TrainPosition resume_at;
  std::string metrics_so_far;
  if (resume) {
    std::tie(resume_at, metrics_so_far) =
        agree(comm, "reading the checkpoint", [&] { return resume_from(checkpoint_path, config_json, run_state, network); });
  }
  std::optional<MetricsLog> metrics;
  agree(comm, "creating the outputs", [&] {
    if (!root) return;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw IoError("cannot create output folder '" + dir.string() + "': " + ec.message());
    if (resume) {
      // The log as it stood at the checkpoint: epochs logged after it are run (and logged) again.
      write_file_atomically(metrics_path, metrics_so_far);
      remove_stale_temporaries(checkpoint_path);
    }
    metrics.emplace(metrics_path, resume);
  });

  Progress progress(options.epochs, root && ::isatty(2) == 1);
  std::string sizes;
  for (const auto& layer : network.layers()) sizes += (sizes.empty() ? "" : " -> ") + grid_text(layer.grid());
  if (root)
    progress.log(fmt::format("training {} on {} samples ({}), {} layer(s) {}, {} synapses, {}, {} epochs of {} samples{}",
                             config.source, data.size(), grid_text(data.shape), network.num_layers(), sizes,
                             network.num_synapses(), config.network.precision, options.epochs,
                             options.samples_per_epoch > 0 ? options.samples_per_epoch : data.size(),
                             comm.size() > 1 ? fmt::format(", on {} processes", comm.size()) : ""));
  if (root) {
    for (const std::string& warning : config_warnings(config)) progress.log("warning: " + warning);
  }
  if (root && resume) {
    progress.log(fmt::format("resuming from {} at epoch {}, batch {} of {}", checkpoint_path, resume_at.epoch + 1,
                             resume_at.batch, run_state.batches_per_epoch));
  }

  TrainCallbacks callbacks;
  if (root) {
    callbacks.on_batch = [&](const BatchProgress& p) { progress.batch(p); };
    callbacks.on_epoch = [&](const EpochMetrics& m, const TrainPosition&) {
      metrics->write(m);
      progress.epoch(m);
    };
  }
  callbacks.should_stop = [] { return stop_requested != 0; };
  if (!checkpoint_path.empty()) {
    // On every rank (the trainer calls it everywhere), so that a failed write stops every rank.
    callbacks.on_checkpoint = [&](const TrainPosition& position) {
      agree(comm, "writing the checkpoint", [&] {
        if (!root) return;
        CheckpointState state = run_state;
        state.position = position;
        state.learning_rate = options.schedule.at(static_cast<double>(position.epoch));
        state.metrics_jsonl = read_file(metrics_path);
        try {
          save_checkpoint(checkpoint_path, network, state);
        } catch (const NumericalError&) {
          throw;
        } catch (const Error& e) {
          throw IoError(fmt::format("after epoch {}, batch {}: the checkpoint was not written: {}",
                                    position.epoch + (position.batch ? 1 : 0), position.batch, e.what()));
        }
      });
    };
  }

  StopOnSignal stop_on_signal;
  Trainer<T> trainer(network, *solver, options, comm);
  const auto start = std::chrono::steady_clock::now();
  trainer.fit(data, callbacks, resume_at);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  agree(comm, "writing the model", [&] {
    if (root) save_model(model_path, network, config_json);
  });
  // The model holds everything the checkpoint did; keeping it would only invite resuming a
  // finished run.
  if (root && !checkpoint_path.empty()) {
    std::error_code ec;
    std::filesystem::remove(checkpoint_path, ec);
  }
  if (root) progress.log(fmt::format("wrote {} and {} ({} in all)", model_path, metrics_path, format_duration(seconds)));
}

void run_train(const TrainArgs& args) {
  // MPI under mpirun/srun, else one process. Every rank reads the config and the data itself.
  const auto comm = make_communicator();
  const Config config = agree(*comm, "reading the config", [&] { return load_config(args.config_path, args.overrides); });
  const Dataset data = agree(*comm, "reading the data", [&] { return load_data(config); });
  if (config.network.precision == "float64")
    train_with<double>(config, data, *comm, args.resume);
  else
    train_with<float>(config, data, *comm, args.resume);
}

}  // namespace

void register_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a network from a TOML config; writes the model and a metrics log");
  cmd->add_option("config", args->config_path, "TOML config file (see docs/parameters.md)")->required();
  cmd->add_option("overrides", args->overrides,
                  "Config overrides key=value, e.g. train.epochs=5 layers.0.neurons_per_site=8");
  cmd->add_flag("--resume", args->resume,
                "Continue a killed or interrupted run from output.dir/output.checkpoint (same config and "
                "overrides; train.epochs may grow); the result is the model the uninterrupted run gives");
  cmd->footer(
      "Writes output.dir/output.model (NPZ, atomically, at the end) and output.dir/output.metrics (one JSON "
      "line per epoch), and keeps output.dir/output.checkpoint (atomically, after each epoch and every "
      "train.checkpoint_every batches; removed once the model is written). Relative paths are resolved against "
      "the current working directory. Ctrl-C stops after the current batch without writing a model; the last "
      "checkpoint stays for --resume.");
  cmd->callback([args] { run_train(*args); });
}

}  // namespace simmatch::cli
