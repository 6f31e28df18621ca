#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "simmatch/error.hpp"
#include "simmatch/trainer.hpp"
#include "test_networks.hpp"

using namespace simmatch;

namespace {

using test_support::random_dataset;

bool same_weights(const Network<double>& a, const Network<double>& b) {
  for (Index p = 0; p < a.num_layers(); ++p) {
    const auto& wa = a.layer(p).W();
    const auto& wb = b.layer(p).W();
    for (Index s = 0; s < wa.nonZeros(); ++s) {
      if (wa.valuePtr()[s] != wb.valuePtr()[s]) return false;
    }
    for (Index s = 0; s < a.layer(p).L().nonZeros(); ++s) {
      if (a.layer(p).L().valuePtr()[s] != b.layer(p).L().valuePtr()[s]) return false;
    }
  }
  return true;
}

TrainOptions small_options() {
  TrainOptions o;
  o.epochs = 4;
  o.samples_per_epoch = 30;
  o.batch_size = 4;
  o.seed = 9;
  o.cost_samples = 20;
  o.schedule = LearningRateSchedule::inverse_decay(0.05, 0.5, 1e-3);
  return o;
}

}  // namespace

TEST(TrainerTest, CostDecreasesOnATinyProblem) {
  Network<double> net = test_support::random_network<double>({8, 5}, 0.0, Activation::tanh(), 1);
  const Dataset data = random_dataset(8, 60, 2);
  EulerSolver<double> solver;
  TrainOptions o = small_options();
  o.epochs = 8;
  Trainer<double> trainer(net, solver, o);
  const auto history = trainer.fit(data);
  ASSERT_EQ(history.size(), 8u);
  EXPECT_LT(history.back().cost, history.front().cost);
  for (const auto& m : history) {
    EXPECT_EQ(m.samples, 30);
    EXPECT_GT(m.mean_iterations, 1.0);
    EXPECT_GT(m.converged_fraction, 0.9);
  }
}

TEST(TrainerTest, ResumingFromACheckpointPositionGivesTheSameModel) {
  const Dataset data = random_dataset(6, 25, 3);
  EulerSolver<double> solver;
  Network<double> full = test_support::random_network<double>({6, 4, 3}, 0.5, Activation::tanh(), 4);
  Network<double> resumed = full;
  Trainer<double>(full, solver, small_options()).fit(data);

  // Stop after 5 batches of epoch 2 (a checkpoint), then continue from there.
  TrainOptions o = small_options();
  o.checkpoint_every = 5;
  Network<double> snapshot = resumed;
  TrainPosition saved;
  TrainCallbacks cb;
  cb.on_checkpoint = [&](const TrainPosition& pos) {
    if (pos.epoch == 1 && pos.batch == 5) {
      snapshot = resumed;
      saved = pos;
    }
  };
  const auto uninterrupted = Trainer<double>(resumed, solver, o).fit(data, cb);
  ASSERT_EQ(saved.batch, 5);
  EXPECT_EQ(saved.tally.samples, 5 * o.batch_size);
  EXPECT_GT(saved.tally.iterations, saved.tally.samples);
  const auto after_resume = Trainer<double>(snapshot, solver, o).fit(data, {}, saved);
  EXPECT_TRUE(same_weights(full, snapshot));
  EXPECT_TRUE(same_weights(full, resumed));
  // The resumed epoch's metrics cover the batches before the checkpoint too.
  ASSERT_EQ(after_resume.size() + 1, uninterrupted.size());
  for (std::size_t e = 0; e < after_resume.size(); ++e) {
    const EpochMetrics& a = after_resume[e];
    const EpochMetrics& b = uninterrupted[e + 1];
    EXPECT_EQ(a.epoch, b.epoch);
    EXPECT_EQ(a.samples, b.samples);
    EXPECT_EQ(a.skipped, b.skipped);
    EXPECT_EQ(a.mean_iterations, b.mean_iterations);
    EXPECT_EQ(a.converged_fraction, b.converged_fraction);
    EXPECT_EQ(a.cost, b.cost);
  }
  EXPECT_GE(after_resume.front().seconds, saved.tally.seconds);
}

