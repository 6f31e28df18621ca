// Contrastive similarity matching (docs/theory.md, "Contrastive similarity matching"): the nudged
// phase's fixed point, its fidelity to the dynamics, and the learning rules against finite
// differences of the objectives they descend or ascend.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "simmatch/contrastive.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/error.hpp"
#include "simmatch/learning.hpp"
#include "simmatch/objective.hpp"
#include "simmatch/trainer.hpp"
#include "test_networks.hpp"

using namespace simmatch;
using simmatch::test_support::column;
using simmatch::test_support::random_inputs;
using simmatch::test_support::random_network;
using simmatch::test_support::tight_euler;

namespace {

// Targets for B samples: labels b mod classes.
Matrix<double> targets_for(Index classes, Index b, double scale = 1.0) {
  std::vector<int> labels;
  for (Index i = 0; i < b; ++i) labels.push_back(static_cast<int>((3 * i + 1) % classes));
  return one_hot_targets<double>(labels, classes, scale);
}

FastSolver<double> tight_fast() {
  SolverOptions o;
  o.tolerance = 1e-13;
  o.max_steps = 20000;
  return FastSolver<double>(o);
}

struct Phases {
  FixedPoints<double> free, nudged;
};

Phases solve_phases(const DynamicsSolver<double>& solver, const Network<double>& net, const Matrix<double>& x,
                    const Matrix<double>& z, double beta) {
  Phases ph;
  solver.solve(net, x, ph.free);
  ph.nudged = ph.free;
  solve_nudged(solver, nudged_network(net, beta), ConstMatrixRef<double>(x), ConstMatrixRef<double>(z), beta, ph.nudged);
  return ph;
}

// The free phase and the -beta phase from it (symmetric nudging's second nudged phase).
Phases solve_anti_nudged(const DynamicsSolver<double>& solver, const Network<double>& net, const Matrix<double>& x,
                         const Matrix<double>& z, double beta) {
  return solve_phases(solver, net, x, z, -beta);
}

// `net` after one contrastive step from the correlations of the phase at +beta (`upper`) and of
// the free phase (one-sided) or the -beta phase (symmetric) (`lower`).
Network<double> step_from(const Network<double>& net, const Matrix<double>& x, const FixedPoints<double>& upper,
                          const FixedPoints<double>& lower, double eta, double beta, Nudge nudge) {
  Correlations up = Correlations::zeros_like(net), down = Correlations::zeros_like(net);
  accumulate_correlations(net, x, upper, up);
  accumulate_correlations(net, x, lower, down);
  Network<double> updated = net;
  if (nudge == Nudge::symmetric) {
    apply_symmetric_contrastive_learning(updated, up, down, eta, beta);
  } else {
    apply_contrastive_learning(updated, up, down, eta, beta);
  }
  return updated;
}

Network<double> contrastive_step(const Network<double>& net, const Matrix<double>& x, const Phases& ph, double eta,
                                 double beta) {
  return step_from(net, x, ph.nudged, ph.free, eta, beta, Nudge::one_sided);
}

Network<double> symmetric_step(const Network<double>& net, const Matrix<double>& x, const Phases& plus,
                               const Phases& minus, double eta, double beta) {
  return step_from(net, x, plus.nudged, minus.nudged, eta, beta, Nudge::symmetric);
}

// The largest relative residual of the nudged equation r = f(g + beta (z - r^(P)) on top),
// computed from the original network's layer_input: an independent statement of the phase.
double nudged_residual(const Network<double>& net, const Matrix<double>& x, const Matrix<double>& z, double beta,
                       const std::vector<Matrix<double>>& r) {
  double worst = 0;
  const Index P = net.num_layers();
  for (Index p = 0; p < P; ++p) {
    Matrix<double> g;
    layer_input(net, x, r, p, g);
    if (p + 1 == P) g += beta * (z - r[static_cast<std::size_t>(p)]);
    Matrix<double> fg(g.rows(), g.cols());
    net.layer(p).activation().apply(g.data(), fg.data(), g.size());
    for (Index b = 0; b < g.cols(); ++b) {
      const double scale = std::max(r[static_cast<std::size_t>(p)].col(b).norm(), 1e-30);
      worst = std::max(worst, (r[static_cast<std::size_t>(p)].col(b) - fg.col(b)).norm() / scale);
    }
  }
  return worst;
}

// Mean over samples of (E^beta(r_nudged) - E(r_free)) / beta: the contrastive function J^beta.
double contrastive_function(const Network<double>& net, const Matrix<double>& x, const Matrix<double>& z, double beta,
                            const Phases& ph) {
  const Index P = net.num_layers();
  double total = 0;
  for (Index b = 0; b < x.cols(); ++b) {
    const Vector<double> xb = x.col(b);
    const auto rn = column(ph.nudged.r, b);
    const double nudge = beta * (rn[static_cast<std::size_t>(P - 1)] - z.col(b)).squaredNorm();
    total += (lyapunov_energy(net, xb, rn) + nudge - lyapunov_energy(net, xb, column(ph.free.r, b))) / beta;
  }
  return total / static_cast<double>(x.cols());
}

// Eight labelled samples of 6 inputs, and options that train them as one contrastive batch.
struct OneBatch {
  Dataset data;
  TrainOptions options;
};
OneBatch one_contrastive_batch(Nudge nudge, std::uint64_t seed) {
  OneBatch b;
  b.data.x = random_inputs<float>(6, 8, seed);
  b.data.shape = Grid{1, 6, 1};
  b.data.labels = {0, 1, 2, 0, 1, 2, 2, 1};
  TrainOptions& o = b.options;
  o.epochs = 1;
  o.batch_size = 8;
  o.shuffle = false;
  o.cost_samples = 0;
  o.schedule = LearningRateSchedule::constant(0.05);
  o.mode = TrainMode::contrastive;
  o.contrastive.beta = 0.7;
  o.contrastive.label_scale = 0.8;
  o.contrastive.nudge = nudge;
  return b;
}

// Every weight of `trained` within 1e-12 of `expected`'s, and the step not trivially small.
void expect_same_step(const Network<double>& initial, const Network<double>& trained, const Network<double>& expected) {
  const auto a = test_support::all_weights(trained), b = test_support::all_weights(expected);
  const auto before = test_support::all_weights(initial);
  ASSERT_EQ(a.size(), b.size());
  double moved = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], 1e-12) << "weight " << i;
    moved = std::max(moved, std::abs(a[i] - before[i]));
  }
  EXPECT_GT(moved, 1e-4);
}

