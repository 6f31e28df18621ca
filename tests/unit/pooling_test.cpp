// Average and max pooling over windows of sites, channel by channel.
#include <gtest/gtest.h>

#include "simmatch/error.hpp"
#include "simmatch/pooling.hpp"

using namespace simmatch;

TEST(PoolingTest, AverageAndMaxOverNonOverlappingWindows) {
  const Grid grid{4, 4, 2};
  Matrix<double> r(grid.size(), 2);
  for (Index b = 0; b < 2; ++b)
    for (Index i = 0; i < 4; ++i)
      for (Index j = 0; j < 4; ++j)
        for (Index c = 0; c < 2; ++c) r((i * 4 + j) * 2 + c, b) = static_cast<double>(10 * i + j) * (c == 0 ? 1 : -1) + b;
  const Pooling avg = Pooling::from_text("avg:2");
  EXPECT_EQ(avg.output(grid), (Grid{2, 2, 2}));
  const Matrix<double> a = avg.apply(r, grid);
  ASSERT_EQ(a.rows(), 8);
  // Window (1, 0) of channel 0 holds 20, 21, 30, 31: mean 25.5; channel 1 the negatives.
  EXPECT_DOUBLE_EQ(a((1 * 2 + 0) * 2 + 0, 0), 25.5);
  EXPECT_DOUBLE_EQ(a((1 * 2 + 0) * 2 + 1, 0), -25.5);
  EXPECT_DOUBLE_EQ(a((1 * 2 + 0) * 2 + 0, 1), 26.5);
  const Matrix<double> m = Pooling::from_text("max:2").apply(r, grid);
  EXPECT_DOUBLE_EQ(m((1 * 2 + 1) * 2 + 0, 0), 33.0);
  EXPECT_DOUBLE_EQ(m((1 * 2 + 1) * 2 + 1, 0), -22.0);
}

TEST(PoolingTest, OverlappingWindowsFitInsideTheGrid) {
  const Pooling p = Pooling::from_text("max:3:2");
  EXPECT_EQ(p.output(Grid{7, 8, 5}), (Grid{3, 3, 5}));
  EXPECT_EQ(p.text(), "max:3:2");
  EXPECT_EQ(Pooling::from_text("avg:2").text(), "avg:2:2");
  // A window of the whole grid is global pooling: one value per channel.
  const Matrix<float> r = Matrix<float>::Random(3 * 3 * 4, 5);
  const Matrix<float> g = Pooling::from_text("avg:3").apply(r, Grid{3, 3, 4});
  ASSERT_EQ(g.rows(), 4);
  for (Index c = 0; c < 4; ++c) {
    float sum = 0;
    for (Index s = 0; s < 9; ++s) sum += r(s * 4 + c, 2);
    EXPECT_NEAR(g(c, 2), sum / 9, 1e-6);
  }
}

TEST(PoolingTest, NoneLeavesTheFeaturesAndBadTextIsRefused) {
  const Pooling none = Pooling::from_text("none");
  EXPECT_TRUE(none.is_identity());
  const Matrix<float> r = Matrix<float>::Random(12, 3);
  EXPECT_EQ(none.apply(r, Grid{1, 12, 1}), r);
  for (const char* bad : {"avg", "avg:0", "mean:2", "max:2:", "max:-1", "avg:2:2:2", "avg:x", ""}) {
    EXPECT_THROW(Pooling::from_text(bad), ConfigError) << bad;
  }
  EXPECT_THROW(Pooling::from_text("avg:5").output(Grid{4, 4, 1}), ConfigError);
  EXPECT_THROW(Pooling::from_text("avg:2").apply(r, Grid{4, 4, 1}), ShapeError);
}
