// Internal: the dense read-out's solver. One-vs-rest L2-regularised squared-hinge problems, solved
// on the primal by a trust-region Newton method with preconditioned conjugate gradients (the method
// of liblinear's L2R_L2LOSS_SVC, after Lin, Weng & Keerthi, JMLR 2008, and Hsia, Chiang & Lin,
// ACML 2018), all classes in lockstep so that each pass over the matrix serves every class.
#pragma once

#include <span>

#include "eval/readout_common.hpp"
#include "simmatch/readout.hpp"

namespace simmatch::readout_detail {

struct DenseFit {
  Eigen::MatrixXd extended;  // (features + 1) x problems: the weights and, last, the bias feature's weight
  Eigen::MatrixXd weights;   // problems x features
  Eigen::VectorXd biases;    // problems: the bias feature's weight times `bias`
  bool converged = true;     // no problem hit max_iterations (a stall at the rounding of f counts as converged, as in liblinear)
  int iterations = 0;        // Newton iterations of the slowest problem
  Index passes = 0;          // passes over the samples (objective, gradient, Hessian products)
};

/// Minimises, for each problem k of `setup`,
///   f_k(w) = w.w / 2 + sum_p c_pk max(0, 1 - y_pk w.x_p)^2        (x_p extended by options.bias)
/// over the samples x.col(columns[p]) with labels[p] (p = 0..m-1), y_pk = +1 for class k, else -1,
/// c_pk = c times the class weight of its side. Starts from `start` (its `extended` weights) when
/// given, else from 0; stops when |grad f_k| <= tolerance * max(min(pos, neg), 1) / m * |grad f_k(0)|
/// (liblinear's rule) or after options.max_iterations. Arguments are checked by the caller.
/// Throws Interrupted when options.should_stop answers true (asked before each pass).
DenseFit fit_dense(ConstMatrixRef<float> x, std::span<const Index> columns, std::span<const int> labels,
                   const OneVsRest& setup, double c, const ReadoutOptions& options, const DenseFit* start = nullptr);

/// Decision values (problems x m) of the samples x.col(columns[p]) under weights (problems x
/// features) and biases, in blocks (no copy of x).
Eigen::MatrixXd dense_scores(ConstMatrixRef<float> x, std::span<const Index> columns, const Eigen::MatrixXd& weights,
                             const Eigen::VectorXd& biases);

}  // namespace simmatch::readout_detail