TEST(TrainerTest, BatchesWalkSeededPermutations) {
  Network<double> net = test_support::random_network<double>({3, 2}, 0.0, Activation::tanh(), 5);
  EulerSolver<double> solver;
  TrainOptions o;
  o.batch_size = 4;
  o.samples_per_epoch = 6;
  o.seed = 11;
  Trainer<double> trainer(net, solver, o);
  // Epochs 0 and 1 together cover the 10 samples of the first pass exactly once plus 2 of the next.
  std::vector<Index> seen;
  for (int e = 0; e < 2; ++e) {
    for (Index b = 0; b < trainer.batches_per_epoch(10); ++b) {
      const auto idx = trainer.batch_indices(10, e, b);
      seen.insert(seen.end(), idx.begin(), idx.end());
    }
  }
  ASSERT_EQ(seen.size(), 12u);
  std::vector<Index> first(seen.begin(), seen.begin() + 10);
  std::sort(first.begin(), first.end());
  for (Index i = 0; i < 10; ++i) EXPECT_EQ(first[static_cast<std::size_t>(i)], i);
  EXPECT_EQ(trainer.batch_indices(10, 1, 1), Trainer<double>(net, solver, o).batch_indices(10, 1, 1));
}

TEST(TrainerTest, NanInDataStopsWithEpochAndSample) {
  Network<double> net = test_support::random_network<double>({4, 3}, 0.0, Activation::tanh(), 6);
  Dataset data = random_dataset(4, 10, 7);
  data.x(2, 3) = std::numeric_limits<float>::quiet_NaN();
  EulerSolver<double> solver;
  TrainOptions o;
  o.epochs = 1;
  o.batch_size = 10;
  o.shuffle = false;
  try {
    Trainer<double>(net, solver, o).fit(data);
    FAIL() << "NaN accepted";
  } catch (const NumericalError& e) {
    EXPECT_NE(std::string(e.what()).find("epoch 1, sample 3"), std::string::npos) << e.what();
  }
}

TEST(TrainerTest, SkipPolicyLeavesBadSamplesOutAndCountsThem) {
  Network<double> net = test_support::random_network<double>({4, 3}, 0.0, Activation::tanh(), 6);
  Dataset data = random_dataset(4, 10, 7);
  data.x(2, 3) = std::numeric_limits<float>::infinity();
  EulerSolver<double> solver;
  TrainOptions o;
  o.epochs = 2;
  o.batch_size = 5;
  o.on_nan = FailurePolicy::skip;
  o.cost_samples = 0;
  const auto history = Trainer<double>(net, solver, o).fit(data);
  EXPECT_EQ(history[0].skipped, 1);
  EXPECT_EQ(history[1].skipped, 1);
  EXPECT_TRUE(std::isnan(history[0].cost));
  for (Index s = 0; s < net.layer(0).W().nonZeros(); ++s) ASSERT_TRUE(std::isfinite(net.layer(0).W().valuePtr()[s]));
}

TEST(TrainerTest, NonConvergencePolicyStopsWhenAsked) {
  Network<double> net = test_support::random_network<double>({4, 3}, 0.0, Activation::tanh(), 6);
  const Dataset data = random_dataset(4, 6, 7);
  SolverOptions so;
  so.max_steps = 2;
  EulerSolver<double> solver(so);
  TrainOptions o;
  o.epochs = 1;
  o.on_nonconvergence = FailurePolicy::stop;
  EXPECT_THROW(Trainer<double>(net, solver, o).fit(data), NumericalError);
  o.on_nan = FailurePolicy::keep;
  EXPECT_THROW(Trainer<double>(net, solver, o), ConfigError);
}

TEST(TrainerTest, LayerScalesMustMatchTheNetwork) {
  Network<double> net = test_support::random_network<double>({4, 3, 2}, 0.2, Activation::tanh(), 6);
  EulerSolver<double> solver;
  TrainOptions o;
  o.layer_eta_scales = {1.0};
  EXPECT_THROW(Trainer<double>(net, solver, o), ConfigError);
  o.layer_eta_scales = {1.0, -1.0};
  EXPECT_THROW(Trainer<double>(net, solver, o), ConfigError);
  // Scaling only the top layer leaves the first layer's first update as it was.
  const Dataset data = random_dataset(4, 6, 7);
  o.epochs = 1;
  o.samples_per_epoch = 1;
  o.cost_samples = 0;
  o.layer_eta_scales.clear();
  Network<double> plain = net, scaled = net;
  Trainer<double>(plain, solver, o).fit(data);
  o.layer_eta_scales = {1.0, 0.5};
  Trainer<double>(scaled, solver, o).fit(data);
  EXPECT_TRUE(Eigen::MatrixXd(plain.layer(0).W()).isApprox(Eigen::MatrixXd(scaled.layer(0).W()), 0.0));
  EXPECT_FALSE(Eigen::MatrixXd(plain.layer(1).W()).isApprox(Eigen::MatrixXd(scaled.layer(1).W()), 1e-12));
}

