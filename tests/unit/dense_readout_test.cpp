// The dense read-out: it reaches liblinear's optimum (weights, decision values, predictions), gives
// the same bits on any number of threads, handles the bias, class weights and two-class problems as
// liblinear does, warm-starts the C grid without moving the optimum, and refuses bad inputs alike.
#include <gtest/gtest.h>

#include <omp.h>

#include <random>

#include "simmatch/error.hpp"
#include "simmatch/readout.hpp"

namespace simmatch {
namespace {

// `classes` overlapping clusters in `features` dimensions: each class shifts its own few features
// (so the problem is neither separable nor trivial), plus dense noise. Labels 3, 6, 9, ...
void clusters(Index samples, Index features, int classes, std::uint64_t seed, Eigen::MatrixXf& x, std::vector<int>& y,
              float shift = 0.6f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  x.resize(features, samples);
  y.resize(static_cast<std::size_t>(samples));
  for (Index t = 0; t < samples; ++t) {
    const int label = static_cast<int>(t % classes);
    for (Index f = 0; f < features; ++f) x(f, t) = noise(rng) + (f % classes == label ? shift : 0.0f);
    y[static_cast<std::size_t>(t)] = 3 * (label + 1);
  }
}

ReadoutOptions with(ReadoutSolver solver, double tolerance) {
  ReadoutOptions o;
  o.solver = solver;
  o.tolerance = tolerance;
  return o;
}

// Relative distance of two weight sets; decision values compared on the samples themselves.
double relative(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) { return (a - b).norm() / b.norm(); }

Eigen::MatrixXd decision_values(const LinearReadout& m, const Eigen::MatrixXf& x) {
  return (m.weights() * x.cast<double>()).colwise() + m.biases();
}

void expect_same_optimum(const LinearReadout& dense, const LinearReadout& lib, const Eigen::MatrixXf& x) {
  ASSERT_TRUE(dense.converged());
  ASSERT_TRUE(lib.converged());
  EXPECT_EQ(dense.classes(), lib.classes());
  EXPECT_LT(relative(dense.weights(), lib.weights()), 1e-4);
  EXPECT_LT((dense.biases() - lib.biases()).norm(), 1e-4 * (1 + lib.biases().norm()));
  EXPECT_LT(relative(decision_values(dense, x), decision_values(lib, x)), 1e-4);
  EXPECT_EQ(dense.predict(x), lib.predict(x));
}

TEST(DenseReadout, ReachesLiblinearsOptimumOnManyClasses) {
  Eigen::MatrixXf x;
  std::vector<int> y;
  clusters(1500, 120, 5, 1, x, y);
  for (double c : {0.01, 1.0}) {
    const LinearReadout dense = LinearReadout::fit(x, y, c, with(ReadoutSolver::dense, 1e-8));
    const LinearReadout lib = LinearReadout::fit(x, y, c, with(ReadoutSolver::primal, 1e-8));
    SCOPED_TRACE(c);
    expect_same_optimum(dense, lib, x);
  }
}

TEST(DenseReadout, AtTheDefaultToleranceBothSolversPredictAlike) {
  // Both stop at liblinear's rule |g| <= tol min(pos, neg) / l |g(0)|, so their weights differ by
  // at most that much gradient; on these samples no prediction changes.
  Eigen::MatrixXf x;
  std::vector<int> y;
  clusters(1500, 120, 5, 2, x, y);
  const LinearReadout dense = LinearReadout::fit(x, y, 0.1, with(ReadoutSolver::dense, 1e-4));
  const LinearReadout lib = LinearReadout::fit(x, y, 0.1, with(ReadoutSolver::primal, 1e-4));
  EXPECT_LT(relative(dense.weights(), lib.weights()), 1e-3);
  EXPECT_EQ(dense.predict(x), lib.predict(x));
}

TEST(DenseReadout, TwoClassesBalancedWeightsAndNoBiasMatchLiblinear) {
  Eigen::MatrixXf x;
  std::vector<int> y;
  clusters(900, 40, 3, 3, x, y);
  for (auto& label : y) label = label == 3 ? 3 : 9;  // two classes, one twice the other's size
  for (double bias : {1.0, 2.5, -1.0}) {
    for (bool balanced : {false, true}) {
      ReadoutOptions d = with(ReadoutSolver::dense, 1e-8), l = with(ReadoutSolver::primal, 1e-8);
      d.bias = l.bias = bias;
      d.balanced = l.balanced = balanced;
      const LinearReadout dense = LinearReadout::fit(x, y, 0.5, d);
      const LinearReadout lib = LinearReadout::fit(x, y, 0.5, l);
      SCOPED_TRACE(testing::Message() << "bias " << bias << " balanced " << balanced);
      EXPECT_EQ(dense.weights().rows(), 1);
      expect_same_optimum(dense, lib, x);
      if (bias < 0) {
        EXPECT_EQ(dense.biases()(0), 0.0);
      }
    }
  }
}

TEST(DenseReadout, BalancedWeightsMatchLiblinearOnManyClasses) {
  Eigen::MatrixXf x;
  std::vector<int> y;
  clusters(1200, 60, 4, 4, x, y);
  for (std::size_t i = 0; i < y.size(); i += 3) y[i] = 3;  // class 3 is now much the largest
  ReadoutOptions d = with(ReadoutSolver::dense, 1e-8), l = with(ReadoutSolver::primal, 1e-8);
  d.balanced = l.balanced = true;
  expect_same_optimum(LinearReadout::fit(x, y, 0.2, d), LinearReadout::fit(x, y, 0.2, l), x);
}

TEST(DenseReadout, GivesTheSameBitsOnAnyNumberOfThreads) {
  Eigen::MatrixXf x;
  std::vector<int> y;
  const int threads = omp_get_max_threads();
  // Three chunks of samples per pass (4 classes), and one chunk (10 classes) whose block products
  // are large enough that Eigen would spread them over threads by itself.
  for (const auto& [samples, features] : {std::pair<Index, Index>{4000, 600}, std::pair<Index, Index>{300, 784}}) {
    clusters(samples, features, samples > 1000 ? 4 : 10, 5, x, y);
    std::vector<LinearReadout> fits;
    for (int t : {1, 2, 3}) {
      omp_set_num_threads(t);
      fits.push_back(LinearReadout::fit(x, y, 1.0, with(ReadoutSolver::dense, 1e-4)));
    }
    omp_set_num_threads(threads);
    for (std::size_t i = 1; i < fits.size(); ++i) {
      EXPECT_EQ(fits[i].weights(), fits[0].weights()) << samples << " samples, " << i + 1 << " threads";
      EXPECT_EQ(fits[i].biases(), fits[0].biases()) << samples << " samples, " << i + 1 << " threads";
    }
  }
}

TEST(DenseReadout, ReadsAMatrixInPlaceThroughAMap) {
  // A Map (e.g. of a memory-mapped NPY file) and a block of a wider matrix are read without a copy
  // and give the model of the matrix itself.
  Eigen::MatrixXf x;
  std::vector<int> y;
  clusters(600, 30, 3, 6, x, y);
  const LinearReadout owned = LinearReadout::fit(x, y, 1.0);
  const Eigen::Map<const Eigen::MatrixXf> mapped(x.data(), x.rows(), x.cols());
  EXPECT_EQ(LinearReadout::fit(mapped, y, 1.0).weights(), owned.weights());
  Eigen::MatrixXf wide = Eigen::MatrixXf::Zero(x.rows() + 5, x.cols());
  wide.topRows(x.rows()) = x;
  const LinearReadout block = LinearReadout::fit(wide.topRows(x.rows()), y, 1.0);
  EXPECT_EQ(block.weights(), owned.weights());
}

TEST(DenseReadout, TheWarmStartedGridEndsAtTheColdStartsOptimum) {
  Eigen::MatrixXf xtr, xte;
  std::vector<int> ytr, yte;
  clusters(1500, 80, 4, 7, xtr, ytr);
  clusters(400, 80, 4, 8, xte, yte);
  ReadoutOptions grid = with(ReadoutSolver::dense, 1e-8);
  grid.c_grid = {1.0, 0.01, 0.1};  // any order; fits run in ascending C
  const ReadoutReport r = evaluate_readout(xtr, ytr, xte, yte, grid);
  ASSERT_EQ(r.fits.size(), 4u);
  EXPECT_EQ(r.fits[0].c, 0.01);
  EXPECT_EQ(r.fits[3].c, r.c);
  EXPECT_EQ(r.fits[3].samples, 1500);
  ASSERT_EQ(r.validation.size(), 3u);
  EXPECT_EQ(r.validation[0].first, 1.0);  // reported in the grid's own order
  ReadoutOptions one = grid;
  one.c_grid = {r.c};
  const ReadoutReport cold = evaluate_readout(xtr, ytr, xte, yte, one);
  EXPECT_EQ(cold.test_accuracy, r.test_accuracy);
  EXPECT_EQ(cold.confusion, r.confusion);
  EXPECT_LT(r.fits[3].iterations, cold.fits[0].iterations);  // the warm start saved work
}

TEST(DenseReadout, TheReportMatchesLiblinearsOnTheSameSplit) {
  Eigen::MatrixXf xtr, xte;
  std::vector<int> ytr, yte;
  clusters(1200, 60, 3, 9, xtr, ytr);
  clusters(300, 60, 3, 10, xte, yte);
  ReadoutOptions d = with(ReadoutSolver::dense, 1e-8), l = with(ReadoutSolver::primal, 1e-8);
  d.c_grid = l.c_grid = {0.01, 0.1, 1.0};
  const ReadoutReport rd = evaluate_readout(xtr, ytr, xte, yte, d);
  const ReadoutReport rl = evaluate_readout(xtr, ytr, xte, yte, l);
  EXPECT_EQ(rd.validation, rl.validation);
  EXPECT_EQ(rd.c, rl.c);
  EXPECT_EQ(rd.confusion, rl.confusion);
  EXPECT_EQ(rd.train_accuracy, rl.train_accuracy);
  EXPECT_EQ(readout_to_json(rd)["solver"], "dense");
  EXPECT_GT(readout_to_json(rd)["fits"][0]["passes"].get<Index>(), 0);
}

TEST(DenseReadout, BadInputsAreTheSameErrorsAsLiblinears) {
  for (ReadoutSolver solver : {ReadoutSolver::dense, ReadoutSolver::primal}) {
    const ReadoutOptions o = with(solver, 1e-4);
    Eigen::MatrixXf x = Eigen::MatrixXf::Ones(2, 3);
    EXPECT_THROW(LinearReadout::fit(x, {0, 1}, 1.0, o), ShapeError);
    EXPECT_THROW(LinearReadout::fit(x, {4, 4, 4}, 1.0, o), ShapeError);
    EXPECT_THROW(LinearReadout::fit(x, {0, 1, 0}, 0.0, o), ConfigError);
    EXPECT_THROW(LinearReadout::fit(x, {0, 1, 0}, std::numeric_limits<double>::infinity(), o), ConfigError);
    EXPECT_THROW(LinearReadout::fit(Eigen::MatrixXf(0, 3), {0, 1, 0}, 1.0, o), ShapeError);
    ReadoutOptions bad_tolerance = o;
    bad_tolerance.tolerance = 0;
    EXPECT_THROW(LinearReadout::fit(x, {0, 1, 0}, 1.0, bad_tolerance), ConfigError);
    x(1, 2) = std::numeric_limits<float>::infinity();
    EXPECT_THROW(LinearReadout::fit(x, {0, 1, 0}, 1.0, o), NumericalError);
    ReadoutOptions grid = o;
    grid.c_grid = {0.1, 1.0};
    EXPECT_THROW(evaluate_readout(Eigen::MatrixXf::Ones(2, 4), {0, 1, 0}, Eigen::MatrixXf::Ones(2, 1), {0}, grid),
                 ShapeError);
    EXPECT_THROW(evaluate_readout(Eigen::MatrixXf::Ones(2, 4), {0, 1, 0, 1}, Eigen::MatrixXf::Ones(2, 1), {0, 1}, grid),
                 ShapeError);
  }
}

TEST(DenseReadout, AStopRequestEndsTheFitWithInterrupted) {
  Eigen::MatrixXf x;
  std::vector<int> y;
  clusters(500, 20, 3, 11, x, y);
  ReadoutOptions o;
  int asked = 0;
  o.should_stop = [&asked] { return ++asked > 3; };
  EXPECT_THROW(LinearReadout::fit(x, y, 1.0, o), Interrupted);
  EXPECT_EQ(asked, 4);  // asked before each pass, and nothing ran after the answer
}

TEST(DenseReadout, TheIterationCapIsReportedAsNotConverged) {
  Eigen::MatrixXf x;
  std::vector<int> y;
  clusters(800, 50, 4, 12, x, y);
  ReadoutOptions o = with(ReadoutSolver::dense, 1e-10);
  o.max_iterations = 1;
  EXPECT_FALSE(LinearReadout::fit(x, y, 1.0, o).converged());
  o.max_iterations = 0;
  EXPECT_THROW(LinearReadout::fit(x, y, 1.0, o), ConfigError);
}

TEST(LinearReadout, FromWeightsChecksItsParts) {
  const LinearReadout m = LinearReadout::from_weights({1, 2}, Eigen::MatrixXd::Ones(1, 3), Eigen::VectorXd::Zero(1), 1.0);
  Eigen::MatrixXf x(3, 2);
  x << 1, -1, 1, -1, 1, -1;
  EXPECT_EQ(m.predict(x), (std::vector<int>{1, 2}));
  EXPECT_THROW(LinearReadout::from_weights({2, 1}, Eigen::MatrixXd::Ones(1, 3), Eigen::VectorXd::Zero(1), 1.0), ShapeError);
  EXPECT_THROW(LinearReadout::from_weights({1, 2, 3}, Eigen::MatrixXd::Ones(1, 3), Eigen::VectorXd::Zero(1), 1.0),
               ShapeError);
}

}  // namespace
}  // namespace simmatch
