// Fake N-rank runs for tests: N threads of one process, each holding the Communicator of one rank,
// so the distributed code paths (shares of a batch, reductions, failure agreement) run without MPI.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <vector>

#include "simmatch/communicator.hpp"

namespace simmatch {

/// The ranks of one fake job. Collectives are real: each rank's thread blocks until every rank has
/// joined, sums are formed in rank order (so they are deterministic), and every collective checks
/// that all ranks called the same operation with the same length, throwing InternalError on every
/// rank otherwise: a mismatch that would deadlock or corrupt an MPI run fails a test instead.
/// When a rank's thread leaves (returns or throws) while others wait in a collective, those throw
/// InternalError rather than hang.
class FakeGroup {
public:
  explicit FakeGroup(int size);
  ~FakeGroup();
  FakeGroup(const FakeGroup&) = delete;
  FakeGroup& operator=(const FakeGroup&) = delete;

  int size() const;
  /// The communicator of rank `rank` (valid while the group lives).
  const Communicator& rank(int rank) const;
  /// Marks `rank` as gone: collectives it will never join fail on the other ranks.
  void leave(int rank);

  struct State;  // shared by the ranks' communicators; defined in the .cpp

private:
  std::unique_ptr<State> state_;
  std::vector<std::unique_ptr<Communicator>> ranks_;
};

/// Runs fn(communicator of rank r) for r = 0..size-1 on `size` threads and waits for all of them;
/// returns each rank's exception (null where fn returned normally).
std::vector<std::exception_ptr> run_ranks(int size, const std::function<void(const Communicator&)>& fn);

}  // namespace simmatch
