// Distributed checks under a real MPI launcher (`mpirun -np N simmatch_mpi_check MODE`). Every rank
// runs the same checks and the verdict is agreed, so every rank exits with the same status.
//   train    N ranks train the model one process trains (each rank also trains alone to compare)
//   contrastive  the same in train.mode = "contrastive" (labels, free and nudged phases)
//   supervised   the same in train.mode = "supervised" (labels as an input, label synapses V)
//   encode   sharded encoding equals single-process encoding bit for bit
//   nan      a NaN only in rank 1's copy of the data stops every rank with an agreed error
//   alone    rank 1 fails alone before any collective: the job must end (non-zero), not hang
//   bench    times the per-batch collectives of the reference network (not a test; docs/distributed.md)
#include <cmath>
#include <chrono>
#include <cstring>
#include <iostream>
#include <limits>
#include <string>

#include "simmatch/distributed.hpp"
#include "simmatch/error.hpp"
#include "simmatch/trainer.hpp"
#include "test_networks.hpp"

using namespace simmatch;

namespace {

Dataset random_dataset(Index k, Index t, std::uint64_t seed) {
  Dataset d;
  d.x = test_support::random_inputs<float>(k, t, seed);
  d.shape = Grid{1, k, 1};
  return d;
}

TrainOptions options() {
  TrainOptions o;
  o.epochs = 3;
  o.samples_per_epoch = 45;
  o.batch_size = 8;
  o.seed = 11;
  o.cost_samples = 17;
  o.schedule = LearningRateSchedule::inverse_decay(0.05, 0.5, 1e-3);
  return o;
}

double max_difference(const Network<double>& a, const Network<double>& b) {
  double worst = 0;
  for (Index p = 0; p < a.num_layers(); ++p) {
    for (const auto& [x, y] : {std::pair{&a.layer(p).W(), &b.layer(p).W()}, std::pair{&a.layer(p).L(), &b.layer(p).L()}}) {
      for (Index s = 0; s < x->nonZeros(); ++s) {
        const double u = x->valuePtr()[s];
        worst = std::max(worst, std::abs(u - y->valuePtr()[s]) / (1 + std::abs(u)));
      }
    }
  }
  return worst;
}

// Returns an empty string on success, else what went wrong on this rank.
std::string check_train(const Communicator& comm, TrainMode mode) {
  Dataset data = random_dataset(7, 50, 1);
  TrainOptions o = options();
  o.mode = mode;
  if (mode != TrainMode::unsupervised) {
    for (Index t = 0; t < data.size(); ++t) data.labels.push_back(static_cast<int>(t % 4));
  }
  const Network<double> initial = test_support::random_network<double>({7, 6, 4}, 0.5, Activation::tanh(), 2);
  EulerSolver<double> solver;
  Network<double> serial = initial;
  const auto expected = Trainer<double>(serial, solver, o).fit(data);
  Network<double> parallel = initial;
  const auto history = Trainer<double>(parallel, solver, o, comm).fit(data);
  double diff = max_difference(serial, parallel);
  if (serial.label_weights().size() != parallel.label_weights().size()) return "label synapses differ in shape";
  if (serial.classes() > 0) diff = std::max(diff, (serial.label_weights() - parallel.label_weights()).cwiseAbs().maxCoeff());
  if (!(diff < 1e-12)) return "weights differ from one process by " + std::to_string(diff);
  // Every rank holds the same weights: their sum over ranks is size times rank 0's.
  std::vector<double> w(parallel.layer(0).W().valuePtr(), parallel.layer(0).W().valuePtr() + parallel.layer(0).W().nonZeros());
  std::vector<double> summed = w;
  comm.allreduce_sum(std::span<double>(summed));
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (std::abs(summed[i] - comm.size() * w[i]) > 1e-12 * comm.size() * (1 + std::abs(w[i])))
      return "ranks hold different weights";
  }
  for (std::size_t e = 0; e < history.size(); ++e) {
    if (history[e].samples != expected[e].samples) return "epoch sample counts differ";
    if (std::abs(history[e].cost - expected[e].cost) > 1e-10 * (1 + std::abs(expected[e].cost))) return "costs differ";
  }
  return {};
}

