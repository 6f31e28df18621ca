// The tied (convolutional) network of docs/theory.md, "Convolution: shared weights": its
// learning rule is the dual's gradient in each shared parameter, equals the site-average of
// the untied layer's local rule, keeps the ties, and its dynamics (eq. 15, unchanged) descend
// the energy and are followed by the fast solver to the fixed point Euler reaches from rest.
#include <gtest/gtest.h>

#include <cmath>
#include <omp.h>

#include "simmatch/dynamics.hpp"
#include "simmatch/error.hpp"
#include "simmatch/learning.hpp"
#include "simmatch/objective.hpp"
#include "test_networks.hpp"

using namespace simmatch;
using simmatch::test_support::conv_network;
using simmatch::test_support::tight_euler;

namespace {

// Two conv2d layers with feedback on 6 x 6 x 2 inputs: 3 filters 3 x 3 "same" with lateral
// neighbourhood 1, then 2 filters 3 x 3 stride 2 "valid" within sites.
Network<double> two_conv_layers(double gamma, Activation act, std::uint64_t seed, double w_scale = 0.7) {
  return conv_network<double>(Grid{6, 6, 2},
                              {Conv2d{Grid{}, 3, 1, Padding::same, 3, 1.0}, Conv2d{Grid{}, 3, 2, Padding::valid, 2, 0.0}},
                              gamma, act, seed, w_scale);
}

Matrix<double> inputs(Index batch, std::uint64_t seed) { return test_support::random_inputs<double>(72, batch, seed); }

std::vector<Vector<double>> column(const std::vector<Matrix<double>>& r, Index b) {
  std::vector<Vector<double>> out;
  for (const auto& m : r) out.push_back(m.col(b));
  return out;
}

// Adds `h` to every synapse of group `g` (one tied parameter).
void nudge_group(SparseWeights<double>& m, const WeightSharing& sharing, int g, double h) {
  for (std::size_t k = 0; k < sharing.group.size(); ++k) {
    if (sharing.group[k] == g) m.valuePtr()[k] += h;
  }
}

// Largest |a_k - b_k| over the stored values of two matrices with one pattern.
double max_abs_difference(const SparseWeights<double>& a, const SparseWeights<double>& b) {
  double worst = 0;
  for (Index k = 0; k < a.nonZeros(); ++k) worst = std::max(worst, std::abs(a.valuePtr()[k] - b.valuePtr()[k]));
  return worst;
}

}  // namespace

// The tied step of a shared parameter theta_g is -eta / (2 |S_g|) dl/dtheta_g for W and
// +eta / (2 |S_g|) dl/dtheta_g for L: the untied rule's "half the dual gradient", divided among
// the |S_g| synapses that share it (finite differences of eq. 14 at the fixed point).
TEST(TiedLearningTest, SharedUpdatesAreTheDualGradientPerParameter) {
  const double eta = 1e-3;
  const Network<double> net = two_conv_layers(0.5, Activation::tanh(), 31);
  const Matrix<double> x = inputs(1, 32);
  FixedPoints<double> fp;
  EulerSolver<double>(tight_euler(1e-12)).solve(net, x, fp);
  ASSERT_EQ(fp.converged_fraction(), 1.0);
  const std::vector<Vector<double>> r = column(fp.r, 0);
  const Vector<double> x0 = x.col(0);
  Network<double> updated = net;
  Correlations sums = Correlations::zeros_like(net);
  accumulate_correlations(net, x, fp, sums);
  apply_learning(updated, sums, eta);

  const double h = 1e-6;
  for (Index p = 0; p < net.num_layers(); ++p) {
    for (const bool lateral : {false, true}) {
      const WeightSharing& sharing = lateral ? net.layer(p).l_sharing() : net.layer(p).w_sharing();
      const std::vector<Index> sizes = sharing.group_sizes();
      int checked = 0;
      for (int g = 0; g < sharing.groups; ++g) {
        if (sizes[static_cast<std::size_t>(g)] == 0) continue;
        ++checked;
        Network<double> plus = net, minus = net;
        auto pick = [&](Network<double>& n) -> SparseWeights<double>& { return lateral ? n.layer(p).L() : n.layer(p).W(); };
        nudge_group(pick(plus), sharing, g, h);
        nudge_group(pick(minus), sharing, g, -h);
        const double grad = (dual_objective(plus, x0, r) - dual_objective(minus, x0, r)) / (2 * h);
        std::size_t member = 0;
        while (sharing.group[member] != g) ++member;
        const double before = lateral ? net.layer(p).L().valuePtr()[member] : net.layer(p).W().valuePtr()[member];
        const double after = lateral ? updated.layer(p).L().valuePtr()[member] : updated.layer(p).W().valuePtr()[member];
        const double expected = (lateral ? 0.5 : -0.5) * eta * grad / static_cast<double>(sizes[static_cast<std::size_t>(g)]);
        EXPECT_NEAR(after - before, expected, 1e-8 * (1 + std::abs(expected)))
            << (lateral ? "L" : "W") << " layer " << p << " group " << g;
      }
      EXPECT_GE(checked, lateral && p == 1 ? 3 : 20);
    }
  }
}

