// The memory budget: the most bytes one reader or builder may allocate for sizes its input
// declares, computed in saturating arithmetic and checked before anything is allocated.
#pragma once

#include <cstdint>
#include <string>

#include "simmatch/saturating.hpp"

namespace simmatch {

/// Sizes of the limits the default budget is derived from; 0 = no such limit.
struct MemoryLimits {
  std::uint64_t physical = 0;       // installed memory (sysconf)
  std::uint64_t cgroup = 0;         // the container's memory limit (cgroup v2 memory.max or v1)
  std::uint64_t address_space = 0;  // RLIMIT_AS (`ulimit -v`, `prlimit --as`)

  /// The limits of this process, read now.
  static MemoryLimits of_this_process();
};

/// How many bytes one operation (reading one file, building one network) may allocate. It is a
/// cap per operation, not an account of the whole process: readers and builders compute their
/// peak from the sizes their input declares and refuse, before allocating, anything over it.
///
/// Default: a quarter of the smallest of the physical memory, the cgroup memory limit and the
/// address-space limit. The environment variable SIMMATCH_MEMORY_BUDGET replaces the default
/// everywhere; the config key `memory_budget_gib` (when > 0) replaces it for what a config reads
/// and builds (its data, constants files and network).
class MemoryBudget {
public:
  static constexpr const char* kEnvironmentVariable = "SIMMATCH_MEMORY_BUDGET";
  static constexpr const char* kConfigKey = "memory_budget_gib";

  MemoryBudget(std::uint64_t bytes, std::string origin);

  /// SIMMATCH_MEMORY_BUDGET when set: a number of GiB ("2", "0.5") or a number with a binary
  /// unit ("512M", "512MiB", "4G", "1T", "65536K", "100B"); ConfigError naming the variable when
  /// it is anything else or not > 0. Otherwise default_for(MemoryLimits::of_this_process()).
  static MemoryBudget from_environment();
  /// A quarter of the smallest non-zero limit (1 GiB of physical memory is assumed when no
  /// limit is known).
  static MemoryBudget default_for(const MemoryLimits& limits);
  /// `gib` GiB when > 0 (a config's memory_budget_gib, named by `origin`), else from_environment().
  static MemoryBudget resolve(double gib, const std::string& origin = kConfigKey);

  std::uint64_t bytes() const { return bytes_; }
  /// Where the value came from, e.g. "a quarter of the 23.5 GiB of physical memory".
  const std::string& origin() const { return origin_; }
  bool allows(std::uint64_t bytes) const { return bytes <= bytes_; }

  /// "the memory budget of 5.9 GiB (<origin>; change it with SIMMATCH_MEMORY_BUDGET or
  /// memory_budget_gib)", or "the 1.2 GiB left of the memory budget of 5.9 GiB (...)" after minus().
  std::string describe() const;
  /// "<what> needs <bytes> (<human>), over <describe()>": the message of a refusal.
  std::string refusal(std::uint64_t bytes, const std::string& what) const;
  /// Throws E(refusal(bytes, what)) unless the budget allows `bytes`.
  template <typename E>
  void require(std::uint64_t bytes, const std::string& what) const {
    if (!allows(bytes)) throw E(refusal(bytes, what));
  }
  /// The budget left once `bytes` are spent (0 when they exceed it), with the same origin and total.
  MemoryBudget minus(std::uint64_t bytes) const;

private:
  std::uint64_t bytes_;
  std::uint64_t total_;  // the whole budget, before any minus()
  std::string origin_;
};

/// "512 bytes", "1.5 KiB", "3.0 GiB": sizes in messages.
std::string format_bytes(std::uint64_t bytes);

}  // namespace simmatch
