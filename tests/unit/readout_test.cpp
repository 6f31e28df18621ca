// The read-out: separable problems are learnt, C is chosen on validation data, reports; the
// liblinear solvers are deterministic, also when two read-outs overlap in one process.
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <omp.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include "eval/blas_threads.hpp"
#include "simmatch/error.hpp"
#include "simmatch/readout.hpp"

namespace simmatch {
namespace {

// Three Gaussian blobs in 5 dimensions, `per_class` samples each.
void blobs(Index per_class, std::uint64_t seed, Eigen::MatrixXf& x, std::vector<int>& y, float spread = 0.3f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, spread);
  x.resize(5, 3 * per_class);
  y.clear();
  for (Index t = 0; t < 3 * per_class; ++t) {
    const int label = static_cast<int>(t % 3);
    for (Index i = 0; i < 5; ++i) x(i, t) = (i == label ? 2.0f : 0.0f) + noise(rng);
    y.push_back(label * 10 + 1);  // arbitrary label values
  }
}

TEST(LinearReadout, SeparatesWellSeparatedBlobs) {
  Eigen::MatrixXf x;
  std::vector<int> y;
  blobs(40, 1, x, y);
  const LinearReadout model = LinearReadout::fit(x, y, 1.0);
  EXPECT_EQ(model.classes().size(), 3u);
  EXPECT_EQ(model.weights().rows(), 3);
  EXPECT_EQ(accuracy(y, model.predict(x)), 1.0);
}

TEST(LinearReadout, TwoClassProblemsUseOneDecisionRow) {
  Eigen::MatrixXf x(1, 4);
  x << -2, -1, 1, 2;
  const std::vector<int> y{7, 7, 3, 3};
  const LinearReadout model = LinearReadout::fit(x, y, 10.0);
  EXPECT_EQ(model.weights().rows(), 1);
  EXPECT_EQ(model.predict(x), y);
}

TEST(LinearReadout, BadInputsAreClearErrors) {
  Eigen::MatrixXf x = Eigen::MatrixXf::Ones(2, 3);
  EXPECT_THROW(LinearReadout::fit(x, {0, 1}, 1.0), ShapeError);
  EXPECT_THROW(LinearReadout::fit(x, {0, 0, 0}, 1.0), ShapeError);
  EXPECT_THROW(LinearReadout::fit(x, {0, 1, 0}, 0.0), ConfigError);
  x(0, 0) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(LinearReadout::fit(x, {0, 1, 0}, 1.0), NumericalError);
  const LinearReadout model = LinearReadout::fit(Eigen::MatrixXf::Identity(2, 2), {0, 1}, 1.0);
  EXPECT_THROW(model.predict(Eigen::MatrixXf::Ones(3, 1)), ShapeError);
}

TEST(LinearReadout, PrimalAndDualSolversReachTheSameOptimum) {
  // The L2-regularised squared-hinge objective is strictly convex: both solvers, run to a tight
  // tolerance, must land on the same weights.
  Eigen::MatrixXf x;
  std::vector<int> y;
  blobs(50, 4, x, y, 0.9f);
  ReadoutOptions primal, dual;
  primal.solver = ReadoutSolver::primal;
  dual.solver = ReadoutSolver::dual;
  primal.tolerance = dual.tolerance = 1e-8;
  const LinearReadout a = LinearReadout::fit(x, y, 0.5, primal);
  const LinearReadout b = LinearReadout::fit(x, y, 0.5, dual);
  ASSERT_TRUE(a.converged());
  ASSERT_TRUE(b.converged());
  EXPECT_LT((a.weights() - b.weights()).norm(), 1e-4 * a.weights().norm());
  EXPECT_LT((a.biases() - b.biases()).norm(), 1e-4 * (1 + a.biases().norm()));
}

TEST(LinearReadout, ParallelClassesGiveTheSameModelAsOneThread) {
  Eigen::MatrixXf x;
  std::vector<int> y;
  blobs(40, 6, x, y, 1.0f);
  ReadoutOptions primal;
  primal.solver = ReadoutSolver::primal;
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const LinearReadout serial = LinearReadout::fit(x, y, 1.0, primal);
  omp_set_num_threads(3);
  const LinearReadout parallel = LinearReadout::fit(x, y, 1.0, primal);
  omp_set_num_threads(threads);
  EXPECT_EQ(serial.weights(), parallel.weights());
  EXPECT_EQ(serial.biases(), parallel.biases());
}

using SetThreads = void (*)(int);
using GetThreads = int (*)();

// OpenBLAS's thread-count functions, or null when liblinear's BLAS is another one.
SetThreads openblas_set() { return reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")); }
GetThreads openblas_get() { return reinterpret_cast<GetThreads>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads")); }

// `samples` samples of 12,545 features in 3 classes: vectors long enough for OpenBLAS to split them.
void long_vectors(Eigen::MatrixXf& x, std::vector<int>& y, Index samples = 300) {
  const Index features = 12545;
  x.resize(features, samples);
  y.resize(static_cast<std::size_t>(samples));
  std::mt19937_64 rng(3);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  for (Index t = 0; t < samples; ++t) {
    y[static_cast<std::size_t>(t)] = static_cast<int>(t % 3);
    for (Index f = 0; f < features; ++f) x(f, t) = noise(rng) + (f % 3 == t % 3 ? 0.05f : 0.0f);
  }
}

TEST(LinearReadout, TheModelDoesNotDependOnBlasThreads) {
  // liblinear's BLAS is OpenBLAS on Debian, which splits vectors this long over its threads.
  const auto set = openblas_set();
  const auto get = openblas_get();
  if (set == nullptr || get == nullptr) GTEST_SKIP() << "liblinear's BLAS is not OpenBLAS";
  Eigen::MatrixXf x;
  std::vector<int> y;
  long_vectors(x, y);
  ReadoutOptions primal;
  primal.solver = ReadoutSolver::primal;
  const int before = get();
  set(1);
  const LinearReadout one = LinearReadout::fit(x, y, 1.0, primal);
  set(4);
  const int asked = get();
  const LinearReadout many = LinearReadout::fit(x, y, 1.0, primal);
  EXPECT_EQ(get(), asked);  // the caller's setting is given back
  set(before);
  EXPECT_EQ(one.weights(), many.weights());
  EXPECT_EQ(one.biases(), many.biases());
}

TEST(LinearReadout, OverlappingReadoutsKeepBlasSingleThreadedUntilTheLastEnds) {
  // Read-out A starts; B starts while A trains; A ends while B still trains. B must still see a
  // single-threaded BLAS, and once B ends the count from before A comes back. (Saving and
  // restoring the count in each read-out gets both wrong: A restores 4 under B, B restores 1.)
  const auto set = openblas_set();
  const auto get = openblas_get();
  if (set == nullptr || get == nullptr) GTEST_SKIP() << "liblinear's BLAS is not OpenBLAS";
  Eigen::MatrixXf x;
  std::vector<int> y;
  blobs(20, 8, x, y);
  const int before = get();
  set(4);
  std::mutex mutex;
  std::condition_variable changed;
  bool a_started = false, b_started = false, a_done = false;
  int b_saw = -1;
  const auto wait_for = [&](bool& flag) {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [&] { return flag; });
  };
  const auto raise = [&](bool& flag) {
    const std::lock_guard<std::mutex> lock(mutex);
    flag = true;
    changed.notify_all();
  };
  ReadoutOptions a_options, b_options;
  a_options.solver = b_options.solver = ReadoutSolver::primal;
  std::once_flag a_once, b_once;
  a_options.should_stop = [&] {
    std::call_once(a_once, [&] {
      raise(a_started);
      wait_for(b_started);
    });
    return false;
  };
  b_options.should_stop = [&] {
    std::call_once(b_once, [&] {
      raise(b_started);
      wait_for(a_done);
      b_saw = get();
    });
    return false;
  };
  std::thread a([&] {
    LinearReadout::fit(x, y, 1.0, a_options);
    raise(a_done);
  });
  wait_for(a_started);
  std::thread b([&] { LinearReadout::fit(x, y, 1.0, b_options); });
  a.join();
  b.join();
  EXPECT_EQ(b_saw, 1);
  EXPECT_EQ(get(), 4);
  EXPECT_EQ(readout_detail::SingleThreadedBlas::holders(), 0);
  set(before);
}

TEST(LinearReadout, ConcurrentReadoutsGiveTheSequentialResults) {
  // Two read-outs in two threads at once (as from Python threads) against one after the other:
  // liblinear's primal solver over long vectors (OpenBLAS), its dual solver (C's rand()) and the
  // dense solver (OpenMP inside each).
  Eigen::MatrixXf x;
  std::vector<int> y;
  long_vectors(x, y, 48);
  for (ReadoutSolver solver : {ReadoutSolver::primal, ReadoutSolver::dual, ReadoutSolver::dense}) {
    ReadoutOptions a, b;
    a.solver = b.solver = solver;
    b.balanced = true;  // a different problem in each thread
    const LinearReadout first = LinearReadout::fit(x, y, 0.1, a);
    const LinearReadout second = LinearReadout::fit(x, y, 0.1, b);
    LinearReadout together_a, together_b;
    std::thread ta([&] { together_a = LinearReadout::fit(x, y, 0.1, a); });
    std::thread tb([&] { together_b = LinearReadout::fit(x, y, 0.1, b); });
    ta.join();
    tb.join();
    SCOPED_TRACE(readout_solver_name(solver));
    EXPECT_EQ(together_a.weights(), first.weights());
    EXPECT_EQ(together_a.biases(), first.biases());
    EXPECT_EQ(together_b.weights(), second.weights());
    EXPECT_EQ(together_b.biases(), second.biases());
  }
}

TEST(LinearReadout, DualSolverIsReproducible) {
  Eigen::MatrixXf x;
  std::vector<int> y;
  blobs(40, 7, x, y, 1.0f);
  ReadoutOptions dual;
  dual.solver = ReadoutSolver::dual;
  const LinearReadout a = LinearReadout::fit(x, y, 1.0, dual);
  std::srand(12345);  // the caller's use of rand() must not leak into the fit
  const LinearReadout b = LinearReadout::fit(x, y, 1.0, dual);
  EXPECT_EQ(a.weights(), b.weights());
}

TEST(LinearReadout, SolverNamesRoundTripAndUnknownNamesAreConfigErrors) {
  EXPECT_EQ(parse_readout_solver(readout_solver_name(ReadoutSolver::primal)), ReadoutSolver::primal);
  EXPECT_EQ(parse_readout_solver(readout_solver_name(ReadoutSolver::dual)), ReadoutSolver::dual);
  EXPECT_EQ(parse_readout_solver(readout_solver_name(ReadoutSolver::dense)), ReadoutSolver::dense);
  EXPECT_THROW(parse_readout_solver("newton"), ConfigError);
}

TEST(ConfusionMatrix, CountsTruePerPredictedClass) {
  const Eigen::MatrixXi m = confusion_matrix({1, 1, 2, 2}, {1, 2, 2, 2}, {1, 2});
  EXPECT_EQ(m(0, 0), 1);
  EXPECT_EQ(m(0, 1), 1);
  EXPECT_EQ(m(1, 1), 2);
  EXPECT_EQ(m(1, 0), 0);
}

TEST(EvaluateReadout, ChoosesCOnValidationAndReportsTestAccuracy) {
  Eigen::MatrixXf xtr, xte;
  std::vector<int> ytr, yte;
  blobs(60, 2, xtr, ytr, 0.8f);
  blobs(30, 3, xte, yte, 0.8f);
  ReadoutOptions opt;
  opt.c_grid = {1e-3, 1.0};
  const ReadoutReport r = evaluate_readout(xtr, ytr, xte, yte, opt);
  ASSERT_EQ(r.validation.size(), 2u);
  EXPECT_GT(r.test_accuracy, 0.85);
  EXPECT_EQ(r.confusion.sum(), 90);
  EXPECT_EQ(r.classes, (std::vector<int>{1, 11, 21}));
  const auto j = readout_to_json(r);
  EXPECT_DOUBLE_EQ(j["test_error"].get<double>(), 1.0 - r.test_accuracy);
  EXPECT_EQ(j["confusion"].size(), 3u);
  EXPECT_NE(readout_summary(r).find("confusion"), std::string::npos);
}

TEST(EvaluateReadout, BalancedWeightsHelpTheMinorityClass) {
  // 95 samples of class 0 around -0.2, 5 of class 1 around +0.2, heavily overlapping.
  std::mt19937_64 rng(5);
  std::normal_distribution<float> noise(0.0f, 0.5f);
  Eigen::MatrixXf x(1, 100);
  std::vector<int> y;
  for (Index t = 0; t < 100; ++t) {
    const int label = t < 95 ? 0 : 1;
    x(0, t) = (label ? 0.4f : -0.4f) + noise(rng);
    y.push_back(label);
  }
  ReadoutOptions plain, balanced;
  plain.c_grid = balanced.c_grid = {1.0};
  balanced.balanced = true;
  const auto count_ones = [](const std::vector<int>& v) { return std::count(v.begin(), v.end(), 1); };
  const auto p = LinearReadout::fit(x, y, 1.0, plain).predict(x);
  const auto b = LinearReadout::fit(x, y, 1.0, balanced).predict(x);
  EXPECT_GT(count_ones(b), count_ones(p));
}

TEST(EvaluateReadout, FeatureCountMismatchIsAShapeError) {
  EXPECT_THROW(evaluate_readout(Eigen::MatrixXf::Identity(2, 2), {0, 1}, Eigen::MatrixXf::Ones(3, 1), {0}), ShapeError);
}

}  // namespace
}  // namespace simmatch