// Setting every site's weights equal in an untied (local) layer of the same pattern and averaging
// its local updates over the sites that share a parameter gives the conv2d layer's update, and
// the tied layer's synapses stay tied.
TEST(TiedLearningTest, SharedUpdateIsTheSiteAverageOfTheLocalUpdates) {
  const Network<double> net = two_conv_layers(0.3, Activation::tanh(), 41);
  std::vector<Layer<double>> untied_layers;
  for (const auto& layer : net.layers()) untied_layers.emplace_back(layer.cw(), layer.cl(), layer.activation(), layer.grid());
  Network<double> untied(net.input_size(), std::move(untied_layers), net.gamma());
  for (Index p = 0; p < net.num_layers(); ++p) {
    untied.layer(p).W() = net.layer(p).W();
    untied.layer(p).L() = net.layer(p).L();
  }
  const Matrix<double> x = inputs(5, 42);
  FixedPoints<double> fp;
  EulerSolver<double>(tight_euler()).solve(net, x, fp);
  Correlations sums = Correlations::zeros_like(net);
  accumulate_correlations(net, x, fp, sums);
  Network<double> tied = net;
  apply_learning(tied, sums, 0.05);
  apply_learning(untied, sums, 0.05);
  for (Index p = 0; p < net.num_layers(); ++p) {
    for (const bool lateral : {false, true}) {
      const WeightSharing& sharing = lateral ? net.layer(p).l_sharing() : net.layer(p).w_sharing();
      const double* t = lateral ? tied.layer(p).L().valuePtr() : tied.layer(p).W().valuePtr();
      const double* u = lateral ? untied.layer(p).L().valuePtr() : untied.layer(p).W().valuePtr();
      std::vector<double> averaged(u, u + sharing.group.size());
      sharing.average_within_groups(averaged.data(), sharing.group_sizes());
      double worst = 0, spread = 0;
      for (std::size_t k = 0; k < averaged.size(); ++k) {
        worst = std::max(worst, std::abs(t[k] - averaged[k]));
        spread = std::max(spread, std::abs(u[k] - averaged[k]));
      }
      EXPECT_LT(worst, 1e-14) << (lateral ? "L" : "W") << " layer " << p;
      EXPECT_GT(spread, 1e-6) << "the untied sites should have learnt different values";
      EXPECT_NO_THROW(sharing.check_tied(t, "tied"));
    }
  }
}

