// Tied parameters: checking, averaging the members' updates, and the bank that stores each once.
#include "simmatch/weight_sharing.hpp"

#include <cmath>

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
    const Index e = entry_of[static_cast<std::size_t>(group[k])];
    if (e < 0) throw ShapeError(fmt::format("{}: synapse {}'s group {} has no bank entry", what, k, group[k]));
    values[k] = static_cast<T>(bank[static_cast<std::size_t>(e)]);
    if (!std::isfinite(values[k])) {
      throw ConfigError(fmt::format("{}: bank entry {} ({}) is not finite in the layer's precision", what, e,
                                    bank[static_cast<std::size_t>(e)]));
    }
  }
}

template void WeightSharing::check_tied<float>(const float*, const std::string&) const;
template void WeightSharing::check_tied<double>(const double*, const std::string&) const;
template std::vector<double> WeightSharing::bank_from_weights<float>(const float*) const;
template std::vector<double> WeightSharing::bank_from_weights<double>(const double*) const;
template void WeightSharing::weights_from_bank<float>(const std::vector<double>&, float*, const std::string&) const;
template void WeightSharing::weights_from_bank<double>(const std::vector<double>&, double*, const std::string&) const;

}  // namespace simmatch
