// Weight sharing (docs/theory.md, "Convolution: shared weights"): the synapses of a structure
// fall into groups whose members always hold one value, the tied parameter. A convolutional
// layer ties every site's filter bank and within-site lateral matrix to one copy.
#pragma once

#include <string>
#include <vector>

#include "simmatch/types.hpp"

namespace simmatch {

/// Per-group figures of a tied structure that learning needs at every update: members,
/// one member's index (-1 for an empty group) and the mean of 1 / C over the members.
struct GroupStats {
  std::vector<Index> size;
  std::vector<Index> first;
  std::vector<double> mean_inverse_constant;
};

/// Synapse k (in the structure's CSR order) belongs to group `group[k]` in [0, groups). The
/// stored copy of the parameters, the bank, has `bank_group.size()` entries; entry e holds the
/// value of group `bank_group[e]` (-1: no synapse of the layer uses that entry, the entry is
/// 0). Several entries may name one group (a symmetric L's bank holds L_ab and L_ba).
struct WeightSharing {
  std::vector<int> group;
  std::vector<int> bank_group;
  Index groups = 0;

  /// Synapses [begin, end) that write_groups looks up group by group.
  struct Span {
    Index begin = 0;
    Index end = 0;
  };
  /// Synapses [to, to + length) that write_groups copies from [from, from + length), which a
  /// Span covers.
  struct Copy {
    Index to = 0;
    Index from = 0;
    Index length = 0;
  };
  /// write_groups' plan (plan_row_copies); both empty: every synapse looked up.
  std::vector<Span> lookups;
  std::vector<Copy> copies;

  /// True for an unshared matrix (every synapse its own parameter).
  bool empty() const { return group.empty(); }

  /// ShapeError naming `what` unless every synapse and bank entry names a group in range and
  /// there is one group entry per synapse of a structure with `synapses` synapses.
  void check(Index synapses, const std::string& what) const;

  /// Plans write_groups for the structure whose CSR rows start at `row_ptr` (rows + 1 offsets,
  /// the last one group.size()): a row whose sequence of groups repeats an earlier row's is copied
  /// from that row. A conv2d layer's sites repeat one filter bank and one lateral block, so all but
  /// a few rows are copies: a stream of stores instead of a group index read per synapse.
  /// ShapeError when `row_ptr` does not cover the synapses.
  void plan_row_copies(const std::vector<int>& row_ptr);

  /// values[k] = of_group[group[k]] for every synapse k (of_group: `groups` values), on all threads
  /// for large structures; the same values whether planned or not.
  template <typename T>
  void write_groups(const T* of_group, T* values) const;

  /// Members of each group.
  std::vector<Index> group_sizes() const;
  /// GroupStats for the structure constants `constants` (one per synapse, > 0).
  GroupStats stats(const std::vector<double>& constants) const;

  /// ConfigError naming `what`, the group and two synapses unless the members of every group
  /// hold the same value.
  template <typename T>
  void check_tied(const T* values, const std::string& what) const;

  /// Replaces each synapse's value by the mean over its group (sizes: group_sizes()): the
  /// site-average of a tied parameter's local updates (docs/theory.md).
  void average_within_groups(double* values, const std::vector<Index>& sizes) const;

  /// The bank of tied values: entry e = the value of group bank_group[e], 0 where it is -1.
  template <typename T>
  std::vector<double> bank_from_weights(const T* values) const;

  /// Every synapse's value from a bank (bank_group.size() entries). ConfigError naming `what` and
  /// the entries when two bank entries of one group differ (e.g. an asymmetric lateral bank) or
  /// an entry is not finite.
  template <typename T>
  void weights_from_bank(const std::vector<double>& bank, T* values, const std::string& what) const;
};

}  // namespace simmatch