// Training sums a tied layer's correlations per parameter by dense products (im2col for W, one
// product per lateral offset for L). Those sums must be the per-synapse sums added within each
// group, for every geometry: "same" and "valid" padding, strides, even kernels, lateral
// neighbourhoods, deep stacks with feedback; and the update from them the same update.
TEST(TiedLearningTest, PerParameterSumsAreThePerSynapseSumsAddedWithinGroups) {
  const std::vector<Network<double>> nets = {
      two_conv_layers(0.4, Activation::tanh(), 51),
      conv_network<double>(Grid{7, 5, 1}, {Conv2d{Grid{}, 4, 2, Padding::same, 3, 1.5}}, 0.0, Activation::relu(), 52),
      conv_network<double>(Grid{6, 6, 3},
                           {Conv2d{Grid{}, 2, 1, Padding::valid, 4, 0.0}, Conv2d{Grid{}, 3, 1, Padding::same, 2, 2.0}},
                           0.2, Activation::clipped_relu(), 53, 0.8)};
  for (std::size_t n = 0; n < nets.size(); ++n) {
    const Network<double>& net = nets[n];
    const Matrix<double> x = test_support::random_inputs<double>(net.input_size(), 23, 60 + n);
    FixedPoints<double> fp;
    EulerSolver<double>(tight_euler()).solve(net, x, fp);
    Correlations per_synapse = Correlations::zeros_like(net);
    Correlations per_group = Correlations::zeros_like(net, true);
    accumulate_correlations(net, x, fp, per_synapse);
    accumulate_correlations(net, x, fp, per_group);
    ASSERT_TRUE(per_group.shaped_for(net, true));
    for (Index p = 0; p < net.num_layers(); ++p) {
      const auto sp = static_cast<std::size_t>(p);
      ASSERT_TRUE(per_group.tied[sp]) << "net " << n << " layer " << p;
      for (const bool lateral : {false, true}) {
        const WeightSharing& sharing = lateral ? net.layer(p).l_sharing() : net.layer(p).w_sharing();
        const Vector<double>& synapses = lateral ? per_synapse.lateral[sp] : per_synapse.hebbian[sp];
        const Vector<double>& groups = lateral ? per_group.lateral[sp] : per_group.hebbian[sp];
        ASSERT_EQ(groups.size(), sharing.groups);
        Vector<double> expected = Vector<double>::Zero(sharing.groups);
        for (std::size_t k = 0; k < sharing.group.size(); ++k) expected[sharing.group[k]] += synapses[static_cast<Index>(k)];
        EXPECT_LT((groups - expected).cwiseAbs().maxCoeff(), 1e-12 * (1 + expected.cwiseAbs().maxCoeff()))
            << "net " << n << (lateral ? " L" : " W") << " layer " << p;
      }
      EXPECT_DOUBLE_EQ(per_group.regulariser[sp], per_synapse.regulariser[sp]);
    }
    Network<double> from_synapses = net, from_groups = net;
    apply_learning(from_synapses, per_synapse, 0.05, std::vector<double>{}, std::vector<double>(net.num_layers(), 3.0));
    apply_learning(from_groups, per_group, 0.05, std::vector<double>{}, std::vector<double>(net.num_layers(), 3.0));
    for (Index p = 0; p < net.num_layers(); ++p) {
      const double dw = max_abs_difference(from_groups.layer(p).W(), from_synapses.layer(p).W());
      const double dl = max_abs_difference(from_groups.layer(p).L(), from_synapses.layer(p).L());
      EXPECT_LT(dw, 1e-13) << "net " << n << " layer " << p;
      EXPECT_LT(dl, 1e-13) << "net " << n << " layer " << p;
      EXPECT_NO_THROW(from_groups.layer(p).w_sharing().check_tied(from_groups.layer(p).W().valuePtr(), "W"));
      EXPECT_NO_THROW(from_groups.layer(p).l_sharing().check_tied(from_groups.layer(p).L().valuePtr(), "L"));
    }
    // The cost needs per-synapse sums and says so.
    per_group.samples = 1;
    EXPECT_THROW(structured_cost(net, per_group), ShapeError);
  }
}

// In float32 the per-parameter products run in single precision within chunks of samples
// and add up in double: they stay within float rounding of the double per-synapse sums.
TEST(TiedLearningTest, PerParameterSumsInFloatStayWithinFloatRounding) {
  const Network<double> net = two_conv_layers(0.4, Activation::tanh(), 71);
  const Network<float> netf = net.cast<float>();
  const Matrix<double> x = test_support::random_inputs<double>(net.input_size(), 40, 72);
  FixedPoints<double> fp;
  EulerSolver<double>(tight_euler()).solve(net, x, fp);
  FixedPoints<float> fpf;
  for (const auto& r : fp.r) fpf.r.push_back(r.cast<float>());
  Correlations exact = Correlations::zeros_like(net, true);
  Correlations single = Correlations::zeros_like(netf, true);
  accumulate_correlations(net, x, fp, exact);
  accumulate_correlations(netf, Matrix<float>(x.cast<float>()), fpf, single);
  for (std::size_t p = 0; p < 2; ++p) {
    const double scale_w = exact.hebbian[p].cwiseAbs().maxCoeff(), scale_l = exact.lateral[p].cwiseAbs().maxCoeff();
    EXPECT_LT((single.hebbian[p] - exact.hebbian[p]).cwiseAbs().maxCoeff(), 1e-5 * scale_w) << "layer " << p;
    EXPECT_LT((single.lateral[p] - exact.lateral[p]).cwiseAbs().maxCoeff(), 1e-5 * scale_l) << "layer " << p;
  }
}