std::string check_encode(const Communicator& comm) {
  const Dataset data = random_dataset(5, 37, 3);
  const Network<float> net = test_support::random_network<float>({5, 4, 3}, 0.5, Activation::tanh(), 4);
  EulerSolver<float> solver;
  const auto serial = encode(net, solver, data, 6);
  const auto gathered = encode_distributed(net, solver, data, {0, 1}, Pooling{}, 6, comm);
  if (!comm.is_root()) return gathered.size() == serial.size() && gathered[0].size() == 0 ? "" : "non-root got data";
  for (std::size_t p = 0; p < serial.size(); ++p) {
    if (gathered[p].rows() != serial[p].rows() || gathered[p].cols() != serial[p].cols()) return "shape differs";
    if (std::memcmp(gathered[p].data(), serial[p].data(), sizeof(float) * static_cast<std::size_t>(serial[p].size())) != 0)
      return "encoding differs from one process";
  }
  return {};
}

std::string check_nan(const Communicator& comm) {
  Dataset data = random_dataset(4, 30, 5);
  if (comm.rank() == 1) data.x.setConstant(std::numeric_limits<float>::quiet_NaN());
  Network<double> net = test_support::random_network<double>({4, 3}, 0.0, Activation::tanh(), 6);
  EulerSolver<double> solver;
  try {
    Trainer<double>(net, solver, options(), comm).fit(data);
  } catch (const NumericalError& e) {
    return comm.rank() == 1 && std::string(e.what()).find("NaN") != std::string::npos ? "" : e.what();
  } catch (const Error& e) {
    return comm.rank() != 1 && std::string(e.what()).find("rank 1 of " + std::to_string(comm.size()) + " failed: ") != std::string::npos ? "" : e.what();
  }
  return "training went on despite the NaN";
}

// Mean seconds per call of the per-batch traffic of the reference configuration: one reduction of
// the packed correlations (35,968 + 3,136 + 2 doubles) and the failure and stop flags (2 more);
// and, for comparison, a one-integer agreement (the failure and stop agreements were separate
// collectives before they joined the reduction).
void bench(const Communicator& comm) {
  std::vector<double> packed(35968 + 3136 + 2 + 2, 1.0);
  auto time = [&](int calls, auto&& body) {
    comm.barrier();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) body();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls;
  };
  time(20, [&] { comm.allreduce_sum(std::span<double>(packed)); });  // warm-up
  const double reduce = time(500, [&] { comm.allreduce_sum(std::span<double>(packed)); });
  const double agree = time(5000, [&] { (void)comm.any(false); });
  if (comm.is_root()) {
    std::cout << "allreduce of " << packed.size() << " doubles (" << packed.size() * 8 << " bytes): " << reduce * 1e6
              << " us; any(): " << agree * 1e6 << " us; " << comm.size() << " ranks\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    const auto comm = make_communicator();
    if (comm->size() < 2) {
      std::cerr << "mpi_check: expected to run under an MPI launcher with at least 2 ranks\n";
      return 1;
    }
    if (mode == "alone") {
      // Rank 1 leaves by an exception its peers never hear of; rank 0 waits in a collective. The
      // communicator must not finalise on rank 1 (that would hang), so the launcher ends the job.
      if (comm->rank() == 1) throw Error("rank 1 fails alone");
      comm->barrier();
      return 0;
    }
    if (mode == "bench") {
      bench(*comm);
      return 0;
    }
    std::string problem;
    if (mode == "train") problem = check_train(*comm, TrainMode::unsupervised);
    else if (mode == "contrastive") problem = check_train(*comm, TrainMode::contrastive);
    else if (mode == "supervised") problem = check_train(*comm, TrainMode::supervised);
    else if (mode == "encode") problem = check_encode(*comm);
    else if (mode == "nan") problem = check_nan(*comm);
    else problem = "unknown mode '" + mode + "'";
    const bool failed = comm->any(!problem.empty());
    if (!problem.empty()) std::cerr << "mpi_check " << mode << ": rank " << comm->rank() << ": " << problem << '\n';
    if (comm->is_root()) std::cout << "mpi_check " << mode << " on " << comm->size() << " ranks: " << (failed ? "FAILED" : "ok") << '\n';
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "mpi_check " << mode << ": " << e.what() << '\n';
    return 1;
  }
}
