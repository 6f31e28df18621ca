// `simmatch train CONFIG.toml [key=value ...]`: config + data -> network -> Trainer -> model NPZ,
// metrics log and progress on stderr.
#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <optional>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "simmatch/config.hpp"
#include "simmatch/distributed.hpp"
#include "simmatch/error.hpp"
#include "simmatch/model_io.hpp"

namespace simmatch::cli {
namespace {

struct TrainArgs {
  std::string config_path;
  std::vector<std::string> overrides;
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

template <typename T>
void train_with(const Config& config, const Dataset& data, const Communicator& comm) {
  Network<T> network = build_network<T>(config, data.shape);
  const auto solver = make_solver<T>(config.solver);
  const TrainOptions options = train_options(config);

  // With several MPI ranks, rank 0 alone writes the outputs and reports progress; the ranks agree on
  // each write so that none goes on waiting for a rank that failed.
  const bool root = comm.is_root();
  const std::filesystem::path dir(config.output.dir);
  const std::string model_path = (dir / config.output.model).string();
  const std::string metrics_path = (dir / config.output.metrics).string();
  std::optional<MetricsLog> metrics;
  agree(comm, "creating the outputs", [&] {
    if (!root) return;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw IoError("cannot create output folder '" + dir.string() + "': " + ec.message());
    metrics.emplace(metrics_path);
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

  TrainCallbacks callbacks;
  if (root) {
    callbacks.on_batch = [&](const BatchProgress& p) { progress.batch(p); };
    callbacks.on_epoch = [&](const EpochMetrics& m, const TrainPosition&) {
      metrics->write(m);
      progress.epoch(m);
    };
  }
  callbacks.should_stop = [] { return stop_requested != 0; };

  StopOnSignal stop_on_signal;
  Trainer<T> trainer(network, *solver, options, comm);
  const auto start = std::chrono::steady_clock::now();
  trainer.fit(data, callbacks);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  agree(comm, "writing the model", [&] {
    if (root) save_model(model_path, network, config_to_json(config).dump());
  });
  if (root) progress.log(fmt::format("wrote {} and {} ({} in all)", model_path, metrics_path, format_duration(seconds)));
}

void run_train(const TrainArgs& args) {
  // MPI under mpirun/srun, else one process. Every rank reads the config and the data itself.
  const auto comm = make_communicator();
  const Config config = agree(*comm, "reading the config", [&] { return load_config(args.config_path, args.overrides); });
  const Dataset data = agree(*comm, "reading the data", [&] { return load_data(config); });
  if (config.network.precision == "float64")
    train_with<double>(config, data, *comm);
  else
    train_with<float>(config, data, *comm);
}

}  // namespace

void register_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a network from a TOML config; writes the model and a metrics log");
  cmd->add_option("config", args->config_path, "TOML config file (see docs/parameters.md)")->required();
  cmd->add_option("overrides", args->overrides,
                  "Config overrides key=value, e.g. train.epochs=5 layers.0.neurons_per_site=8");
  cmd->footer(
      "Writes output.dir/output.model (NPZ, atomically, at the end) and output.dir/output.metrics (one JSON "
      "line per epoch). Relative paths are resolved against the current working directory. Ctrl-C stops after "
      "the current batch without writing a model.");
  cmd->callback([args] { run_train(*args); });
}

}  // namespace simmatch::cli