TEST(TrainerTest, LateralRatesMustMatchTheNetworkAndChangeOnlyL) {
  Network<double> net = test_support::random_network<double>({4, 3, 2}, 0.2, Activation::tanh(), 8);
  EulerSolver<double> solver;
  TrainOptions o;
  const auto message = [&] {
    try {
      Trainer<double>(net, solver, o);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no ConfigError");
  };
  o.layer_lateral_rates = {1.0, 1.0, 1.0};
  EXPECT_NE(message().find("(lateral_rate)"), std::string::npos) << message();
  o.layer_lateral_rates = {0.0, 1.0};
  EXPECT_NE(message().find("layers.0.lateral_rate must be > 0"), std::string::npos) << message();
  const Dataset data = random_dataset(4, 6, 9);
  o.epochs = 1;
  o.samples_per_epoch = 1;
  o.cost_samples = 0;
  o.layer_lateral_rates.clear();
  Network<double> plain = net, fast_lateral = net;
  Trainer<double>(plain, solver, o).fit(data);
  o.layer_lateral_rates = {5.0, 5.0};
  Trainer<double>(fast_lateral, solver, o).fit(data);
  for (Index p = 0; p < 2; ++p) {
    EXPECT_TRUE(Eigen::MatrixXd(plain.layer(p).W()).isApprox(Eigen::MatrixXd(fast_lateral.layer(p).W()), 0.0));
    EXPECT_FALSE(Eigen::MatrixXd(plain.layer(p).L()).isApprox(Eigen::MatrixXd(fast_lateral.layer(p).L()), 1e-12));
  }
}

TEST(TrainerTest, DivergingWeightsAreReported) {
  Network<double> net = test_support::random_network<double>({4, 3}, 0.0, Activation::linear(), 6);
  Dataset data = random_dataset(4, 6, 7);
  data.x *= 1e30f;
  EulerSolver<double> solver;
  TrainOptions o;
  o.epochs = 1;
  o.schedule = LearningRateSchedule::constant(1e300);
  EXPECT_THROW(Trainer<double>(net, solver, o).fit(data), NumericalError);
}

TEST(TrainerTest, ShouldStopInterruptsBetweenBatches) {
  Network<double> net = test_support::random_network<double>({4, 3}, 0.0, Activation::tanh(), 6);
  const Dataset data = random_dataset(4, 20, 7);
  EulerSolver<double> solver;
  int batches = 0;
  TrainCallbacks cb;
  cb.on_batch = [&](const BatchProgress&) { ++batches; };
  cb.should_stop = [&] { return batches == 3; };  // asked while batch 4 is solved
  EXPECT_THROW(Trainer<double>(net, solver, TrainOptions{}).fit(data, cb), Interrupted);
  EXPECT_EQ(batches, 4);  // batch 4 is completed (and reported), then training stops
}

TEST(TrainerTest, EncodeReturnsEveryLayerInDataOrder) {
  Network<double> net = test_support::random_network<double>({5, 4, 2}, 0.3, Activation::tanh(), 8);
  const Dataset data = random_dataset(5, 7, 9);
  EulerSolver<double> solver;
  const auto all = encode(net, solver, data, 3);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].rows(), 2);
  EXPECT_EQ(all[1].cols(), 7);
  FixedPoints<double> one;
  solver.solve(net, data.x.col(5).cast<double>(), one);
  EXPECT_LT((one.r[1].col(0) - all[1].col(5)).norm(), 1e-12);
}

TEST(TrainerTest, EncodingCountsTheSamplesLeftShortOfTheirFixedPoint) {
  const Network<double> net = test_support::random_network<double>({5, 4, 2}, 0.3, Activation::tanh(), 8);
  const Dataset data = random_dataset(5, 7, 9);
  const auto encoded = [&](const DynamicsSolver<double>& solver) {
    SolveReport report;
    encode(net, solver, data, 3, &report);
    EXPECT_EQ(report.samples, 7);
    return report;
  };
  const EulerSolver<double> settles;
  SolveReport report = encoded(settles);
  EXPECT_EQ(report.unconverged, 0);
  EXPECT_EQ(report.scheduled, 7);  // the Euler method follows the schedule for every sample
  EXPECT_EQ(unconverged_warning(report, settles.options(), "encoded"), "");

  // Two steps from rest do not reach any sample's fixed point: every sample is counted, by each
  // encoding entry point, and added to what the report already holds.
  SolverOptions short_of;
  short_of.max_steps = 2;
  const EulerSolver<double> stops(short_of);
  SolveReport shortfall = encoded(stops);
  EXPECT_EQ(shortfall.unconverged, 7);
  encode_layer(net, stops, data, 1, Pooling::from_text("none"), 4, &shortfall);
  dataset_correlations(net, stops, data, 5, 2, &shortfall);
  EXPECT_EQ(shortfall.samples, 7 + 7 + 5);
  EXPECT_EQ(shortfall.unconverged, 7 + 7 + 5);
  EXPECT_EQ(unconverged_warning(shortfall, stops.options(), "encoded"),
            "19 of 19 samples encoded did not reach their fixed point within solver.max_steps = 2 (residual above "
            "solver.tolerance = 0.0001): their activities are the last state reached; raise solver.max_steps");
  report.merge(shortfall);
  EXPECT_EQ(report.samples, 26);
  EXPECT_EQ(report.unconverged, 19);
  EXPECT_EQ(report.scheduled, 26);
}

