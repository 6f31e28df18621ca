// Internal: the read-out through liblinear (primal trust-region Newton or dual coordinate descent
// over its own sparse copy of the samples).
#pragma once

#include <span>

#include "eval/readout_common.hpp"
#include "simmatch/readout.hpp"

namespace simmatch::readout_detail {

struct LiblinearFit {
  Eigen::MatrixXd weights;  // problems x features
  Eigen::VectorXd biases;
  bool converged = true;    // false when liblinear reported its iteration cap for any problem
};

/// The problems of `setup` on the columns of x (labels one per column) at C = c, with
/// options.solver primal or dual. Arguments are checked by the caller. Throws Interrupted when
/// options.should_stop answers true before a problem starts.
LiblinearFit fit_liblinear(ConstMatrixRef<float> x, std::span<const int> labels, const OneVsRest& setup, double c,
                           const ReadoutOptions& options);

}  // namespace simmatch::readout_detail
