// The data set a Config names: reader by format, sample limit, the reference preprocessing (scale,
// subtract each sample's mean) and a NaN/Inf check.
#include <algorithm>
#include <cmath>
#include <map>

#include "config/param_table.hpp"
#include "simmatch/error.hpp"
#include "simmatch/memory_budget.hpp"

namespace simmatch {
namespace {

using config_detail::fail;

// Samples reordered round-robin over their labels (first of each label, then second, ...), the
// labels taken in increasing order; the relative order within a label is kept.
Dataset interleave_by_label(const Dataset& data) {
  if (!data.has_labels()) return data;
  std::map<int, std::vector<Index>> groups;
  for (Index t = 0; t < data.size(); ++t) groups[data.labels[static_cast<std::size_t>(t)]].push_back(t);
  std::vector<Index> order;
  order.reserve(static_cast<std::size_t>(data.size()));
  for (std::size_t round = 0; order.size() < static_cast<std::size_t>(data.size()); ++round)
    for (const auto& [label, members] : groups)
      if (round < members.size()) order.push_back(members[round]);
  return subset(data, order);
}

Dataset first_samples(const Dataset& data, Index limit) {
  std::vector<Index> order(static_cast<std::size_t>(limit));
  for (Index t = 0; t < limit; ++t) order[static_cast<std::size_t>(t)] = t;
  return subset(data, order);
}

// Integer values in [0, 255] with at least one above 1: pixel bytes.
bool looks_like_bytes(const Dataset& data) {
  const Eigen::MatrixXf& x = data.x;
  if (x.size() == 0) return false;
  bool above_one = false;
  for (Index i = 0; i < x.size(); ++i) {
    const float v = x.data()[i];
    if (!(v >= 0.0f && v <= 255.0f) || v != std::floor(v)) return false;
    above_one = above_one || v > 1.0f;
  }
  return above_one;
}

}  // namespace

Dataset load_data(const Config& config) {
  const DataConfig& dc = config.data;
  if (dc.path.empty()) fail(config.source_of("data.path"), "data.path", "no data file given (set data.path)");
  const MemoryBudget budget =
      MemoryBudget::resolve(config.memory_budget_gib, config.source_of(MemoryBudget::kConfigKey) + ": " +
                                                          MemoryBudget::kConfigKey);
  Dataset data;
  if (dc.format == "mnist-json") {
    const Index per_digit = dc.limit > 0 ? dc.limit / 10 + (dc.limit % 10 != 0 ? 1 : 0) : 0;
    data = interleave_by_label(read_mnist_json(dc.path, mnist_split_from_name(dc.split), per_digit, budget));
  } else if (dc.format == "idx") {
    data = read_idx(dc.path, dc.labels, budget);
  } else if (dc.format == "npy") {
    data = read_npy_dataset(dc.path, dc.labels, budget);
  } else {
    throw InternalError("load_data: unchecked data.format '" + dc.format + "'");
  }
  if (dc.limit > 0 && dc.limit < data.size()) data = first_samples(data, dc.limit);  // else no copy
  if (data.size() == 0) throw FormatError(dc.path + ": the data set has no samples");
  check_finite(data, dc.path);

  const std::string& scale = config.preprocess.scale;
  if (scale == "byte" || (scale == "auto" && looks_like_bytes(data))) scale_values(data, 255.0f);
  if (config.preprocess.subtract_mean) subtract_sample_mean(data);
  // Finite values can still overflow once centred (3e38 minus a mean of -1e38 is Inf in float).
  check_finite(data, dc.path + " (after preprocessing)");
  return data;
}

}  // namespace simmatch
