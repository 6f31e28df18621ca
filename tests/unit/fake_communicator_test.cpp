// Distributed code paths without MPI: fake N-rank groups (threads) check the collectives, that N
// ranks train the same model as one process, that a failure on one rank stops every rank, and that
// sharded encoding reproduces the single-process output.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <string>

#include "simmatch/distributed.hpp"
#include "simmatch/error.hpp"
#include "simmatch/fake_communicator.hpp"
#include "simmatch/trainer.hpp"
#include "test_networks.hpp"

using namespace simmatch;

namespace {

using test_support::random_dataset;

TrainOptions options(Index batch_size) {
  TrainOptions o;
  o.epochs = 3;
  o.samples_per_epoch = 23;  // not a multiple of the batch: the last batch of an epoch is short
  o.batch_size = batch_size;
  o.seed = 5;
  o.cost_samples = 11;
  o.schedule = LearningRateSchedule::inverse_decay(0.05, 0.5, 1e-3);
  return o;
}

// Largest |a - b| / (1 + |a|) over every weight of two networks of the same shape.
template <typename T>
double max_weight_difference(const Network<T>& a, const Network<T>& b) {
  double worst = 0;
  auto compare = [&](const SparseWeights<T>& x, const SparseWeights<T>& y) {
    EXPECT_EQ(x.nonZeros(), y.nonZeros());
    for (Index s = 0; s < x.nonZeros(); ++s) {
      const double u = x.valuePtr()[s];
      const double v = y.valuePtr()[s];
      worst = std::max(worst, std::abs(u - v) / (1.0 + std::abs(u)));
    }
  };
  for (Index p = 0; p < a.num_layers(); ++p) {
    compare(a.layer(p).W(), b.layer(p).W());
    compare(a.layer(p).L(), b.layer(p).L());
  }
  return worst;
}

void expect_no_errors(const std::vector<std::exception_ptr>& errors) {
  for (std::size_t r = 0; r < errors.size(); ++r) {
    if (!errors[r]) continue;
    try {
      std::rethrow_exception(errors[r]);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "rank " << r << " failed: " << e.what();
    }
  }
}

std::string message_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

// Trains a copy of `initial` with `size` fake ranks; returns rank 0's network and checks every rank
// ended with bitwise the same weights (they apply the same reduced update).
template <typename T>
Network<T> train_on_ranks(const Network<T>& initial, const Dataset& data, const TrainOptions& o, int size,
                          std::vector<EpochMetrics>* history = nullptr) {
  std::vector<Network<T>> nets(static_cast<std::size_t>(size), initial);
  std::vector<std::vector<EpochMetrics>> histories(static_cast<std::size_t>(size));
  const auto errors = run_ranks(size, [&](const Communicator& comm) {
    EulerSolver<T> solver;
    Trainer<T> trainer(nets[static_cast<std::size_t>(comm.rank())], solver, o, comm);
    histories[static_cast<std::size_t>(comm.rank())] = trainer.fit(data);
  });
  expect_no_errors(errors);
  for (int r = 1; r < size; ++r) EXPECT_EQ(max_weight_difference(nets[0], nets[static_cast<std::size_t>(r)]), 0.0);
  if (history) *history = histories[0];
  return nets[0];
}

}  // namespace

TEST(FakeCommunicatorTest, CollectivesSumInRankOrderAndAgree) {
  const auto errors = run_ranks(3, [](const Communicator& comm) {
    std::vector<double> d{1.0 * comm.rank(), 1.0};
    comm.allreduce_sum(std::span<double>(d));
    EXPECT_EQ(d[0], 3.0);
    EXPECT_EQ(d[1], 3.0);
    std::vector<float> f{0.5f * static_cast<float>(comm.rank() + 1)};
    comm.allreduce_sum(std::span<float>(f));
    EXPECT_EQ(f[0], 3.0f);
    EXPECT_TRUE(comm.any(comm.rank() == 2));
    EXPECT_FALSE(comm.any(false));
    comm.barrier();
    EXPECT_EQ(comm.size(), 3);
    EXPECT_EQ(comm.is_root(), comm.rank() == 0);
  });
  expect_no_errors(errors);
}

