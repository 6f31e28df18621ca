// The fast solver returns the fixed point that eq. 15's dynamics reach from rest, on networks
// where that need not be the only fixed point: locally connected layers with lateral
// neighbourhoods (lateral_radius 1 and 2), trained until L = k C^L o B is indefinite, with
// feedback, 2 and 3 layers, tanh, clipped relu and relu. The yardstick is the reference Euler
// schedule run from rest to a residual of 1e-10 (docs/theory.md, "Solving eq. 15").
//
// ReLU layers are unbounded: joined by feedback, a network whose energy is not convex has an
// energy unbounded below and the dynamics diverge (measured while building these cases), so the
// relu cases train gently and stay convex; clipped relu gives the bounded rectified networks with
// several fixed points.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>

#include "core/block_newton.hpp"
#include "core/energy_hessian.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/learning.hpp"
#include "test_networks.hpp"

namespace simmatch {
namespace {

struct FidelityCase {
  std::string activation;
  int layers;
  double gamma;
  double lateral_radius;
  bool gentle = false;  // small weights and steps: the relu cases, which must stay bounded
  // The case builds at least one network that is not provably convex (measured for these seeds;
  // clipped relu with lateral radius 2 stays convex after this training, and is kept as well, and
  // so do two tanh cases in some builds, fidelity_cases()).
  bool non_convex = true;
};

std::string fidelity_name(const FidelityCase& c) {
  return c.activation + "_" + std::to_string(c.layers) + "layers_gamma" + std::to_string(static_cast<int>(c.gamma * 10)) +
         "_lateral" + std::to_string(static_cast<int>(c.lateral_radius));
}

void PrintTo(const FidelityCase& c, std::ostream* os) { *os << fidelity_name(c); }

// Samples of a few noisy prototypes on an 8 x 8 grid, each minus its own mean: correlated inputs,
// so that the learnt lateral weights have large off-diagonal entries.
Matrix<double> clustered_inputs(Index batch, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix<double> prototypes(64, 3);
  for (Index e = 0; e < prototypes.size(); ++e) prototypes.data()[e] = normal(rng);
  Matrix<double> x(64, batch);
  std::uniform_int_distribution<int> pick(0, 2);
  for (Index b = 0; b < batch; ++b) {
    x.col(b) = prototypes.col(pick(rng)) * (0.5 + 0.5 * std::abs(normal(rng)));
    for (Index i = 0; i < 64; ++i) x(i, b) += 0.3 * normal(rng);
    x.col(b).array() -= x.col(b).mean();
  }
  return x;
}

// A locally connected network on 8 x 8 inputs trained by eq. 17 (every layer at the same step,
// layers.eta_scale = gamma^(P-p)) on the fixed points that Euler reaches from rest.
Network<double> trained_network(const FidelityCase& c, std::uint64_t seed) {
  const Activation act = Activation::from_name(c.activation, 1.0, 1.0);
  std::vector<Layer<double>> layers;
  Grid grid{8, 8, 1};
  for (int p = 0; p < c.layers; ++p) {
    const Index stride = p == 0 ? 2 : 1;
    const Index per_site = p == 0 ? 3 : 4;
    const Grid out = Structure::local2d_output(grid, stride, per_site);
    layers.emplace_back(Structure::local2d(grid, stride, p == 0 ? 2.5 : 1.5, per_site),
                        Structure::lateral2d(Grid{out.height, out.width, per_site}, c.lateral_radius), act, out);
    grid = out;
  }
  Network<double> net(64, std::move(layers), c.gamma);
  net.initialise(seed);
  if (c.gentle) {
    for (Index p = 0; p < net.num_layers(); ++p) net.layer(p).W() *= 0.5;
  }
  std::vector<double> scales;
  for (Index p = 0; p < net.num_layers(); ++p) scales.push_back(1.0 / net.layer_weight(p));
  SolverOptions follow;
  follow.method = SolverMethod::euler;
  follow.tolerance = 1e-6;
  follow.max_steps = 20000;
  EulerSolver<double> euler(follow);
  for (int round = 0; round < 12; ++round) {
    const Matrix<double> x = clustered_inputs(32, seed * 100 + static_cast<std::uint64_t>(round));
    FixedPoints<double> fixed;
    euler.solve(net, x, fixed);
    Correlations sums = Correlations::zeros_like(net);
    accumulate_correlations(net, x, fixed, sums, false);
    apply_learning(net, sums, c.gentle ? 0.1 : 0.3, scales);
  }
  return net;
}

// max over layers of ||a - b|| / ||b|| for sample s.
double sample_distance(const FixedPoints<double>& a, const FixedPoints<double>& b, Index s) {
  double worst = 0;
  for (std::size_t p = 0; p < a.r.size(); ++p) {
    const double scale = std::max(b.r[p].col(s).norm(), 1e-12);
    worst = std::max(worst, (a.r[p].col(s) - b.r[p].col(s)).norm() / scale);
  }
  return worst;
}

class SolverFidelity : public ::testing::TestWithParam<FidelityCase> {};

TEST_P(SolverFidelity, DefaultSolverReachesTheFixedPointOfTheDynamicsFromRest) {
  const FidelityCase c = GetParam();
  int not_unique = 0;
  for (std::uint64_t seed : {1, 2}) {
    const Network<double> net = trained_network(c, seed);
    if (!detail::unique_fixed_point(net)) ++not_unique;
    const Matrix<double> x = clustered_inputs(16, 1000 + seed);

    SolverOptions tight;
    tight.tolerance = 1e-10;
    tight.max_steps = 1000000;
    FixedPoints<double> yardstick;
    EulerSolver<double>(tight).solve(net, x, yardstick);
    ASSERT_EQ(yardstick.converged_fraction(), 1.0) << "the reference Euler run did not converge";

    FixedPoints<double> fast;
    FastSolver<double>(tight).solve(net, x, fast);
    EXPECT_EQ(fast.converged_fraction(), 1.0);
    for (Index s = 0; s < x.cols(); ++s) {
      EXPECT_LE(sample_distance(fast, yardstick, s), 1e-6)
          << "seed " << seed << " sample " << s << " path " << solver_path_name(fast.path[static_cast<std::size_t>(s)]);
    }
    // Far fewer layer-input evaluations than the Euler yardstick.
    EXPECT_LT(fast.mean_iterations(), 0.5 * yardstick.mean_iterations());

    // float32 at the default tolerance: the same fixed point, to float32's accuracy.
    FixedPoints<float> single;
    FastSolver<float>().solve(net.cast<float>(), x.cast<float>(), single);
    EXPECT_EQ(single.converged_fraction(), 1.0);
    for (Index s = 0; s < x.cols(); ++s) {
      double worst = 0;
      for (std::size_t p = 0; p < single.r.size(); ++p) {
        const Vector<double> a = single.r[p].col(s).cast<double>();
        worst = std::max(worst, (a - yardstick.r[p].col(s)).norm() / std::max(yardstick.r[p].col(s).norm(), 1e-12));
      }
      EXPECT_LE(worst, 1e-4) << "float32, seed " << seed << " sample " << s;
    }
  }
  // The point of the bounded cases: networks that are not provably convex, where the solver must
  // follow the trajectory rather than jump to some fixed point.
  if (c.non_convex) {
    EXPECT_GE(not_unique, 1);
  }
}

std::vector<FidelityCase> fidelity_cases() {
  std::vector<FidelityCase> cases;
  for (const char* act : {"tanh", "clipped_relu"}) {
    for (int layers : {2, 3}) {
      for (double gamma : {0.1, 0.3, 0.5}) {
        for (double lateral : {1.0, 2.0}) {
          // Whether tanh with lateral radius 2 and feedback 0.1 trains to a network that is not
          // provably convex depends on the build's rounding (so in GCC's builds, not in clang's
          // sanitizer build), so those two cases are kept but not counted on.
          const bool borderline = std::string(act) == "tanh" && lateral == 2.0 && gamma == 0.1;
          const bool non_convex = (std::string(act) == "tanh" && !borderline) || lateral == 1.0;
          cases.push_back(FidelityCase{act, layers, gamma, lateral, false, non_convex});
        }
      }
    }
  }
  for (int layers : {2, 3}) {
    for (double gamma : {0.0, 0.3}) {
      for (double lateral : {1.0, 2.0}) cases.push_back(FidelityCase{"relu", layers, gamma, lateral, true, false});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(IndefiniteNetworks, SolverFidelity, ::testing::ValuesIn(fidelity_cases()),
                         [](const ::testing::TestParamInfo<FidelityCase>& info) { return fidelity_name(info.param); });


// The clipped-relu all-to-all network of the tests below: feedback 0.5 and W tripled, so that its
// fixed point is not provably unique.
Network<double> clipped_dense_network() {
  Network<double> net = test_support::random_network<double>({30, 80, 10}, 0.5, Activation::clipped_relu(1.0), 71, 0.0);
  for (Index p = 0; p < net.num_layers(); ++p) net.layer(p).W() *= 3.0;
  return net;
}

SolverOptions tight_options() {
  SolverOptions tight;
  tight.tolerance = 1e-10;
  tight.max_steps = 1000000;
  return tight;
}

// The fast solver at tolerance 1e-10: every sample converged along the trajectory
// (SolverPath::continued), within 1e-6 of `yardstick`.
FixedPoints<double> expect_fast_follows(const Network<double>& net, const Matrix<double>& x,
                                        const FixedPoints<double>& yardstick) {
  FixedPoints<double> fast;
  FastSolver<double>(tight_options()).solve(net, x, fast);
  EXPECT_EQ(fast.converged_fraction(), 1.0);
  EXPECT_EQ(fast.path_count(SolverPath::continued), x.cols());
  for (Index s = 0; s < x.cols(); ++s) EXPECT_LE(sample_distance(fast, yardstick, s), 1e-6) << "sample " << s;
  return fast;
}

// All-to-all layers make one dense system, factorised on the neurons off the rectifiers' flat
// pieces only (energy_hessian.hpp). On a clipped-relu network with feedback whose fixed point is
// not provably unique, with many neurons at 0 or at the clip, the implicit steps must still land
// where Euler from rest does.
TEST(SolverFidelityDense, ContinuationOnAllToAllClippedLayersReachesTheFixedPointOfTheDynamics) {
  const Network<double> net = clipped_dense_network();
  ASSERT_FALSE(detail::unique_fixed_point(net)) << "the case must take the continuation path";
  const Matrix<double> x = test_support::random_inputs<double>(30, 24, 72);
  FixedPoints<double> yardstick;
  EulerSolver<double>(tight_options()).solve(net, x, yardstick);
  ASSERT_EQ(yardstick.converged_fraction(), 1.0);
  const FixedPoints<double> fast = expect_fast_follows(net, x, yardstick);
  Index flat = 0, free = 0;
  for (Index s = 0; s < x.cols(); ++s) {
    for (const auto& r : fast.r) {
      for (Index i = 0; i < r.rows(); ++i) (r(i, s) <= 0.0 || r(i, s) >= 1.0 ? flat : free) += 1;
    }
  }
  // Both kinds of neuron, so the factor really is a part of the system.
  EXPECT_GT(flat, 0);
  EXPECT_GT(free, 0);
}

// Euler steps beyond the dynamics' stability limit (docs/theory.md, "Euler's stability limit"):
// every eighth neuron of the wide layer inhibits itself strongly (L_ii + 60), so while such a
// neuron is active the Jacobian has an eigenvalue near 60 and every step of the reference schedule
// (0.2 down to 0.05) overshoots it. For 3 of these 12 samples the schedule never settles (it
// oscillates to max_steps, its residual below the switch tolerance); the fast solver's implicit
// steps, taking over there, must reach the fixed point of the continuous dynamics, given by Euler
// at a constant step of 0.01, inside the limit.
TEST(SolverFidelityDense, WhereTheScheduleNeverSettlesTheFastSolverFollowsTheTrajectory) {
  Network<double> net = clipped_dense_network();
  auto& l = net.layer(1).L();
  for (Index i = 0; i < l.outerSize(); ++i) {
    for (SparseWeights<double>::InnerIterator it(l, i); it; ++it) {
      if (it.col() == i && i % 8 == 0) it.valueRef() += 60.0;
    }
  }
  ASSERT_FALSE(detail::unique_fixed_point(net)) << "the case must take the continuation path";
  const Matrix<double> x = test_support::random_inputs<double>(30, 12, 72);
  SolverOptions small_steps = tight_options();
  small_steps.method = SolverMethod::euler;
  small_steps.step_initial = 0.01;
  small_steps.step_decay = 0;
  small_steps.step_min = 0.01;
  FixedPoints<double> yardstick;
  EulerSolver<double>(small_steps).solve(net, x, yardstick);
  ASSERT_EQ(yardstick.converged_fraction(), 1.0);
  // The premise: the reference schedule does not settle for some samples.
  SolverOptions schedule = tight_options();
  schedule.method = SolverMethod::euler;
  schedule.max_steps = 20000;
  FixedPoints<double> scheduled;
  EulerSolver<double>(schedule).solve(net, x, scheduled);
  EXPECT_LT(scheduled.converged_fraction(), 1.0);
  expect_fast_follows(net, x, yardstick);
}
}  // namespace
}  // namespace simmatch

namespace simmatch {

// Where the fixed point is unique but the accelerated iteration does not settle (here the plain
// iteration, Anderson depth 0, on a linear layer whose L has every eigenvalue near 2.02: the map
// u -> g(u) multiplies the error by about -1.02 per step), the samples left unconverged after
// kAndersonBeforeContinuation iterations finish by implicit steps, at the exact fixed point
// L r = W x. Before, they stopped unconverged at max_steps.
TEST(SolverFallbackTest, AStalledIterationOnAUniqueFixedPointFinishesByImplicitSteps) {
  Network<double> net = test_support::random_network<double>({6, 5}, 0.0, Activation::linear(), 61, 0.0);
  auto& l = net.layer(0).L();
  for (Index i = 0; i < l.outerSize(); ++i) {
    for (SparseWeights<double>::InnerIterator it(l, i); it; ++it) it.valueRef() = it.col() == i ? 2.02 : 0.001;
  }
  const Matrix<double> x = test_support::random_inputs<double>(6, 4, 62);
  SolverOptions o;
  o.anderson_depth = 0;
  FixedPoints<double> fp;
  FastSolver<double>(o).solve(net, x, fp);
  const Matrix<double> exact = Eigen::MatrixXd(net.layer(0).L()).ldlt().solve(Eigen::MatrixXd(net.layer(0).W()) * x);
  for (Index b = 0; b < x.cols(); ++b) {
    EXPECT_EQ(fp.converged[static_cast<std::size_t>(b)], 1);
    EXPECT_EQ(fp.path[static_cast<std::size_t>(b)], SolverPath::continued);
    EXPECT_GT(fp.iterations[static_cast<std::size_t>(b)], detail::kAndersonBeforeContinuation);
    EXPECT_LT(fp.iterations[static_cast<std::size_t>(b)], o.max_steps);
    EXPECT_LT((fp.r[0].col(b) - exact.col(b)).norm(), 1e-5 * exact.col(b).norm());
  }
  // With Anderson's history the same layer settles directly.
  FixedPoints<double> direct;
  FastSolver<double>().solve(net, x, direct);
  for (Index b = 0; b < x.cols(); ++b) EXPECT_EQ(direct.path[static_cast<std::size_t>(b)], SolverPath::direct);
}

}  // namespace simmatch