struct Case {
  const char* name;
  Network<double> net;
};

// Deep with feedback (tanh), saturating rectifiers with feedback, one linear layer, and a layer
// whose L is indefinite (the fast solver must then follow the trajectory).
std::vector<Case> cases() {
  std::vector<Case> out;
  out.push_back({"tanh 6-5-4-3, gamma 0.5", random_network<double>({6, 5, 4, 3}, 0.5, Activation::tanh(1.0), 11)});
  out.push_back({"relu 6-5-3, gamma 0.3", random_network<double>({6, 5, 3}, 0.3, Activation::relu(), 12)});
  out.push_back({"clipped relu 6-5-3, gamma 0.3, saturating",
                 random_network<double>({6, 5, 3}, 0.3, Activation::clipped_relu(0.5), 13, 0.3, 3.0)});
  out.push_back({"linear 6-3", random_network<double>({6, 3}, 0.0, Activation::linear(), 14)});
  Network<double> indefinite = random_network<double>({6, 5, 3}, 0.4, Activation::tanh(2.0), 15, 0.0);
  // Hidden layer's L: diagonal 0.2, off-diagonal 0.6: eigenvalues down to 0.2 - 0.6 < 0, so the
  // energy is not convex and the fixed point reached depends on the path.
  auto& l = indefinite.layer(0).L();
  for (Index i = 0; i < l.outerSize(); ++i) {
    for (SparseWeights<double>::InnerIterator it(l, i); it; ++it) it.valueRef() = it.col() == i ? 0.2 : 0.6;
  }
  out.push_back({"tanh 6-5-3 with an indefinite L, gamma 0.4", std::move(indefinite)});
  return out;
}

