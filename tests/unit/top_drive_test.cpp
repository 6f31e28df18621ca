#include <gtest/gtest.h>

#include "simmatch/dynamics.hpp"
#include "simmatch/error.hpp"

using namespace simmatch;

TEST(TopDriveTest, StacksTheInputsOverTheDrive) {
  Matrix<float> x(3, 2);
  x << 1, 2, 3, 4, 5, 6;
  Matrix<float> drive(2, 2);
  drive << -1, -2, -3, -4;
  const Matrix<float> stacked = stack_top_drive<float>(x, drive);
  ASSERT_EQ(stacked.rows(), 5);
  ASSERT_EQ(stacked.cols(), 2);
  EXPECT_EQ(stacked.topRows(3), x);
  EXPECT_EQ(stacked.bottomRows(2), drive);
}

TEST(TopDriveTest, AnEmptyBatchGivesAnEmptyInput) {
  // A rank without samples still solves (a 0-column batch) and must not take row blocks of null data.
  const Matrix<double> stacked = stack_top_drive<double>(Matrix<double>(4, 0), Matrix<double>(3, 0));
  EXPECT_EQ(stacked.rows(), 7);
  EXPECT_EQ(stacked.cols(), 0);
}

TEST(TopDriveTest, DifferentSampleCountsAreAShapeError) {
  EXPECT_THROW(stack_top_drive<double>(Matrix<double>(4, 2), Matrix<double>(3, 1)), ShapeError);
}