TEST(FakeCommunicatorTest, MismatchedCollectivesFailOnEveryRank) {
  const auto errors = run_ranks(2, [](const Communicator& comm) {
    std::vector<double> d(comm.rank() == 0 ? 3 : 4, 1.0);
    comm.allreduce_sum(std::span<double>(d));
  });
  for (const auto& e : errors) {
    ASSERT_TRUE(e);
    EXPECT_NE(message_of(e).find("mismatched collectives"), std::string::npos) << message_of(e);
  }
}

TEST(FakeCommunicatorTest, ARankThatLeavesEarlyFailsItsPeersInsteadOfHangingThem) {
  const auto errors = run_ranks(3, [](const Communicator& comm) {
    if (comm.rank() == 1) throw Error("rank 1 broke");
    comm.barrier();
  });
  EXPECT_EQ(message_of(errors[1]), "rank 1 broke");
  for (int r : {0, 2}) {
    ASSERT_TRUE(errors[static_cast<std::size_t>(r)]);
    EXPECT_NE(message_of(errors[static_cast<std::size_t>(r)]).find("rank 1 left"), std::string::npos);
  }
}

TEST(DistributedTest, RankRangesTileTheItemsEvenly) {
  for (Index n : {0, 1, 5, 23}) {
    for (int size : {1, 2, 3, 7}) {
      Index next = 0;
      for (int r = 0; r < size; ++r) {
        const auto [first, end] = rank_range(n, r, size);
        EXPECT_EQ(first, next);
        EXPECT_LE(end - first, n / size + 1);
        next = end;
      }
      EXPECT_EQ(next, n);
    }
  }
  EXPECT_THROW(rank_range(4, 2, 2), InternalError);
}

TEST(DistributedTest, PlainRunsNeverStartMpi) {
  // ctest runs this binary without a launcher: the factory must hand out the serial communicator
  // (OpenMPI refuses a singleton MPI_Init as root).
  ::unsetenv("SIMMATCH_MPI");
  if (launcher_world_size() == 0) {
    const auto comm = make_communicator();
    EXPECT_EQ(comm->size(), 1);
    EXPECT_EQ(comm->rank(), 0);
  }
  ::setenv("SIMMATCH_MPI", "0", 1);
  EXPECT_EQ(launcher_world_size(), 0);
  ::unsetenv("SIMMATCH_MPI");
}

TEST(DistributedTest, SeveralProcessesWithoutMpiAreRefused) {
  if (built_with_mpi()) GTEST_SKIP() << "built with MPI: the factory would initialise MPI here";
  const char* old = std::getenv("OMPI_COMM_WORLD_SIZE");
  const std::string saved = old ? old : "";
  ::setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
  EXPECT_EQ(launcher_world_size(), 3);
  try {
    (void)make_communicator();
    ADD_FAILURE() << "three processes without MPI accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("SIMMATCH_WITH_MPI"), std::string::npos) << e.what();
  }
  if (old) ::setenv("OMPI_COMM_WORLD_SIZE", saved.c_str(), 1); else ::unsetenv("OMPI_COMM_WORLD_SIZE");
}

TEST(DistributedTest, NRanksTrainTheModelOfOneProcess) {
  const Dataset data = random_dataset(6, 31, 3);
  const Network<double> initial = test_support::random_network<double>({6, 5, 3}, 0.5, Activation::tanh(), 4);
  // Batch 1 and 2 leave some ranks with nothing to solve; 7 splits unevenly.
  for (Index batch : {1, 2, 7}) {
    Network<double> serial = initial;
    EulerSolver<double> solver;
    const auto expected = Trainer<double>(serial, solver, options(batch)).fit(data);
    for (int size : {1, 2, 3, 4}) {
      SCOPED_TRACE(testing::Message() << "batch " << batch << ", " << size << " ranks");
      std::vector<EpochMetrics> history;
      const Network<double> parallel = train_on_ranks(initial, data, options(batch), size, &history);
      // Only the order of the additions differs: rounding of doubles.
      EXPECT_LT(max_weight_difference(serial, parallel), 1e-12);
      if (size == 1) {
        EXPECT_EQ(max_weight_difference(serial, parallel), 0.0);
      }
      ASSERT_EQ(history.size(), expected.size());
      for (std::size_t e = 0; e < history.size(); ++e) {
        EXPECT_EQ(history[e].samples, expected[e].samples);
        EXPECT_NEAR(history[e].cost, expected[e].cost, 1e-10 * (1 + std::abs(expected[e].cost)));
        EXPECT_NEAR(history[e].mean_iterations, expected[e].mean_iterations, 1e-9);
      }
    }
  }
}

