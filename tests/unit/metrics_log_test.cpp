#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "simmatch/error.hpp"
#include "simmatch/metrics_log.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/progress.hpp"
#include "test_files.hpp"

using namespace simmatch;
using test_support::expect_error;

namespace {

EpochMetrics sample_metrics(int epoch) {
  EpochMetrics m;
  m.epoch = epoch;
  m.learning_rate = 0.005 / epoch;
  m.cost = 0.125 * epoch;
  m.mean_iterations = 31.5;
  m.converged_fraction = 0.75;
  m.continued_fraction = 0.25;
  m.followed_fraction = 0.125;
  m.samples = 200;
  m.skipped = 2;
  m.seconds = 1.5;
  m.samples_per_second = 200 / 1.5;
  return m;
}

}  // namespace

TEST(MetricsLogTest, LinesHaveTheLogsKeysInOrderAndNullForMissingValues) {
  EpochMetrics m = sample_metrics(3);
  m.cost = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(metrics_line(m),
            "{\"epoch\":3,\"learning_rate\":0.0016666666666666668,\"cost\":null,\"mean_iterations\":31.5,"
            "\"converged_fraction\":0.75,\"continued_fraction\":0.25,\"followed_fraction\":0.125,\"samples\":200,"
            "\"skipped\":2,\"seconds\":1.5,"
            "\"samples_per_second\":133.33333333333334}\n");
}

TEST(MetricsLogTest, LogsReadBackExactly) {
  EpochMetrics with_nan = sample_metrics(2);
  with_nan.cost = std::numeric_limits<double>::quiet_NaN();
  const std::string log = metrics_line(sample_metrics(1)) + "\n" + metrics_line(with_nan);
  const std::vector<EpochMetrics> back = parse_metrics_log(log, "log");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(metrics_line(back[0]), metrics_line(sample_metrics(1)));
  EXPECT_TRUE(std::isnan(back[1].cost));
  EXPECT_EQ(back[1].samples_per_second, with_nan.samples_per_second);
}

TEST(MetricsLogTest, ValidationAccuracyIsLoggedOnlyWhenSamplesWereHeldOut) {
  EpochMetrics m = sample_metrics(1);
  EXPECT_EQ(metrics_line(m).find("validation_accuracy"), std::string::npos);
  EXPECT_TRUE(std::isnan(parse_metrics_log(metrics_line(m), "log")[0].validation_accuracy));
  EXPECT_EQ(epoch_summary(m, 3).find("validation"), std::string::npos);
  m.validation_accuracy = 0.875;
  const std::string line = metrics_line(m);
  EXPECT_NE(line.find(",\"samples_per_second\":133.33333333333334,\"validation_accuracy\":0.875}"), std::string::npos)
      << line;
  EXPECT_EQ(parse_metrics_log(line, "log")[0].validation_accuracy, 0.875);
  EXPECT_NE(epoch_summary(m, 3).find("validation accuracy 87.50%"), std::string::npos) << epoch_summary(m, 3);
}

TEST(MetricsLogTest, BrokenLinesNameTheLineAndField) {
  expect_error<FormatError>([] { parse_metrics_log("{\"epoch\": 1}\n", "ckpt.npz"); },
                            {"ckpt.npz, metrics line 1", "'learning_rate' is missing"});
  expect_error<FormatError>([] { parse_metrics_log("\nnot json\n", "ckpt.npz"); }, {"metrics line 2: not JSON"});
}

TEST(MetricsLogTest, TheFileHoldsExactlyTheLinesAndAppendsWhenAsked) {
  const auto path = (test_support::test_dir() / "metrics.jsonl").string();
  {
    MetricsLog log(path);
    log.write(sample_metrics(1));
  }
  {
    MetricsLog log(path, true);
    log.write(sample_metrics(2));
  }
  EXPECT_EQ(read_file(path), metrics_line(sample_metrics(1)) + metrics_line(sample_metrics(2)));
  expect_error<IoError>([&] { MetricsLog((test_support::test_dir() / "missing" / "m.jsonl").string()); },
                        {"cannot write metrics log"});
}

TEST(ProgressTest, DurationsAndSummariesReadNaturally) {
  EXPECT_EQ(format_duration(1.24), "1.2 s");
  EXPECT_EQ(format_duration(184), "3 min 4 s");
  EXPECT_EQ(format_duration(7500), "2 h 5 min");
  EXPECT_EQ(format_duration(-1), "?");
  EpochMetrics m = sample_metrics(2);
  m.cost = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(epoch_summary(m, 10),
            "epoch 2/10: cost n/a  lr 0.0025  iterations 31.5  converged 75.0% (along the trajectory: continued 25.0%, "
            "followed 12.5%)  200 samples in 1.5 s (133 samples/s)");
  m.continued_fraction = 0;
  m.followed_fraction = 0;  // every sample solved directly: nothing to report
  EXPECT_EQ(epoch_summary(m, 10),
            "epoch 2/10: cost n/a  lr 0.0025  iterations 31.5  converged 75.0%  200 samples in 1.5 s (133 samples/s)");
}

TEST(ProgressTest, TheMeterReportsAtMostEveryIntervalAndAlwaysAtTheEpochsEnd) {
  ProgressMeter every(3, std::chrono::hours(1));
  EXPECT_FALSE(every.update(BatchProgress{1, 10, 100}));  // not before an interval has passed
  EXPECT_FALSE(every.update(BatchProgress{1, 20, 100}));
  const auto last = every.update(BatchProgress{1, 100, 100});
  ASSERT_TRUE(last);
  EXPECT_EQ(last->epochs, 3);
  EXPECT_EQ(last->samples_done, 100);
  ProgressMeter always(3, std::chrono::seconds(0));
  const auto p = always.update(BatchProgress{2, 25, 100});
  ASSERT_TRUE(p);
  EXPECT_EQ(progress_line(*p).rfind("epoch 2/3: 25/100 samples (25%), ", 0), 0u) << progress_line(*p);
  EXPECT_EQ(progress_bar(*p).rfind("epoch 2/3 [########----------------------] 25/100 ", 0), 0u) << progress_bar(*p);
}

// Logs written before the solver reported its paths read back with every sample gone directly.
TEST(MetricsLogTest, LogsWithoutSolverPathsReadAsDirect) {
  const std::string old =
      "{\"epoch\":1,\"learning_rate\":0.005,\"cost\":-1.5,\"mean_iterations\":9.5,\"converged_fraction\":1.0,"
      "\"samples\":200,\"skipped\":0,\"seconds\":1.5,\"samples_per_second\":133.3}\n";
  const std::vector<EpochMetrics> read = parse_metrics_log(old, "old.jsonl");
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].continued_fraction, 0.0);
  EXPECT_EQ(read[0].followed_fraction, 0.0);
  EXPECT_EQ(read[0].mean_iterations, 9.5);
}
