// What a Python `Network` owns (the Model: config, input shape, the network in its precision,
// training history) and the pieces the binding files of Network share. Each bind_network_*.cpp
// file defines one group of Network's methods on the class that bind_network.cpp creates.
//
// Concurrency rule: the GIL is released around engine work, and a thread never blocks on the
// network's mutex while it holds the GIL (it releases the GIL first). Engine code may re-acquire
// the GIL briefly (Ctrl-C checks, progress) while holding the mutex; with that rule this cannot
// deadlock. The mutex guards the weights; the config and other Python-visible state are touched
// only with the GIL held, engine calls taking copies of the options they need.
#pragma once

#include <fmt/format.h>

#include <memory>
#include <shared_mutex>
#include <string>
#include <type_traits>
#include <utility>

#include "bindings.hpp"
#include "simmatch/config.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/network.hpp"
#include "simmatch/precision.hpp"
#include "simmatch/trainer.hpp"

namespace simmatch::python {

// Everything a Python Network owns. Never moved after construction: NumPy views of the weights
// point into the sparse matrices of `f32` / `f64`, which are updated in place.
class Model {
public:
  Config config;
  Grid input_shape;
  std::unique_ptr<Network<float>> f32;
  std::unique_ptr<Network<double>> f64;
  int epochs_trained = 0;
  py::list history;  // one dict per epoch trained by fit (GIL-protected, like every py object)
  std::shared_ptr<const Dataset> config_data;  // the data named by the config, once read
  mutable std::shared_mutex mutex;             // exclusive: fit / partial_fit / initialise

  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  template <typename F>
  decltype(auto) visit(F&& f) {
    return f64 ? f(*f64) : f(*f32);
  }
  template <typename F>
  decltype(auto) visit(F&& f) const {
    return f64 ? f(std::as_const(*f64)) : f(std::as_const(*f32));
  }
  Index input_size() const { return f64 ? f64->input_size() : f32->input_size(); }
  Index num_layers() const { return f64 ? f64->num_layers() : f32->num_layers(); }
  const char* precision() const { return precision_name(f64 ? Precision::float64 : Precision::float32); }

  /// " (input_shape (28, 28, 1))": appended to size errors so the user sees what was expected.
  std::string shape_hint() const {
    return fmt::format(" (input_shape ({}, {}, {}))", input_shape.height, input_shape.width, input_shape.channels);
  }
  /// Grid of the input of layer p.
  Grid layer_input_grid(Index p) const {
    if (p == 0) return input_shape;
    return visit([&](const auto& net) { return net.layer(p - 1).grid(); });
  }
};

/// The scalar type of a Network<T> reached through Model::visit.
template <typename Net>
using ScalarOf = std::remove_cvref_t<decltype(std::declval<Net&>().layer(0).W().valuePtr()[0])>;

/// ValueError naming the keyword for a batch_size below kMinBatchSize (fit, partial_fit, transform,
/// cost): argument checks of the bindings raise plain ValueError.
inline void check_batch_size(Index batch_size) {
  if (batch_size < kMinBatchSize) {
    throw py::value_error(fmt::format("batch_size: must be >= {}, got {}", kMinBatchSize, batch_size));
  }
}

/// os.fspath(path) as a string.
std::string fspath(py::handle path);

/// Between batches: briefly takes the GIL to run Python's signal handlers, so Ctrl-C raises
/// KeyboardInterrupt out of the C++ loop (as py::error_already_set, restored unchanged).
bool check_signals();

/// An epoch's metrics as the dict of history_ (the metrics log's keys; NaN where the log has null).
py::dict metrics_dict(const EpochMetrics& metrics);

/// simmatch.ConvergenceWarning (warnings.warn, stacklevel 2: the caller's line), one each, for the
/// solves of the model's network that `report` counts (solve_warnings: the step schedule beyond
/// its stability limit, samples that did not reach their fixed point); nothing otherwise. Needs
/// the GIL, which it releases while it takes the network's mutex and computes the bound; raises
/// (through py::error_already_set) where a warnings filter turns a warning into an error.
void warn_solves(const Model& m, const SolveReport& report, const SolverOptions& options, const std::string& what);

/// Network's methods, by binding file.
void define_network_state(py::module_& module, py::class_<Model>& cls);  // bind_network_state.cpp
void define_network_training(py::class_<Model>& cls);  // bind_network_training.cpp
void define_network_encoding(py::class_<Model>& cls);  // bind_network_encoding.cpp

}  // namespace simmatch::python