// The phase of signed strength `beta` from the free fixed point, by `fast` and by tight Euler:
// both solve the nudged equation, they agree, and every sample converged. Returns fast's phases.
Phases expect_phase_matches_euler(const Case& c, const Matrix<double>& x, const Matrix<double>& z, double beta,
                                  const DynamicsSolver<double>& fast) {
  SCOPED_TRACE(testing::Message() << "beta " << beta);
  const Phases ph = solve_phases(fast, c.net, x, z, beta);
  EXPECT_LT(nudged_residual(c.net, x, z, beta, ph.nudged.r), 1e-5);
  const Phases euler = solve_phases(EulerSolver<double>(tight_euler(1e-11)), c.net, x, z, beta);
  EXPECT_LT(nudged_residual(c.net, x, z, beta, euler.nudged.r), 1e-8);
  for (std::size_t p = 0; p < ph.nudged.r.size(); ++p) {
    EXPECT_LT((ph.nudged.r[p] - euler.nudged.r[p]).cwiseAbs().maxCoeff(), 1e-5) << "layer " << p;
  }
  for (const auto converged : ph.nudged.converged) EXPECT_EQ(converged, 1);
  return ph;
}

// The largest discrepancy, relative to the largest gradient entry, between the W step of `step`
// at each beta and -eta/2 times the gradient of the free output's squared error.
template <typename Step>
std::vector<double> output_error_discrepancy(const Network<double>& net, const Matrix<double>& x,
                                             const Matrix<double>& z, const std::vector<double>& betas, Step step) {
  const double h = 1e-6;
  const FastSolver<double> solver = tight_fast();
  const auto output_error = [&](const Network<double>& n) {
    FixedPoints<double> fp;
    solver.solve(n, x, fp);
    return (fp.r.back() - z).squaredNorm() / static_cast<double>(x.cols());
  };
  std::vector<double> grads;
  for (Index p = 0; p < net.num_layers(); ++p) {
    for (Index s = 0; s < net.layer(p).cw().nnz(); s += 3) {
      Network<double> plus = net, minus = net;
      plus.layer(p).W().valuePtr()[s] += h;
      minus.layer(p).W().valuePtr()[s] -= h;
      grads.push_back((output_error(plus) - output_error(minus)) / (2 * h));
    }
  }
  std::vector<double> out;
  for (const double beta : betas) {
    const Network<double> updated = step(beta);
    double worst = 0, largest = 0;
    std::size_t i = 0;
    for (Index p = 0; p < net.num_layers(); ++p) {
      for (Index s = 0; s < net.layer(p).cw().nnz(); s += 3, ++i) {
        const double dw = updated.layer(p).W().valuePtr()[s] - net.layer(p).W().valuePtr()[s];
        worst = std::max(worst, std::abs(dw + 0.5 * grads[i]));  // eta = 1
        largest = std::max(largest, std::abs(grads[i]));
      }
    }
    out.push_back(worst / largest);
  }
  return out;
}

}  // namespace

// The nudged phase lands on a fixed point of the nudged equation, and on the one that the
// reference Euler dynamics reach from the free fixed point, for every kind of network.
TEST(ContrastiveTest, NudgedPhaseReachesTheFixedPointOfItsDynamicsFromTheFreeOne) {
  for (Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const Index classes = c.net.layer(c.net.num_layers() - 1).size();
    const Matrix<double> x = random_inputs<double>(6, 7, 21);
    const Matrix<double> z = targets_for(classes, 7);
    for (const double beta : {0.1, 1.0}) expect_phase_matches_euler(c, x, z, beta, FastSolver<double>());
  }
}

// The nudge pulls the output towards the target: ||r^(P) - z|| shrinks as beta grows, from the
// free output's distance at beta -> 0 (up to the largest beta the Euler schedule allows, 5).
TEST(ContrastiveTest, NudgedOutputMovesTowardsTheTargetAsBetaGrows) {
  for (Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const Index P = c.net.num_layers();
    const Index classes = c.net.layer(P - 1).size();
    const Matrix<double> x = random_inputs<double>(6, 5, 22);
    const Matrix<double> z = targets_for(classes, 5, 0.5);
    FixedPoints<double> free;
    tight_fast().solve(c.net, x, free);
    double previous = (free.r.back() - z).norm();
    for (const double beta : {0.01, 0.1, 1.0, 4.9}) {
      const Phases ph = solve_phases(tight_fast(), c.net, x, z, beta);
      const double distance = (ph.nudged.r.back() - z).norm();
      EXPECT_LT(distance, previous) << "beta " << beta;
      previous = distance;
    }
    EXPECT_LT(previous, 0.8 * (free.r.back() - z).norm());
  }
}

