// Tied parameters: checking, averaging the members' updates, and the bank that stores each once.
#include "simmatch/weight_sharing.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <unordered_map>

#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {

void WeightSharing::check(Index synapses, const std::string& what) const {
  if (static_cast<Index>(group.size()) != synapses) {
    throw ShapeError(fmt::format("{}: {} group entries for {} synapses", what, group.size(), synapses));
  }
  for (std::size_t k = 0; k < group.size(); ++k) {
    if (group[k] < 0 || group[k] >= groups) {
      throw ShapeError(fmt::format("{}: synapse {} names group {} outside [0, {})", what, k, group[k], groups));
    }
  }
  for (std::size_t e = 0; e < bank_group.size(); ++e) {
    if (bank_group[e] < -1 || bank_group[e] >= groups) {
      throw ShapeError(fmt::format("{}: bank entry {} names group {} outside [0, {})", what, e, bank_group[e], groups));
    }
  }
}

namespace {

// Synapses from which write_groups runs on all threads, and the most it coalesces into one span
// or copy (so that the threads get even shares).
constexpr Index kParallelSynapses = Index{1} << 16;
constexpr Index kPieceSynapses = Index{1} << 14;

std::uint64_t hash_of(const int* groups, Index count) {
  std::uint64_t h = 1469598103934665603ULL ^ static_cast<std::uint64_t>(count);
  for (Index i = 0; i < count; ++i) h = (h ^ static_cast<std::uint32_t>(groups[i])) * 1099511628211ULL;
  return h;
}

}  // namespace

void WeightSharing::plan_row_copies(const std::vector<int>& row_ptr) {
  lookups.clear();
  copies.clear();
  if (empty()) return;
  if (row_ptr.size() < 2 || row_ptr.front() != 0 || row_ptr.back() != static_cast<int>(group.size()) ||
      !std::is_sorted(row_ptr.begin(), row_ptr.end())) {
    throw ShapeError(fmt::format("weight sharing: row offsets do not cover the {} synapses", group.size()));
  }
  std::unordered_map<std::uint64_t, std::vector<Index>> first_rows;  // rows of distinct sequences, by hash
  const int* g = group.data();
  for (std::size_t r = 0; r + 1 < row_ptr.size(); ++r) {
    const Index begin = row_ptr[r];
    const Index length = row_ptr[r + 1] - begin;
    if (length == 0) continue;
    std::vector<Index>& candidates = first_rows[hash_of(g + begin, length)];
    const auto same = std::find_if(candidates.begin(), candidates.end(), [&](Index first) {
      return row_ptr[static_cast<std::size_t>(first) + 1] - row_ptr[static_cast<std::size_t>(first)] == length &&
             std::equal(g + begin, g + begin + length, g + row_ptr[static_cast<std::size_t>(first)]);
    });
    if (same == candidates.end()) {
      candidates.push_back(static_cast<Index>(r));
      if (!lookups.empty() && lookups.back().end == begin && lookups.back().end - lookups.back().begin < kPieceSynapses) {
        lookups.back().end = begin + length;
      } else {
        lookups.push_back({begin, begin + length});
      }
      continue;
    }
    const Index from = row_ptr[static_cast<std::size_t>(*same)];
    if (!copies.empty() && copies.back().to + copies.back().length == begin &&
        copies.back().from + copies.back().length == from && copies.back().length < kPieceSynapses) {
      copies.back().length += length;
    } else {
      copies.push_back({begin, from, length});
    }
  }
}

template <typename T>
void WeightSharing::write_groups(const T* of_group, T* values) const {
  const auto synapses = static_cast<Index>(group.size());
  const int* g = group.data();
  if (lookups.empty()) {
#pragma omp parallel for schedule(static) if (synapses > kParallelSynapses)
    for (Index k = 0; k < synapses; ++k) values[k] = of_group[g[k]];
    return;
  }
  const auto spans = static_cast<Index>(lookups.size());
  const auto runs = static_cast<Index>(copies.size());
  // A copy's source is a looked-up row: every span is written before any copy starts (the barrier
  // that ends the first loop).
#pragma omp parallel if (synapses > kParallelSynapses)
  {
#pragma omp for schedule(dynamic, 1)
    for (Index i = 0; i < spans; ++i) {
      const Span& span = lookups[static_cast<std::size_t>(i)];
      for (Index k = span.begin; k < span.end; ++k) values[k] = of_group[g[k]];
    }
#pragma omp for schedule(dynamic, 4)
    for (Index i = 0; i < runs; ++i) {
      const Copy& copy = copies[static_cast<std::size_t>(i)];
      std::copy_n(values + copy.from, copy.length, values + copy.to);
    }
  }
}

std::vector<Index> WeightSharing::group_sizes() const {
  std::vector<Index> sizes(static_cast<std::size_t>(groups), 0);
  for (int g : group) ++sizes[static_cast<std::size_t>(g)];
  return sizes;
}

