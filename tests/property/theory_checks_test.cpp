// The seven checks of docs/theory.md ("Checks that must hold"), on small random networks.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>

#include "simmatch/dynamics.hpp"
#include "simmatch/error.hpp"
#include "simmatch/learning.hpp"
#include "simmatch/objective.hpp"
#include "test_networks.hpp"

using namespace simmatch;
using simmatch::test_support::column;
using simmatch::test_support::random_inputs;
using simmatch::test_support::random_network;
using simmatch::test_support::tight_euler;

namespace {

std::vector<Activation> activations() {
  return {Activation::linear(), Activation::tanh(1.0), Activation::relu(), Activation::clipped_relu(1.0)};
}

}  // namespace

// Check 1: the Lyapunov bracket of l_t never increases along the dynamics (small step).
TEST(DynamicsTest, EnergyNeverIncreases) {
  for (const Activation& act : activations()) {
    for (double gamma : {0.0, 0.5}) {
      Network<double> net = random_network<double>({6, 5, 4}, gamma, act, 11);
      const Matrix<double> x = random_inputs<double>(6, 3, 12);
      SolverOptions one_step;
      one_step.step_initial = one_step.step_min = 0.02;
      one_step.step_decay = 0;
      one_step.tolerance = 1e-300;
      one_step.max_steps = 2;  // the residual at the start, one step, the residual after it
      EulerSolver<double> solver(one_step);
      FixedPoints<double> state;
      std::vector<double> previous(3, std::numeric_limits<double>::infinity());
      int decreases = 0;
      for (int n = 0; n < 400; ++n) {
        solver.solve(net, x, state);  // warm start: one more Euler step from the last state
        for (Index b = 0; b < 3; ++b) {
          // With gamma = 0 only the bottom layer, driven by the clamped input, has a Lyapunov
          // function of its own; higher layers chase a moving input.
          const Vector<double> r0 = state.r[0].col(b);
          double f0 = 0;
          for (Index i = 0; i < r0.size(); ++i) f0 += net.layer(0).activation().regulariser(r0[i]);
          const double e = gamma > 0 ? lyapunov_energy(net, Vector<double>(x.col(b)), column(state.r, b))
                                     : -2.0 * r0.dot(net.layer(0).W() * x.col(b)) + r0.dot(net.layer(0).L() * r0) + 2 * f0;
          const double slack = 1e-12 * (1.0 + std::abs(e));
          EXPECT_LE(e, previous[static_cast<std::size_t>(b)] + slack) << act.name() << " gamma " << gamma << " step " << n;
          if (e < previous[static_cast<std::size_t>(b)] - slack) ++decreases;
          previous[static_cast<std::size_t>(b)] = e;
        }
      }
      EXPECT_GT(decreases, 100) << "the energy should actually move";
    }
  }
}

// Check 2: a converged fixed point satisfies r = f(u) with u = W r_prev - (L - I) r + gamma W_next^T r_next.
TEST(DynamicsTest, ConvergedStateIsAFixedPoint) {
  for (const Activation& act : activations()) {
    for (double gamma : {0.0, 0.7}) {
      // A linear network with feedback is stable only when its energy is convex: keep W small there.
      Network<double> net = random_network<double>({7, 6, 5, 3}, gamma, act, 21, 0.3,
                                                   act.kind() == ActivationKind::linear ? 0.3 : 1.0);
      const Matrix<double> x = random_inputs<double>(7, 4, 22);
      EulerSolver<double> solver(tight_euler(1e-11));
      FixedPoints<double> fp;
      solver.solve(net, x, fp);
      EXPECT_EQ(fp.converged_fraction(), 1.0) << act.name();
      EXPECT_LT(fixed_point_residual(net, x, fp.r), 1e-8) << act.name() << " gamma " << gamma;
    }
  }
}

