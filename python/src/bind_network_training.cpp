// Network's training: fit (a TrainingRun driven epoch by epoch, the code `simmatch train` runs,
// so Python writes and resumes the CLI's checkpoints) with progress on sys.stderr, and
// partial_fit (one pass at a constant rate: the online rule of eq. 17).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>

#include "model.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/encode.hpp"
#include "simmatch/metrics_log.hpp"
#include "simmatch/progress.hpp"
#include "simmatch/run.hpp"

namespace simmatch::python {

bool check_signals() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  return false;
}

py::dict metrics_dict(const EpochMetrics& e) {
  py::dict d;
  const nlohmann::ordered_json json = metrics_to_json(e);  // kept: items() refers into it
  for (const auto& [key, value] : json.items()) {
    if (value.is_null()) {
      d[py::str(key)] = std::numeric_limits<double>::quiet_NaN();
    } else if (value.is_number_integer()) {
      d[py::str(key)] = value.get<std::int64_t>();
    } else {
      d[py::str(key)] = value.get<double>();
    }
  }
  return d;
}

namespace {

/// y as one int per sample: a 1-D array of integers (or integral floats) 0..classes-1, whose range
/// the trainer checks against the top layer (train.mode = "contrastive").
std::vector<int> class_labels(py::handle y, Index samples) {
  py::array arr = py::array::ensure(y);
  if (!arr) throw py::type_error("y: expected a 1-D array of class indices");
  if (arr.ndim() != 1 || arr.shape(0) != samples) {
    throw py::value_error(fmt::format("y: expected {} labels (one per sample of X), got an array of {} dimension(s) and "
                                      "{} entries", samples, arr.ndim(), arr.ndim() == 0 ? 1 : arr.shape(0)));
  }
  const auto values = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(arr);
  if (!values) throw py::type_error("y: expected numbers (class indices)");
  std::vector<int> out(static_cast<std::size_t>(samples));
  for (Index i = 0; i < samples; ++i) {
    const double v = values.at(i);
    if (!(v == std::floor(v)) || v < 0 || v > std::numeric_limits<int>::max()) {
      throw py::value_error(fmt::format("y: label {} of sample {} is not a class index (an integer >= 0)", v, i));
    }
    out[static_cast<std::size_t>(i)] = static_cast<int>(v);
  }
  return out;
}

/// The data set for fit / partial_fit: X copied into the engine's float32 Dataset (the Trainer
/// samples batches from it), or the config's own data when X is None.
std::shared_ptr<const Dataset> training_data(Model& m, py::handle X, const std::string& arg, py::handle y) {
  if (X.is_none()) {
    if (!y.is_none()) throw py::type_error("y: labels need X (the config's data carry their own labels)");
    if (!m.config_data) {
      if (m.config.data.path.empty())
        throw py::type_error(arg + ": required (the network's config names no data.path to train on)");
      const Config config = m.config;
      std::shared_ptr<const Dataset> loaded;
      {
        py::gil_scoped_release release;
        loaded = std::make_shared<const Dataset>(load_data(config));
      }
      m.config_data = std::move(loaded);
    }
    if (m.config_data->dim() != m.input_size())
      throw py::value_error(fmt::format("{}: the config's data have {} features but the network expects {}", arg,
                                        m.config_data->dim(), m.input_size()));
    return m.config_data;
  }
  const InputArray<float> in = input_array<float>(X, arg, m.input_size(), m.shape_hint());
  auto data = std::make_shared<Dataset>();
  data->shape = m.input_shape;
  {
    py::gil_scoped_release release;
    data->x = Eigen::Map<const Eigen::MatrixXf>(in.data, in.features, in.samples);
  }
  if (!y.is_none()) data->labels = class_labels(y, in.samples);
  return data;
}

// Writes the reports of `verbose` training to sys.stderr, prefixed like the CLI's: a summary per
// epoch and, within an epoch, its progress (an updating bar on a terminal, else a line at most
// every 10 s, or every 0.5 s at verbose >= 2), so a long epoch is not silent.
class PythonProgress {
public:
  PythonProgress(int verbose, int epochs) : verbose_(verbose), epochs_(epochs), meter_(epochs, interval(verbose)) {
    if (verbose_ <= 0) return;
    py::object err = py::module_::import("sys").attr("stderr");
    terminal_ = !err.is_none() && py::hasattr(err, "isatty") && err.attr("isatty")().cast<bool>();
    if (terminal_) meter_ = ProgressMeter(epochs, std::chrono::milliseconds(100));
  }

  /// From the trainer, without the GIL.
  void batch(const BatchProgress& p) {
    if (verbose_ <= 0) return;
    const auto progress = meter_.update(p);
    if (!progress) return;
    py::gil_scoped_acquire gil;
    if (terminal_) {
      write("\r\x1b[K" + progress_bar(*progress));
      bar_shown_ = true;
    } else if (progress->samples_done < progress->samples_in_epoch) {  // the epoch's summary follows
      write("simmatch: " + progress_line(*progress) + "\n");
    }
  }

