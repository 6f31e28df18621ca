// Euler's stability limit (docs/theory.md): the bound on eq. 15's Jacobian against the dense
// eigenvalues of the scaled couplings built from the weights, and when the schedule warning fires.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "simmatch/dynamics.hpp"
#include "simmatch/schedule_stability.hpp"
#include "test_networks.hpp"

namespace simmatch {
namespace {

// 1 + max(lambda_max(G S G), 0) with S's blocks L^(p) - I and -sqrt(gamma) W^(p) written out
// densely from the weights, G = diag(sqrt(largest slope)).
double dense_bound(const Network<double>& net) {
  std::vector<Index> offsets{0};
  for (const auto& layer : net.layers()) offsets.push_back(offsets.back() + layer.size());
  const Index n = offsets.back();
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(n, n);
  Eigen::VectorXd g(n);
  for (Index p = 0; p < net.num_layers(); ++p) {
    const auto& layer = net.layer(p);
    const Index at = offsets[static_cast<std::size_t>(p)];
    const Index size = layer.size();
    s.block(at, at, size, size) = Eigen::MatrixXd(layer.L().toDense()) - Eigen::MatrixXd::Identity(size, size);
    if (p > 0 && net.gamma() > 0) {
      const Index below = offsets[static_cast<std::size_t>(p - 1)];
      const Eigen::MatrixXd w = -std::sqrt(net.gamma()) * Eigen::MatrixXd(layer.W().toDense());
      s.block(at, below, size, w.cols()) = w;
      s.block(below, at, w.cols(), size) = w.transpose();
    }
    const double slope = layer.activation().kind() == ActivationKind::tanh ? layer.activation().gain() : 1.0;
    g.segment(at, size).setConstant(std::sqrt(slope));
  }
  const Eigen::MatrixXd scaled = g.asDiagonal() * s * g.asDiagonal();
  return 1.0 + std::max(Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(scaled).eigenvalues().maxCoeff(), 0.0);
}

// A random network whose lateral weights have been made stiff: every neuron's self-inhibition
// raised by `stiffness`, so that the bound is well above 1.
Network<double> stiff_network(const std::vector<Index>& sizes, double gamma, Activation activation, double stiffness) {
  Network<double> net = test_support::random_network<double>(sizes, gamma, activation, 11, 0.2, 2.0);
  for (Index p = 0; p < net.num_layers(); ++p) {
    auto& l = net.layer(p).L();
    for (Index i = 0; i < l.rows(); ++i) l.coeffRef(i, i) += stiffness;
  }
  return net;
}

TEST(ScheduleStabilityTest, BoundIsTheLargestEigenvalueOfTheScaledCouplings) {
  // Feedback across three tanh layers of gain 2; a cascade of rectifiers without feedback; a
  // 300-neuron layer, where the Lanczos iteration stops well before spanning the whole space.
  const std::vector<Network<double>> networks{stiff_network({12, 20, 8, 5}, 0.4, Activation::tanh(2.0), 3.0),
                                              stiff_network({12, 20, 8}, 0.0, Activation::relu(), 5.0),
                                              stiff_network({40, 300}, 0.0, Activation::clipped_relu(1.0), 0.5)};
  for (const auto& net : networks) {
    const double expected = dense_bound(net);
    EXPECT_GT(expected, 1.4);
    EXPECT_NEAR(jacobian_eigenvalue_bound(net), expected, 1e-7 * expected);
  }
}

TEST(ScheduleStabilityTest, BoundIsOneWhereNoCouplingIsStifferThanTheLeak) {
  // L = 0.5 I, no feedback: S = -0.5 I, so no direction is stiffer than u's own leak.
  Network<double> net = test_support::random_network<double>({6, 5}, 0.0, Activation::linear(), 3, 0.0);
  net.layer(0).L() = (0.5 * Eigen::MatrixXd::Identity(5, 5)).sparseView();
  EXPECT_DOUBLE_EQ(jacobian_eigenvalue_bound(net), 1.0);
}

TEST(ScheduleStabilityTest, WarnsWhereTheFloorStepIsBeyondTheLimitAndSamplesFollowedIt) {
  const Network<double> net = stiff_network({12, 20, 8, 5}, 0.4, Activation::tanh(2.0), 3.0);
  const double limit = 2.0 / jacobian_eigenvalue_bound(net);
  SolverOptions euler;
  euler.method = SolverMethod::euler;
  euler.step_initial = 4 * limit;  // the first steps alone beyond the limit: no warning
  euler.step_min = 0.9 * limit;
  SolveReport report;
  report.samples = 40;
  report.scheduled = 12;
  EXPECT_EQ(schedule_warning(net, report, euler, "encoded"), "");
  euler.step_min = 1.1 * limit;
  const std::string text = schedule_warning(net, report, euler, "encoded");
  EXPECT_EQ(text.rfind("12 of 40 samples encoded were solved along the Euler step schedule", 0), 0u) << text;
  EXPECT_NE(text.find("solver.step_min"), std::string::npos) << text;
  EXPECT_NE(text.find(fmt::format("{:.3g}", limit)), std::string::npos) << text;
  report.scheduled = 0;  // every sample on the direct path: the schedule played no part
  EXPECT_EQ(schedule_warning(net, report, euler, "encoded"), "");
}

// The solver's own record decides whether the schedule played a part.
SolveReport solved(const Network<double>& net, const SolverOptions& options) {
  const auto solver = make_solver<double>(options);
  const Matrix<double> x = Matrix<double>::Random(net.input_size(), 6);
  FixedPoints<double> fixed;
  solver->solve(net, x, fixed);
  SolveReport report;
  report.record(fixed);
  return report;
}

TEST(ScheduleStabilityTest, FastSolverWarnsOnlyWhereItFollowedTheSchedule) {
  SolverOptions fast;
  fast.step_min = fast.step_initial = 3.0;  // beyond any limit: the bound is at least 1
  fast.max_steps = 60;
  // Positive definite L + c I on every layer (random_network's L, stiffened): one fixed point, which
  // the fast solver reaches directly whatever the schedule would do.
  Network<double> net = stiff_network({12, 20, 8}, 0.0, Activation::relu(), 5.0);
  const SolveReport direct = solved(net, fast);
  EXPECT_EQ(direct.scheduled, 0);
  EXPECT_EQ(schedule_warning(net, direct, fast, "encoded"), "");
  // One neuron exciting itself: L is indefinite, uniqueness unproven, and the fast solver follows
  // the schedule first.
  net.layer(1).L().coeffRef(0, 0) = -1.0;
  const SolveReport followed = solved(net, fast);
  EXPECT_EQ(followed.scheduled, 6);
  EXPECT_EQ(schedule_warning(net, followed, fast, "encoded").rfind("6 of 6 samples encoded", 0), 0u);
}

TEST(ScheduleStabilityTest, UnconvergedSamplesArePointedAtTheScheduleNotAtMoreSteps) {
  const Network<double> net = stiff_network({12, 20, 8, 5}, 0.4, Activation::tanh(2.0), 3.0);
  const double limit = 2.0 / jacobian_eigenvalue_bound(net);
  SolverOptions euler;
  euler.method = SolverMethod::euler;
  euler.step_initial = euler.step_min = 0.5 * limit;
  euler.max_steps = 2;  // too few to settle: every sample unconverged
  const SolveReport stable = solved(net, euler);
  ASSERT_EQ(stable.unconverged, 6);
  std::vector<std::string> texts = solve_warnings(net, stable, euler, "encoded");
  ASSERT_EQ(texts.size(), 1u);
  EXPECT_NE(texts[0].find("raise solver.max_steps"), std::string::npos) << texts[0];

  euler.step_initial = euler.step_min = 1.5 * limit;
  const SolveReport unstable = solved(net, euler);
  ASSERT_EQ(unstable.unconverged - unstable.overflowed, 6);
  texts = solve_warnings(net, unstable, euler, "encoded");
  ASSERT_EQ(texts.size(), 2u);
  EXPECT_EQ(texts[0], schedule_warning(net, unstable, euler, "encoded"));
  EXPECT_EQ(texts[1].find("raise solver.max_steps"), std::string::npos) << texts[1];
  EXPECT_NE(texts[1].find("more solver.max_steps does not mend"), std::string::npos) << texts[1];
}

}  // namespace
}  // namespace simmatch