TEST(DynamicsTest, ReferenceToleranceGivesASmallResidual) {
  Network<double> net = random_network<double>({8, 6}, 0.0, Activation::tanh(), 31);
  const Matrix<double> x = random_inputs<double>(8, 5, 32);
  EulerSolver<double> solver;  // reference schedule, default tolerance kEulerTolerance
  EXPECT_EQ(solver.options().tolerance, kEulerTolerance);
  FixedPoints<double> fp;
  solver.solve(net, x, fp);
  EXPECT_EQ(fp.converged_fraction(), 1.0);
  // The tolerance bounds the residual of eq. 15, ||du/ds|| / ||u||, of the returned state itself.
  EXPECT_LE(dynamics_residual(net, x, fp), kEulerTolerance);
  for (int n : fp.iterations) EXPECT_GT(n, 1);
}

// Euler stops when, and only when, the documented residual ||g(u) - u|| / ||u|| (every layer) is
// below the tolerance: the returned state meets it, and the state one step earlier did not.
TEST(DynamicsTest, EulerStopsWhenAndOnlyWhenTheResidualIsBelowTheTolerance) {
  for (const Activation& act : activations()) {
    Network<double> net = random_network<double>({7, 6, 4}, 0.3, act, 33, 0.3,
                                                 act.kind() == ActivationKind::linear ? 0.3 : 1.0);
    const Matrix<double> x = random_inputs<double>(7, 6, 34);
    for (double tol : {1e-3, 1e-6}) {
      SolverOptions options;
      options.tolerance = tol;
      options.max_steps = 100000;
      for (Index b = 0; b < x.cols(); ++b) {
        const Matrix<double> xb = x.col(b);
        FixedPoints<double> done;
        EulerSolver<double>(options).solve(net, xb, done);
        ASSERT_EQ(done.converged[0], 1) << act.name();
        EXPECT_LE(dynamics_residual(net, xb, done), tol) << act.name();
        const int evaluations = done.iterations[0];
        ASSERT_GE(evaluations, 2);
        // Stopped one evaluation earlier: the state before the last step, residual above tol.
        SolverOptions shorter = options;
        shorter.max_steps = evaluations - 1;
        FixedPoints<double> before;
        EulerSolver<double>(shorter).solve(net, xb, before);
        EXPECT_EQ(before.converged[0], 0) << act.name();
        EXPECT_GT(dynamics_residual(net, xb, before), tol) << act.name() << " tol " << tol;
      }
    }
  }
}

// Check 3: at fixed r, dW = -(eta/2) dl_t/dW and dL = +(eta/2) dl_t/dL (finite differences).
TEST(LearningTest, UpdatesAreHalfTheDualGradient) {
  const double eta = 1e-3;
  Network<double> net = random_network<double>({5, 4, 3}, 0.6, Activation::tanh(), 41);
  const Matrix<double> x = random_inputs<double>(5, 1, 42);
  FixedPoints<double> fp;
  EulerSolver<double>(tight_euler()).solve(net, x, fp);
  const std::vector<Vector<double>> r = column(fp.r, 0);
  const Vector<double> x0 = x.col(0);

  Network<double> updated = net;
  Correlations sums = Correlations::zeros_like(net);
  accumulate_correlations(net, x, fp, sums);
  apply_learning(updated, sums, eta);

  const double h = 1e-6;
  for (Index p = 0; p < net.num_layers(); ++p) {
    for (Index s = 0; s < net.layer(p).cw().nnz(); ++s) {
      Network<double> plus = net, minus = net;
      plus.layer(p).W().valuePtr()[s] += h;
      minus.layer(p).W().valuePtr()[s] -= h;
      const double grad = (dual_objective(plus, x0, r) - dual_objective(minus, x0, r)) / (2 * h);
      const double dw = updated.layer(p).W().valuePtr()[s] - net.layer(p).W().valuePtr()[s];
      EXPECT_NEAR(dw, -0.5 * eta * grad, 1e-8 * (1 + std::abs(dw))) << "W layer " << p << " synapse " << s;
    }
    for (Index s = 0; s < net.layer(p).cl().nnz(); ++s) {
      Network<double> plus = net, minus = net;
      plus.layer(p).L().valuePtr()[s] += h;
      minus.layer(p).L().valuePtr()[s] -= h;
      const double grad = (dual_objective(plus, x0, r) - dual_objective(minus, x0, r)) / (2 * h);
      const double dl = updated.layer(p).L().valuePtr()[s] - net.layer(p).L().valuePtr()[s];
      EXPECT_NEAR(dl, 0.5 * eta * grad, 1e-8 * (1 + std::abs(dl))) << "L layer " << p << " synapse " << s;
    }
  }
}

