// FakeGroup: N ranks as threads of one process, with checked collectives (see the header).
#include "simmatch/fake_communicator.hpp"

#include <condition_variable>
#include <cstdint>
#include <fmt/format.h>
#include <mutex>
#include <omp.h>
#include <thread>

#include "simmatch/error.hpp"

namespace simmatch {

namespace {

enum class Op { sum_double, sum_float, any, barrier };

const char* op_name(Op op) {
  switch (op) {
    case Op::sum_double: return "allreduce_sum(double)";
    case Op::sum_float: return "allreduce_sum(float)";
    case Op::any: return "any";
    case Op::barrier: return "barrier";
  }
  return "?";
}

}  // namespace

struct FakeGroup::State {
  struct Slot {
    Op op = Op::barrier;
    std::size_t length = 0;
    void* data = nullptr;
    int flag = 0;
  };

  explicit State(int n) : size(n), slots(static_cast<std::size_t>(n)) {}

  // A reusable barrier: the last rank to arrive opens it for everyone by moving to the next
  // generation. Throws when a rank has left the group, since the barrier could never open.
  void arrive_and_wait(std::unique_lock<std::mutex>& lock, int rank) {
    const std::uint64_t my_generation = generation;
    if (++arrived == size) {
      arrived = 0;
      ++generation;
      changed.notify_all();
      return;
    }
    changed.wait(lock, [&] { return generation != my_generation || gone >= 0; });
    if (generation == my_generation) {
      throw InternalError(fmt::format("fake communicator: rank {} waits in a collective that rank {} left without "
                                      "joining (mismatched collectives or an unagreed failure)",
                                      rank, gone));
    }
  }

  int size;
  std::mutex mutex;
  std::condition_variable changed;
  int arrived = 0;
  std::uint64_t generation = 0;
  int gone = -1;  // a rank that has left, or -1
  std::vector<Slot> slots;
};

namespace {

class FakeCommunicator final : public Communicator {
public:
  FakeCommunicator(FakeGroup::State& state, int rank) : state_(state), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return state_.size; }

  void allreduce_sum(std::span<double> values) const override { sum(Op::sum_double, values); }
  void allreduce_sum(std::span<float> values) const override { sum(Op::sum_float, values); }

  bool any(bool flag) const override {
    bool result = false;
    collective(Op::any, 0, nullptr, flag ? 1 : 0, [&] {
      for (const auto& slot : state_.slots) result = result || slot.flag != 0;
    });
    return result;
  }

  void barrier() const override {
    collective(Op::barrier, 0, nullptr, 0, [] {});
  }

private:
  template <typename T>
  void sum(Op op, std::span<T> values) const {
    std::vector<T> total(values.size());
    collective(op, values.size(), values.data(), 0, [&] {
      // In rank order, starting from rank 0's values: deterministic and, for one rank, exact.
      for (std::size_t r = 0; r < state_.slots.size(); ++r) {
        const T* part = static_cast<const T*>(state_.slots[r].data);
        for (std::size_t i = 0; i < total.size(); ++i) total[i] = r == 0 ? part[i] : total[i] + part[i];
      }
    });
    std::copy(total.begin(), total.end(), values.begin());
  }

  // Publishes this rank's slot, waits for all ranks, checks they agree on the operation, runs
  // `combine` (which reads every slot), and waits again so no slot changes while others read it.
  template <typename Combine>
  void collective(Op op, std::size_t length, void* data, int flag, Combine&& combine) const {
    std::unique_lock lock(state_.mutex);
    state_.slots[static_cast<std::size_t>(rank_)] = {op, length, data, flag};
    state_.arrive_and_wait(lock, rank_);
    const auto& first = state_.slots[0];
    for (std::size_t r = 1; r < state_.slots.size(); ++r) {
      const auto& slot = state_.slots[r];
      if (slot.op != first.op || slot.length != first.length) {
        throw InternalError(fmt::format("fake communicator: mismatched collectives: rank 0 called {} of {} values, "
                                        "rank {} called {} of {}",
                                        op_name(first.op), first.length, r, op_name(slot.op), slot.length));
      }
    }
    lock.unlock();
    combine();  // the slots' buffers are not written until every rank has passed the next barrier
    lock.lock();
    state_.arrive_and_wait(lock, rank_);
  }

  FakeGroup::State& state_;
  int rank_;
};

}  // namespace

FakeGroup::FakeGroup(int size) {
  if (size < 1) throw ConfigError(fmt::format("fake communicator: size must be >= 1, got {}", size));
  state_ = std::make_unique<State>(size);
  for (int r = 0; r < size; ++r) ranks_.push_back(std::make_unique<FakeCommunicator>(*state_, r));
}

FakeGroup::~FakeGroup() = default;

int FakeGroup::size() const { return state_->size; }

const Communicator& FakeGroup::rank(int rank) const {
  if (rank < 0 || rank >= size()) throw InternalError(fmt::format("fake communicator: no rank {}", rank));
  return *ranks_[static_cast<std::size_t>(rank)];
}

void FakeGroup::leave(int rank) {
  std::lock_guard lock(state_->mutex);
  if (state_->gone < 0) state_->gone = rank;
  state_->changed.notify_all();
}

std::vector<std::exception_ptr> run_ranks(int size, const std::function<void(const Communicator&)>& fn) {
  FakeGroup group(size);
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(size));
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      // The ranks already fill the cores; OpenMP teams inside each (spinning at every collective's
      // wait) only slow a fake job down, by 70x on two loaded cores. This sets only this thread's value.
      omp_set_num_threads(1);
      try {
        fn(group.rank(r));
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
      }
      group.leave(r);
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

}  // namespace simmatch
