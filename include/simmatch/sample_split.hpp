// A seeded, stratified split of labelled samples into a kept part and a held-out part: the
// validation split of the read-out's choice of C and of a training run's `train.validation`.
#pragma once

#include <cstdint>
#include <vector>

#include "simmatch/types.hpp"

namespace simmatch {

/// Sample indices into the two parts, each in increasing order.
struct SampleSplit {
  std::vector<Index> kept;
  std::vector<Index> held_out;
};

/// About `fraction` of each label's samples (rounded, at least one when the label has two or
/// more, never all of them) go to held_out, chosen by a seeded shuffle within each label; the
/// same labels, fraction and seed give the same split. ConfigError unless 0 <= fraction < 1.
SampleSplit stratified_split(const std::vector<int>& labels, double fraction, std::uint64_t seed);

}  // namespace simmatch