// A per-layer scale multiplies exactly that layer's step (W and L alike) and leaves its zero, the
// fixed point of learning W = C^W o A, L = k C^L o B, where it was.
TEST(LearningTest, LayerScalesMultiplyEachLayersStepAndKeepItsFixedPoint) {
  Network<double> net = random_network<double>({5, 4, 3}, 0.6, Activation::tanh(), 41);
  const Matrix<double> x = random_inputs<double>(5, 6, 42);
  FixedPoints<double> fp;
  EulerSolver<double>(tight_euler()).solve(net, x, fp);
  Correlations sums = Correlations::zeros_like(net);
  accumulate_correlations(net, x, fp, sums);
  Network<double> plain = net, scaled = net;
  apply_learning(plain, sums, 1e-2);
  const std::vector<double> scales{0.25, 3.0};
  apply_learning(scaled, sums, 1e-2, scales);
  for (Index p = 0; p < 2; ++p) {
    const double s = scales[static_cast<std::size_t>(p)];
    const Eigen::VectorXd w0 = Eigen::Map<const Eigen::VectorXd>(net.layer(p).W().valuePtr(), net.layer(p).W().nonZeros());
    const Eigen::VectorXd w1 = Eigen::Map<const Eigen::VectorXd>(plain.layer(p).W().valuePtr(), w0.size());
    const Eigen::VectorXd w2 = Eigen::Map<const Eigen::VectorXd>(scaled.layer(p).W().valuePtr(), w0.size());
    EXPECT_LT(((w2 - w0) - s * (w1 - w0)).lpNorm<Eigen::Infinity>(), 1e-14) << "layer " << p;
    const Eigen::VectorXd l0 = Eigen::Map<const Eigen::VectorXd>(net.layer(p).L().valuePtr(), net.layer(p).L().nonZeros());
    const Eigen::VectorXd l1 = Eigen::Map<const Eigen::VectorXd>(plain.layer(p).L().valuePtr(), l0.size());
    const Eigen::VectorXd l2 = Eigen::Map<const Eigen::VectorXd>(scaled.layer(p).L().valuePtr(), l0.size());
    EXPECT_LT(((l2 - l0) - s * (l1 - l0)).lpNorm<Eigen::Infinity>(), 1e-14) << "layer " << p;
  }
  // At the fixed point of learning the scaled step is zero too.
  Network<double> fixed = net;
  for (Index p = 0; p < 2; ++p) {
    const auto sp = static_cast<std::size_t>(p);
    for (Index s = 0; s < fixed.layer(p).cw().nnz(); ++s) {
      fixed.layer(p).W().valuePtr()[s] = fixed.layer(p).cw().values()[static_cast<std::size_t>(s)] * sums.hebbian[sp][s] / sums.samples;
    }
    for (Index s = 0; s < fixed.layer(p).cl().nnz(); ++s) {
      fixed.layer(p).L().valuePtr()[s] =
          fixed.k(p) * fixed.layer(p).cl().values()[static_cast<std::size_t>(s)] * sums.lateral[sp][s] / sums.samples;
    }
  }
  Network<double> stepped = fixed;
  apply_learning(stepped, sums, 1e-2, scales);
  for (Index p = 0; p < 2; ++p) {
    EXPECT_LT((Eigen::MatrixXd(stepped.layer(p).W()) - Eigen::MatrixXd(fixed.layer(p).W())).lpNorm<Eigen::Infinity>(), 1e-15);
    EXPECT_LT((Eigen::MatrixXd(stepped.layer(p).L()) - Eigen::MatrixXd(fixed.layer(p).L())).lpNorm<Eigen::Infinity>(), 1e-15);
  }
  EXPECT_THROW(apply_learning(stepped, sums, 1e-2, std::vector<double>{1.0}), ShapeError);
  EXPECT_THROW(apply_learning(stepped, sums, 1e-2, std::vector<double>{1.0, 0.0}), ConfigError);
}

