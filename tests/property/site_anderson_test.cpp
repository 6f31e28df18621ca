// Anderson site by site (src/core/site_anderson.hpp), the fast solver's first stage on layers whose
// L is block diagonal by site with more than 32 neurons per site and no feedback (conv2d layers
// of lateral neighbourhood 0 above all): it reaches the fixed point Euler reaches from rest, on
// one and two layers and every activation, stops a sample only when the whole-layer test of
// eq. 15's residual holds, settles blank sites at once, and gives each sample the same bits
// whatever batch or thread count it is solved with.
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>
#include <cmath>
#include <limits>
#include <omp.h>

#include "core/batch_solver.hpp"
#include "core/block_newton.hpp"
#include "core/energy_hessian.hpp"
#include "core/site_anderson.hpp"
#include "simmatch/dynamics.hpp"
#include "test_networks.hpp"

using namespace simmatch;
using simmatch::test_support::at_rest;
using simmatch::test_support::conv_network;
using simmatch::test_support::random_inputs;
using simmatch::test_support::tight_euler;

namespace {

// Two conv2d layers on 8 x 8 inputs, lateral neighbourhood 0: 40 filters 3 x 3 "same", then 36
// filters 3 x 3 stride 2 "valid"; no feedback. L = I + symmetric N(0, 0.06^2) within each site
// (eigenvalues in about [0.25, 1.75]: positive definite, so eq. 15 has one fixed point, and far
// from the identity, so the iteration has work to do).
template <typename T>
Network<T> two_wide_conv_layers(Activation act, std::uint64_t seed) {
  return conv_network<T>(Grid{8, 8, 1},
                         {Conv2d{Grid{}, 3, 1, Padding::same, 40, 0.0}, Conv2d{Grid{}, 3, 2, Padding::valid, 36, 0.0}},
                         0.0, act, seed, 0.8, 0.06);
}

// Largest ||a - b|| / ||b|| over layers and samples.
double max_relative_difference(const std::vector<Matrix<double>>& a, const std::vector<Matrix<double>>& b) {
  double worst = 0;
  for (std::size_t p = 0; p < b.size(); ++p) {
    for (Index s = 0; s < b[p].cols(); ++s) {
      worst = std::max(worst, (a[p].col(s) - b[p].col(s)).norm() / std::max(b[p].col(s).norm(), 1e-12));
    }
  }
  return worst;
}

}  // namespace

TEST(SiteAndersonTest, ReachesTheFixedPointEulerReachesFromRest) {
  for (const Activation& act :
       {Activation::linear(), Activation::tanh(), Activation::relu(), Activation::clipped_relu(1.0)}) {
    const Network<double> net = two_wide_conv_layers<double>(act, 11);
    ASSERT_TRUE(detail::newton_blocks_apply(net)) << act.name();
    ASSERT_TRUE(detail::unique_fixed_point(net)) << act.name();
    const Matrix<double> x = random_inputs<double>(net.input_size(), 9, 21);
    FixedPoints<double> euler;
    EulerSolver<double>(tight_euler(1e-11)).solve(net, x, euler);
    ASSERT_EQ(euler.converged_fraction(), 1.0) << act.name();

    // The site-by-site iteration alone, to a tight tolerance.
    SolverOptions options{.method = SolverMethod::fast, .tolerance = 1e-10, .max_steps = 1000};
    FixedPoints<double> sites = at_rest(net, x.cols());
    ASSERT_TRUE(detail::solve_site_anderson(net, x, sites, options)) << act.name();
    EXPECT_EQ(sites.converged_fraction(), 1.0) << act.name();
    EXPECT_LE(dynamics_residual(net, x, sites), 1e-10) << act.name();
    EXPECT_LT(max_relative_difference(sites.r, euler.r), 1e-8) << act.name();
    EXPECT_LT(max_relative_difference(sites.u, euler.u), 1e-8) << act.name();
    EXPECT_LT(sites.mean_iterations(), euler.mean_iterations()) << act.name();

    // And through the fast solver (site by site first, Newton for what is left).
    FixedPoints<double> fast;
    FastSolver<double>(SolverOptions{.method = SolverMethod::fast, .tolerance = 1e-10}).solve(net, x, fast);
    EXPECT_EQ(fast.converged_fraction(), 1.0) << act.name();
    EXPECT_LT(max_relative_difference(fast.r, euler.r), 1e-8) << act.name();
  }
}