// The contrastive mode reduces every phase's correlations (free and +beta; and -beta when the
// nudge is symmetric) in the batch's one collective.
TEST(DistributedTest, NRanksTrainTheContrastiveModelOfOneProcess) {
  Dataset data = random_dataset(6, 31, 5);
  for (Index t = 0; t < data.size(); ++t) data.labels.push_back(static_cast<int>((t * 7) % 3));
  const Network<double> initial = test_support::random_network<double>({6, 5, 3}, 0.5, Activation::tanh(), 6);
  for (const Nudge nudge : {Nudge::one_sided, Nudge::symmetric}) {
    TrainOptions o = options(7);
    o.mode = TrainMode::contrastive;
    o.contrastive.beta = 0.5;
    o.contrastive.nudge = nudge;
    Network<double> serial = initial;
    EulerSolver<double> solver;
    const auto expected = Trainer<double>(serial, solver, o).fit(data);
    EXPECT_GT(max_weight_difference(initial, serial), 1e-4);
    for (int size : {2, 3}) {
      SCOPED_TRACE(testing::Message() << size << " ranks, nudge " << nudge_name(nudge));
      std::vector<EpochMetrics> history;
      const Network<double> parallel = train_on_ranks(initial, data, o, size, &history);
      EXPECT_LT(max_weight_difference(serial, parallel), 1e-12);
      ASSERT_EQ(history.size(), expected.size());
      for (std::size_t e = 0; e < history.size(); ++e) EXPECT_EQ(history[e].samples, expected[e].samples);
    }
  }
}

// The supervised mode reduces the label synapses' correlations with the others; every rank creates
// the same V (the classes come from the whole data set, which every rank sees).
TEST(DistributedTest, NRanksTrainTheSupervisedModelOfOneProcess) {
  Dataset data = random_dataset(6, 31, 15);
  for (Index t = 0; t < data.size(); ++t) data.labels.push_back(static_cast<int>((t * 5) % 4));
  const Network<double> initial = test_support::random_network<double>({6, 5, 3}, 0.5, Activation::tanh(), 16);
  TrainOptions o = options(7);
  o.mode = TrainMode::supervised;
  o.contrastive.label_scale = 2.0;
  Network<double> serial = initial;
  EulerSolver<double> solver;
  Trainer<double>(serial, solver, o).fit(data);
  ASSERT_EQ(serial.classes(), 4);
  EXPECT_GT(serial.label_weights().cwiseAbs().maxCoeff(), 1e-3);
  for (int size : {2, 3}) {
    SCOPED_TRACE(testing::Message() << size << " ranks");
    const Network<double> parallel = train_on_ranks(initial, data, o, size);
    EXPECT_LT(max_weight_difference(serial, parallel), 1e-12);
    ASSERT_EQ(parallel.classes(), 4);
    EXPECT_LT((serial.label_weights() - parallel.label_weights()).cwiseAbs().maxCoeff(), 1e-12);
  }
}

TEST(DistributedTest, NRanksTrainTheModelOfOneProcessInFloat) {
  const Dataset data = random_dataset(8, 40, 13);
  const Network<float> initial = test_support::random_network<float>({8, 6}, 0.0, Activation::tanh(), 14);
  Network<float> serial = initial;
  EulerSolver<float> solver;
  Trainer<float>(serial, solver, options(8)).fit(data);
  const Network<float> parallel = train_on_ranks(initial, data, options(8), 3);
  EXPECT_LT(max_weight_difference(serial, parallel), 1e-5);
}

TEST(DistributedTest, ANanOnOneRankStopsEveryRank) {
  const Dataset good = random_dataset(4, 20, 7);
  Dataset bad = good;  // rank 1's copy of the data is corrupt (a bad shard)
  bad.x.setConstant(std::numeric_limits<float>::quiet_NaN());
  const Network<double> initial = test_support::random_network<double>({4, 3}, 0.0, Activation::tanh(), 2);
  std::vector<Network<double>> nets(3, initial);
  const auto errors = run_ranks(3, [&](const Communicator& comm) {
    EulerSolver<double> solver;
    Trainer<double> trainer(nets[static_cast<std::size_t>(comm.rank())], solver, options(6), comm);
    trainer.fit(comm.rank() == 1 ? bad : good);
  });
  ASSERT_TRUE(errors[1]);
  EXPECT_THROW(std::rethrow_exception(errors[1]), NumericalError);
  EXPECT_NE(message_of(errors[1]).find("NaN"), std::string::npos) << message_of(errors[1]);
  for (int r : {0, 2}) {
    ASSERT_TRUE(errors[static_cast<std::size_t>(r)]);
    // The healthy ranks quote rank 1's message: mpirun may stop the job before rank 1 prints it.
    const std::string message = message_of(errors[static_cast<std::size_t>(r)]);
    EXPECT_EQ(message.rfind("training stopped in epoch 1: rank 1 of 3 failed: ", 0), 0u) << message;
    EXPECT_NE(message.find("NaN"), std::string::npos) << message;
    // Stopped before the first update: no rank applied a partial reduction.
    EXPECT_EQ(max_weight_difference(initial, nets[static_cast<std::size_t>(r)]), 0.0);
  }
}

