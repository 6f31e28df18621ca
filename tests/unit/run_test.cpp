#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "simmatch/error.hpp"
#include "simmatch/fake_communicator.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/own_output.hpp"
#include "simmatch/run.hpp"
#include "simmatch/sample_split.hpp"
#include "test_files.hpp"
#include "test_networks.hpp"

using namespace simmatch;
using test_support::expect_error;

namespace {

TrainOptions run_options() {
  TrainOptions o;
  o.epochs = 3;
  o.samples_per_epoch = 12;
  o.batch_size = 2;
  o.seed = 4;
  o.cost_samples = 8;
  o.checkpoint_every = 2;
  return o;
}

Network<double> fresh_network() { return test_support::random_network<double>({5, 3}, 0.0, Activation::tanh(), 8); }


RunOutputs outputs_in(const std::filesystem::path& dir) {
  return RunOutputs{dir.string(), (dir / "model.npz").string(), (dir / "metrics.jsonl").string(),
                    (dir / "checkpoint.npz").string()};
}

// The metrics log without its wall-clock fields, which differ from run to run.
std::vector<std::pair<int, double>> costs(const std::string& jsonl) {
  std::vector<std::pair<int, double>> out;
  for (const EpochMetrics& m : parse_metrics_log(jsonl, "log")) out.emplace_back(m.epoch, m.cost);
  return out;
}

}  // namespace

TEST(RunTest, AResumedRunEndsWithTheUninterruptedModelAndLog) {
  const Dataset data = test_support::random_dataset(5, 20, 3);
  EulerSolver<double> solver;
  const auto dir = test_support::test_dir();

  Network<double> whole = fresh_network();
  TrainingRun<double> uninterrupted(whole, solver, run_options(), data, "{}", outputs_in(dir / "whole"),
                                    Trainer<double>::default_communicator());
  uninterrupted.open_outputs();
  uninterrupted.train({}, 3, {});
  uninterrupted.finish();
  EXPECT_TRUE(std::filesystem::exists(dir / "whole" / "model.npz"));
  EXPECT_FALSE(std::filesystem::exists(dir / "whole" / "checkpoint.npz"));
  EXPECT_EQ(read_file((dir / "whole" / "metrics.jsonl").string()), uninterrupted.metrics_jsonl());

  // Stopped in epoch 2 after batch 5 of 6: the last checkpoint is at epoch 2, batch 4.
  Network<double> first = fresh_network();
  TrainingRun<double> stopped(first, solver, run_options(), data, "{}", outputs_in(dir / "split"),
                              Trainer<double>::default_communicator());
  stopped.open_outputs();
  int batches = 0;
  RunHooks hooks;
  hooks.should_stop = [&] { return ++batches == 11; };
  EXPECT_THROW(stopped.train({}, 3, hooks), Interrupted);
  ASSERT_TRUE(std::filesystem::exists(dir / "split" / "checkpoint.npz"));

  Network<double> second = fresh_network();
  const double* storage = second.layer(0).W().valuePtr();
  TrainingRun<double> resumed(second, solver, run_options(), data, "{}", outputs_in(dir / "split"),
                              Trainer<double>::default_communicator());
  const TrainPosition at = resumed.resume("--resume");
  EXPECT_EQ(at.epoch, 1);
  EXPECT_EQ(at.batch, 4);
  EXPECT_EQ(resumed.checkpointed_epochs(), 3);
  EXPECT_EQ(second.layer(0).W().valuePtr(), storage);  // loaded in place
  resumed.open_outputs();
  resumed.train(at, 3, {});
  resumed.finish();
  EXPECT_EQ(test_support::all_weights(second), test_support::all_weights(whole));
  EXPECT_EQ(costs(read_file((dir / "split" / "metrics.jsonl").string())), costs(uninterrupted.metrics_jsonl()));
  EXPECT_EQ(test_support::all_weights(load_model<double>((dir / "split" / "model.npz").string()).network),
            test_support::all_weights(whole));
}

