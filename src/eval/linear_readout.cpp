// LinearReadout: argument checks, the choice of solver (dense or liblinear), prediction in blocks
// of samples, and the accuracy helpers.
#include <algorithm>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "eval/dense_readout.hpp"
#include "eval/liblinear_readout.hpp"
#include "eval/readout_common.hpp"
#include "simmatch/error.hpp"
#include "simmatch/readout.hpp"

namespace simmatch {

using readout_detail::check_finite_features;

LinearReadout LinearReadout::fit(ConstMatrixRef<float> x, const std::vector<int>& labels, double c,
                                 const ReadoutOptions& options) {
  readout_detail::check_fit_arguments(x.rows(), x.cols(), labels.size(), c, options);
  check_finite_features(x, "training");
  const readout_detail::OneVsRest setup = readout_detail::one_vs_rest(labels, options.balanced);
  if (options.solver == ReadoutSolver::dense) {
    std::vector<Index> columns(static_cast<std::size_t>(x.cols()));
    std::iota(columns.begin(), columns.end(), Index{0});
    readout_detail::DenseFit f = readout_detail::fit_dense(x, columns, labels, setup, c, options);
    return from_weights(setup.classes, std::move(f.weights), std::move(f.biases), c, f.converged);
  }
  readout_detail::LiblinearFit f = readout_detail::fit_liblinear(x, labels, setup, c, options);
  return from_weights(setup.classes, std::move(f.weights), std::move(f.biases), c, f.converged);
}

LinearReadout LinearReadout::from_weights(std::vector<int> classes, Eigen::MatrixXd weights, Eigen::VectorXd biases,
                                          double c, bool converged) {
  if (classes.size() < 2 || !std::is_sorted(classes.begin(), classes.end()) ||
      std::adjacent_find(classes.begin(), classes.end()) != classes.end()) {
    throw ShapeError(fmt::format("read-out: a classifier needs two or more distinct classes in ascending order, got {}",
                                 classes.size()));
  }
  const Index problems = classes.size() == 2 ? 1 : static_cast<Index>(classes.size());
  if (weights.rows() != problems || biases.size() != problems || weights.cols() == 0) {
    throw ShapeError(fmt::format("read-out: {} classes need {} weight row(s) and bias(es), got {} x {} weights and {} biases",
                                 classes.size(), problems, weights.rows(), weights.cols(), biases.size()));
  }
  LinearReadout out;
  out.classes_ = std::move(classes);
  out.weights_ = std::move(weights);
  out.biases_ = std::move(biases);
  out.c_ = c;
  out.converged_ = converged;
  return out;
}

std::vector<int> LinearReadout::predict(ConstMatrixRef<float> x) const {
  if (x.rows() != weights_.cols()) {
    throw ShapeError(fmt::format("read-out: samples have {} features, the classifier expects {}", x.rows(), weights_.cols()));
  }
  check_finite_features(x, "input");
  std::vector<Index> columns(static_cast<std::size_t>(x.cols()));
  std::iota(columns.begin(), columns.end(), Index{0});
  return readout_detail::predict_columns(*this, x, columns);
}

double accuracy(const std::vector<int>& truth, const std::vector<int>& predicted) {
  if (truth.size() != predicted.size() || truth.empty()) {
    throw ShapeError(fmt::format("accuracy: {} labels vs {} predictions", truth.size(), predicted.size()));
  }
  std::size_t right = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) right += truth[i] == predicted[i];
  return static_cast<double>(right) / static_cast<double>(truth.size());
}

Eigen::MatrixXi confusion_matrix(const std::vector<int>& truth, const std::vector<int>& predicted,
                                 const std::vector<int>& classes) {
  if (truth.size() != predicted.size()) {
    throw ShapeError(fmt::format("confusion matrix: {} labels vs {} predictions", truth.size(), predicted.size()));
  }
  std::map<int, Index> position;
  for (std::size_t i = 0; i < classes.size(); ++i) position[classes[i]] = static_cast<Index>(i);
  const auto k = static_cast<Index>(classes.size());
  Eigen::MatrixXi counts = Eigen::MatrixXi::Zero(k, k);
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const auto a = position.find(truth[i]), b = position.find(predicted[i]);
    if (a != position.end() && b != position.end()) ++counts(a->second, b->second);
  }
  return counts;
}

}  // namespace simmatch
