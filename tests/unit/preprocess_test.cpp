// Preprocessing of data sets: scaling, per-sample mean removal, the finiteness check and subsets.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "simmatch/dataset.hpp"
#include "simmatch/error.hpp"

namespace simmatch {
namespace {

// Four samples of three values: sample t holds t, t + 1, t + 5; labels 10 + t.
Dataset small_data() {
  Dataset data;
  data.shape = Grid{1, 3, 1};
  data.x.resize(3, 4);
  for (int t = 0; t < 4; ++t) data.x.col(t) << float(t), float(t + 1), float(t + 5);
  data.labels = {10, 11, 12, 13};
  return data;
}

TEST(PreprocessTest, ScaleDividesEveryValue) {
  Dataset data = small_data();
  scale_values(data, 255.0f);
  EXPECT_EQ(data.x(2, 3), 8.0f / 255.0f);
  EXPECT_EQ(data.x(0, 0), 0.0f);
  EXPECT_THROW(scale_values(data, 0.0f), ConfigError);
  EXPECT_THROW(scale_values(data, -1.0f), ConfigError);
  EXPECT_THROW(scale_values(data, std::numeric_limits<float>::infinity()), ConfigError);
  EXPECT_THROW(scale_values(data, std::nanf("")), ConfigError);
}

TEST(PreprocessTest, SubtractSampleMeanCentresEachSample) {
  Dataset data = small_data();
  subtract_sample_mean(data);
  for (Index t = 0; t < data.size(); ++t) {
    EXPECT_NEAR(data.x.col(t).sum(), 0.0f, 1e-6f);
    // Differences within a sample are unchanged: t, t + 1, t + 5 minus their mean t + 2.
    EXPECT_FLOAT_EQ(data.x(0, t), -2.0f);
    EXPECT_FLOAT_EQ(data.x(2, t), 3.0f);
  }
  EXPECT_EQ(data.labels, small_data().labels);
}

TEST(PreprocessTest, CheckFiniteNamesTheFirstBadSample) {
  Dataset data = small_data();
  EXPECT_NO_THROW(check_finite(data, "train.idx"));
  data.x(1, 2) = std::numeric_limits<float>::infinity();
  data.x(0, 3) = std::nanf("");
  try {
    check_finite(data, "train.idx");
    FAIL() << "no exception";
  } catch (const NumericalError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("train.idx"), std::string::npos) << what;
    EXPECT_NE(what.find("sample 2"), std::string::npos) << what;
    EXPECT_NE(what.find("Inf"), std::string::npos) << what;
  }
}

TEST(PreprocessTest, SubsetKeepsOrderAndLabels) {
  const Dataset data = small_data();
  const Dataset picked = subset(data, {3, 0, 3});
  EXPECT_EQ(picked.size(), 3);
  EXPECT_EQ(picked.shape, data.shape);
  EXPECT_EQ(picked.labels, (std::vector<int>{13, 10, 13}));
  EXPECT_EQ(picked.x.col(0), data.x.col(3));
  EXPECT_EQ(picked.x.col(1), data.x.col(0));
  EXPECT_EQ(subset(data, {}).size(), 0);
  EXPECT_THROW(subset(data, {4}), ShapeError);
  EXPECT_THROW(subset(data, {-1}), ShapeError);
  Dataset unlabelled = small_data();
  unlabelled.labels.clear();
  EXPECT_FALSE(subset(unlabelled, {1}).has_labels());
}

}  // namespace
}  // namespace simmatch