TEST(RunTest, ResumingRefusesAnotherConfigOrAMissingCheckpoint) {
  const Dataset data = test_support::random_dataset(5, 20, 3);
  EulerSolver<double> solver;
  const auto dir = test_support::test_dir();
  Network<double> net = fresh_network();
  TrainingRun<double> run(net, solver, run_options(), data, R"({"train": {"eta": 0.1}})", outputs_in(dir),
                          Trainer<double>::default_communicator());
  expect_error<IoError>([&] { run.resume("resume=True"); },
                        {"resume=True: no checkpoint at", "run without resume=True to start afresh"});
  run.open_outputs();
  run.train({}, 1, {});

  Network<double> other = fresh_network();
  TrainingRun<double> changed(other, solver, run_options(), data, R"({"train": {"eta": 0.2, "epochs": 9}})",
                              outputs_in(dir), Trainer<double>::default_communicator());
  expect_error<ConfigError>([&] { changed.resume("--resume"); }, {"cannot resume", "train.eta"});
  // A key the checkpoint's config lacks (a parameter added since it was written) resumes at its
  // default, and is refused at any other value.
  const double trajectory_default = SolverOptions{}.trajectory_tolerance;
  Network<double> later = fresh_network();
  TrainingRun<double> added(later, solver, run_options(), data,
                            fmt::format(R"({{"train": {{"eta": 0.1}}, "solver": {{"trajectory_tolerance": {}}}}})",
                                        trajectory_default),
                            outputs_in(dir), Trainer<double>::default_communicator());
  EXPECT_EQ(added.resume("--resume").epoch, 1);
  Network<double> off = fresh_network();
  TrainingRun<double> off_default(off, solver, run_options(), data,
                                  fmt::format(R"({{"train": {{"eta": 0.1}}, "solver": {{"trajectory_tolerance": {}}}}})",
                                              trajectory_default / 2),
                                  outputs_in(dir), Trainer<double>::default_communicator());
  expect_error<ConfigError>([&] { off_default.resume("--resume"); }, {"cannot resume", "solver.trajectory_tolerance"});
  RunOutputs none = outputs_in(dir);
  none.checkpoint.clear();
  TrainingRun<double> without(other, solver, run_options(), data, "{}", none, Trainer<double>::default_communicator());
  expect_error<ConfigError>([&] { without.resume("--resume"); }, {"--resume: output.checkpoint is empty"});
}

TEST(RunTest, AResumedRunMayGrowAndKeepsTheEarlierLog) {
  const Dataset data = test_support::random_dataset(5, 20, 3);
  EulerSolver<double> solver;
  const auto dir = test_support::test_dir();
  RunOutputs outputs{dir.string(), "", "", (dir / "checkpoint.npz").string()};
  Network<double> net = fresh_network();
  TrainingRun<double> run(net, solver, run_options(), data, "{}", outputs, Trainer<double>::default_communicator());
  run.set_earlier_metrics("{\"epoch\":1,\"learning_rate\":1,\"cost\":null,\"mean_iterations\":1,"
                          "\"converged_fraction\":1,\"samples\":1,\"skipped\":0,\"seconds\":1,\"samples_per_second\":1}\n");
  run.open_outputs();
  run.train({}, 2, {});
  EXPECT_FALSE(std::filesystem::exists(dir / "metrics.jsonl"));

  Network<double> again = fresh_network();
  TrainingRun<double> longer(again, solver, run_options(), data, "{}", outputs, Trainer<double>::default_communicator());
  const TrainPosition at = longer.resume("resume=True");
  EXPECT_EQ(at.epoch, 2);
  EXPECT_EQ(parse_metrics_log(longer.metrics_jsonl(), "log").size(), 3u);  // the earlier line and 2 epochs
  longer.set_epochs(5);
  EXPECT_EQ(longer.train(at, 5, {}).size(), 3u);
  EXPECT_THROW(longer.train({}, 6, {}), InternalError);
}

