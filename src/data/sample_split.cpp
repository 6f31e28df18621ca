// The stratified validation split (sample_split.hpp).
#include "simmatch/sample_split.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {

SampleSplit stratified_split(const std::vector<int>& labels, double fraction, std::uint64_t seed) {
  if (!(fraction >= 0 && fraction < 1)) {
    throw ConfigError(fmt::format("split: the held-out fraction must be in [0, 1), got {}", fraction));
  }
  std::map<int, std::vector<Index>> groups;
  for (std::size_t i = 0; i < labels.size(); ++i) groups[labels[i]].push_back(static_cast<Index>(i));
  SampleSplit out;
  std::mt19937_64 rng(seed);
  for (auto& [label, members] : groups) {
    std::shuffle(members.begin(), members.end(), rng);
    const auto n = static_cast<Index>(members.size());
    const Index least = n >= 2 && fraction > 0 ? 1 : 0;
    const Index held = std::clamp<Index>(static_cast<Index>(std::lround(fraction * static_cast<double>(n))), least,
                                         std::max<Index>(n - 1, 0));
    for (Index i = 0; i < n; ++i) (i < held ? out.held_out : out.kept).push_back(members[static_cast<std::size_t>(i)]);
  }
  std::sort(out.kept.begin(), out.kept.end());
  std::sort(out.held_out.begin(), out.held_out.end());
  return out;
}

}  // namespace simmatch