GroupStats WeightSharing::stats(const std::vector<double>& constants) const {
  if (constants.size() != group.size()) {
    throw ShapeError(fmt::format("weight sharing: {} constants for {} synapses", constants.size(), group.size()));
  }
  const auto n = static_cast<std::size_t>(groups);
  GroupStats st{std::vector<Index>(n, 0), std::vector<Index>(n, -1), std::vector<double>(n, 0.0)};
  for (std::size_t k = 0; k < group.size(); ++k) {
    const auto g = static_cast<std::size_t>(group[k]);
    if (st.size[g]++ == 0) st.first[g] = static_cast<Index>(k);
    st.mean_inverse_constant[g] += 1.0 / constants[k];
  }
  for (std::size_t g = 0; g < n; ++g) {
    if (st.size[g] > 0) st.mean_inverse_constant[g] /= static_cast<double>(st.size[g]);
  }
  return st;
}

template <typename T>
void WeightSharing::check_tied(const T* values, const std::string& what) const {
  std::vector<Index> first(static_cast<std::size_t>(groups), -1);
  for (std::size_t k = 0; k < group.size(); ++k) {
    Index& f = first[static_cast<std::size_t>(group[k])];
    if (f < 0) {
      f = static_cast<Index>(k);
    } else if (!(values[k] == values[f])) {
      throw ConfigError(fmt::format("{}: synapses {} and {} share one parameter (group {}) but hold {} and {}", what, f,
                                    k, group[k], values[f], values[k]));
    }
  }
}

void WeightSharing::average_within_groups(double* values, const std::vector<Index>& sizes) const {
  std::vector<double> sums(static_cast<std::size_t>(groups), 0.0);
  for (std::size_t k = 0; k < group.size(); ++k) sums[static_cast<std::size_t>(group[k])] += values[k];
  for (std::size_t k = 0; k < group.size(); ++k) {
    const auto g = static_cast<std::size_t>(group[k]);
    values[k] = sums[g] / static_cast<double>(sizes[g]);
  }
}

template <typename T>
std::vector<double> WeightSharing::bank_from_weights(const T* values) const {
  std::vector<double> of_group(static_cast<std::size_t>(groups), 0.0);
  for (std::size_t k = 0; k < group.size(); ++k) of_group[static_cast<std::size_t>(group[k])] = static_cast<double>(values[k]);
  std::vector<double> bank(bank_group.size(), 0.0);
  for (std::size_t e = 0; e < bank.size(); ++e) {
    if (bank_group[e] >= 0) bank[e] = of_group[static_cast<std::size_t>(bank_group[e])];
  }
  return bank;
}

template <typename T>
void WeightSharing::weights_from_bank(const std::vector<double>& bank, T* values, const std::string& what) const {
  if (bank.size() != bank_group.size()) {
    throw ShapeError(fmt::format("{}: {} bank entries, expected {}", what, bank.size(), bank_group.size()));
  }
  std::vector<Index> entry_of(static_cast<std::size_t>(groups), -1);
  for (std::size_t e = 0; e < bank.size(); ++e) {
    if (!std::isfinite(bank[e])) throw ConfigError(fmt::format("{}: bank entry {} is {}; weights must be finite", what, e, bank[e]));
    if (bank_group[e] < 0) continue;
    Index& first = entry_of[static_cast<std::size_t>(bank_group[e])];
    if (first < 0) {
      first = static_cast<Index>(e);
    } else if (bank[static_cast<std::size_t>(first)] != bank[e]) {
      throw ConfigError(fmt::format("{}: bank entries {} and {} are one parameter (a symmetric pair) but hold {} and {}",
                                    what, first, e, bank[static_cast<std::size_t>(first)], bank[e]));
    }
  }
  for (std::size_t k = 0; k < group.size(); ++k) {
    if (entry_of[static_cast<std::size_t>(group[k])] < 0) {
      throw ShapeError(fmt::format("{}: synapse {}'s group {} has no bank entry", what, k, group[k]));
    }
  }
  std::vector<T> of_group(static_cast<std::size_t>(groups), T(0));
  for (std::size_t g = 0; g < of_group.size(); ++g) {
    const Index e = entry_of[g];
    if (e < 0) continue;
    of_group[g] = static_cast<T>(bank[static_cast<std::size_t>(e)]);
    if (!std::isfinite(of_group[g])) {
      throw ConfigError(fmt::format("{}: bank entry {} ({}) is not finite in the layer's precision", what, e,
                                    bank[static_cast<std::size_t>(e)]));
    }
  }
  write_groups(of_group.data(), values);
}

template void WeightSharing::write_groups<float>(const float*, float*) const;
template void WeightSharing::write_groups<double>(const double*, double*) const;
template void WeightSharing::check_tied<float>(const float*, const std::string&) const;
template void WeightSharing::check_tied<double>(const double*, const std::string&) const;
template std::vector<double> WeightSharing::bank_from_weights<float>(const float*) const;
template std::vector<double> WeightSharing::bank_from_weights<double>(const double*) const;
template void WeightSharing::weights_from_bank<float>(const std::vector<double>&, float*, const std::string&) const;
template void WeightSharing::weights_from_bank<double>(const std::vector<double>&, double*, const std::string&) const;

}  // namespace simmatch
