// Internal: what the read-out's solvers and its report share: the one-vs-rest decomposition (the
// classes, one binary problem per class or a single one for two classes, each side's cost factor),
// the checks of a fit's arguments (so that liblinear and the dense solver refuse the same inputs
// alike), and prediction on a subset of a matrix's samples without copying them.
#pragma once

#include <span>
#include <vector>

#include "simmatch/readout.hpp"
#include "simmatch/types.hpp"

namespace simmatch::readout_detail {

struct OneVsRest {
  std::vector<int> classes;          // ascending
  std::vector<double> class_weight;  // per class: 1, or n / (classes * n_c) when balanced

  /// One problem for two classes (classes[0] positive, liblinear's convention), else one per class.
  Index problems() const { return classes.size() == 2 ? 1 : static_cast<Index>(classes.size()); }
  /// Factor of C for problem k's positive samples (class k) and for its negative samples (the rest;
  /// class 1's weight in a two-class problem, 1 otherwise, as liblinear's one-vs-rest does it).
  double positive_weight(Index k) const { return class_weight[static_cast<std::size_t>(k)]; }
  double negative_weight() const { return classes.size() == 2 ? class_weight[1] : 1.0; }
};

/// The decomposition of `labels`; ShapeError when they hold a single class.
OneVsRest one_vs_rest(std::span<const int> labels, bool balanced);

/// ShapeError unless `labels` has one entry per sample and there are features; ConfigError for a
/// C or tolerance that is not a finite positive number.
void check_fit_arguments(Index features, Index samples, std::size_t labels, double c, const ReadoutOptions& options);

/// NumericalError naming `what` ("training", "input") when `x` holds NaN or Inf.
void check_finite_features(ConstMatrixRef<float> x, const char* what);

/// Labels `model` predicts for the samples x.col(columns[p]), scored in blocks; x must have the
/// model's feature count (checked by the caller).
std::vector<int> predict_columns(const LinearReadout& model, ConstMatrixRef<float> x, std::span<const Index> columns);

}  // namespace simmatch::readout_detail
