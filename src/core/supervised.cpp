// Labels as an input of the top layer (supervised.hpp).
#include "simmatch/supervised.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "simmatch/contrastive.hpp"
#include "simmatch/error.hpp"

namespace simmatch {

template <typename T>
Index supervised_classes(const Network<T>& network, std::span<const int> labels, const std::string& what) {
  if (network.classes() > 0) {
    check_labels(labels, network.classes(), what, "the model's label synapses");
    return network.classes();
  }
  if (labels.empty()) throw ConfigError(fmt::format("{}: no labels (train.mode = \"supervised\" needs one per sample)", what));
  const auto [low, high] = std::minmax_element(labels.begin(), labels.end());
  if (*low < 0) {
    throw ConfigError(fmt::format("{}: label {} of sample {} is negative (classes are numbered from 0)", what, *low,
                                  low - labels.begin()));
  }
  return static_cast<Index>(*high) + 1;
}

template <typename T>
Matrix<T> label_drive(const Network<T>& network, std::span<const int> labels, double label_scale) {
  if (network.classes() == 0) throw ShapeError("label drive: the network has no label synapses");
  const Matrix<T>& v = network.label_weights();
  Matrix<T> drive(v.rows(), static_cast<Index>(labels.size()));
  if (!labels.empty()) check_labels(labels, network.classes(), "label drive", "the network's label synapses");
  for (std::size_t b = 0; b < labels.size(); ++b) {
    drive.col(static_cast<Index>(b)) = static_cast<T>(label_scale) * v.col(labels[b]);
  }
  return drive;
}

template <typename T>
void accumulate_label_correlations(ConstMatrixRef<T> top, std::span<const int> labels, double label_scale,
                                   Eigen::MatrixXd& sums) {
  if (top.cols() != static_cast<Index>(labels.size()) || top.rows() != sums.rows()) {
    throw ShapeError(fmt::format("label correlations: {}x{} activities, {} labels, sums of {} rows", top.rows(),
                                 top.cols(), labels.size(), sums.rows()));
  }
  for (std::size_t b = 0; b < labels.size(); ++b) {
    if (labels[b] < 0 || labels[b] >= sums.cols()) {
      throw ShapeError(fmt::format("label correlations: label {} outside [0, {})", labels[b], sums.cols()));
    }
    sums.col(labels[b]) += label_scale * top.col(static_cast<Index>(b)).template cast<double>();
  }
}

template <typename T>
void apply_label_learning(Network<T>& network, const Eigen::MatrixXd& sums, double samples, double eta,
                          double layer_scale) {
  Matrix<T>& v = network.label_weights();
  if (sums.rows() != v.rows() || sums.cols() != v.cols()) {
    throw ShapeError(fmt::format("label learning: sums {}x{} for label synapses {}x{}", sums.rows(), sums.cols(),
                                 v.rows(), v.cols()));
  }
  if (samples <= 0) return;
  const double rate = eta * layer_scale;
  for (Index c = 0; c < v.cols(); ++c) {
    for (Index i = 0; i < v.rows(); ++i) {
      const double value = static_cast<double>(v(i, c));
      v(i, c) = static_cast<T>(value + rate * (sums(i, c) / samples - value));
    }
  }
}

template <typename T>
Matrix<T> label_scores(const Network<T>& network, ConstMatrixRef<T> top) {
  if (network.classes() == 0) {
    throw ShapeError("label scores: the network has no label synapses (it was not trained with train.mode = \"supervised\")");
  }
  if (top.rows() != network.label_weights().rows()) {
    throw ShapeError(fmt::format("label scores: {} top-layer activities per sample, the network has {}", top.rows(),
                                 network.label_weights().rows()));
  }
  return network.label_weights().transpose() * top;
}

#define SIMMATCH_SUPERVISED(T)                                                                              \
  template Index supervised_classes<T>(const Network<T>&, std::span<const int>, const std::string&);        \
  template Matrix<T> label_drive<T>(const Network<T>&, std::span<const int>, double);                     \
  template void accumulate_label_correlations<T>(ConstMatrixRef<T>, std::span<const int>, double,          \
                                                 Eigen::MatrixXd&);                                        \
  template void apply_label_learning<T>(Network<T>&, const Eigen::MatrixXd&, double, double, double);      \
  template Matrix<T> label_scores<T>(const Network<T>&, ConstMatrixRef<T>);
SIMMATCH_SUPERVISED(float)
SIMMATCH_SUPERVISED(double)
#undef SIMMATCH_SUPERVISED

}  // namespace simmatch