// The contrastive W step is -eta/2 times the gradient of J^beta = mean (E^beta(r^) - E(r-)) / beta,
// checked by central differences of J with both phases re-solved at the perturbed weights.
TEST(ContrastiveTest, WStepIsHalfTheGradientOfTheContrastiveFunction) {
  const double eta = 1e-2, beta = 0.5, h = 1e-6;
  Network<double> net = random_network<double>({5, 4, 3}, 0.5, Activation::tanh(1.0), 31);
  const Matrix<double> x = random_inputs<double>(5, 3, 32);
  const Matrix<double> z = targets_for(3, 3);
  const FastSolver<double> solver = tight_fast();
  const Phases ph = solve_phases(solver, net, x, z, beta);
  const Network<double> updated = contrastive_step(net, x, ph, eta, beta);
  int checked = 0;
  for (Index p = 0; p < net.num_layers(); ++p) {
    for (Index s = 0; s < net.layer(p).cw().nnz(); s += 2) {
      Network<double> plus = net, minus = net;
      plus.layer(p).W().valuePtr()[s] += h;
      minus.layer(p).W().valuePtr()[s] -= h;
      const double grad = (contrastive_function(plus, x, z, beta, solve_phases(solver, plus, x, z, beta)) -
                           contrastive_function(minus, x, z, beta, solve_phases(solver, minus, x, z, beta))) /
                          (2 * h);
      const double dw = updated.layer(p).W().valuePtr()[s] - net.layer(p).W().valuePtr()[s];
      EXPECT_NEAR(dw, -0.5 * eta * grad, 1e-6 * eta * (1 + std::abs(grad))) << "W layer " << p << " synapse " << s;
      ++checked;
    }
  }
  EXPECT_GT(checked, 10);
}

// The L step is eq. 17's at the nudged fixed point over beta: +eta/(2 beta) times the gradient in L
// of the nudged objective l^beta = weight terms + E^beta (eq. 14 with the nudge), at fixed r.
TEST(ContrastiveTest, LStepIsTheAscentOfTheNudgedObjectiveOverBeta) {
  const double eta = 1e-2, beta = 0.25, h = 1e-6;
  Network<double> net = random_network<double>({5, 4, 3}, 0.5, Activation::tanh(1.0), 33);
  const Matrix<double> x = random_inputs<double>(5, 1, 34);
  const Matrix<double> z = targets_for(3, 1);
  const Phases ph = solve_phases(tight_fast(), net, x, z, beta);
  const Network<double> updated = contrastive_step(net, x, ph, eta, beta);
  const Vector<double> x0 = x.col(0);
  const auto r = column(ph.nudged.r, 0);
  const auto objective = [&](const Network<double>& n) {
    return dual_objective(n, x0, r) + beta * (r.back() - z.col(0)).squaredNorm();
  };
  for (Index p = 0; p < net.num_layers(); ++p) {
    for (Index s = 0; s < net.layer(p).cl().nnz(); ++s) {
      Network<double> plus = net, minus = net;
      plus.layer(p).L().valuePtr()[s] += h;
      minus.layer(p).L().valuePtr()[s] -= h;
      const double grad = (objective(plus) - objective(minus)) / (2 * h);
      const double dl = updated.layer(p).L().valuePtr()[s] - net.layer(p).L().valuePtr()[s];
      EXPECT_NEAR(dl, 0.5 * eta / beta * grad, 1e-8 * (1 + std::abs(dl))) << "L layer " << p << " synapse " << s;
    }
  }
}

// As beta -> 0 the contrastive W step becomes -eta/2 times the gradient of the free output's
// squared error C(W) = mean ||r-^(P)(W) - z||^2 (the equilibrium-propagation identity
// d/dbeta min E^beta = ||r^(P) - z||^2 at beta = 0): the network descends its own output error.
TEST(ContrastiveTest, SmallBetaWStepIsHalfTheGradientOfTheOutputError) {
  Network<double> net = random_network<double>({5, 4, 3}, 0.5, Activation::tanh(1.0), 35);
  const Matrix<double> x = random_inputs<double>(5, 4, 36);
  const Matrix<double> z = targets_for(3, 4);
  const FastSolver<double> solver = tight_fast();
  const std::vector<double> errors = output_error_discrepancy(net, x, z, {1e-2, 1e-3, 1e-4}, [&](double beta) {
    return contrastive_step(net, x, solve_phases(solver, net, x, z, beta), 1.0, beta);
  });
  // The discrepancy is O(beta): it falls tenfold with beta and is small at beta = 1e-4.
  EXPECT_LT(errors[1], 0.2 * errors[0]);
  EXPECT_LT(errors[2], 0.2 * errors[1]);
  EXPECT_LT(errors[2], 1e-3);
}

