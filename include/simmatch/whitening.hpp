// ZCA whitening of a data set: decorrelates the features so that reverse correlation and
// similarity matching see local structure (edges) rather than the 1/f^2 spectrum of natural
// images, which otherwise makes every principal direction a smooth, image-wide gradient.
#pragma once

#include "simmatch/dataset.hpp"

namespace simmatch {

/// What zca_whiten did.
struct WhiteningSummary {
  double largest_eigenvalue = 0;  ///< of the feature covariance, in (input units)^2
  double epsilon = 0;             ///< added to every eigenvalue: relative_epsilon x largest
  Index effective_rank = 0;       ///< eigenvalues above epsilon
};

/// Replaces every sample x (K values, column t of data.x) by s Z (x - m), where m is the mean
/// sample, C = covariance of the features over the T samples (K x K, computed in double),
/// C = U diag(lambda) U^T, Z = U diag(1 / sqrt(lambda + epsilon)) U^T (zero-phase: each output
/// pixel stays at its place, a centre-surround filter), epsilon = relative_epsilon x max(lambda)
/// regularises the small-variance (high-frequency, noise) directions, and s is chosen so that the
/// mean variance per feature is 1. ConfigError unless relative_epsilon is finite and > 0;
/// ShapeError for fewer than 2 samples; NumericalError when the data have no variance.
WhiteningSummary zca_whiten(Dataset& data, double relative_epsilon);

}  // namespace simmatch
