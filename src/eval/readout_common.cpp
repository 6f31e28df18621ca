// The one-vs-rest decomposition, the argument checks and subset prediction shared by the read-out.
#include "eval/readout_common.hpp"

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "eval/dense_readout.hpp"
#include "simmatch/error.hpp"

namespace simmatch::readout_detail {

OneVsRest one_vs_rest(std::span<const int> labels, bool balanced) {
  std::map<int, Index> counts;
  for (int y : labels) ++counts[y];
  if (counts.size() < 2) throw ShapeError("read-out: the training labels hold a single class");
  OneVsRest out;
  for (const auto& [label, n] : counts) {
    out.classes.push_back(label);
    out.class_weight.push_back(balanced ? static_cast<double>(labels.size()) /
                                              (static_cast<double>(counts.size()) * static_cast<double>(n))
                                        : 1.0);
  }
  return out;
}

void check_fit_arguments(Index features, Index samples, std::size_t labels, double c, const ReadoutOptions& options) {
  if (static_cast<Index>(labels) != samples) {
    throw ShapeError(fmt::format("read-out: {} samples but {} labels", samples, labels));
  }
  if (features == 0) throw ShapeError("read-out: samples have no features");
  if (!(c > 0) || !std::isfinite(c)) throw ConfigError(fmt::format("read-out: C must be > 0, got {}", c));
  if (!(options.tolerance > 0) || !std::isfinite(options.tolerance)) {
    throw ConfigError(fmt::format("read-out: tolerance must be > 0, got {}", options.tolerance));
  }
  if (options.max_iterations < 1) {
    throw ConfigError(fmt::format("read-out: max_iterations must be >= 1, got {}", options.max_iterations));
  }
}

void check_finite_features(ConstMatrixRef<float> x, const char* what) {
  // Column by column, so that a memory-mapped matrix is read once, in file order.
  for (Index t = 0; t < x.cols(); ++t) {
    if (!x.col(t).allFinite()) throw NumericalError(fmt::format("read-out: the {} features hold NaN or Inf (sample {})", what, t));
  }
}

std::vector<int> predict_columns(const LinearReadout& model, ConstMatrixRef<float> x, std::span<const Index> columns) {
  const Eigen::MatrixXd scores = dense_scores(x, columns, model.weights(), model.biases());
  const std::vector<int>& classes = model.classes();
  std::vector<int> out(columns.size());
  for (Index t = 0; t < scores.cols(); ++t) {
    Index best = 0;
    if (scores.rows() == 1) {
      best = scores(0, t) > 0 ? 0 : 1;  // one decision row: classes[0] is the positive side
    } else {
      scores.col(t).maxCoeff(&best);
    }
    out[static_cast<std::size_t>(t)] = classes[static_cast<std::size_t>(best)];
  }
  return out;
}

}  // namespace simmatch::readout_detail