TEST(DistributedTest, SkippedSamplesAreCountedOnceOverAllRanks) {
  Dataset data = random_dataset(4, 20, 7);
  data.x(1, 3) = std::numeric_limits<float>::infinity();
  data.x(0, 11) = std::numeric_limits<float>::quiet_NaN();
  const Network<double> initial = test_support::random_network<double>({4, 3}, 0.0, Activation::tanh(), 2);
  TrainOptions o = options(5);
  o.on_nan = FailurePolicy::skip;
  o.cost_samples = 0;
  Network<double> serial = initial;
  EulerSolver<double> solver;
  const auto expected = Trainer<double>(serial, solver, o).fit(data);
  std::vector<EpochMetrics> history;
  const Network<double> parallel = train_on_ranks(initial, data, o, 2, &history);
  EXPECT_LT(max_weight_difference(serial, parallel), 1e-12);
  for (std::size_t e = 0; e < history.size(); ++e) EXPECT_EQ(history[e].skipped, expected[e].skipped);
}

TEST(DistributedTest, AStopRequestOnOneRankStopsEveryRankAtTheSameBatch) {
  // mpirun delivers Ctrl-C to the ranks at slightly different times; the trainer agrees on it.
  const Dataset data = random_dataset(4, 20, 7);
  const Network<double> initial = test_support::random_network<double>({4, 3}, 0.0, Activation::tanh(), 2);
  std::vector<Network<double>> nets(2, initial);
  const auto errors = run_ranks(2, [&](const Communicator& comm) {
    EulerSolver<double> solver;
    int batches = 0;
    TrainCallbacks cb;
    cb.should_stop = [&] { return comm.rank() == 1 && ++batches == 3; };
    Trainer<double>(nets[static_cast<std::size_t>(comm.rank())], solver, options(4), comm).fit(data, cb);
  });
  for (const auto& e : errors) {
    ASSERT_TRUE(e);
    EXPECT_THROW(std::rethrow_exception(e), Interrupted);
  }
  EXPECT_EQ(max_weight_difference(nets[0], nets[1]), 0.0);
}

TEST(DistributedTest, AMidEpochCheckpointTalliesEveryRanksSamples) {
  const Dataset data = random_dataset(4, 20, 7);
  const Network<double> initial = test_support::random_network<double>({4, 3}, 0.3, Activation::tanh(), 2);
  TrainOptions o = options(4);
  o.checkpoint_every = 2;
  std::vector<Network<double>> nets(3, initial), snapshots(3, initial);
  std::vector<TrainPosition> seen(3);
  std::vector<std::vector<EpochMetrics>> histories(3), resumed(3);
  const auto slot = [](const Communicator& comm) { return static_cast<std::size_t>(comm.rank()); };
  expect_no_errors(run_ranks(3, [&](const Communicator& comm) {
    EulerSolver<double> solver;
    Network<double>& net = nets[slot(comm)];
    TrainCallbacks cb;
    cb.on_checkpoint = [&](const TrainPosition& p) {
      if (p.epoch == 1 && p.batch == 4) seen[slot(comm)] = p, snapshots[slot(comm)] = net;
    };
    histories[slot(comm)] = Trainer<double>(net, solver, o, comm).fit(data, cb);
  }));
  for (const TrainPosition& p : seen) {
    EXPECT_EQ(p.batch, 4);
    EXPECT_EQ(p.tally.samples, 16);  // 4 global batches of 4, whichever rank solved them
    EXPECT_EQ(p.tally.iterations, seen[0].tally.iterations);
    EXPECT_EQ(p.tally.converged, seen[0].tally.converged);
  }
  // Resumed on 3 ranks from that position, the epoch's metrics are the uninterrupted run's (up to
  // the order of the floating-point sums).
  expect_no_errors(run_ranks(3, [&](const Communicator& comm) {
    EulerSolver<double> solver;
    resumed[slot(comm)] = Trainer<double>(snapshots[slot(comm)], solver, o, comm).fit(data, {}, seen[slot(comm)]);
  }));
  for (std::size_t r = 0; r < 3; ++r) {
    ASSERT_EQ(resumed[r].size(), 2u);
    for (std::size_t e = 0; e < 2; ++e) {
      const EpochMetrics& a = resumed[r][e];
      const EpochMetrics& b = histories[r][e + 1];
      EXPECT_EQ(a.samples, b.samples);
      EXPECT_NEAR(a.mean_iterations, b.mean_iterations, 1e-12 * b.mean_iterations);
      EXPECT_NEAR(a.converged_fraction, b.converged_fraction, 1e-12);
    }
  }
}