// A lateral rate multiplies L's step alone (the ratio of the anti-Hebbian to the Hebbian rate),
// on top of the layer's scale, and leaves the fixed point of learning where it was.
TEST(LearningTest, LateralRatesMultiplyOnlyLsStepAndKeepItsFixedPoint) {
  Network<double> net = random_network<double>({5, 4, 3}, 0.6, Activation::tanh(), 43);
  const Matrix<double> x = random_inputs<double>(5, 6, 44);
  FixedPoints<double> fp;
  EulerSolver<double>(tight_euler()).solve(net, x, fp);
  Correlations sums = Correlations::zeros_like(net);
  accumulate_correlations(net, x, fp, sums);
  const std::vector<double> scales{0.5, 2.0}, rates{4.0, 0.1};
  Network<double> plain = net, fast_lateral = net;
  apply_learning(plain, sums, 1e-2, scales);
  apply_learning(fast_lateral, sums, 1e-2, scales, rates);
  for (Index p = 0; p < 2; ++p) {
    const double tau = rates[static_cast<std::size_t>(p)];
    EXPECT_TRUE(Eigen::MatrixXd(fast_lateral.layer(p).W()).isApprox(Eigen::MatrixXd(plain.layer(p).W()), 0.0))
        << "W must not change with the lateral rate, layer " << p;
    const Eigen::VectorXd l0 = Eigen::Map<const Eigen::VectorXd>(net.layer(p).L().valuePtr(), net.layer(p).L().nonZeros());
    const Eigen::VectorXd l1 = Eigen::Map<const Eigen::VectorXd>(plain.layer(p).L().valuePtr(), l0.size());
    const Eigen::VectorXd l2 = Eigen::Map<const Eigen::VectorXd>(fast_lateral.layer(p).L().valuePtr(), l0.size());
    EXPECT_GT((l1 - l0).lpNorm<Eigen::Infinity>(), 1e-6) << "the test needs a non-zero L step";
    EXPECT_LT(((l2 - l0) - tau * (l1 - l0)).lpNorm<Eigen::Infinity>(), 1e-14) << "layer " << p;
  }
  // At L = k C^L o B the lateral step is zero whatever its rate.
  Network<double> fixed = net;
  for (Index p = 0; p < 2; ++p) {
    const auto sp = static_cast<std::size_t>(p);
    for (Index s = 0; s < fixed.layer(p).cl().nnz(); ++s) {
      fixed.layer(p).L().valuePtr()[s] =
          fixed.k(p) * fixed.layer(p).cl().values()[static_cast<std::size_t>(s)] * sums.lateral[sp][s] / sums.samples;
    }
  }
  Network<double> stepped = fixed;
  apply_learning(stepped, sums, 1e-2, {}, rates);
  for (Index p = 0; p < 2; ++p) {
    EXPECT_LT((Eigen::MatrixXd(stepped.layer(p).L()) - Eigen::MatrixXd(fixed.layer(p).L())).lpNorm<Eigen::Infinity>(), 1e-15);
  }
  EXPECT_THROW(apply_learning(stepped, sums, 1e-2, {}, std::vector<double>{1.0}), ShapeError);
  EXPECT_THROW(apply_learning(stepped, sums, 1e-2, {}, std::vector<double>{1.0, -2.0}), ConfigError);
}

