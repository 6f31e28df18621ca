// Representational similarity matrices: pairwise dot products of the samples' representations,
// largest |value| normalised to 1, and indices that summarise them (cluster separation,
// agreement between two RSMs).
#pragma once

#include <vector>

#include "simmatch/types.hpp"

namespace simmatch {

/// RSM of the T columns of `x` (dim x T, one column per sample): S = X^T X / max |X^T X|, T x T.
/// An all-zero representation gives the zero matrix. Throws ShapeError when T = 0.
/// Any real Eigen matrix or expression is accepted (converted to double).
Eigen::MatrixXd similarity_matrix_of(const Eigen::MatrixXd& x);
template <typename Derived>
Eigen::MatrixXd similarity_matrix(const Eigen::MatrixBase<Derived>& x) {
  return similarity_matrix_of(x.template cast<double>().eval());
}

/// Within- vs between-cluster similarity of an RSM (T x T) for T labels, over off-diagonal pairs.
struct ClusterSeparation {
  double within = 0;   // mean S_tt' over t != t' with equal labels
  double between = 0;  // mean S_tt' over pairs with different labels
  /// (within - between) / (mean |S_tt'| over all off-diagonal pairs): scale-free, 0 when the
  /// clusters are not visible, larger when they are.
  double index = 0;
};
/// Throws ShapeError when the sizes disagree or some label has a single sample only and no other
/// label exists (then neither mean is defined).
ClusterSeparation cluster_separation(const Eigen::MatrixXd& rsm, const std::vector<int>& labels);

/// Pearson correlation of the off-diagonal entries of two RSMs of the same size (1 = same
/// similarity structure). Throws ShapeError when the sizes differ or T < 3.
double rsm_correlation(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b);

/// Indices 0..T-1 sorted by label (stable), so that an RSM viewed in that order shows clusters as
/// blocks on the diagonal.
std::vector<Index> order_by_label(const std::vector<int>& labels);
/// The RSM with rows and columns permuted to `order`.
Eigen::MatrixXd reorder(const Eigen::MatrixXd& rsm, const std::vector<Index>& order);

}  // namespace simmatch