TEST(DistributedTest, AgreeRethrowsOnTheFailingRankAndNamesItElsewhere) {
  const auto errors = run_ranks(3, [](const Communicator& comm) {
    const int value = agree(comm, "reading the data", [&] {
      if (comm.rank() == 2) throw IoError("cannot open shard.npy");
      return comm.rank();
    });
    EXPECT_EQ(value, comm.rank());
  });
  EXPECT_EQ(message_of(errors[2]), "rank 2 of 3: cannot open shard.npy");
  for (int r : {0, 1}) EXPECT_EQ(message_of(errors[static_cast<std::size_t>(r)]),
                                 "stopped while reading the data: rank 2 of 3 failed: cannot open shard.npy");
  expect_no_errors(run_ranks(2, [](const Communicator& comm) { agree(comm, "nothing", [] {}); }));
}

TEST(DistributedTest, EveryRankLearnsTheLowestFailingRanksMessage) {
  const std::string long_text(3 * kMaxSharedMessage, 'x');
  std::mutex mutex;
  std::vector<std::optional<RankFailure>> seen(4);
  expect_no_errors(run_ranks(4, [&](const Communicator& comm) {
    std::exception_ptr failure;
    if (comm.rank() == 1) failure = std::make_exception_ptr(ConfigError("rank one: \xc3\xa9 caf\xc3\xa9 " + long_text));
    if (comm.rank() == 3) failure = std::make_exception_ptr(IoError("rank three"));
    std::optional<RankFailure> first = first_failure(comm, failure);
    std::lock_guard lock(mutex);
    seen[static_cast<std::size_t>(comm.rank())] = std::move(first);
  }));
  for (const auto& first : seen) {
    ASSERT_TRUE(first);
    EXPECT_EQ(first->rank, 1);
    EXPECT_EQ(first->message.size(), kMaxSharedMessage);
    EXPECT_EQ(first->message.rfind("rank one: \xc3\xa9 caf\xc3\xa9 xxx", 0), 0u);  // bytes above 127 survive
    EXPECT_EQ(first->message.substr(kMaxSharedMessage - 3), "...");
  }
  expect_no_errors(run_ranks(3, [](const Communicator& comm) { EXPECT_FALSE(first_failure(comm, nullptr)); }));
}

TEST(DistributedTest, GatheredColumnsKeepEveryBit) {
  const Index rows = 3;
  const Index total = 10;
  Matrix<float> expected(rows, total);
  for (Index i = 0; i < expected.size(); ++i) expected.data()[i] = static_cast<float>(i) - 7.5f;
  expected(0, 1) = -0.0f;
  expected(2, 8) = std::numeric_limits<float>::quiet_NaN();
  std::mutex mutex;
  Matrix<float> gathered;
  expect_no_errors(run_ranks(3, [&](const Communicator& comm) {
    const auto [first, end] = rank_range(total, comm.rank(), comm.size());
    const Matrix<float> mine = expected.middleCols(first, end - first);
    Matrix<float> whole = gather_columns(comm, mine, first, total, /*chunk_values=*/7);
    if (comm.is_root()) {
      std::lock_guard lock(mutex);
      gathered = whole;
    } else {
      EXPECT_EQ(whole.size(), 0);
    }
  }));
  ASSERT_EQ(gathered.rows(), rows);
  ASSERT_EQ(gathered.cols(), total);
  EXPECT_EQ(std::memcmp(gathered.data(), expected.data(), sizeof(float) * static_cast<std::size_t>(expected.size())), 0);
}