// The trainer's contrastive batch is exactly: the free phase as the unsupervised solve from rest,
// the nudged phase from it, and apply_contrastive_learning of the two phases' correlations.
TEST(ContrastiveTest, TrainerBatchIsTheFreeSolveTheNudgedSolveAndTheContrastiveStep) {
  Network<double> net = random_network<double>({6, 5, 3}, 0.5, Activation::tanh(1.0), 41);
  const OneBatch batch = one_contrastive_batch(Nudge::one_sided, 42);
  const FastSolver<double> solver;
  Network<double> trained = net;
  Trainer<double>(trained, solver, batch.options).fit(batch.data);

  const Matrix<double> x = batch.data.x.cast<double>();
  const Matrix<double> z = one_hot_targets<double>(batch.data.labels, 3, 0.8);
  const Phases ph = solve_phases(solver, net, x, z, 0.7);
  expect_same_step(net, trained, contrastive_step(net, x, ph, 0.05, 0.7));
}

// Contrastive training reduces the network's own classification error on a separable problem,
// with either nudge.
TEST(ContrastiveTest, TrainingLowersTheOutputErrorOnSeparableClasses) {
  const Index k = 8, n = 120, classes = 3;
  const Dataset data = test_support::clustered_dataset(k, n, classes, 0.3, 7);
  for (const Nudge nudge : {Nudge::one_sided, Nudge::symmetric}) {
    SCOPED_TRACE(nudge_name(nudge));
    Network<double> net = random_network<double>({k, 10, classes}, 0.5, Activation::tanh(1.0), 9, 0.0);
    const FastSolver<double> solver;
    const auto error_rate = [&] {
      FixedPoints<double> fp;
      solver.solve(net, data.x.cast<double>(), fp);
      const std::vector<int> predicted = predicted_classes<double>(fp.r.back());
      int wrong = 0;
      for (Index t = 0; t < n; ++t) {
        wrong += predicted[static_cast<std::size_t>(t)] != data.labels[static_cast<std::size_t>(t)];
      }
      return static_cast<double>(wrong) / static_cast<double>(n);
    };
    const double before = error_rate();
    TrainOptions o;
    o.epochs = 20;
    o.batch_size = 10;
    o.cost_samples = 0;
    o.schedule = LearningRateSchedule::constant(0.05);
    o.mode = TrainMode::contrastive;
    o.contrastive.beta = 0.5;
    o.contrastive.nudge = nudge;
    o.seed = 3;
    Trainer<double>(net, solver, o).fit(data);
    const double after = error_rate();
    EXPECT_GT(before, 0.1);
    EXPECT_LT(after, 0.25 * before);
    EXPECT_LT(after, 0.03);
  }
}