// Check 4: the cost through A and B equals the naive double sum over t, t' of eq. 11, and with
// all-ones constants eq. 10 up to the input's own similarity term.
TEST(ObjectiveTest, CostMatchesNaiveDoubleSum) {
  const Index t_count = 7;
  for (double zero_fraction : {0.0, 0.4}) {
    Network<double> net = random_network<double>({5, 4, 3}, 0.8, Activation::tanh(), 51, zero_fraction);
    const Matrix<double> x = random_inputs<double>(5, t_count, 52);
    FixedPoints<double> fp;
    EulerSolver<double>(tight_euler(1e-8)).solve(net, x, fp);
    Correlations sums = Correlations::zeros_like(net);
    accumulate_correlations(net, x, fp, sums);
    const double fast = structured_cost(net, sums);

    double naive = 0;
    for (Index p = 0; p < net.num_layers(); ++p) {
      const Matrix<double>& below = p == 0 ? x : fp.r[static_cast<std::size_t>(p - 1)];
      const Matrix<double>& r = fp.r[static_cast<std::size_t>(p)];
      const Eigen::MatrixXd cw = net.layer(p).cw().to_dense();
      const Eigen::MatrixXd cl = net.layer(p).cl().to_dense();
      double sum = 0;
      for (Index t = 0; t < t_count; ++t) {
        for (Index t2 = 0; t2 < t_count; ++t2) {
          for (Index i = 0; i < r.rows(); ++i) {
            for (Index j = 0; j < below.rows(); ++j) sum -= cw(i, j) * below(j, t) * below(j, t2) * r(i, t) * r(i, t2);
            for (Index j = 0; j < r.rows(); ++j) sum += 0.5 * net.k(p) * cl(i, j) * r(i, t) * r(i, t2) * r(j, t) * r(j, t2);
          }
        }
      }
      double reg = 0;
      for (Index e = 0; e < r.size(); ++e) reg += net.layer(p).activation().regulariser(r.data()[e]);
      naive += net.layer_weight(p) * (sum / double(t_count * t_count) + 2.0 * reg / double(t_count));
    }
    EXPECT_NEAR(fast, naive, 1e-10 * (1 + std::abs(naive)));

    if (zero_fraction == 0.0) continue;
    // eq. 10 with all-ones constants.
    std::vector<Layer<double>> ones;
    for (const auto& layer : net.layers()) {
      ones.emplace_back(Structure::dense(layer.size(), layer.input_size()), Structure::dense(layer.size(), layer.size()),
                        layer.activation(), layer.grid());
    }
    Network<double> dense(net.input_size(), std::move(ones), net.gamma());
    Correlations dense_sums = Correlations::zeros_like(dense);
    accumulate_correlations(dense, x, fp, dense_sums);
    double deep = 0;
    for (Index p = 0; p < dense.num_layers(); ++p) {
      const Matrix<double>& below = p == 0 ? x : fp.r[static_cast<std::size_t>(p - 1)];
      const Matrix<double> s_below = below.transpose() * below;
      const Matrix<double> s_this = fp.r[static_cast<std::size_t>(p)].transpose() * fp.r[static_cast<std::size_t>(p)];
      double reg = 0;
      for (Index e = 0; e < fp.r[static_cast<std::size_t>(p)].size(); ++e) {
        reg += dense.layer(p).activation().regulariser(fp.r[static_cast<std::size_t>(p)].data()[e]);
      }
      deep += dense.layer_weight(p) * ((s_below - s_this).squaredNorm() / (2.0 * t_count * t_count) + 2.0 * reg / t_count);
    }
    const Matrix<double> sx = x.transpose() * x;
    const double input_term = dense.layer_weight(0) * sx.squaredNorm() / (2.0 * t_count * t_count);
    EXPECT_NEAR(structured_cost(dense, dense_sums), deep - input_term, 1e-10 * (1 + std::abs(deep)));
  }
}