  /// With the GIL held.
  void epoch(const EpochMetrics& m) {
    if (verbose_ <= 0) return;
    write(std::string(bar_shown_ ? "\r\x1b[K" : "") + "simmatch: " + epoch_summary(m, epochs_) + "\n");
    bar_shown_ = false;
  }

private:
  static std::chrono::duration<double> interval(int verbose) {
    return verbose >= 2 ? std::chrono::duration<double>(0.5) : std::chrono::duration<double>(10.0);
  }
  static void write(const std::string& text) {
    py::object err = py::module_::import("sys").attr("stderr");
    if (err.is_none()) return;
    err.attr("write")(text);
    err.attr("flush")();
  }

  int verbose_;
  int epochs_;
  bool terminal_ = false;
  bool bar_shown_ = false;
  ProgressMeter meter_;
};

struct FitRequest {
  std::optional<int> epochs;
  std::optional<Index> batch_size;
  py::object callback;
  int verbose = 0;
  std::string checkpoint;  // "" = none
  bool resume = false;
};

// The metrics log of history_ (for a run's checkpoints): each dict read back through the log's format.
std::string history_jsonl(const py::list& history) {
  std::string out;
  std::size_t i = 0;
  for (auto item : history) {
    const nlohmann::json json = to_json(item, fmt::format("history_[{}]", i));
    out += metrics_line(metrics_from_json(json, fmt::format("history_[{}]", i++)));
  }
  return out;
}

template <typename T>
void fit_network(Model& m, Network<T>& net, const Dataset& data, const FitRequest& request) {
  TrainOptions options = train_options(m.config);
  if (request.batch_size) options.batch_size = *request.batch_size;
  const int first = m.epochs_trained;
  const int add = request.epochs ? *request.epochs : m.config.train.epochs;
  options.epochs = first + add;
  const auto solver = make_solver<T>(m.config.solver);
  RunOutputs outputs;
  if (!request.checkpoint.empty()) {
    outputs.checkpoint = request.checkpoint;
    outputs.folder = std::filesystem::path(request.checkpoint).parent_path().string();
  }
  const std::string config_json = config_to_json(m.config).dump();
  // Python trains on one process; the run's collectives are then no-ops. Without the GIL: the run
  // computes the data's checksum.
  std::optional<TrainingRun<T>> run_storage;
  {
    py::gil_scoped_release release;
    run_storage.emplace(net, *solver, options, data, config_json, outputs, Trainer<T>::default_communicator());
  }
  TrainingRun<T>& run = *run_storage;
  TrainPosition at{first, 0, {}};
  int total = options.epochs;
  if (request.resume) {
    {
      py::gil_scoped_release release;
      std::unique_lock lock(m.mutex);
      at = run.resume("resume=True");
    }
    // With resume, `epochs` is the length of the whole run (default: the checkpointed run's).
    total = request.epochs ? *request.epochs : run.checkpointed_epochs();
    run.set_epochs(std::max(total, at.epoch));
    m.epochs_trained = at.epoch;
    py::list history;
    for (const EpochMetrics& e : parse_metrics_log(run.metrics_jsonl(), request.checkpoint)) history.append(metrics_dict(e));
    m.history = history;
  } else if (!request.checkpoint.empty()) {
    run.set_earlier_metrics(history_jsonl(m.history));
  }
  run.open_outputs();

  PythonProgress progress(request.verbose, total);
  RunHooks hooks;
  hooks.should_stop = check_signals;
  hooks.on_batch = [&](const BatchProgress& p) { progress.batch(p); };
  // One run.train() per epoch: the same samples and learning rates as one call over all epochs
  // (both derive from the seed and the epoch), while the Python callback runs between epochs
  // without the lock, free to use the network.
  std::vector<EpochMetrics> trained;
  for (int epoch = at.epoch; epoch < total; ++epoch) {
    const TrainPosition from = epoch == at.epoch ? at : TrainPosition{epoch, 0, {}};
    std::vector<EpochMetrics> done;
    {
      py::gil_scoped_release release;
      std::unique_lock lock(m.mutex);
      done = run.train(from, epoch + 1, hooks);
    }
    m.epochs_trained = epoch + 1;
    trained.push_back(done.back());
    py::dict d = metrics_dict(done.back());
    m.history.append(d);
    progress.epoch(done.back());
    if (!request.callback.is_none()) {
      py::object stop = request.callback(d);
      if (py::isinstance<py::bool_>(stop) && stop.cast<bool>()) break;
    }
  }
  warn_solves(m, training_report(trained), solver->options(), "trained on");
}

py::object fit(py::object self, py::object X, std::optional<int> epochs, std::optional<Index> batch_size,
               py::object callback, int verbose, py::object checkpoint, bool resume, py::object y) {
  Model& m = self.cast<Model&>();
  FitRequest request;
  request.epochs = epochs;
  request.batch_size = batch_size;
  request.callback = callback;
  request.verbose = verbose;
  request.resume = resume;
  if (!checkpoint.is_none()) request.checkpoint = fspath(checkpoint);
  if (resume && request.checkpoint.empty())
    throw py::value_error("resume=True needs checkpoint=path, the checkpoint to continue from");
  if (epochs && *epochs < kMinEpochs) {
    throw py::value_error(fmt::format("epochs: must be >= {}, got {}", kMinEpochs, *epochs));
  }
  if (batch_size) check_batch_size(*batch_size);
  const std::shared_ptr<const Dataset> data = training_data(m, X, "X", y);
  m.visit([&](auto& net) { fit_network(m, net, *data, request); });
  return self;
}

py::object partial_fit(py::object self, py::object X, std::optional<double> learning_rate,
                       std::optional<Index> batch_size, py::object y) {
  Model& m = self.cast<Model&>();
  const std::shared_ptr<const Dataset> data = training_data(m, X, "X", y);
  TrainOptions options = train_options(m.config);
  const double eta = learning_rate ? *learning_rate : options.schedule.at(static_cast<double>(m.epochs_trained));
  if (!(eta > 0) || !std::isfinite(eta)) throw py::value_error(fmt::format("learning_rate: must be > 0, got {}", eta));
  // One pass over X in the given order at a constant rate: the online rule of eq. 17 when
  // batch_size is 1 (the default of train.batch_size).
  options.epochs = 1;
  options.samples_per_epoch = 0;
  options.shuffle = false;
  options.cost_samples = 0;
  options.schedule = LearningRateSchedule::constant(eta);
  if (batch_size) {
    check_batch_size(*batch_size);
    options.batch_size = *batch_size;
  }
  SolverOptions solver_options = m.config.solver;
  TrainCallbacks callbacks;
  callbacks.should_stop = check_signals;
  std::vector<EpochMetrics> trained;
  {
    py::gil_scoped_release release;
    std::unique_lock lock(m.mutex);
    m.visit([&](auto& net) {
      using T = ScalarOf<decltype(net)>;
      const auto solver = make_solver<T>(solver_options);
      solver_options = solver->options();  // the one the warning quotes: a tolerance of 0 made the default
      Trainer<T> trainer(net, *solver, options);
      trained = trainer.fit(*data, callbacks);
    });
  }
  warn_solves(m, training_report(trained), solver_options, "trained on");
  return self;
}

}  // namespace