TEST(DistributedTest, ShardedEncodingReproducesOneProcessBitForBit) {
  const Dataset data = random_dataset(5, 23, 9);
  const Network<float> net = test_support::random_network<float>({5, 4, 3}, 0.5, Activation::tanh(), 10);
  // Few enough steps that some samples stop short of their fixed point and others do not.
  SolverOptions options;
  options.max_steps = 70;
  EulerSolver<float> solver(options);
  SolveReport serial_report;
  const auto serial = encode(net, solver, data, 4, &serial_report);
  ASSERT_GT(serial_report.unconverged, 0);
  ASSERT_LT(serial_report.unconverged, serial_report.samples);
  for (int size : {1, 2, 3, 8}) {
    SCOPED_TRACE(testing::Message() << size << " ranks");
    std::vector<Matrix<float>> gathered;
    std::mutex mutex;
    std::vector<SolveReport> reports(static_cast<std::size_t>(size));
    expect_no_errors(run_ranks(size, [&](const Communicator& comm) {
      EulerSolver<float> my_solver(options);
      SolveReport report;
      auto r = encode_distributed(net, my_solver, data, {0, 1}, Pooling{}, 4, comm, &report);
      std::lock_guard lock(mutex);
      reports[static_cast<std::size_t>(comm.rank())] = report;
      if (comm.is_root()) gathered = std::move(r);
    }));
    for (const SolveReport& report : reports) {  // every rank counts every rank's samples
      EXPECT_EQ(report.samples, serial_report.samples);
      EXPECT_EQ(report.unconverged, serial_report.unconverged);
      EXPECT_EQ(report.scheduled, serial_report.samples);  // every Euler sample follows the schedule
    }
    ASSERT_EQ(gathered.size(), serial.size());
    for (std::size_t p = 0; p < serial.size(); ++p) {
      ASSERT_EQ(gathered[p].rows(), serial[p].rows());
      ASSERT_EQ(gathered[p].cols(), serial[p].cols());
      EXPECT_EQ(std::memcmp(gathered[p].data(), serial[p].data(), sizeof(float) * static_cast<std::size_t>(serial[p].size())),
                0);
    }
  }
}

// Pooled, one layer of two, a float64 network: rank 0 gets the float32 activities of that layer
// pooled as one process pools them, for any number of ranks, and nothing of the other layer.
TEST(DistributedTest, ShardedEncodingPoolsTheWantedLayerBatchByBatch) {
  const Grid input{6, 5, 1};
  const Network<double> net = test_support::conv_network<double>(
      input, {Conv2d{Grid{}, 3, 1, Padding::same, 3, 1.0}, Conv2d{Grid{}, 3, 1, Padding::same, 2, 0.0}}, 0.5,
      Activation::tanh(), 22, 2.0);
  const Dataset data = random_dataset(input.size(), 11, 23);
  const Pooling pooling = Pooling::from_text("avg:2:1");
  const auto solver = make_solver<double>(SolverOptions{});
  const Matrix<float> top = encode(net, *solver, data, 3)[1].cast<float>();
  const Matrix<float> expected = pooling.apply(top, net.layer(1).grid());
  ASSERT_EQ(expected.rows(), 5 * 4 * 2);
  for (int size : {1, 2, 3, 5}) {
    SCOPED_TRACE(testing::Message() << size << " ranks");
    std::vector<Matrix<float>> gathered;
    std::mutex mutex;
    expect_no_errors(run_ranks(size, [&](const Communicator& comm) {
      const auto my_solver = make_solver<double>(SolverOptions{});
      auto r = encode_distributed(net, *my_solver, data, {1}, pooling, 3, comm);
      std::lock_guard lock(mutex);
      if (comm.is_root()) gathered = std::move(r);
    }));
    ASSERT_EQ(gathered.size(), 1u);
    EXPECT_EQ(gathered[0], expected);
  }
  const auto errors = run_ranks(2, [&](const Communicator& comm) {
    const auto my_solver = make_solver<double>(SolverOptions{});
    encode_distributed(net, *my_solver, data, {2}, pooling, 3, comm);
  });
  for (const auto& error : errors) {
    ASSERT_TRUE(error);
    EXPECT_NE(message_of(error).find("layer 2 does not exist"), std::string::npos) << message_of(error);
  }
}