TEST(RunTest, TrainConfigReportsAndWritesTheConfigsOutputs) {
  Config config;
  set_parameter(config, "layers.0.type", "dense");
  set_parameter(config, "layers.0.neurons", 3);
  set_parameter(config, "train.epochs", 2);
  set_parameter(config, "train.samples_per_epoch", 10);
  set_parameter(config, "train.cost_samples", 5);
  const auto dir = test_support::test_dir();
  set_parameter(config, "output.dir", dir.string());
  validate_config(config);
  const Dataset data = test_support::random_dataset(6, 15, 2);
  std::vector<std::string> lines;
  int epochs = 0;
  RunHooks hooks;
  hooks.log = [&](const std::string& line) { lines.push_back(line); };
  hooks.on_epoch = [&](const EpochMetrics&) { ++epochs; };
  train_config<float>(config, data, Trainer<float>::default_communicator(), false, hooks);
  EXPECT_EQ(epochs, 2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("training defaults on 15 samples (1x6x1), 1 layer(s) 1x3x1", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("wrote " + (dir / "model.npz").string() + " and " + (dir / "metrics.jsonl").string(), 0), 0u)
      << lines[1];
  EXPECT_EQ(costs(read_file((dir / "metrics.jsonl").string())).size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoint.npz"));
  EXPECT_EQ(load_model<float>((dir / "model.npz").string()).network.num_layers(), 1);
}

TEST(RunTest, HeldOutSamplesAreScoredAfterEachEpochAndNeverTrainedOn) {
  const Dataset data = test_support::clustered_dataset(5, 40, 3, 0.5, 7);
  EulerSolver<double> solver;
  TrainOptions options = run_options();
  options.mode = TrainMode::contrastive;
  options.contrastive.beta = 0.5;
  options.validation = 0.25;
  const RunOutputs in_memory;  // no files: the log is kept in memory

  Network<double> held = fresh_network();
  TrainingRun<double> run(held, solver, options, data, "{}", in_memory, Trainer<double>::default_communicator());
  const SampleSplit parts = stratified_split(data.labels, 0.25, options.seed);
  ASSERT_EQ(parts.held_out.size(), 10u);  // classes of 14, 13, 13 samples: 4 + 3 + 3
  EXPECT_EQ(run.training_data().size(), 30);
  EXPECT_EQ(run.held_out().size(), 10);
  run.open_outputs();
  const std::vector<EpochMetrics> metrics = run.train({}, 3, {});
  ASSERT_EQ(metrics.size(), 3u);
  for (const EpochMetrics& m : metrics) {
    EXPECT_TRUE(m.validation_accuracy >= 0 && m.validation_accuracy <= 1) << m.epoch;
  }
  const Dataset held_out = subset(data, parts.held_out);
  EXPECT_EQ(metrics.back().validation_accuracy, own_output_accuracy(held, solver, TrainMode::contrastive, held_out));
  const std::vector<EpochMetrics> logged = parse_metrics_log(run.metrics_jsonl(), "log");
  ASSERT_EQ(logged.size(), 3u);
  EXPECT_EQ(logged[2].validation_accuracy, metrics.back().validation_accuracy);

  // The same run on the kept samples alone, holding none out, learns the same weights.
  Network<double> kept = fresh_network();
  options.validation = 0;
  const Dataset kept_data = subset(data, parts.kept);
  TrainingRun<double> plain(kept, solver, options, kept_data, "{}", in_memory, Trainer<double>::default_communicator());
  plain.open_outputs();
  const std::vector<EpochMetrics> plain_metrics = plain.train({}, 3, {});
  EXPECT_EQ(test_support::all_weights(kept), test_support::all_weights(held));
  EXPECT_TRUE(std::isnan(plain_metrics.back().validation_accuracy));
  EXPECT_EQ(plain.metrics_jsonl().find("validation_accuracy"), std::string::npos);
}

// Each rank scores its share of the held-out samples and the counts are summed, so every rank logs
// the accuracy one process logs.
TEST(RunTest, RanksShareTheHeldOutSamplesAndLogTheAccuracyOfOneProcess) {
  const Dataset data = test_support::clustered_dataset(5, 40, 3, 0.5, 7);
  TrainOptions options = run_options();
  options.mode = TrainMode::contrastive;
  options.contrastive.beta = 0.5;
  options.validation = 0.25;
  EulerSolver<double> solver;
  Network<double> single = fresh_network();
  TrainingRun<double> one(single, solver, options, data, "{}", {}, Trainer<double>::default_communicator());
  one.open_outputs();
  const std::vector<EpochMetrics> expected = one.train({}, 3, {});
  for (int size : {2, 3}) {
    SCOPED_TRACE(testing::Message() << size << " ranks");
    std::vector<std::vector<EpochMetrics>> histories(static_cast<std::size_t>(size));
    const auto errors = run_ranks(size, [&](const Communicator& comm) {
      Network<double> net = fresh_network();
      EulerSolver<double> rank_solver;
      TrainingRun<double> run(net, rank_solver, options, data, "{}", {}, comm);
      run.open_outputs();
      histories[static_cast<std::size_t>(comm.rank())] = run.train({}, 3, {});
    });
    for (const std::exception_ptr& e : errors) EXPECT_FALSE(e);
    for (const std::vector<EpochMetrics>& history : histories) {
      ASSERT_EQ(history.size(), expected.size());
      for (std::size_t e = 0; e < history.size(); ++e) {
        EXPECT_EQ(history[e].validation_accuracy, expected[e].validation_accuracy) << "epoch " << e;
      }
    }
  }
}

TEST(RunTest, HoldingOutNeedsAnOwnOutputAndLabels) {
  EulerSolver<double> solver;
  Network<double> net = fresh_network();
  TrainOptions options = run_options();
  options.validation = 0.2;
  const Dataset labelled = test_support::clustered_dataset(5, 20, 3, 0.5, 2);
  expect_error<ConfigError>([&] { TrainingRun<double>(net, solver, options, labelled, "{}", {}, Trainer<double>::default_communicator()); },
                            {"train.validation", "\"supervised\" or \"contrastive\""});
  options.mode = TrainMode::contrastive;
  const Dataset unlabelled = test_support::random_dataset(5, 20, 3);
  expect_error<ConfigError>([&] { TrainingRun<double>(net, solver, options, unlabelled, "{}", {}, Trainer<double>::default_communicator()); },
                            {"train.validation", "one label per sample, got 0 for 20 samples"});
}
