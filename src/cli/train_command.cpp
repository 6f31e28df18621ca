// `simmatch train CONFIG.toml [key=value ...]`: parses the command line, reads the config and the
// data, and runs train_config (src/run/run.cpp) with progress on stderr and Ctrl-C handling.
#include <csignal>
#include <memory>
#include <unistd.h>

#include "cli/commands.hpp"
#include "cli/terminal_progress.hpp"
#include "simmatch/config.hpp"
#include "simmatch/distributed.hpp"
#include "simmatch/precision.hpp"
#include "simmatch/run.hpp"

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

void run_train(const TrainArgs& args) {
  // MPI under mpirun/srun, else one process. Every rank reads the config and the data itself.
  const auto comm = make_communicator();
  const Config config = agree(*comm, "reading the config", [&] { return load_config(args.config_path, args.overrides); });
  const Dataset data = agree(*comm, "reading the data", [&] { return load_data(config); });

  // With several MPI ranks, rank 0 alone reports (the run calls these hooks there only).
  Progress progress(config.train.epochs, comm->is_root() && ::isatty(2) == 1);
  RunHooks hooks;
  hooks.log = [&](const std::string& line) { progress.log(line); };
  hooks.on_batch = [&](const BatchProgress& p) { progress.batch(p); };
  hooks.on_epoch = [&](const EpochMetrics& m) { progress.epoch(m); };
  hooks.should_stop = [] { return stop_requested != 0; };
  StopOnSignal stop_on_signal;
  with_precision(config.network.precision, [&](auto type) {
    train_config<typename decltype(type)::type>(config, data, *comm, args.resume, hooks);
  });
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
