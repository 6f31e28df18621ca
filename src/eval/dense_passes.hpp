// Internal: the passes of the dense read-out over a features x samples float32 matrix. Each pass
// visits a list of samples in fixed chunks (their size depends on the list alone, never on the
// thread count), converts a block of samples at a time and hands it to Eigen's matrix products for
// all classes at once; per-chunk sums are added in chunk order, so a pass gives the same bits on
// any number of threads.
#pragma once

#include <functional>
#include <span>

#include "simmatch/types.hpp"

namespace simmatch::dense_detail {

/// The samples of one fit: columns `columns[p]` of `x` for positions p = 0..m-1, each extended by a
/// constant `bias` feature (0 when there is no bias: its weight then stays 0). Vectors over the
/// extended features have n + 1 entries, the bias last.
struct Samples {
  Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> x;
  std::span<const Index> columns;
  double bias = 0;

  Index features() const { return x.rows(); }
  Index size() const { return static_cast<Index>(columns.size()); }
};

/// Called for every block of samples: the positions of the block, their margins z (block x K,
/// z(b, j) = extended sample . w_j) and outputs u and d (block x K, sized by the caller) that the
/// pass sums as sum_b u(b, j) x_b and, when asked, sum_b d(b, j) x_b^2 (elementwise square).
/// Called from several threads at once, for disjoint positions.
using MarginFunction =
    std::function<void(std::span<const Index> positions, const Eigen::MatrixXd& z, Eigen::MatrixXd& u, Eigen::MatrixXd& d)>;

struct MarginPassResult {
  Eigen::MatrixXd weighted_sum;    // (n+1) x K: sum_p u(p, j) x_p (bias row last)
  Eigen::MatrixXd squares_sum;     // (n+1) x K: sum_p d(p, j) x_p^2, when asked (else empty)
};

/// One pass in double precision over the samples at `positions`: margins under `w` ((n+1) x K),
/// then the sums of `margin_function`'s outputs. Used for the objective, gradient and the
/// preconditioner's diagonal, whose accuracy decides where the solver stops.
MarginPassResult margin_pass(const Samples& samples, std::span<const Index> positions, const Eigen::MatrixXd& w,
                             const MarginFunction& margin_function, bool squares);

/// sum_p u(p, j) x_p over the samples at `positions` with given coefficients u (m x K, indexed by
/// position), in double precision: the gradient at w = 0.
Eigen::MatrixXd weighted_sum_pass(const Samples& samples, std::span<const Index> positions, const Eigen::MatrixXd& u);

/// Generalised Hessian products without the identity: sum_p d(p, j) (x_p . v_j) x_p for the
/// samples at `positions` (those with a non-zero d for some j), v (n+1) x K, d (m x K). Products in
/// float32, sums per block added in double: an inexact product only slows the conjugate gradients
/// down a little, it does not move the optimum, which the double-precision gradient decides.
Eigen::MatrixXd hessian_pass(const Samples& samples, std::span<const Index> positions, const Eigen::MatrixXd& v,
                             const Eigen::MatrixXd& d);

/// Decision values w_j . x_p + bias_j (K x m) of every sample, in double precision. `w` is K x n.
Eigen::MatrixXd scores_pass(const Samples& samples, const Eigen::MatrixXd& w, const Eigen::VectorXd& biases);

}  // namespace simmatch::dense_detail
