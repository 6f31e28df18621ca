// Choosing the communicator, splitting work across ranks, agreeing on failures, and sharded
// encoding. Compiled with and without MPI; the MPI communicator itself lives in src/dist.
#include "simmatch/distributed.hpp"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <limits>

#include "simmatch/error.hpp"
#include "simmatch/trainer.hpp"

#if SIMMATCH_WITH_MPI
#include "dist/mpi_communicator.hpp"
#endif

namespace simmatch {
namespace {

// A positive integer from the environment, or 0 when unset or not a number.
int env_count(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 0 || value > std::numeric_limits<int>::max()) return 0;
  return static_cast<int>(value);
}

bool env_set(const char* name) { return std::getenv(name) != nullptr; }

}  // namespace

bool built_with_mpi() {
#if SIMMATCH_WITH_MPI
  return true;
#else
  return false;
#endif
}

int launcher_world_size() {
  if (const char* forced = std::getenv("SIMMATCH_MPI")) {
    if (std::string(forced) == "0") return 0;
  }
  // Each launcher announces the job size differently: OpenMPI's mpirun, MPICH/Intel MPI's Hydra
  // (PMI), PMIx launchers (OpenMPI 5, srun --mpi=pmix, which may only give the rank), and Slurm's
  // srun (a job step with several tasks). A batch script's own shell has SLURM_* variables but no
  // step task count above 1, so a plain `simmatch train` inside sbatch stays serial.
  int size = env_count("OMPI_COMM_WORLD_SIZE");
  if (size == 0) size = env_count("PMI_SIZE");
  if (size == 0) size = env_count("PMIX_SIZE");
  if (size == 0 && env_set("PMIX_RANK")) size = 1;  // the true size comes from MPI itself
  if (size == 0 && env_count("SLURM_STEP_NUM_TASKS") > 1) size = env_count("SLURM_STEP_NUM_TASKS");
  if (const char* forced = std::getenv("SIMMATCH_MPI")) {
    if (std::string(forced) == "1") size = std::max(size, 1);
  }
  return size;
}

std::unique_ptr<Communicator> make_communicator() {
  const int launched = launcher_world_size();
#if SIMMATCH_WITH_MPI
  if (launched > 0) return dist::make_mpi_communicator();
#else
  if (launched > 1) {
    throw ConfigError(fmt::format(
        "started as one of {} processes by an MPI launcher, but this simmatch was built without MPI "
        "(rebuild with -DSIMMATCH_WITH_MPI=ON, or run a single process)",
        launched));
  }
#endif
  return std::make_unique<LocalCommunicator>();
}

std::pair<Index, Index> rank_range(Index n, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size) {
    throw InternalError(fmt::format("rank_range: rank {} of {} is not a valid rank", rank, size));
  }
  return {n * rank / size, n * (rank + 1) / size};
}

namespace {

std::string text_of(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an unknown error";
  }
}

}  // namespace

std::optional<RankFailure> first_failure(const Communicator& comm, std::exception_ptr failure) {
  if (!comm.any(failure != nullptr)) return std::nullopt;
  const int size = comm.size();
  std::string mine = failure ? text_of(failure) : std::string();
  if (mine.size() > kMaxSharedMessage) mine = mine.substr(0, kMaxSharedMessage - 3) + "...";
  if (size == 1) return RankFailure{0, mine};
  // Which ranks failed and how long their messages are; then the lowest one's bytes, one per
  // double (exact), contributed by that rank alone. Only failure paths pay for this.
  std::vector<double> failed(static_cast<std::size_t>(2 * size), 0.0);
  if (failure) {
    failed[static_cast<std::size_t>(comm.rank())] = 1.0;
    failed[static_cast<std::size_t>(size + comm.rank())] = static_cast<double>(mine.size());
  }
  comm.allreduce_sum(std::span<double>(failed));
  const auto first = static_cast<int>(std::find(failed.begin(), failed.begin() + size, 1.0) - failed.begin());
  const auto length = static_cast<std::size_t>(failed[static_cast<std::size_t>(size + first)]);
  std::vector<double> bytes(length, 0.0);
  if (comm.rank() == first) {
    for (std::size_t i = 0; i < length; ++i) bytes[i] = static_cast<double>(static_cast<unsigned char>(mine[i]));
  }
  comm.allreduce_sum(std::span<double>(bytes));
  std::string message(length, '\0');
  for (std::size_t i = 0; i < length; ++i) message[i] = static_cast<char>(static_cast<unsigned char>(bytes[i]));
  return RankFailure{first, std::move(message)};
}