// Check 5: one all-to-all linear layer learns the principal subspace of its input.
TEST(LearningTest, LinearLayerLearnsPrincipalSubspace) {
  const Index k = 8, n = 3, samples = 3000;
  std::mt19937_64 rng(61);
  // Random orthonormal basis; variances 4, 3, 2 on the principal subspace and 0.2 elsewhere.
  Eigen::MatrixXd q = Eigen::HouseholderQR<Eigen::MatrixXd>(random_inputs<double>(k, k, 62)).householderQ();
  Vector<double> sd(k);
  sd << 2.0, 1.7, 1.4, 0.45, 0.45, 0.4, 0.4, 0.35;
  const Matrix<double> data = q * sd.asDiagonal() * random_inputs<double>(k, samples, 63);

  std::vector<Layer<double>> layers;
  layers.emplace_back(Structure::dense(n, k), Structure::dense(n, n), Activation::linear(), Grid{1, n, 1});
  Network<double> net(k, std::move(layers), 0.0);
  net.initialise(64);
  EulerSolver<double> solver(tight_euler(1e-8));
  FixedPoints<double> fp;
  const Index batch = 10;
  for (int epoch = 0; epoch < 6; ++epoch) {
    for (Index b = 0; b + batch <= samples; b += batch) {
      const Matrix<double> x = data.middleCols(b, batch);
      fp = FixedPoints<double>{};
      solver.solve(net, x, fp);
      Correlations sums = Correlations::zeros_like(net);
      accumulate_correlations(net, x, fp, sums, false);
      apply_learning(net, sums, 0.02 / (1 + epoch));
    }
  }
  // Linear fixed point: L r = W x, so the filters are F = L^{-1} W; compare projectors.
  const Eigen::MatrixXd w = Eigen::MatrixXd(net.layer(0).W());
  const Eigen::MatrixXd l = Eigen::MatrixXd(net.layer(0).L());
  const Eigen::MatrixXd f = l.ldlt().solve(w);
  const Eigen::MatrixXd pf = f.transpose() * (f * f.transpose()).inverse() * f;
  const Eigen::MatrixXd u = q.leftCols(n);
  const Eigen::MatrixXd pu = u * u.transpose();
  const double error = (pf - pu).squaredNorm() / static_cast<double>(n);
  EXPECT_LT(error, 0.02) << "subspace error " << error;
}

// Check 6: at a fixed point of learning on a fixed data set, W = C^W o A and L = k_p C^L o B.
TEST(LearningTest, LearningFixedPointMatchesCorrelations) {
  Network<double> net = random_network<double>({6, 4, 3}, 0.5, Activation::tanh(), 71);
  const Matrix<double> x = random_inputs<double>(6, 12, 72);
  EulerSolver<double> solver(tight_euler(1e-10));
  FixedPoints<double> fp;
  Correlations sums = Correlations::zeros_like(net);
  for (int it = 0; it < 3000; ++it) {
    solver.solve(net, x, fp);  // warm start from the previous fixed point
    sums = Correlations::zeros_like(net);
    accumulate_correlations(net, x, fp, sums, false);
    apply_learning(net, sums, 0.2);
  }
  solver.solve(net, x, fp);
  sums = Correlations::zeros_like(net);
  accumulate_correlations(net, x, fp, sums, false);
  for (Index p = 0; p < net.num_layers(); ++p) {
    const auto& layer = net.layer(p);
    for (Index s = 0; s < layer.cw().nnz(); ++s) {
      const double expected = layer.cw().values()[static_cast<std::size_t>(s)] * sums.hebbian[static_cast<std::size_t>(p)][s] / sums.samples;
      EXPECT_NEAR(layer.W().valuePtr()[s], expected, 1e-6) << "W layer " << p << " synapse " << s;
    }
    for (Index s = 0; s < layer.cl().nnz(); ++s) {
      const double expected =
          net.k(p) * layer.cl().values()[static_cast<std::size_t>(s)] * sums.lateral[static_cast<std::size_t>(p)][s] / sums.samples;
      EXPECT_NEAR(layer.L().valuePtr()[s], expected, 1e-6) << "L layer " << p << " synapse " << s;
    }
  }
}

// Check 7: with gamma = 0 layer p's fixed point does not depend on layer p+1 (and it does for gamma > 0).
TEST(DynamicsTest, ZeroFeedbackDecouplesLayers) {
  for (double gamma : {0.0, 0.8}) {
    Network<double> net = random_network<double>({6, 5, 4}, gamma, Activation::tanh(), 81);
    Network<double> changed = net;
    std::mt19937_64 rng(82);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (Index s = 0; s < changed.layer(1).cw().nnz(); ++s) changed.layer(1).W().valuePtr()[s] += normal(rng);
    const Matrix<double> x = random_inputs<double>(6, 4, 83);
    EulerSolver<double> solver(tight_euler(1e-12));
    FixedPoints<double> a, b;
    solver.solve(net, x, a);
    solver.solve(changed, x, b);
    const double diff = (a.r[0] - b.r[0]).norm() / a.r[0].norm();
    if (gamma == 0.0) {
      EXPECT_LT(diff, 1e-9);
    } else {
      EXPECT_GT(diff, 1e-3);
    }
  }
}