// Anderson runs on J_a^{-1} (g_s - u_s) for tanh and linear units (site_preconditioner.hpp). For
// linear units J_a is the exact Jacobian, so from rest the first step lands on the fixed point:
// every site is done at its second evaluation (without the preconditioner: 37-38 here).
TEST(SiteAndersonTest, PreconditionedLinearSitesSettleAtTheirSecondEvaluation) {
  const Network<double> net = two_wide_conv_layers<double>(Activation::linear(), 22);
  const Matrix<double> x = random_inputs<double>(net.input_size(), 7, 23);
  SolverOptions options{.method = SolverMethod::fast, .tolerance = 1e-10, .max_steps = 1000};
  FixedPoints<double> sites = at_rest(net, x.cols());
  ASSERT_TRUE(detail::solve_site_anderson(net, x, sites, options));
  EXPECT_EQ(sites.converged_fraction(), 1.0);
  for (const int its : sites.iterations) EXPECT_EQ(its, 2);
  EXPECT_LE(dynamics_residual(net, x, sites), 1e-10);
}

// The preconditioner where it is far from the Jacobian: tanh of gain 0.5, an indefinite L (the
// certificate asks only L + I positive definite) and inputs that saturate most units. The fixed
// point is Euler's from rest all the same.
TEST(SiteAndersonTest, PreconditionedSaturatedSitesWithIndefiniteLReachEulersFixedPoint) {
  const Network<double> net = conv_network<double>(
      Grid{8, 8, 1}, {Conv2d{Grid{}, 3, 1, Padding::same, 40, 0.0}, Conv2d{Grid{}, 3, 2, Padding::valid, 36, 0.0}}, 0.0,
      Activation::tanh(0.5), 24, 6.0, 0.12);
  for (Index p = 0; p < net.num_layers(); ++p) {
    const Index k = net.layer(p).grid().channels;
    const Matrix<double> block = Matrix<double>(net.layer(p).L()).topLeftCorner(k, k);
    ASSERT_LT(Eigen::SelfAdjointEigenSolver<Matrix<double>>(block).eigenvalues().minCoeff(), -0.1) << p;
  }
  ASSERT_TRUE(detail::unique_fixed_point(net));
  const Matrix<double> x = random_inputs<double>(net.input_size(), 9, 25);
  FixedPoints<double> euler;
  EulerSolver<double>(tight_euler(1e-11)).solve(net, x, euler);
  ASSERT_EQ(euler.converged_fraction(), 1.0);
  // Saturated: f' below a quarter of its value at rest, |r| > sqrt(3) / 2.
  Index saturated = 0;
  for (const auto& r : euler.r) saturated += (r.array().abs() > std::sqrt(0.75)).count();
  ASSERT_GT(saturated, (euler.r[0].size() + euler.r[1].size()) / 4);
  SolverOptions options{.method = SolverMethod::fast, .tolerance = 1e-10, .max_steps = 1000};
  FixedPoints<double> sites = at_rest(net, x.cols());
  ASSERT_TRUE(detail::solve_site_anderson(net, x, sites, options));
  EXPECT_EQ(sites.converged_fraction(), 1.0);
  EXPECT_LT(max_relative_difference(sites.r, euler.r), 1e-8);
  EXPECT_LT(max_relative_difference(sites.u, euler.u), 1e-8);
}

// A nudged network's top layer gains beta z (the input's rows after the first K).
TEST(SiteAndersonTest, AddsTheTopLayersNudgeToItsDrive) {
  Network<double> net = two_wide_conv_layers<double>(Activation::tanh(), 12);
  const Index top = net.layer(1).size();
  net.set_top_drive_rows(top);
  const Matrix<double> x = random_inputs<double>(net.input_size() + top, 5, 22);
  FixedPoints<double> euler;
  EulerSolver<double>(tight_euler(1e-11)).solve(net, x, euler);
  ASSERT_EQ(euler.converged_fraction(), 1.0);
  FixedPoints<double> sites = at_rest(net, x.cols());
  ASSERT_TRUE(detail::solve_site_anderson(net, x, sites,
                                          SolverOptions{.method = SolverMethod::fast, .tolerance = 1e-10, .max_steps = 1000}));
  EXPECT_EQ(sites.converged_fraction(), 1.0);
  EXPECT_LT(max_relative_difference(sites.r, euler.r), 1e-8);
}

