// Agreeing across ranks: who failed and why, and flags that travel inside a reduction, so that no
// rank waits in a collective for a peer that has already left.
#include <algorithm>
#include <fmt/format.h>

#include "simmatch/distributed.hpp"
#include "simmatch/error.hpp"

namespace simmatch {
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

void allreduce_sum_and_any(const Communicator& comm, std::vector<double>& values, std::span<bool> flags) {
  if (comm.size() == 1) return;  // the sum over one rank is its own values, the OR its own flags
  const std::size_t n = values.size();
  // A flag is 0 or 1 on each rank, so its sum is exact and positive exactly when some rank set it.
  for (const bool flag : flags) values.push_back(flag ? 1.0 : 0.0);
  comm.allreduce_sum(std::span<double>(values));
  for (std::size_t i = 0; i < flags.size(); ++i) flags[i] = values[n + i] > 0;
  values.resize(n);
}

}  // namespace simmatch
