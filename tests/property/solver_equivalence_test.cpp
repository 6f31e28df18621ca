// The fast (Anderson) solver reaches the fixed point of eq. 15 that Euler reaches when run to a
// tight tolerance, for every activation, 1-3 layers, with and without feedback, structured and
// dense, in float64 and float32, in fewer iterations (docs/theory.md check 2; DESIGN.md "DynamicsSolver").
#include <algorithm>
#include <gtest/gtest.h>
#include <omp.h>

#include <random>
#include <string>
#include <tuple>
#include <type_traits>

#include "core/block_newton.hpp"
#include "core/energy_hessian.hpp"
#include "test_networks.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/error.hpp"
#include "simmatch/learning.hpp"

namespace simmatch {
namespace {

// blocks: lateral radius 0 (block diagonal L by site, `sites` neurons each), which the fast
// solver hands to per-site Newton when there is no feedback.
enum class Shape { local2d, dense, blocks };

struct Case {
  std::string activation;
  int layers;
  double gamma;
  Shape shape;
  Index per_site = 2;
};

void PrintTo(const Case& c, std::ostream* os);

std::string case_name(const Case& c) {
  return c.activation + "_" + std::to_string(c.layers) + "layers_gamma" + (c.gamma > 0 ? "pos" : "0") + "_" +
         (c.shape == Shape::local2d ? "local2d"
          : c.shape == Shape::dense ? "dense"
                                    : "blocks" + std::to_string(c.per_site));
}

void PrintTo(const Case& c, std::ostream* os) { *os << case_name(c); }

// A small network of the requested kind, initialised and then trained a few mini-batches
// (Euler fixed points + eq. 17) so that L is no longer the identity.
Network<double> make_network(const Case& c, std::uint64_t seed) {
  std::vector<Layer<double>> layers;
  Index input = 0;
  const Activation act = Activation::from_name(c.activation, 1.0, 1.0);
  if (c.shape == Shape::local2d || c.shape == Shape::blocks) {
    Grid grid{8, 8, 1};
    input = grid.size();
    const Index nps = c.shape == Shape::blocks ? c.per_site : 2;
    for (int p = 0; p < c.layers; ++p) {
      const Index stride = p == 0 ? 2 : 1;
      const Grid out = Structure::local2d_output(grid, stride, nps);
      // Lateral radius 1: off-diagonal lateral synapses between neighbouring sites too. Linear
      // units keep radius 0: C^L o B is then block diagonal with PSD blocks, so L stays positive
      // definite under learning and the unbounded linear energy keeps a minimum.
      const double lateral = c.activation == "linear" || c.shape == Shape::blocks ? 0.0 : 1.0;
      layers.emplace_back(Structure::local2d(grid, stride, 1.5, nps),
                          Structure::lateral2d(Grid{out.height, out.width, nps}, lateral), act, out);
      grid = out;
    }
  } else {
    input = 10;
    Index prev = input;
    const Index sizes[] = {8, 6, 4};
    for (int p = 0; p < c.layers; ++p) {
      const Index n = sizes[p];
      layers.emplace_back(Structure::dense(n, prev), Structure::dense(n, n), act, Grid{1, n, 1});
      prev = n;
    }
  }
  Network<double> net(input, std::move(layers), c.gamma);
  net.initialise(seed);
  // Scale W so that the energy (the bracket of eq. 14) is strongly convex: then the fixed point is
  // unique and any two solvers must agree on it (with feedback, convexity needs
  // gamma ||W^(p+1)||^2 < lambda_min(L) roughly). Linear units have no bounded range to keep
  // the activities finite, so they need the smaller weights.
  const double w_scale = c.activation == "linear" ? 0.4 : 0.6;
  for (Index p = 0; p < net.num_layers(); ++p) net.layer(p).W() *= w_scale;
  std::mt19937_64 rng(seed + 7);
  std::normal_distribution<double> normal(0.0, 1.0);
  EulerSolver<double> euler;
  for (int step = 0; step < 8; ++step) {
    Matrix<double> x(input, 16);
    for (Index e = 0; e < x.size(); ++e) x.data()[e] = normal(rng);
    FixedPoints<double> fixed;
    euler.solve(net, x, fixed);
    Correlations sums = Correlations::zeros_like(net);
    accumulate_correlations(net, x, fixed, sums, false);
    // eta gamma^{p-P} must stay well below 1 for the deepest layer: 0.02 * 0.3^-2 = 0.22.
    apply_learning(net, sums, 0.02);
  }
  return net;
}

Matrix<double> inputs(Index dim, Index batch, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix<double> x(dim, batch);
  for (Index e = 0; e < x.size(); ++e) x.data()[e] = normal(rng);
  return x;
}

// max over layers and samples of ||a - b|| / ||b||.
template <typename T>
double max_relative_difference(const std::vector<Matrix<T>>& a, const std::vector<Matrix<double>>& b) {
  double worst = 0;
  for (std::size_t p = 0; p < b.size(); ++p) {
    for (Index s = 0; s < b[p].cols(); ++s) {
      const double diff = (a[p].col(s).template cast<double>() - b[p].col(s)).norm();
      worst = std::max(worst, diff / std::max(b[p].col(s).norm(), 1e-12));
    }
  }
  return worst;
}

class SolverEquivalence : public ::testing::TestWithParam<Case> {};

// Reference: Euler in float64 to tolerance 1e-10 (far below anything compared here).
FixedPoints<double> reference(const Network<double>& net, const Matrix<double>& x) {
  SolverOptions tight;
  tight.tolerance = 1e-10;
  tight.max_steps = 200000;
  FixedPoints<double> ref;
  EulerSolver<double>(tight).solve(net, x, ref);
  EXPECT_EQ(ref.converged_fraction(), 1.0) << "the reference itself did not converge";
  return ref;
}

TEST_P(SolverEquivalence, Float64MatchesTightEuler) {
  const Case c = GetParam();
  const Network<double> net = make_network(c, 11);
  const Matrix<double> x = inputs(net.input_size(), 12, 5);
  const FixedPoints<double> ref = reference(net, x);

  // Fast solver to residual 1e-6: its distance to the fixed point is at most ~ the residual times
  // the conditioning of I - dg/du, comfortably below the required 1e-4.
  SolverOptions options;
  options.method = SolverMethod::fast;
  options.tolerance = 1e-6;
  FastSolver<double> fast(options);
  FixedPoints<double> got;
  fast.solve(net, x, got);
  EXPECT_EQ(got.converged_fraction(), 1.0);
  EXPECT_LE(max_relative_difference(got.r, ref.r), 1e-4);
  EXPECT_LE(max_relative_difference(got.u, ref.u), 1e-4);
  // The stopping test guarantees the residual of eq. 15 of what it returns.
  EXPECT_LE(dynamics_residual(net, x, got), options.tolerance * (1 + 1e-9));

  // Fewer iterations than the reference Euler schedule at its default tolerance, even though
  // that Euler stops much further from the fixed point.
  FixedPoints<double> euler;
  EulerSolver<double>().solve(net, x, euler);
  EXPECT_LT(got.mean_iterations(), euler.mean_iterations());
  // At the default tolerance the fast solver is closer to the fixed point than default Euler.
  FixedPoints<double> fast_default;
  FastSolver<double>(SolverOptions{.method = SolverMethod::fast}).solve(net, x, fast_default);
  EXPECT_LE(max_relative_difference(fast_default.r, ref.r), max_relative_difference(euler.r, ref.r) + 1e-12);
}

TEST_P(SolverEquivalence, Float32MatchesTightEuler) {
  const Case c = GetParam();
  const Network<double> net64 = make_network(c, 11);
  const Matrix<double> x64 = inputs(net64.input_size(), 12, 5);
  const FixedPoints<double> ref = reference(net64, x64);
  const Network<float> net = net64.cast<float>();
  const Matrix<float> x = x64.cast<float>();

  // float32 layer inputs carry rounding of ~1e-7 relative to the larger of ||W r|| and ||L r||,
  // so residuals much below 1e-6 are not reliably reachable; tolerance 1e-5 sits well above that
  // floor, and the float32 weights themselves differ from the float64 ones by ~6e-8 relative.
  SolverOptions options;
  options.method = SolverMethod::fast;
  options.tolerance = 1e-5;
  FixedPoints<float> got;
  FastSolver<float>(options).solve(net, x, got);
  EXPECT_EQ(got.converged_fraction(), 1.0);
  EXPECT_LE(max_relative_difference(got.r, ref.r), 2e-4);

  FixedPoints<float> euler;
  EulerSolver<float>().solve(net, x, euler);
  EXPECT_LT(got.mean_iterations(), euler.mean_iterations());
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const char* act : {"linear", "tanh", "relu", "clipped_relu"}) {
    for (int layers = 1; layers <= 3; ++layers) {
      for (double gamma : {0.0, 0.3}) {
        if (layers == 1 && gamma > 0) continue;  // feedback needs a layer above
        for (Shape shape : {Shape::local2d, Shape::dense}) cases.push_back(Case{act, layers, gamma, shape});
      }
    }
    // Per-site Newton: one layer, and two layers without feedback (solved layer by layer).
    for (Index per_site : {Index{4}, Index{16}}) {
      for (int layers = 1; layers <= 2; ++layers) cases.push_back(Case{act, layers, 0.0, Shape::blocks, per_site});
    }
    // A site larger than the unrolled sizes (dynamic k, above the former limit of 32).
    cases.push_back(Case{act, 1, 0.0, Shape::blocks, 48});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllActivations, SolverEquivalence, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return case_name(info.param); });

// Block-diagonal L without feedback takes the per-site Newton path, which needs only a few
// layer-input evaluations, for every activation (the ReLUs through their generalised Jacobian);
// with feedback or wider lateral structure it does not apply.
TEST(FastSolver, PerSiteNewtonIsUsedWhereItApplies) {
  for (const char* act : {"linear", "tanh", "relu", "clipped_relu"}) {
    for (Index per_site : {Index{4}, Index{16}, Index{48}}) {
      const Network<double> net = make_network(Case{act, 1, 0.0, Shape::blocks, per_site}, 5);
      ASSERT_TRUE(detail::newton_blocks_apply(net)) << act << " " << per_site;
      const Matrix<double> x = inputs(net.input_size(), 20, 3);
      FixedPoints<double> got;
      FastSolver<double>(SolverOptions{.method = SolverMethod::fast}).solve(net, x, got);
      EXPECT_EQ(got.converged_fraction(), 1.0);
      EXPECT_LE(got.mean_iterations(), 8.0) << act << " " << per_site;
    }
  }
  EXPECT_FALSE(detail::newton_blocks_apply(make_network(Case{"tanh", 1, 0.0, Shape::local2d}, 5)));
  EXPECT_FALSE(detail::newton_blocks_apply(make_network(Case{"linear", 2, 0.3, Shape::local2d}, 5)));
  EXPECT_TRUE(detail::newton_blocks_apply(make_network(Case{"linear", 2, 0.0, Shape::local2d}, 5)));
}

// Sites above 32 neurons try Anderson for 40 iterations first; samples it leaves unconverged go
// on by per-site Newton from where Anderson stopped, and land on Euler's fixed point.
TEST(FastSolver, LargeSitesSwitchFromAndersonToNewtonOnTheSameFixedPoint) {
  const Network<double> net = make_network(Case{"tanh", 1, 0.0, Shape::blocks, 48}, 5);
  const Matrix<double> x = inputs(net.input_size(), 12, 3);
  const FixedPoints<double> ref = reference(net, x);
  // A deliberately weak Anderson (depth 1, mixing 0.05) cannot settle within 40 iterations.
  SolverOptions weak{.method = SolverMethod::fast, .tolerance = 1e-7};
  weak.anderson_depth = 1;
  weak.anderson_mixing = 0.05;
  FixedPoints<double> got;
  FastSolver<double>(weak).solve(net, x, got);
  EXPECT_EQ(got.converged_fraction(), 1.0);
  EXPECT_GT(*std::min_element(got.iterations.begin(), got.iterations.end()), 40);  // all went on to Newton
  EXPECT_LT(max_relative_difference(got.r, ref.r), 1e-5);
  EXPECT_LT(max_relative_difference(got.u, ref.u), 1e-5);
  // Per sample, independent of the batch (the switch is decided per sample).
  FixedPoints<double> one;
  FastSolver<double>(weak).solve(net, x.col(7), one);
  EXPECT_TRUE(one.r[0].col(0) == got.r[0].col(7));
}

// solver.newton_max_site bounds the site size that takes Newton; 0 turns Newton off.
TEST(FastSolver, NewtonMaxSiteBoundsThePerSitePath) {
  const Network<double> net = make_network(Case{"tanh", 1, 0.0, Shape::blocks, 16}, 5);
  EXPECT_TRUE(detail::newton_blocks_apply(net, 16));
  EXPECT_FALSE(detail::newton_blocks_apply(net, 15));
  EXPECT_FALSE(detail::newton_blocks_apply(net, 0));
  // The option reaches the solver: with Newton off the same samples take the Anderson path, which
  // lands on the same fixed point with different rounding, in no fewer iterations.
  const Matrix<double> x = inputs(net.input_size(), 20, 3);
  FixedPoints<double> newton, anderson;
  FastSolver<double>(SolverOptions{.method = SolverMethod::fast}).solve(net, x, newton);
  FastSolver<double>(SolverOptions{.method = SolverMethod::fast, .newton_max_site = 0}).solve(net, x, anderson);
  EXPECT_LE(newton.mean_iterations(), anderson.mean_iterations());
  EXPECT_FALSE(newton.r[0] == anderson.r[0]);
  EXPECT_LT((newton.r[0] - anderson.r[0]).norm(), 1e-3 * anderson.r[0].norm());
  EXPECT_THROW(FastSolver<double>(SolverOptions{.method = SolverMethod::fast, .newton_max_site = -1}), ConfigError);
  EXPECT_THROW(FastSolver<double>(SolverOptions{.method = SolverMethod::fast, .newton_max_site = 257}), ConfigError);
}

// Each sample is solved on its own after the batched drive: a sample's result does not depend
// on the batch it comes in, bit for bit (sharded training relies on it).
TEST(FastSolver, PerSiteNewtonIsIndependentOfTheBatch) {
  const Network<float> net = make_network(Case{"tanh", 2, 0.0, Shape::blocks, 4}, 8).cast<float>();
  const Matrix<float> x = inputs(net.input_size(), 150, 4).cast<float>();
  FastSolver<float> fast(SolverOptions{.method = SolverMethod::fast});
  FixedPoints<float> all;
  fast.solve(net, x, all);
  for (Index s : {Index{0}, Index{70}, Index{149}}) {
    FixedPoints<float> one;
    fast.solve(net, x.col(s), one);
    for (std::size_t p = 0; p < one.r.size(); ++p) {
      EXPECT_TRUE(one.r[p].col(0) == all.r[p].col(s)) << s;
      EXPECT_TRUE(one.u[p].col(0) == all.u[p].col(s)) << s;
    }
  }
}

// A batch of one is a lone chunk: from 4,096 neurons its sites are shared among the threads
// (block_newton.cpp, SiteTeam). Unrolled (4, 8, 16) and dynamic (12) site sizes, float32 and
// float64, converged and stopped at the step limit, half the input blank: the bits of one thread.
template <typename T>
void expect_one_sample_bits_of_one_thread(Index k) {
  const Conv2d conv{Grid{32, 32, 1}, 3, 1, Padding::same, k, 0.0};
  const Network<T> net = test_support::conv_network<T>(conv.input, {conv}, 0.0, Activation::tanh(2.0), 11, 1.5, 0.05);
  ASSERT_GE(net.layer(0).size(), 4096);
  ASSERT_TRUE(detail::newton_blocks_apply(net));
  Matrix<T> x = inputs(net.input_size(), 1, 5).template cast<T>();
  x.bottomRows(net.input_size() / 2).setZero();
  const int threads = omp_get_max_threads();
  for (const int max_steps : {200000, 3}) {
    SolverOptions options{.method = SolverMethod::fast};
    options.max_steps = max_steps;
    FastSolver<T> fast(options);
    omp_set_num_threads(1);
    FixedPoints<T> one;
    fast.solve(net, x, one);
    EXPECT_EQ(one.converged[0] != 0, max_steps > 3) << k;
    EXPECT_GT(one.iterations[0], 2) << k;
    for (const int t : {2, 3}) {
      omp_set_num_threads(t);
      FixedPoints<T> team;
      fast.solve(net, x, team);
      EXPECT_TRUE(team.u[0] == one.u[0]) << k << " sites, " << t << " threads, max_steps " << max_steps;
      EXPECT_TRUE(team.r[0] == one.r[0]) << k << " sites, " << t << " threads, max_steps " << max_steps;
      EXPECT_EQ(team.iterations, one.iterations);
      EXPECT_EQ(team.converged, one.converged);
    }
  }
  omp_set_num_threads(threads);
}

TEST(FastSolver, PerSiteNewtonOfOneSampleGivesTheBitsOfOneThread) {
  for (const Index k : {Index{4}, Index{8}, Index{12}, Index{16}}) {
    expect_one_sample_bits_of_one_thread<float>(k);
    expect_one_sample_bits_of_one_thread<double>(k);
  }
}

// A conv2d layer's tied L stores one block for every site: per-site Newton then reads one copy
// of it (HessianWorkspace's verdict) and must give the bits of a copy per site, for a lone sample
// (the sites shared among the threads) and for a batch. The verdict is trusted, not checked: on a
// layer whose blocks differ, a wrong one gives other activities (so the shared copy is read).
TEST(FastSolver, PerSiteNewtonReadsATiedLOnceWithTheBitsOfACopyPerSite) {
  const Conv2d conv{Grid{32, 32, 1}, 3, 1, Padding::same, 8, 0.0};
  const Network<float> net = test_support::conv_network<float>(conv.input, {conv}, 0.0, Activation::tanh(), 11, 1.5, 0.05);
  ASSERT_TRUE(detail::newton_blocks_apply(net));
  ASSERT_TRUE(detail::unique_fixed_point(net));  // the fast solver goes straight to per-site Newton
  const std::vector<signed char> shared{1}, unknown{-1};
  const SolverOptions options{.method = SolverMethod::fast, .tolerance = 1e-5};
  for (const Index batch : {Index{1}, Index{7}}) {
    const Matrix<float> x = inputs(net.input_size(), batch, 5).cast<float>();
    auto solve = [&](const std::vector<signed char>* verdict) {
      FixedPoints<float> s = test_support::at_rest(net, batch);
      detail::solve_block_newton<float>(net, x, s, options, verdict);
      return s;
    };
    const FixedPoints<float> copies = solve(nullptr);
    for (const auto* verdict : {&shared, &unknown}) {
      const FixedPoints<float> got = solve(verdict);
      EXPECT_TRUE(got.u[0] == copies.u[0]) << batch;
      EXPECT_TRUE(got.r[0] == copies.r[0]) << batch;
      EXPECT_EQ(got.iterations, copies.iterations);
      EXPECT_EQ(got.converged, std::vector<unsigned char>(static_cast<std::size_t>(batch), 1));
    }
    FixedPoints<float> fast;
    FastSolver<float>(options).solve(net, x, fast);
    EXPECT_EQ(fast.path_count(SolverPath::direct), batch);
    EXPECT_TRUE(fast.u[0] == copies.u[0]) << batch;
  }
  const Network<float> untied = make_network(Case{"tanh", 1, 0.0, Shape::blocks, 4}, 8).cast<float>();
  const Matrix<float> x = inputs(untied.input_size(), 3, 4).cast<float>();
  FixedPoints<float> copies = test_support::at_rest(untied, 3);
  FixedPoints<float> wrong = test_support::at_rest(untied, 3);
  detail::solve_block_newton<float>(untied, x, copies, options);
  detail::solve_block_newton<float>(untied, x, wrong, options, &shared);
  EXPECT_FALSE(wrong.r[0] == copies.r[0]);
}

TEST(FastSolver, WarmStartBatchOneAndChunksAgree) {
  const Network<double> net = make_network(Case{"tanh", 2, 0.3, Shape::local2d}, 3);
  const Matrix<double> x = inputs(net.input_size(), 150, 9);  // several chunks
  SolverOptions options;
  options.method = SolverMethod::fast;
  options.tolerance = 1e-8;
  FastSolver<double> fast(options);
  FixedPoints<double> all;
  fast.solve(net, x, all);
  ASSERT_EQ(all.converged_fraction(), 1.0);
  for (Index s : {Index{0}, Index{77}, Index{149}}) {
    FixedPoints<double> one;
    fast.solve(net, x.col(s), one);
    for (std::size_t p = 0; p < one.r.size(); ++p) {
      EXPECT_LE((one.r[p].col(0) - all.r[p].col(s)).norm(), 1e-6 * all.r[p].col(s).norm());
    }
  }
  // Starting at the fixed point, one evaluation confirms it.
  FixedPoints<double> warm = all;
  fast.solve(net, x, warm);
  EXPECT_EQ(warm.mean_iterations(), 1.0);
}

TEST(FastSolver, RejectsBadOptions) {
  SolverOptions bad;
  bad.anderson_depth = 9;
  EXPECT_THROW(FastSolver<float>{bad}, ConfigError);
  bad = SolverOptions{};
  bad.anderson_mixing = 0;
  EXPECT_THROW(FastSolver<float>{bad}, ConfigError);
  bad = SolverOptions{};
  bad.tolerance = -1e-6;
  EXPECT_THROW(FastSolver<float>{bad}, ConfigError);
  bad = SolverOptions{};
  bad.switch_tolerance = 0;
  EXPECT_THROW(FastSolver<float>{bad}, ConfigError);
  // Tolerance 0 stands for each method's default.
  EXPECT_EQ(FastSolver<float>{SolverOptions{}}.options().tolerance, kFastTolerance);
  EXPECT_EQ(EulerSolver<float>{SolverOptions{}}.options().tolerance, kEulerTolerance);
  SolverOptions fast;
  fast.method = SolverMethod::fast;
  EXPECT_NE(dynamic_cast<FastSolver<float>*>(make_solver<float>(fast).get()), nullptr);
}

TEST(FastSolver, PlainDampedIterationWithoutHistory) {
  const Network<double> net = make_network(Case{"tanh", 1, 0.0, Shape::local2d}, 4);
  const Matrix<double> x = inputs(net.input_size(), 8, 2);
  SolverOptions options;
  options.method = SolverMethod::fast;
  options.tolerance = 1e-7;
  options.anderson_depth = 0;
  options.anderson_mixing = 0.5;
  FixedPoints<double> got;
  FastSolver<double>(options).solve(net, x, got);
  EXPECT_EQ(got.converged_fraction(), 1.0);
  EXPECT_LE(max_relative_difference(got.r, reference(net, x).r), 1e-5);
}

// Square all-to-all layers on one another (784-500-500-10): their W^(p) and feedback W^(p+1)T
// run on the dense block kernel instead of CSR rows. A copy of the network without the synapse
// (0, 0) of W^(2) and W^(3), whose weights are 0 in the original, takes the CSR rows; the
// dynamics are the same sums in the same order, so Euler must return the same bits. Both also
// satisfy eq. 15 as dynamics.cpp's independent layer input computes it.
template <typename T>
void expect_dense_and_csr_rows_agree(const char* activation) {
  const Index sizes[] = {10, 12, 12, 12};
  const Activation act = Activation::from_name(activation, 1.0, 1.0);
  auto build = [&](bool drop) {
    std::vector<Layer<T>> layers;
    for (int p = 1; p < 4; ++p) {
      Eigen::MatrixXd cw = Eigen::MatrixXd::Ones(sizes[p], sizes[p - 1]);
      if (drop && p > 1) cw(0, 0) = 0.0;
      layers.emplace_back(Structure::from_dense(cw), Structure::dense(sizes[p], sizes[p]), act, Grid{1, sizes[p], 1});
    }
    return Network<T>(sizes[0], std::move(layers), 0.3);
  };
  Network<T> dense = build(false);
  dense.initialise(3);
  for (Index p = 0; p < 3; ++p) dense.layer(p).W() *= T(0.6);
  for (Index p = 1; p < 3; ++p) dense.layer(p).W().coeffRef(0, 0) = T(0);
  Network<T> rows = build(true);
  for (Index p = 0; p < 3; ++p) {
    rows.layer(p).L() = dense.layer(p).L();
    auto& w = rows.layer(p).W();
    for (Index i = 0; i < w.outerSize(); ++i) {
      for (typename SparseWeights<T>::InnerIterator it(w, i); it; ++it) it.valueRef() = dense.layer(p).W().coeff(i, it.col());
    }
  }
  ASSERT_EQ(rows.layer(1).W().nonZeros() + 1, dense.layer(1).W().nonZeros());
  const Matrix<T> x = inputs(10, 19, 8).template cast<T>();
  SolverOptions options;
  options.tolerance = 1e-6;
  FixedPoints<T> a, b;
  EulerSolver<T>(options).solve(dense, x, a);
  EulerSolver<T>(options).solve(rows, x, b);
  EXPECT_EQ(a.converged_fraction(), 1.0) << activation;
  EXPECT_EQ(a.iterations, b.iterations) << activation;
  for (std::size_t p = 0; p < 3; ++p) {
    for (Index e = 0; e < a.r[p].size(); ++e) {
      ASSERT_EQ(a.r[p].data()[e], b.r[p].data()[e]) << activation << " layer " << p << " entry " << e;
      ASSERT_EQ(a.u[p].data()[e], b.u[p].data()[e]) << activation << " layer " << p << " entry " << e;
    }
  }
  // float32 layer inputs round at ~1e-7 of ||W r||, ||L r||: the two residuals differ by that much.
  const double rounding = std::is_same_v<T, float> ? 1e-6 : 1e-12;
  EXPECT_LE(dynamics_residual(dense, x, a), options.tolerance + rounding) << activation;
}

TEST(EulerSolver, SquareAllToAllLayersGiveTheCsrRowsBitsOnTheDenseBlockKernel) {
  for (const char* act : {"linear", "tanh", "clipped_relu"}) {
    expect_dense_and_csr_rows_agree<double>(act);
    expect_dense_and_csr_rows_agree<float>(act);
  }
}

}  // namespace
}  // namespace simmatch