// Every site must meet ||g_s - u_s|| <= tol ||u_s||, which implies the whole-layer test. A sample
// with a site that ran out of steps is still converged when the whole-layer test holds at the
// states reached, and otherwise not: the flag is exactly that test, per sample.
TEST(SiteAndersonTest, ASampleIsConvergedExactlyWhenTheWholeLayerTestHolds) {
  const Network<double> net = two_wide_conv_layers<double>(Activation::tanh(), 13);
  // Half the samples with a strong (saturating) upper half and a faint lower half: the faint sites
  // sit where tanh is steepest and converge slowest, yet weigh little in the layer's norms.
  Matrix<double> x = random_inputs<double>(net.input_size(), 40, 23);
  for (Index b = 0; b < x.cols(); b += 2) {
    x.col(b).head(32) *= 4.0;
    x.col(b).tail(32) *= 1e-3;
  }
  for (int max_steps : {4, 9, 10, 11, 12, 40}) {
    const SolverOptions options{.method = SolverMethod::fast, .tolerance = 1e-4, .max_steps = max_steps};
    FixedPoints<double> sites = at_rest(net, x.cols());
    ASSERT_TRUE(detail::solve_site_anderson(net, x, sites, options));
    Index converged = 0;
    for (Index b = 0; b < x.cols(); ++b) {
      FixedPoints<double> one;
      for (std::size_t p = 0; p < sites.u.size(); ++p) {
        one.u.push_back(sites.u[p].col(b));
        one.r.push_back(sites.r[p].col(b));
      }
      const double residual = dynamics_residual(net, Matrix<double>(x.col(b)), one);
      EXPECT_EQ(sites.converged[static_cast<std::size_t>(b)] == 1, residual <= 1e-4 * (1 + 1e-9))
          << "max_steps " << max_steps << " sample " << b << " residual " << residual;
      EXPECT_LE(sites.iterations[static_cast<std::size_t>(b)], max_steps);
      converged += sites.converged[static_cast<std::size_t>(b)];
    }
    if (max_steps == 4) {
      EXPECT_LT(converged, x.cols());  // the test has unconverged samples to judge
    }
    if (max_steps == 40) {
      EXPECT_EQ(converged, x.cols());
    }
  }
}

// A site whose input patch is blank has drive 0: from rest it is at its fixed point (u = 0) and
// stops at its first evaluation, whatever its neighbours do.
TEST(SiteAndersonTest, BlankSitesSettleAtTheirFirstEvaluation) {
  const Network<double> net = two_wide_conv_layers<double>(Activation::tanh(), 14);
  Matrix<double> x = Matrix<double>::Zero(net.input_size(), 2);
  x(0, 1) = 1.0;  // one lit pixel in a corner: 4 of the 64 first-layer sites see it
  FixedPoints<double> sites = at_rest(net, 2);
  ASSERT_TRUE(detail::solve_site_anderson(net, x, sites, SolverOptions{.method = SolverMethod::fast, .tolerance = 1e-9}));
  EXPECT_EQ(sites.iterations[0], 1);
  EXPECT_TRUE(sites.u[0].col(0).isZero(0.0) && sites.u[1].col(0).isZero(0.0));
  EXPECT_EQ(sites.converged[1], 1);
  EXPECT_GT(sites.iterations[1], 1);
  const Index k = 40;
  for (Index s = 0; s < 64; ++s) {
    const bool lit = s == 0 || s == 1 || s == 8 || s == 9;  // sites (0, 0), (0, 1), (1, 0), (1, 1)
    EXPECT_EQ(sites.u[0].col(1).segment(s * k, k).isZero(0.0), !lit) << "site " << s;
  }
}

// Each sample's iterates depend on its own column only: solved alone, in a batch, with one thread
// or two, a sample gets the same bits (sharded training relies on it).
TEST(SiteAndersonTest, SamplesAreIndependentOfTheBatchAndTheThreads) {
  const Network<float> net = two_wide_conv_layers<float>(Activation::tanh(), 15);
  const Matrix<float> x = random_inputs<float>(net.input_size(), 70, 24);
  const SolverOptions options{.method = SolverMethod::fast, .tolerance = kFastTolerance, .max_steps = 40};
  const int threads = omp_get_max_threads();
  omp_set_num_threads(2);
  FixedPoints<float> all = at_rest(net, x.cols());
  ASSERT_TRUE(detail::solve_site_anderson(net, x, all, options));
  omp_set_num_threads(1);
  for (Index s : {Index{0}, Index{33}, Index{69}}) {
    FixedPoints<float> one = at_rest(net, 1);
    ASSERT_TRUE(detail::solve_site_anderson(net, x.col(s), one, options));
    EXPECT_EQ(one.iterations[0], all.iterations[static_cast<std::size_t>(s)]) << s;
    EXPECT_EQ(one.converged[0], all.converged[static_cast<std::size_t>(s)]) << s;
    for (std::size_t p = 0; p < one.r.size(); ++p) {
      EXPECT_TRUE(one.r[p].col(0) == all.r[p].col(s)) << s;
      EXPECT_TRUE(one.u[p].col(0) == all.u[p].col(s)) << s;
    }
  }
  omp_set_num_threads(threads);
}