void agree_on_failure(const Communicator& comm, const std::string& what, std::exception_ptr failure) {
  const std::optional<RankFailure> first = first_failure(comm, failure);
  if (!first) return;
  const int size = comm.size();
  if (size == 1) std::rethrow_exception(failure);
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const Error& e) {
      throw Error(fmt::format("rank {} of {}: {}", comm.rank(), size, e.what()));
    }
    // InternalError and anything else propagate unchanged: their type says more than the rank.
  }
  throw Error(fmt::format("stopped while {}: rank {} of {} failed: {}", what, first->rank, size, first->message));
}

Matrix<float> gather_columns(const Communicator& comm, const Matrix<float>& mine, Index first_col, Index total_cols,
                             Index chunk_values) {
  const Index rows = mine.rows();
  if (first_col < 0 || first_col + mine.cols() > total_cols) {
    throw InternalError(fmt::format("gather_columns: columns [{}, {}) outside [0, {})", first_col,
                                    first_col + mine.cols(), total_cols));
  }
  if (comm.size() == 1) return mine;
  Matrix<float> whole;
  if (comm.is_root()) whole.resize(rows, total_cols);
  // Columns per chunk; at least one, and the same on every rank (rows and total_cols agree).
  const Index chunk_cols = std::max<Index>(1, rows > 0 ? chunk_values / rows : total_cols);
  std::vector<float> buffer;
  for (Index begin = 0; begin < total_cols; begin += chunk_cols) {
    const Index count = std::min(chunk_cols, total_cols - begin);
    // -0.0 is the identity of IEEE addition (x + -0.0 == x, also for x = +0.0 and -0.0), so the sum
    // reproduces the owner's bits whatever order the reduction adds in.
    buffer.assign(static_cast<std::size_t>(rows * count), -0.0f);
    const Index lo = std::max(begin, first_col);
    const Index hi = std::min(begin + count, first_col + mine.cols());
    for (Index c = lo; c < hi; ++c) {
      std::copy_n(mine.col(c - first_col).data(), rows, buffer.data() + (c - begin) * rows);
    }
    comm.allreduce_sum(std::span<float>(buffer));
    if (comm.is_root()) std::copy(buffer.begin(), buffer.end(), whole.middleCols(begin, count).data());
  }
  return whole;
}

template <typename T>
std::vector<Matrix<float>> encode_distributed(const Network<T>& network, const DynamicsSolver<T>& solver,
                                              const Dataset& data, Index batch_size, const Communicator& comm) {
  if (batch_size < 1) throw ConfigError(fmt::format("encode: batch size must be >= 1, got {}", batch_size));
  if (comm.size() == 1) {  // no copy of the data set for one process
    std::vector<Matrix<float>> out;
    for (auto& r : encode(network, solver, data, batch_size)) out.push_back(r.template cast<float>());
    return out;
  }
  // Whole batches per rank: each rank then solves exactly the batches a single process would, so
  // the output does not depend on the number of ranks.
  const Index batches = (data.size() + batch_size - 1) / batch_size;
  const auto [first_batch, end_batch] = rank_range(batches, comm.rank(), comm.size());
  const Index first = std::min(first_batch * batch_size, data.size());
  const Index end = std::min(end_batch * batch_size, data.size());
  std::vector<Matrix<float>> mine = agree(comm, "encoding", [&] {
    Dataset shard;
    shard.x = data.x.middleCols(first, end - first);
    shard.shape = data.shape;
    std::vector<Matrix<float>> out;
    if (shard.size() == 0) {
      if (data.dim() != network.input_size()) {
        throw ShapeError(fmt::format("encode: samples have {} features but the network expects {}", data.dim(),
                                     network.input_size()));
      }
      for (const auto& layer : network.layers()) out.emplace_back(layer.size(), 0);
      return out;
    }
    for (auto& r : encode(network, solver, shard, batch_size)) out.push_back(r.template cast<float>());
    return out;
  });
  std::vector<Matrix<float>> result;
  for (const auto& r : mine) result.push_back(gather_columns(comm, r, first, data.size()));
  return result;
}

template std::vector<Matrix<float>> encode_distributed<float>(const Network<float>&, const DynamicsSolver<float>&,
                                                              const Dataset&, Index, const Communicator&);
template std::vector<Matrix<float>> encode_distributed<double>(const Network<double>&,
                                                               const DynamicsSolver<double>&, const Dataset&, Index,
                                                               const Communicator&);

}  // namespace simmatch