TEST(ContrastiveTest, RefusesBadLabelsBetaAndMissingSelfSynapses) {
  Network<double> net = random_network<double>({4, 3}, 0.0, Activation::tanh(1.0), 51);
  EXPECT_THROW(nudged_network(net, 0.0), ConfigError);
  EXPECT_NO_THROW(nudged_network(net, -1.0));  // the -beta phase of symmetric nudging
  EXPECT_THROW(nudged_network(net, std::nan("")), ConfigError);
  ContrastiveOptions negative_beta;
  negative_beta.beta = -0.5;  // the configured strength is a magnitude: > 0
  EXPECT_THROW(nudge_strengths(negative_beta), ConfigError);
  EXPECT_THROW(nudge_from_name("two_sided"), ConfigError);
  const std::vector<int> bad = {0, 3};
  EXPECT_THROW(one_hot_targets<double>(bad, 3, 1.0), ConfigError);
  const std::vector<int> negative = {-1};
  EXPECT_THROW(check_labels(negative, 3, "labels.npy"), ConfigError);
  EXPECT_THROW(check_labels(std::vector<int>{}, 3, "labels.npy"), ConfigError);
  try {
    check_labels(bad, 3, "labels.npy");
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("labels.npy"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("sample 1"), std::string::npos);
  }
  ContrastiveOptions o;
  o.label_scale = 0;
  EXPECT_THROW(check_contrastive_options(o), ConfigError);
  EXPECT_THROW(train_mode_from_name("supervized"), ConfigError);
  // A top layer whose lateral structure has no self-synapse cannot be nudged.
  Eigen::MatrixXd cl = Eigen::MatrixXd::Ones(3, 3);
  cl(1, 1) = 0;
  std::vector<Layer<double>> layers;
  layers.emplace_back(Structure::from_dense(Eigen::MatrixXd::Ones(3, 4)), Structure::from_dense(cl),
                      Activation::tanh(1.0), Grid{1, 3, 1});
  Network<double> holed(4, std::move(layers), 0.0);
  EXPECT_THROW(nudged_network(holed, 0.5), ConfigError);
  // The trainer refuses a data set without labels, or with a label beyond the top layer.
  TrainOptions t;
  t.mode = TrainMode::contrastive;
  t.epochs = 1;
  Dataset data;
  data.x = random_inputs<float>(4, 2, 52);
  data.shape = Grid{1, 4, 1};
  const FastSolver<double> solver;
  EXPECT_THROW(Trainer<double>(net, solver, t).fit(data), ConfigError);
  data.labels = {0, 5};
  EXPECT_THROW(Trainer<double>(net, solver, t).fit(data), ConfigError);
}

// Symmetric nudging (docs/theory.md, "Symmetric nudging"). The -beta phase pushes the output away
// from the target; its energy loses 2 beta of curvature on the top layer, so for the indefinite
// and saturating cases several fixed points may exist: the fast solver must land on the one the
// Euler dynamics reach from the free fixed point. (Tight tolerances on both sides: the lost
// curvature makes the top layer ill-conditioned, and at the default tolerance the fast solver's
// state is within 2e-4 of Euler's at beta 1, within its residual bound, not 1e-5.)
TEST(SymmetricNudgeTest, AntiNudgedPhaseReachesTheFixedPointOfItsDynamicsFromTheFreeOne) {
  for (Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const Index classes = c.net.layer(c.net.num_layers() - 1).size();
    const Matrix<double> x = random_inputs<double>(6, 7, 23);
    const Matrix<double> z = targets_for(classes, 7);
    for (const double beta : {0.1, 0.5, 1.0}) {
      const Phases fast = expect_phase_matches_euler(c, x, z, -beta, tight_fast());
      // Away from the target: the anti-nudged output is farther from z than the free one.
      EXPECT_GT((fast.nudged.r.back() - z).norm(), (fast.free.r.back() - z).norm()) << "beta " << beta;
    }
  }
}

// The symmetric W step is -eta/2 times the gradient of J_sym = mean (E^beta(r+) - E^-beta(r-)) /
// (2 beta) = (J^beta + J^-beta) / 2, by central differences with all three phases re-solved.
TEST(SymmetricNudgeTest, WStepIsHalfTheGradientOfTheSymmetricContrastiveFunction) {
  const double eta = 1e-2, beta = 0.5, h = 1e-6;
  Network<double> net = random_network<double>({5, 4, 3}, 0.5, Activation::tanh(1.0), 37);
  const Matrix<double> x = random_inputs<double>(5, 3, 38);
  const Matrix<double> z = targets_for(3, 3);
  const FastSolver<double> solver = tight_fast();
  const auto j_sym = [&](const Network<double>& n) {
    return 0.5 * (contrastive_function(n, x, z, beta, solve_phases(solver, n, x, z, beta)) +
                  contrastive_function(n, x, z, -beta, solve_anti_nudged(solver, n, x, z, beta)));
  };
  const Network<double> updated = symmetric_step(net, x, solve_phases(solver, net, x, z, beta),
                                                 solve_anti_nudged(solver, net, x, z, beta), eta, beta);
  int checked = 0;
  for (Index p = 0; p < net.num_layers(); ++p) {
    for (Index s = 0; s < net.layer(p).cw().nnz(); s += 2) {
      Network<double> plus = net, minus = net;
      plus.layer(p).W().valuePtr()[s] += h;
      minus.layer(p).W().valuePtr()[s] -= h;
      const double grad = (j_sym(plus) - j_sym(minus)) / (2 * h);
      const double dw = updated.layer(p).W().valuePtr()[s] - net.layer(p).W().valuePtr()[s];
      EXPECT_NEAR(dw, -0.5 * eta * grad, 1e-6 * eta * (1 + std::abs(grad))) << "W layer " << p << " synapse " << s;
      ++checked;
    }
  }
  EXPECT_GT(checked, 10);
  // L learns from the +beta phase alone, as in the one-sided rule.
  const Phases ph = solve_phases(solver, net, x, z, beta);
  const Network<double> one_sided = contrastive_step(net, x, ph, eta, beta);
  for (Index p = 0; p < net.num_layers(); ++p) {
    for (Index s = 0; s < net.layer(p).cl().nnz(); ++s) {
      EXPECT_NEAR(updated.layer(p).L().valuePtr()[s], one_sided.layer(p).L().valuePtr()[s], 1e-14);
    }
  }
}