// Lateral structure wider than a site (a lateral neighbourhood), or feedback between layers: not
// for this solver, which then leaves the state alone.
TEST(SiteAndersonTest, DeclinesLateralStructureAcrossSites) {
  const Network<double> net =
      conv_network<double>(Grid{6, 6, 1}, {Conv2d{Grid{}, 3, 1, Padding::same, 40, 1.0}}, 0.0, Activation::tanh(), 16, 0.8, 0.01);
  const Matrix<double> x = random_inputs<double>(net.input_size(), 3, 25);
  FixedPoints<double> state = at_rest(net, 3);
  EXPECT_FALSE(detail::solve_site_anderson(net, x, state, SolverOptions{.method = SolverMethod::fast}));
  EXPECT_TRUE(state.u[0].isZero(0.0));
  EXPECT_EQ(state.iterations[0], 0);

  const Network<double> fed = conv_network<double>(
      Grid{8, 8, 1}, {Conv2d{Grid{}, 3, 1, Padding::same, 40, 0.0}, Conv2d{Grid{}, 3, 2, Padding::valid, 36, 0.0}}, 0.5,
      Activation::tanh(), 17, 0.8, 0.01);
  const Matrix<double> y = random_inputs<double>(fed.input_size(), 3, 26);
  FixedPoints<double> fed_state = at_rest(fed, 3);
  EXPECT_FALSE(detail::solve_site_anderson(fed, y, fed_state, SolverOptions{.method = SolverMethod::fast}));
  EXPECT_TRUE(fed_state.u[1].isZero(0.0));
}

// The trajectory path's Euler phase (trajectory_solver.cpp) on independent sites: with the per-site
// test a sample stops only when every site of every layer has ||g_s - u_s|| <= tol ||u_s||; the
// layers' test alone lets a faint site stop far from settled while its loud neighbours are.
TEST(PerSiteSwitchTest, EulerStopsOnlyWhenEverySiteIsSettled) {
  const Network<double> net = two_wide_conv_layers<double>(Activation::tanh(), 18);
  Matrix<double> x = random_inputs<double>(net.input_size(), 16, 27);
  for (Index b = 0; b < x.cols(); ++b) {
    x.col(b).head(32) *= 4.0;
    x.col(b).tail(32) *= 1e-3;
  }
  const double tol = 1e-2;
  // The largest ||g_s - u_s|| / ||u_s|| over the sites of converged samples.
  auto worst_site = [&](const FixedPoints<double>& s) {
    double worst = 0;
    for (Index p = 0; p < net.num_layers(); ++p) {
      Matrix<double> g;
      layer_input(net, x, s.r, p, g);
      const Index k = net.layer(p).grid().channels;
      for (Index b = 0; b < x.cols(); ++b) {
        if (!s.converged[static_cast<std::size_t>(b)]) continue;
        for (Index o = 0; o < g.rows(); o += k) {
          const double res = (g.col(b).segment(o, k) - s.u[p].col(b).segment(o, k)).norm();
          const double uu = s.u[p].col(b).segment(o, k).norm();
          if (res > 0) worst = std::max(worst, uu > 0 ? res / uu : std::numeric_limits<double>::infinity());
        }
      }
    }
    return worst;
  };
  SolverOptions options;
  options.tolerance = tol;
  FixedPoints<double> layers = at_rest(net, x.cols()), sites = at_rest(net, x.cols());
  detail::solve_chunks<double>(net, x, layers, options, detail::Scheme::euler, false);
  detail::solve_chunks<double>(net, x, sites, options, detail::Scheme::euler, true);
  EXPECT_EQ(layers.converged_fraction(), 1.0);
  EXPECT_EQ(sites.converged_fraction(), 1.0);
  EXPECT_GT(worst_site(layers), tol);  // the case the per-site test is for
  EXPECT_LE(worst_site(sites), tol * (1 + 1e-9));
  EXPECT_LE(dynamics_residual(net, x, sites), tol);
  EXPECT_GT(sites.mean_iterations(), layers.mean_iterations());
}