// A 16-filter layer on 28 x 28 inputs: batches of 1 and 7 samples fit in one chunk of the bank
// products, 23 in three. Each gives the same bits on one thread or two (the lone chunk's GEMMs
// once ran on Eigen's own threads and their sums then depended on the thread count).
TEST(TiedLearningTest, PerParameterSumsDoNotDependOnTheThreadCount) {
  const Network<float> net = conv_network<float>(Grid{28, 28, 1}, {Conv2d{Grid{}, 5, 1, Padding::same, 16, 0.0}}, 0.0,
                                                 Activation::tanh(), 81);
  const int threads = omp_get_max_threads();
  for (const Index batch : {Index{1}, Index{7}, Index{23}}) {
    const Matrix<float> x = test_support::random_inputs<float>(net.input_size(), batch, 82);
    FixedPoints<float> fp;
    fp.r.push_back(test_support::random_inputs<float>(net.layer(0).size(), batch, 83).array().tanh().matrix());
    std::vector<Correlations> sums;
    for (const int t : {1, 2}) {
      omp_set_num_threads(t);
      sums.push_back(Correlations::zeros_like(net, true));
      accumulate_correlations(net, x, fp, sums.back());
    }
    omp_set_num_threads(threads);
    ASSERT_TRUE(sums[0].tied[0]);
    EXPECT_TRUE(sums[0].hebbian[0] == sums[1].hebbian[0]) << "batch " << batch;
    EXPECT_TRUE(sums[0].lateral[0] == sums[1].lateral[0]) << "batch " << batch;
  }
}

// eq. 15 with tied matrices is eq. 15: the Lyapunov bracket never increases along small Euler
// steps of a deep conv2d network with feedback.
TEST(ConvDynamicsTest, EnergyNeverIncreases) {
  for (const Activation& act : {Activation::tanh(), Activation::clipped_relu(1.0)}) {
    const Network<double> net = two_conv_layers(0.5, act, 51);
    const Matrix<double> x = inputs(2, 52);
    SolverOptions one_step;
    one_step.step_initial = one_step.step_min = 0.02;
    one_step.step_decay = 0;
    one_step.tolerance = 1e-300;
    one_step.max_steps = 2;
    EulerSolver<double> solver(one_step);
    FixedPoints<double> state;
    std::vector<double> previous(2, std::numeric_limits<double>::infinity());
    int decreases = 0;
    for (int n = 0; n < 200; ++n) {
      solver.solve(net, x, state);
      for (Index b = 0; b < 2; ++b) {
        const double e = lyapunov_energy(net, Vector<double>(x.col(b)), column(state.r, b));
        const double slack = 1e-12 * (1.0 + std::abs(e));
        EXPECT_LE(e, previous[static_cast<std::size_t>(b)] + slack) << act.name() << " step " << n;
        if (e < previous[static_cast<std::size_t>(b)] - slack) ++decreases;
        previous[static_cast<std::size_t>(b)] = e;
      }
    }
    EXPECT_GT(decreases, 100) << act.name();
  }
}

// After tied training with a lateral neighbourhood (L possibly indefinite), the fast solver at a
// tight tolerance returns the fixed point that Euler reaches from rest.
TEST(ConvDynamicsTest, FastSolverReachesTheFixedPointOfTheDynamicsFromRest) {
  for (const Activation& act : {Activation::tanh(), Activation::clipped_relu(1.0)}) {
    Network<double> net = two_conv_layers(0.3, act, 61, 1.0);
    SolverOptions follow;
    follow.method = SolverMethod::euler;
    follow.tolerance = 1e-6;
    follow.max_steps = 20000;
    for (int round = 0; round < 8; ++round) {
      const Matrix<double> x = inputs(16, 600 + static_cast<std::uint64_t>(round));
      FixedPoints<double> fixed;
      EulerSolver<double>(follow).solve(net, x, fixed);
      Correlations sums = Correlations::zeros_like(net);
      accumulate_correlations(net, x, fixed, sums, false);
      apply_learning(net, sums, 0.3);
    }
    const Matrix<double> x = inputs(12, 700);
    FixedPoints<double> yardstick, fast;
    EulerSolver<double>(tight_euler(1e-10)).solve(net, x, yardstick);
    ASSERT_EQ(yardstick.converged_fraction(), 1.0) << act.name();
    FastSolver<double>(tight_euler(1e-10)).solve(net, x, fast);
    EXPECT_EQ(fast.converged_fraction(), 1.0) << act.name();
    for (Index s = 0; s < x.cols(); ++s) {
      for (std::size_t p = 0; p < fast.r.size(); ++p) {
        const double scale = std::max(yardstick.r[p].col(s).norm(), 1e-12);
        EXPECT_LE((fast.r[p].col(s) - yardstick.r[p].col(s)).norm() / scale, 1e-6)
            << act.name() << " sample " << s << " layer " << p;
      }
    }
  }
}
