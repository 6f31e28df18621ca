// Communicator: how data-parallel training talks to its peers. LocalCommunicator (one process,
// collectives are no-ops) is the default; an MPI implementation is built with SIMMATCH_WITH_MPI.
#pragma once

#include <span>
#include <string>

namespace simmatch {

class Communicator {
public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// In-place element-wise sum over all ranks.
  virtual void allreduce_sum(std::span<double> values) const = 0;
  virtual void allreduce_sum(std::span<float> values) const = 0;
  /// Logical OR of `flag` over all ranks (used to stop every rank when one fails).
  virtual bool any(bool flag) const = 0;
  virtual void barrier() const = 0;
  bool is_root() const { return rank() == 0; }
};

/// A single process: rank 0 of 1.
class LocalCommunicator final : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(std::span<double>) const override {}
  void allreduce_sum(std::span<float>) const override {}
  bool any(bool flag) const override { return flag; }
  void barrier() const override {}
};

}  // namespace simmatch
