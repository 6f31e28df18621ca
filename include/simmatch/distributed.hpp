// Distributed runs (src/dist/): choosing the communicator (MPI under an MPI launcher, else one
// process), how work is split across ranks, agreeing on failures, and sharded encoding on rank 0.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "simmatch/communicator.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/encode.hpp"
#include "simmatch/network.hpp"
#include "simmatch/pooling.hpp"

namespace simmatch {

/// True when this simmatch was built with SIMMATCH_WITH_MPI.
bool built_with_mpi();

/// Number of processes an MPI launcher (mpirun/mpiexec of OpenMPI, MPICH, Intel MPI; srun) started
/// for this job, read from the environment only (no MPI call): 0 when not launched by one.
/// SIMMATCH_MPI=0 in the environment forces 0, SIMMATCH_MPI=1 forces at least 1.
int launcher_world_size();

/// MPI communicator over all processes of the job when built with MPI and launched by an MPI
/// launcher; otherwise a LocalCommunicator. MPI is initialised only in the first case, because
/// OpenMPI refuses a singleton MPI_Init as root and a plain `simmatch train` must keep working.
/// Throws ConfigError when a launcher started several processes but MPI is not built in (each
/// would train alone and overwrite the others' model), and Error when MPI cannot be initialised.
/// At most one MPI communicator may exist per process (MPI cannot be initialised twice).
std::unique_ptr<Communicator> make_communicator();

/// The contiguous part [first, second) of `n` items that `rank` of `size` owns, as even as possible
/// (the same split as the trainer's share of a global batch).
std::pair<Index, Index> rank_range(Index n, int rank, int size);

/// Runs `step` on every rank and agrees on its outcome, so that no rank goes on to wait in a
/// collective for a peer that has already failed. If `step` throws on some rank, every rank throws:
/// the failing rank its own error (with "rank r of N: " in front when N > 1), the others an Error
/// naming the lowest failing rank and quoting its message. `what` says what was being done
/// ("reading the data").
template <typename F>
auto agree(const Communicator& comm, const std::string& what, F&& step) -> decltype(step());

/// The lowest failing rank of a job and its error message (at most kMaxSharedMessage bytes).
struct RankFailure {
  int rank = 0;
  std::string message;
};
inline constexpr std::size_t kMaxSharedMessage = 2000;

/// Collective: `failure` is this rank's exception (or null). Returns nothing when no rank failed;
/// otherwise every rank learns the lowest failing rank and the text of its exception, so each
/// rank's own message can state the cause (a launcher such as mpirun may stop the job as soon as
/// one rank exits, before the failing rank has printed anything).
std::optional<RankFailure> first_failure(const Communicator& comm, std::exception_ptr failure);

/// The collective part of agree(): `failure` is this rank's exception (or null). Returns normally
/// when no rank failed; throws otherwise: the failing ranks their own error, the others an Error
/// "stopped while <what>: rank r of N failed: <rank r's message>".
void agree_on_failure(const Communicator& comm, const std::string& what, std::exception_ptr failure);

/// One collective for a reduction and the news that must travel with it: sums `values` over the
/// ranks in place and replaces each of `flags` by its OR over the ranks. The flags ride as extra
/// 0/1 entries at the end of the same reduction, so a rank's failure or stop request reaches every
/// rank in a collective they all make anyway, and none goes on to wait in a later one for a peer
/// that has stopped. Every rank must pass as many values and flags. A no-op on one rank.
void allreduce_sum_and_any(const Communicator& comm, std::vector<double>& values, std::span<bool> flags);

/// The columns [first_col, first_col + mine.cols()) of a rows x total_cols matrix are held by this
/// rank; returns the whole matrix on rank 0 (an empty matrix elsewhere). Every column must be held
/// by exactly one rank. Values arrive bit for bit (the other ranks contribute -0.0, and x + -0.0 is
/// x for every x), in chunks of at most `chunk_values` so non-root ranks need little extra memory.
Matrix<float> gather_columns(const Communicator& comm, const Matrix<float>& mine, Index first_col, Index total_cols,
                             Index chunk_values = Index{1} << 24);

/// encode_layer() for the layers `layers` (each in [0, network.num_layers())), with the samples
/// split across ranks along batch boundaries, so each rank solves exactly the batches one process
/// would: result[i] (output(grid).size() x T, float32) for layer layers[i] on rank 0, empty matrices
/// elsewhere. Each batch's fixed points are converted to float32 and then pooled (`pooling`; an
/// identity keeps them), as soon as the batch is solved: only the pooled values of the wanted
/// layers are ever held. `data` is every rank's view of the whole data set. ShapeError when the
/// samples do not fit the network or a layer does not exist; failures on one rank stop every rank.
/// `report`, when given, counts every rank's solves (the same totals on every rank).
template <typename T>
std::vector<Matrix<float>> encode_distributed(const Network<T>& network, const DynamicsSolver<T>& solver,
                                              const Dataset& data, const std::vector<Index>& layers,
                                              const Pooling& pooling, Index batch_size, const Communicator& comm,
                                              SolveReport* report = nullptr);

// ---------------------------------------------------------------------------------------------

template <typename F>
auto agree(const Communicator& comm, const std::string& what, F&& step) -> decltype(step()) {
  std::exception_ptr failure;
  if constexpr (std::is_void_v<decltype(step())>) {
    try {
      step();
    } catch (...) {
      failure = std::current_exception();
    }
    agree_on_failure(comm, what, failure);
  } else {
    // Wrapped so a result type without a default constructor works.
    std::unique_ptr<decltype(step())> result;
    try {
      result = std::make_unique<decltype(step())>(step());
    } catch (...) {
      failure = std::current_exception();
    }
    agree_on_failure(comm, what, failure);
    return std::move(*result);
  }
}

extern template std::vector<Matrix<float>> encode_distributed<float>(const Network<float>&,
                                                                     const DynamicsSolver<float>&, const Dataset&,
                                                                     const std::vector<Index>&, const Pooling&, Index,
                                                                     const Communicator&, SolveReport*);
extern template std::vector<Matrix<float>> encode_distributed<double>(const Network<double>&,
                                                                      const DynamicsSolver<double>&, const Dataset&,
                                                                      const std::vector<Index>&, const Pooling&, Index,
                                                                      const Communicator&, SolveReport*);

}  // namespace simmatch
