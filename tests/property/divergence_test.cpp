// A solve whose state overflows has not converged: the stopping test ||g - u|| <= tol ||u|| holds
// for inf <= tol inf in IEEE arithmetic, so without a guard an Euler iteration that blew up
// stopped "converged" with activities of ~1e153 (found against the float64 re-derivation: a
// linear dense layer with eigenvalues of L near 34, where the reference schedule's first steps,
// h = 0.2, multiply the error by |1 - 0.2 x 34| = 5.8 per step).
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <string>
#include <type_traits>

#include "simmatch/dynamics.hpp"
#include "simmatch/encode.hpp"
#include "test_networks.hpp"

namespace simmatch {
namespace {

// One linear layer whose L (positive definite, eigenvalues ~60) makes the continuous dynamics
// converge to u = L^{-1} W x while every step of the Euler schedule, 0.2 down to 0.05, is past the
// stability limit 2 / 60: the error grows by at least |1 - 0.05 x 60| = 2 per step.
template <typename T>
Network<T> stiff_linear_layer() {
  Network<T> net = test_support::random_network<T>({6, 5}, 0.0, Activation::linear(), 71);
  net.layer(0).L() *= T(40);
  return net;
}

template <typename T>
void expect_divergence_reported() {
  const Network<T> net = stiff_linear_layer<T>();
  const Matrix<T> x = test_support::random_inputs<T>(6, 3, 72);
  SolverOptions options;
  options.method = SolverMethod::euler;
  const EulerSolver<T> euler(options);
  FixedPoints<T> blown;
  euler.solve(net, x, blown);
  SolveReport report;
  report.record(blown);
  for (Index b = 0; b < x.cols(); ++b) {
    const auto sb = static_cast<std::size_t>(b);
    EXPECT_EQ(blown.converged[sb], 0) << b;
    EXPECT_TRUE(blown.overflowed(b)) << b;
    // Stopped where it overflowed, not at max_steps: no later step brings it back.
    EXPECT_LT(blown.iterations[sb], options.max_steps) << b;
  }
  EXPECT_EQ(report.unconverged, 3);
  EXPECT_EQ(report.overflowed, 3);
  const std::string text = unconverged_warning(report, euler.options(), "encoded");
  EXPECT_NE(text.find("3 of 3 samples encoded diverged"), std::string::npos) << text;
  EXPECT_EQ(text.find("raise solver.max_steps"), std::string::npos) << text;  // more steps do not help

  // The default solver reaches the fixed point the continuous dynamics converge to.
  const FastSolver<T> fast;
  FixedPoints<T> settled;
  fast.solve(net, x, settled);
  const Eigen::MatrixXd L = Eigen::MatrixXd(net.layer(0).L().template cast<double>());
  const Eigen::MatrixXd W = Eigen::MatrixXd(net.layer(0).W().template cast<double>());
  const Eigen::MatrixXd expected = L.ldlt().solve(W * x.template cast<double>());
  for (Index b = 0; b < x.cols(); ++b) {
    EXPECT_EQ(settled.converged[static_cast<std::size_t>(b)], 1);
    EXPECT_FALSE(settled.overflowed(b));
    const double distance = (settled.u[0].col(b).template cast<double>() - expected.col(b)).norm() / expected.col(b).norm();
    const double within = std::is_same_v<T, float> ? 1e-5 : 1e-6;  // the default tolerance, 3e-7
    EXPECT_LT(distance, within) << b;
  }
  SolveReport fine;
  fine.record(settled);
  EXPECT_EQ(unconverged_warning(fine, fast.options(), "encoded"), "");
}

TEST(DivergenceTest, EulerPastItsStabilityLimitIsReportedDivergedNotConvergedInFloat64) {
  expect_divergence_reported<double>();
}

TEST(DivergenceTest, EulerPastItsStabilityLimitIsReportedDivergedNotConvergedInFloat32) {
  expect_divergence_reported<float>();
}

// The two kinds of shortfall in one report: one sentence each.
TEST(DivergenceTest, SlowAndDivergedSamplesGetASentenceEach) {
  SolveReport report;
  report.samples = 10;
  report.unconverged = 3;
  report.overflowed = 1;
  SolverOptions options;
  options.max_steps = 50;
  options.tolerance = 1e-4;
  EXPECT_EQ(unconverged_warning(report, options, "encoded"),
            "2 of 10 samples encoded did not reach their fixed point within solver.max_steps = 50 (residual above "
            "solver.tolerance = 0.0001): their activities are the last state reached; raise solver.max_steps; 1 of 10 "
            "samples encoded diverged: their activities overflowed, where no fixed point lies (the dynamics have no "
            "bounded fixed point from rest there, or the steps solver.step_initial = 0.2 to solver.step_min = 0.05 "
            "are beyond the Euler schedule's stability limit)");
}

}  // namespace
}  // namespace simmatch