namespace {

// Two ordinary batches, then weights near the top of the double range: the dynamics stay finite
// (tanh saturates), and the update W + eta (r x - W) at eta = 100 overflows. The failing batch
// must leave every weight as it was.
void expect_diverging_update_rolled_back(Network<double> net, const Dataset& data) {
  EulerSolver<double> solver;
  TrainOptions o;
  o.epochs = 1;
  o.batch_size = 3;
  o.shuffle = false;
  o.cost_samples = 0;
  o.schedule = LearningRateSchedule::constant(0.05);
  o.samples_per_epoch = 6;
  Trainer<double>(net, solver, o).fit(data);
  auto& w = net.layer(0).W();  // members of a tied parameter share its sign, so ties hold
  for (Index s = 0; s < w.nonZeros(); ++s) w.valuePtr()[s] = w.valuePtr()[s] > 0 ? 1e307 : -1e307;
  const std::vector<double> before = test_support::all_weights(net);
  o.schedule = LearningRateSchedule::constant(100);
  try {
    Trainer<double>(net, solver, o).fit(data);
    FAIL() << "a diverging update was accepted";
  } catch (const NumericalError& e) {
    EXPECT_NE(std::string(e.what()).find("epoch 1, batch 1: weights became NaN/Inf"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("as they were before this batch"), std::string::npos) << e.what();
  }
  EXPECT_EQ(test_support::all_weights(net), before);
}

}  // namespace

TEST(TrainerTest, DivergingUpdateLeavesTheWeightsAsBeforeTheFailingBatch) {
  expect_diverging_update_rolled_back(test_support::random_network<double>({4, 3}, 0.0, Activation::tanh(), 6),
                                      random_dataset(4, 12, 7));
}

// The same for a conv2d layer, whose snapshot holds one value per tied parameter: every site's
// copy comes back.
TEST(TrainerTest, DivergingUpdateLeavesEverySiteOfAConvLayerAsBefore) {
  expect_diverging_update_rolled_back(
      test_support::conv_network<double>(Grid{5, 5, 1}, {Conv2d{Grid{}, 3, 1, Padding::same, 2, 0.0}}, 0.0,
                                         Activation::tanh(), 8),
      random_dataset(25, 12, 9));
}

// The epoch metrics say how the solver reached the fixed points: directly where the network
// provably has one, along the trajectory where it may not, by Euler steps with the euler method.
TEST(TrainerTest, MetricsReportTheSolverPaths) {
  TrainOptions o = small_options();
  o.epochs = 1;
  o.cost_samples = 0;
  o.schedule = LearningRateSchedule::constant(1e-6);  // the weights, hence the paths, stay put
  const Dataset data = random_dataset(8, 60, 2);
  Network<double> convex = test_support::random_network<double>({8, 5}, 0.0, Activation::tanh(), 1);
  Network<double> indefinite = convex;
  // Off-diagonal lateral weights above the diagonal ones: L, hence the energy, is not convex.
  auto& l = indefinite.layer(0).L();
  for (Index i = 0; i < l.outerSize(); ++i) {
    for (SparseWeights<double>::InnerIterator it(l, i); it; ++it) it.valueRef() = it.col() == i ? 0.3 : 0.9;
  }
  FastSolver<double> fast;
  EpochMetrics direct = Trainer<double>(convex, fast, o).fit(data).back();
  EXPECT_EQ(direct.continued_fraction, 0.0);
  EXPECT_EQ(direct.followed_fraction, 0.0);
  EpochMetrics along = Trainer<double>(indefinite, fast, o).fit(data).back();
  EXPECT_GT(along.continued_fraction + along.followed_fraction, 0.99);
  EulerSolver<double> euler;
  EpochMetrics reference = Trainer<double>(convex, euler, o).fit(data).back();
  EXPECT_EQ(reference.followed_fraction, 1.0);
}