// As beta -> 0 the symmetric step tends to -eta/2 times the gradient of the free output's squared
// error with a discrepancy of O(beta^2) (a central difference in beta), where the one-sided step's
// is O(beta): halving beta quarters it, and at every beta it is the smaller of the two.
TEST(SymmetricNudgeTest, SmallBetaDiscrepancyFallsAsBetaSquared) {
  Network<double> net = random_network<double>({5, 4, 3}, 0.5, Activation::tanh(1.0), 39);
  const Matrix<double> x = random_inputs<double>(5, 4, 40);
  const Matrix<double> z = targets_for(3, 4);
  const FastSolver<double> solver = tight_fast();
  const std::vector<double> betas = {0.2, 0.1, 0.05};
  const std::vector<double> symmetric = output_error_discrepancy(net, x, z, betas, [&](double beta) {
    return symmetric_step(net, x, solve_phases(solver, net, x, z, beta), solve_anti_nudged(solver, net, x, z, beta),
                          1.0, beta);
  });
  const std::vector<double> one_sided = output_error_discrepancy(
      net, x, z, betas, [&](double beta) { return contrastive_step(net, x, solve_phases(solver, net, x, z, beta), 1.0, beta); });
  // Measured: 0.046, 0.012, 0.0031 against 0.093, 0.056, 0.031.
  for (std::size_t i = 0; i < betas.size(); ++i) {
    SCOPED_TRACE(betas[i]);
    EXPECT_LT(symmetric[i], one_sided[i]);
    if (i == 0) continue;
    EXPECT_LT(symmetric[i], 0.3 * symmetric[i - 1]);  // ~ 1/4: O(beta^2)
    EXPECT_GT(one_sided[i], 0.4 * one_sided[i - 1]);  // ~ 1/2: O(beta)
  }
  EXPECT_LT(symmetric.back(), 0.2 * one_sided.back());
  EXPECT_LT(symmetric.back(), 1e-2);
}

// With train.nudge = symmetric the trainer's batch is exactly: the free solve from rest, the
// +beta and the -beta phases from it, and apply_symmetric_contrastive_learning of the two.
TEST(SymmetricNudgeTest, TrainerBatchIsTheFreeSolveBothNudgedSolvesAndTheSymmetricStep) {
  Network<double> net = random_network<double>({6, 5, 3}, 0.5, Activation::tanh(1.0), 43);
  const OneBatch batch = one_contrastive_batch(Nudge::symmetric, 44);
  const FastSolver<double> solver;
  Network<double> trained = net;
  const std::vector<EpochMetrics> history = Trainer<double>(trained, solver, batch.options).fit(batch.data);

  const Matrix<double> x = batch.data.x.cast<double>();
  const Matrix<double> z = one_hot_targets<double>(batch.data.labels, 3, 0.8);
  const Phases plus = solve_phases(solver, net, x, z, 0.7);
  const Phases minus = solve_anti_nudged(solver, net, x, z, 0.7);
  expect_same_step(net, trained, symmetric_step(net, x, plus, minus, 0.05, 0.7));
  // The steps reported are those of all three phases.
  ASSERT_EQ(history.size(), 1u);
  const double expected_steps =
      plus.free.mean_iterations() + plus.nudged.mean_iterations() + minus.nudged.mean_iterations();
  EXPECT_NEAR(history[0].mean_iterations, expected_steps, 1e-9);
}
