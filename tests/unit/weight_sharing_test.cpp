// WeightSharing::write_groups' row-copy plan: the same synapse values as looking every synapse up.
#include <gtest/gtest.h>

#include <random>

#include "simmatch/conv2d.hpp"
#include "simmatch/error.hpp"
#include "simmatch/network.hpp"
#include "simmatch/weight_sharing.hpp"

using namespace simmatch;

namespace {

std::vector<double> random_values(Index n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (double& x : v) x = normal(rng);
  return v;
}

// Every synapse is written once, by a span or a copy, and a copy reads only looked-up synapses.
void expect_plan_partitions(const WeightSharing& planned) {
  std::vector<int> writes(planned.group.size(), 0);
  std::vector<unsigned char> looked_up(planned.group.size(), 0);
  for (const auto& span : planned.lookups) {
    for (Index k = span.begin; k < span.end; ++k) {
      ++writes[static_cast<std::size_t>(k)];
      looked_up[static_cast<std::size_t>(k)] = 1;
    }
  }
  for (const auto& copy : planned.copies) {
    for (Index i = 0; i < copy.length; ++i) {
      ++writes[static_cast<std::size_t>(copy.to + i)];
      EXPECT_TRUE(looked_up[static_cast<std::size_t>(copy.from + i)]) << "copy reads synapse " << copy.from + i;
      EXPECT_EQ(planned.group[static_cast<std::size_t>(copy.to + i)], planned.group[static_cast<std::size_t>(copy.from + i)]);
    }
  }
  for (std::size_t k = 0; k < writes.size(); ++k) ASSERT_EQ(writes[k], 1) << "synapse " << k;
}

// write_groups with the plan gives the values of the plain lookup (a sharing without a plan).
template <typename T>
void expect_planned_writes_equal_lookups(const WeightSharing& planned, std::uint64_t seed) {
  WeightSharing plain = planned;
  plain.lookups.clear();
  plain.copies.clear();
  const std::vector<double> groups = random_values(planned.groups, seed);
  const std::vector<T> of_group(groups.begin(), groups.end());
  std::vector<T> expected(planned.group.size(), T(-7));
  std::vector<T> got(planned.group.size(), T(-7));
  plain.write_groups(of_group.data(), expected.data());
  planned.write_groups(of_group.data(), got.data());
  for (std::size_t k = 0; k < got.size(); ++k) {
    ASSERT_EQ(expected[k], of_group[static_cast<std::size_t>(planned.group[k])]);
    ASSERT_EQ(got[k], expected[k]) << "synapse " << k;
  }
}

}  // namespace

// Conv2d layers of both paddings, strides 1-2, with and without a lateral neighbourhood: their
// sites repeat one filter bank, so most rows are copies, and the copies hold the lookups' values.
TEST(WeightSharingTest, RowCopiesOfAConvolutionWriteWhatLookupsWrite) {
  for (const Conv2d& conv : {Conv2d{Grid{9, 8, 2}, 3, 1, Padding::same, 4, 0}, Conv2d{Grid{9, 9, 1}, 4, 2, Padding::same, 3, 1.5},
                             Conv2d{Grid{10, 7, 3}, 3, 1, Padding::valid, 2, 1.0}, Conv2d{Grid{8, 8, 1}, 5, 1, Padding::same, 5, 0}}) {
    const Structure cw = conv.cw();
    const Structure cl = conv.cl();
    for (auto [structure, sharing] : {std::pair{&cw, conv.w_sharing(cw)}, std::pair{&cl, conv.l_sharing(cl)}}) {
      sharing.plan_row_copies(structure->row_ptr());
      expect_plan_partitions(sharing);
      Index copied = 0;
      for (const auto& copy : sharing.copies) copied += copy.length;
      EXPECT_GT(copied, structure->nnz() / 2) << "most rows repeat an earlier site's";
      expect_planned_writes_equal_lookups<float>(sharing, 11);
      expect_planned_writes_equal_lookups<double>(sharing, 12);
    }
  }
}

TEST(WeightSharingTest, ConvolutionalLayerPlansItsWrites) {
  const Conv2d conv{Grid{8, 8, 1}, 3, 1, Padding::same, 4, 0};
  const Layer<float> layer(conv.cw(), conv.cl(), Activation::tanh(), conv.output(), conv);
  expect_plan_partitions(layer.w_sharing());
  expect_plan_partitions(layer.l_sharing());
  EXPECT_FALSE(layer.w_sharing().copies.empty());
  EXPECT_FALSE(layer.l_sharing().copies.empty());
}

// Repeats far apart, rows of different lengths with a common prefix, empty rows, and a structure
// large enough for write_groups to run on all threads.
TEST(WeightSharingTest, RowCopiesHandleEmptyRowsPrefixesAndLargeStructures) {
  WeightSharing sharing;
  std::vector<int> row_ptr{0};
  const std::vector<std::vector<int>> pattern{{0, 1}, {2}, {}, {0, 1, 2}, {0, 1}, {3, 4, 5, 6}, {2}, {}, {0, 1}};
  for (int repeat = 0; repeat < 20000; ++repeat) {
    for (const auto& row : pattern) {
      // A row of each 1,000th repeat names groups of its own: looked up among the copies.
      for (const int g : row) sharing.group.push_back(repeat % 1000 == 999 ? 7 + (g + repeat) % 5 : g);
      row_ptr.push_back(static_cast<int>(sharing.group.size()));
    }
  }
  sharing.groups = 12;
  sharing.plan_row_copies(row_ptr);
  expect_plan_partitions(sharing);
  Index looked_up = 0;
  for (const auto& span : sharing.lookups) looked_up += span.end - span.begin;
  EXPECT_LT(looked_up, 1000) << "only the first row of each distinct sequence is looked up";
  expect_planned_writes_equal_lookups<float>(sharing, 21);
  expect_planned_writes_equal_lookups<double>(sharing, 22);
}

TEST(WeightSharingTest, RowOffsetsThatDoNotCoverTheSynapsesAreRefused) {
  WeightSharing sharing;
  sharing.group = {0, 1, 0, 1};
  sharing.groups = 2;
  EXPECT_THROW(sharing.plan_row_copies({0, 2}), ShapeError);
  EXPECT_THROW(sharing.plan_row_copies({1, 2, 4}), ShapeError);
  EXPECT_THROW(sharing.plan_row_copies({0, 3, 2, 4}), ShapeError);
  EXPECT_THROW(sharing.plan_row_copies({}), ShapeError);
  EXPECT_NO_THROW(sharing.plan_row_copies({0, 2, 4}));
  ASSERT_EQ(sharing.copies.size(), 1U);
  EXPECT_EQ(sharing.copies[0].to, 2);
  EXPECT_EQ(sharing.copies[0].from, 0);
}
