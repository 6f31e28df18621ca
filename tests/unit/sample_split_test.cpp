#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "simmatch/error.hpp"
#include "simmatch/sample_split.hpp"

using namespace simmatch;

namespace {

// Labels 0 x 10, 1 x 7, 2 x 1, interleaved.
std::vector<int> uneven_labels() {
  std::vector<int> labels;
  for (int i = 0; i < 10; ++i) labels.push_back(0);
  for (int i = 0; i < 7; ++i) labels.insert(labels.begin() + 2 * i + 1, 1);
  labels.push_back(2);
  return labels;
}

std::map<int, int> counts(const std::vector<int>& labels, const std::vector<Index>& idx) {
  std::map<int, int> out;
  for (Index i : idx) ++out[labels[static_cast<std::size_t>(i)]];
  return out;
}

}  // namespace

TEST(SampleSplitTest, EachLabelGivesItsShareAndKeepsAtLeastOne) {
  const std::vector<int> labels = uneven_labels();
  const SampleSplit parts = stratified_split(labels, 0.2, 7);
  // 10 -> 2 held out, 7 -> round(1.4) = 1, the lone sample of label 2 is kept.
  EXPECT_EQ(counts(labels, parts.held_out), (std::map<int, int>{{0, 2}, {1, 1}}));
  EXPECT_EQ(counts(labels, parts.kept), (std::map<int, int>{{0, 8}, {1, 6}, {2, 1}}));
  // Together every index once, each part in increasing order.
  std::vector<Index> all = parts.kept;
  all.insert(all.end(), parts.held_out.begin(), parts.held_out.end());
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<Index>(i));
  EXPECT_TRUE(std::is_sorted(parts.kept.begin(), parts.kept.end()));
  EXPECT_TRUE(std::is_sorted(parts.held_out.begin(), parts.held_out.end()));
  // A small share still holds one of each label with two or more; a large one never takes all.
  EXPECT_EQ(counts(labels, stratified_split(labels, 0.01, 7).held_out), (std::map<int, int>{{0, 1}, {1, 1}}));
  EXPECT_EQ(counts(labels, stratified_split(labels, 0.99, 7).kept), (std::map<int, int>{{0, 1}, {1, 1}, {2, 1}}));
}

TEST(SampleSplitTest, TheSeedChoosesTheSamplesReproducibly) {
  const std::vector<int> labels = uneven_labels();
  EXPECT_EQ(stratified_split(labels, 0.3, 1).held_out, stratified_split(labels, 0.3, 1).held_out);
  EXPECT_NE(stratified_split(labels, 0.3, 1).held_out, stratified_split(labels, 0.3, 2).held_out);
}

TEST(SampleSplitTest, NothingHeldOutAtZeroAndFractionsOutsideAreRefused) {
  const std::vector<int> labels = uneven_labels();
  const SampleSplit none = stratified_split(labels, 0.0, 3);
  EXPECT_TRUE(none.held_out.empty());
  EXPECT_EQ(none.kept.size(), labels.size());
  EXPECT_THROW(stratified_split(labels, 1.0, 3), ConfigError);
  EXPECT_THROW(stratified_split(labels, -0.1, 3), ConfigError);
}
