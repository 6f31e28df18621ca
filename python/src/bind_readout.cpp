// simmatch.linear_readout: the read-out of `simmatch evaluate` (a linear SVM, C chosen on a
// stratified validation split of the training set) on NumPy arrays, read in place when they are
// C-contiguous float32 (np.load(..., mmap_mode="r") included); Ctrl-C stops it between passes over
// the matrix (dense solver) or between liblinear's binary problems.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <limits>
#include <thread>

#include "bindings.hpp"
#include "simmatch/readout.hpp"

namespace simmatch::python {

namespace {

// Labels as ints: a 1-D integer array (or sequence) of `samples` entries; `arg` names it in errors.
std::vector<int> labels_from_python(py::handle value, const std::string& arg, Index samples) {
  const auto a = py::array::ensure(value);
  if (!a || (a.dtype().kind() != 'i' && a.dtype().kind() != 'u')) {
    throw py::type_error(fmt::format("{}: expected integer class labels (e.g. np.int32)", arg));
  }
  if (a.ndim() != 1 || a.shape(0) != samples) {
    throw py::value_error(fmt::format("{}: expected {} labels (one per sample), got an array of {} dimension(s) and "
                                      "{} entries",
                                      arg, samples, a.ndim(), a.size()));
  }
  const auto ints = py::array_t<long long, py::array::forcecast>::ensure(a);
  std::vector<int> out(static_cast<std::size_t>(samples));
  for (Index i = 0; i < samples; ++i) {
    const long long v = ints.at(i);
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
      throw py::value_error(fmt::format("{}: label {} at sample {} does not fit in 32 bits", arg, v, i));
    }
    out[static_cast<std::size_t>(i)] = static_cast<int>(v);
  }
  return out;
}

py::object linear_readout(py::handle X_train, py::handle y_train, py::handle X_test, py::handle y_test,
                          const std::vector<double>& c, const std::string& solver, bool balanced,
                          double validation_fraction, double tolerance, std::uint64_t seed) {
  const InputArray<float> train = input_array<float>(X_train, "X_train", -1, "");
  const InputArray<float> test = input_array<float>(X_test, "X_test", -1, "");
  if (test.features != train.features) {
    throw py::value_error(fmt::format("X_test: samples have {} features but those of X_train have {}", test.features,
                                      train.features));
  }
  ReadoutOptions options;
  options.solver = parse_readout_solver(solver);
  options.c_grid = c;
  options.balanced = balanced;
  options.validation_fraction = validation_fraction;
  options.tolerance = tolerance;
  options.seed = seed;
  const std::vector<int> train_labels = labels_from_python(y_train, "y_train", train.samples);
  const std::vector<int> test_labels = labels_from_python(y_test, "y_test", test.samples);
  // Python runs signal handlers only in the main thread, and the solvers only return between
  // passes or problems: the read-out runs in a worker while this thread waits without the GIL,
  // taking it every 50 ms to check for Ctrl-C; a KeyboardInterrupt asks the worker to stop.
  std::atomic<bool> stop{false};
  options.should_stop = [&stop] { return stop.load(); };
  std::packaged_task<ReadoutReport()> task([&] {
    // C-contiguous samples x features is the features x samples column-major matrix the read-out
    // takes: mapped, not copied (the arrays stay alive in `train` and `test`).
    const Eigen::Map<const Eigen::MatrixXf> x_train(train.data, train.features, train.samples);
    const Eigen::Map<const Eigen::MatrixXf> x_test(test.data, test.features, test.samples);
    return evaluate_readout(x_train, train_labels, x_test, test_labels, options);
  });
  std::future<ReadoutReport> result = task.get_future();
  std::optional<py::error_already_set> interrupted;
  {
    py::gil_scoped_release release;
    std::thread worker(std::move(task));
    while (result.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      if (interrupted) continue;
      py::gil_scoped_acquire gil;
      if (PyErr_CheckSignals() != 0) {
        interrupted.emplace();  // takes the pending Python exception
        stop = true;
      }
    }
    worker.join();
  }
  if (interrupted) throw std::move(*interrupted);
  return from_json(readout_to_json(result.get()));
}

}  // namespace

void register_readout(py::module_& m) {
  m.def("linear_readout", &linear_readout, py::arg("X_train"), py::arg("y_train"), py::arg("X_test"),
        py::arg("y_test"), py::kw_only(), py::arg("c") = std::vector<double>{0.01, 0.1, 1.0, 10.0}, py::arg("solver") = "dense",
        py::arg("balanced") = false, py::arg("validation_fraction") = 0.2, py::arg("tolerance") = 1e-4,
        py::arg("seed") = 0,
        R"doc(linear_readout(X_train, y_train, X_test, y_test, *, c=[0.01, 0.1, 1.0, 10.0], solver='dense', balanced=False, validation_fraction=0.2, tolerance=0.0001, seed=0)
--

Linear SVM read-out of representations, as `simmatch evaluate` does it.

X_*: (samples, features) float arrays (e.g. Network.transform's output); y_*: integer labels.
C-contiguous float32 arrays are read in place, never copied: np.load(path, mmap_mode="r") of a
60,000 x 19,600 feature file costs no memory beyond the page cache.
One-vs-rest L2-regularised squared-hinge SVM (scikit-learn's LinearSVC model); C is chosen from
`c` on a stratified validation split (`validation_fraction`, `seed`) of the training set, then
the model is refitted on all of it. solver: "dense" (trust-region Newton on the float32 matrix,
all classes per pass over it, threads over blocks of samples; the grid warm-starts each fit),
"primal" (liblinear's trust-region Newton over its own copy, classes in parallel) or "dual"
(liblinear's coordinate descent); all three minimise the same objective. Returns the report as a
dict: c, validation [(c, accuracy)], train_accuracy, test_accuracy, test_error, classes,
confusion (rows: true class), features, train_samples, test_samples, converged, solver, seconds,
fits [{c, samples, seconds, converged, iterations, passes}]. Ctrl-C stops it with
KeyboardInterrupt at the next pass (dense) or once the binary problems under way finish.)doc");
}

}  // namespace simmatch::python
