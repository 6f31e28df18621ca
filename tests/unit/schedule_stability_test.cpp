// Euler's stability limit (docs/theory.md): the bound on eq. 15's Jacobian against the dense
// eigenvalues of the scaled couplings built from the weights, and when the schedule warning fires.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <fmt/format.h>
#include <string>
#include <vector>

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

TEST(ScheduleStabilityTest, WarnsWhereTheFloorStepIsBeyondTheLimit) {
  const Network<double> net = stiff_network({12, 20, 8, 5}, 0.4, Activation::tanh(2.0), 3.0);
  const double limit = 2.0 / jacobian_eigenvalue_bound(net);
  SolverOptions euler;
  euler.method = SolverMethod::euler;
  euler.step_initial = 4 * limit;  // the first steps alone beyond the limit: no warning
  euler.step_min = 0.9 * limit;
  EXPECT_EQ(schedule_warning(net, euler, "this model"), "");
  euler.step_min = 1.1 * limit;
  const std::string text = schedule_warning(net, euler, "this model");
  EXPECT_NE(text.find("this model"), std::string::npos) << text;
  EXPECT_NE(text.find("solver.step_min"), std::string::npos) << text;
  EXPECT_NE(text.find(fmt::format("{:.3g}", limit)), std::string::npos) << text;
}

TEST(ScheduleStabilityTest, FastSolverWarnsOnlyWhereTheFixedPointIsNotProvablyUnique) {
  SolverOptions fast;
  fast.step_min = fast.step_initial = 3.0;  // beyond any limit: the bound is at least 1
  // Positive definite L + c I on every layer (random_network's L, stiffened): one fixed point, which
  // the fast solver reaches whatever the schedule does.
  Network<double> net = stiff_network({12, 20, 8}, 0.0, Activation::relu(), 5.0);
  EXPECT_EQ(schedule_warning(net, fast, "this model"), "");
  // One neuron exciting itself: L is indefinite, uniqueness unproven, and the fast solver follows
  // the schedule first.
  net.layer(1).L().coeffRef(0, 0) = -1.0;
  EXPECT_NE(schedule_warning(net, fast, "this model"), "");
}

}  // namespace
}  // namespace simmatch
