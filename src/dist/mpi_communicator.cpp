// MpiCommunicator: the Communicator of a multi-process run, over MPI-3 collectives. The only file
// of simmatch that includes <mpi.h>.
#include "dist/mpi_communicator.hpp"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <exception>
#include <fmt/format.h>
#include <string>

#include "simmatch/error.hpp"

namespace simmatch::dist {
namespace {

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) return fmt::format("MPI error {}", code);
  return std::string(text, static_cast<std::size_t>(length));
}

void check(int code, const char* call) {
  if (code != MPI_SUCCESS) throw Error(fmt::format("{} failed: {}", call, mpi_error_text(code)));
}

// MPI counts are int; the packed correlations of a large network can exceed that, so reductions
// are issued in chunks well below INT_MAX elements.
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;

template <typename T>
void allreduce_in_chunks(MPI_Comm comm, MPI_Datatype type, T* data, std::size_t n) {
  for (std::size_t begin = 0; begin < n; begin += kMaxChunk) {
    const int count = static_cast<int>(std::min(kMaxChunk, n - begin));
    check(MPI_Allreduce(MPI_IN_PLACE, data + begin, count, type, MPI_SUM, comm), "MPI_Allreduce");
  }
}

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator() : uncaught_at_start_(std::uncaught_exceptions()) {
    int initialised = 0;
    int finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (finalised) throw Error("MPI has already been finalised in this process; it cannot be used again");
    if (!initialised) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_mpi_ = true;
    }
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    // Errors come back as codes and become exceptions instead of aborting the whole job silently.
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }

  ~MpiCommunicator() override {
    // A rank that leaves by an exception its peers did not agree on (see any()) must not enter
    // MPI_Finalize: in OpenMPI that waits for every peer, and the peers may be waiting in a
    // collective for this rank, so the job would hang. Exiting without finalising makes the
    // launcher stop the whole job instead, with this rank's message and a non-zero status.
    const bool failing_alone = std::uncaught_exceptions() > uncaught_at_start_ && !agreed_failure_;
    if (failing_alone) return;
    MPI_Comm_free(&comm_);
    if (owns_mpi_) MPI_Finalize();
  }

  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void allreduce_sum(std::span<double> values) const override {
    allreduce_in_chunks(comm_, MPI_DOUBLE, values.data(), values.size());
  }
  void allreduce_sum(std::span<float> values) const override {
    allreduce_in_chunks(comm_, MPI_FLOAT, values.data(), values.size());
  }

  bool any(bool flag) const override {
    int value = flag ? 1 : 0;
    check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT, MPI_MAX, comm_), "MPI_Allreduce");
    // Every rank learns the same verdict here; a true one means all ranks are about to stop
    // together, so finalising on the way out is safe (see the destructor).
    if (value != 0) agreed_failure_ = true;
    return value != 0;
  }

  void barrier() const override { check(MPI_Barrier(comm_), "MPI_Barrier"); }

private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  bool owns_mpi_ = false;
  int uncaught_at_start_ = 0;
  mutable bool agreed_failure_ = false;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace simmatch::dist
