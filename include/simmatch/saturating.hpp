// Checked size arithmetic for sizes that come from input: results that would wrap saturate at
// UINT64_MAX instead, which no limit or memory budget allows, so an overflowing declaration is
// refused like any other oversized one.
#pragma once

#include <cstdint>
#include <limits>

namespace simmatch {

constexpr std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return a > std::numeric_limits<std::uint64_t>::max() - b ? std::numeric_limits<std::uint64_t>::max() : a + b;
}

constexpr std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > std::numeric_limits<std::uint64_t>::max() / b ? std::numeric_limits<std::uint64_t>::max() : a * b;
}

}  // namespace simmatch
