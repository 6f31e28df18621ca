// The memory budget: its default from the machine's limits, the SIMMATCH_MEMORY_BUDGET variable
// and the config key, and the wording of a refusal.
#include "simmatch/memory_budget.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string_view>

#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {
namespace {

constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

// The first number in a cgroup limit file; 0 when the file is absent or says "max".
std::uint64_t read_limit_file(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return 0;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() ? value : 0;
}

// Bytes from "2", "0.5", "512M", "4GiB", "100B": a bare number is GiB, like memory_budget_gib.
std::uint64_t parse_size(std::string_view text) {
  const auto fail = [&]() {
    return ConfigError(fmt::format("{}='{}': expected a size such as 2 (GiB), 0.5, 512M, 4GiB or 1T, > 0",
                                   MemoryBudget::kEnvironmentVariable, text));
  };
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data() || !(value > 0) || !std::isfinite(value)) throw fail();
  std::string unit(end, text.data() + text.size());
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  if (unit.size() > 1 && unit.back() == 'b') unit.pop_back();  // "gb" -> "g"
  if (unit.size() > 1 && unit.back() == 'i') unit.pop_back();  // "gi" -> "g"
  double scale = 0;
  if (unit.empty() || unit == "g") scale = static_cast<double>(kGiB);
  if (unit == "b") scale = 1;
  if (unit == "k") scale = 1024.0;
  if (unit == "m") scale = 1024.0 * 1024.0;
  if (unit == "t") scale = 1024.0 * static_cast<double>(kGiB);
  if (scale == 0) throw fail();
  const double bytes = std::floor(value * scale);
  if (bytes < 1) throw fail();
  return bytes >= 1.8e19 ? kMax : static_cast<std::uint64_t>(bytes);
}

}  // namespace

MemoryLimits MemoryLimits::of_this_process() {
  MemoryLimits limits;
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) {
    limits.physical = saturating_mul(static_cast<std::uint64_t>(pages), static_cast<std::uint64_t>(page_size));
  }
  // cgroup v2, else v1; an unlimited v1 group reports a number near 2^63, which the minimum ignores.
  limits.cgroup = read_limit_file("/sys/fs/cgroup/memory.max");
  if (limits.cgroup == 0) limits.cgroup = read_limit_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  rlimit as{};
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    limits.address_space = static_cast<std::uint64_t>(as.rlim_cur);
  }
  return limits;
}

MemoryBudget::MemoryBudget(std::uint64_t bytes, std::string origin)
    : bytes_(bytes), total_(bytes), origin_(std::move(origin)) {}

MemoryBudget MemoryBudget::default_for(const MemoryLimits& limits) {
  std::uint64_t smallest = kMax;
  // A view of the literal, not a std::string: GCC 12 reports its own inlined string assignment as
  // out of bounds (-Warray-bounds, a false positive) once the precompiled header changes inlining.
  std::string_view what;
  const auto consider = [&](std::uint64_t limit, const char* name) {
    if (limit > 0 && limit < smallest) {
      smallest = limit;
      what = name;
    }
  };
  consider(limits.physical, "physical memory");
  consider(limits.cgroup, "cgroup memory limit");
  consider(limits.address_space, "address-space limit (ulimit -v)");
  if (smallest == kMax) {
    smallest = kGiB;
    what = "assumed memory (no limit could be read)";
  }
  return MemoryBudget(smallest / 4, fmt::format("a quarter of the {} {}", format_bytes(smallest), what));
}

MemoryBudget MemoryBudget::from_environment() {
  const char* value = std::getenv(kEnvironmentVariable);
  if (value != nullptr) return MemoryBudget(parse_size(value), fmt::format("{}={}", kEnvironmentVariable, value));
  return default_for(MemoryLimits::of_this_process());
}

MemoryBudget MemoryBudget::resolve(double gib, const std::string& origin) {
  if (!(gib > 0)) return from_environment();
  const double bytes = std::floor(gib * static_cast<double>(kGiB));
  return MemoryBudget(bytes >= 1.8e19 ? kMax : static_cast<std::uint64_t>(std::max(bytes, 1.0)),
                      fmt::format("{} = {}", origin, gib));
}

std::string MemoryBudget::describe() const {
  const std::string left = bytes_ < total_ ? fmt::format("the {} left of ", format_bytes(bytes_)) : "";
  return fmt::format("{}the memory budget of {} ({}; change it with {} or {})", left, format_bytes(total_), origin_,
                     kEnvironmentVariable, kConfigKey);
}

std::string MemoryBudget::refusal(std::uint64_t bytes, const std::string& what) const {
  const std::string amount = bytes == kMax ? std::string("more than 2^64 bytes")
                                           : fmt::format("{} bytes ({})", bytes, format_bytes(bytes));
  return fmt::format("{} needs {}, over {}", what, amount, describe());
}

MemoryBudget MemoryBudget::minus(std::uint64_t bytes) const {
  MemoryBudget left = *this;
  left.bytes_ = bytes >= bytes_ ? 0 : bytes_ - bytes;
  return left;
}

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} bytes", bytes);
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

}  // namespace simmatch