void define_network_training(py::class_<Model>& cls) {
  cls.def("fit", &fit, py::arg("X") = py::none(), py::arg("epochs") = py::none(), py::arg("batch_size") = py::none(),
          py::arg("callback") = py::none(), py::arg("verbose") = 0, py::kw_only(), py::arg("checkpoint") = py::none(),
          py::arg("resume") = false, py::arg("y") = py::none(),
          "fit(self, /, X=None, epochs=None, batch_size=None, callback=None, verbose=0, *, checkpoint=None, "
          "resume=False, y=None)\n--\n\n"
          "Trains for `epochs` more epochs (default: the epochs parameter) with the local rules of eq. 17,\n"
          "or, with mode=\"contrastive\", the contrastive rules (y: one class index 0..N_P-1 per sample, the\n"
          "top layer having one neuron per class).\n"
          "X: (samples, features) or (samples, height, width[, channels]), float32 or float64; copied once\n"
          "into the engine's float32 data set. None trains on the config's data. Training continues from\n"
          "the current weights and epoch count: fit(X, epochs=2) twice equals fit(X, epochs=4).\n"
          "callback(metrics) runs after each epoch with a dict (epoch, learning_rate, cost, ...); returning\n"
          "True stops training there. verbose=1 reports each epoch and the progress within it on\n"
          "sys.stderr (an updating bar on a terminal, else a line at most every 10 s; 0.5 s at verbose=2).\n"
          "checkpoint: a path where the run is saved after every epoch and every checkpoint_every batches\n"
          "(the checkpoint file of `simmatch train`; it stays after fit and simmatch.load reads it).\n"
          "resume=True first continues the run saved at `checkpoint` (same X, config and batch size;\n"
          "otherwise simmatch.ConfigError): its weights, epochs_trained_ and history_, then trains to\n"
          "`epochs` in all (default: the length of the checkpointed run), giving the model the\n"
          "uninterrupted run gives. Ctrl-C stops between batches with KeyboardInterrupt, the weights as\n"
          "updated by the last finished batch; a NaN/Inf update raises simmatch.NumericalError with the\n"
          "weights as they were before that batch. Returns self.")
      .def("partial_fit", &partial_fit, py::arg("X"), py::arg("learning_rate") = py::none(),
           py::arg("batch_size") = py::none(), py::kw_only(), py::arg("y") = py::none(),
           "partial_fit(self, /, X, learning_rate=None, batch_size=None, *, y=None)\n--\n\n"
           "One pass over X in order at a constant learning rate (default: the schedule's rate at the current\n"
           "epoch); with batch_size 1 (the default parameter) this is the exact online rule. Returns self.");
}

}  // namespace simmatch::python
