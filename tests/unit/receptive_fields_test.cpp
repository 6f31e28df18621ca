// Receptive fields: supports through the structures, reverse correlation, cropping.
#include <gtest/gtest.h>

#include "simmatch/error.hpp"
#include "simmatch/receptive_fields.hpp"

namespace simmatch {
namespace {

TEST(InputSupports, FirstLayerIsItsStructureAndDeeperLayersTheUnion) {
  const Grid image{8, 8, 1};
  const Structure c1 = Structure::local2d(image, 2, 1.0, 1);          // 4x4 sites, small fields
  const Structure c2 = Structure::local2d(Structure::local2d_output(image, 2, 1), 2, 1.0, 1);  // 2x2 sites
  const auto s = input_supports({c1, c2});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].row_ptr(), c1.row_ptr());
  EXPECT_EQ(s[0].col_index(), c1.col_index());
  ASSERT_EQ(s[1].rows(), 4);
  ASSERT_EQ(s[1].cols(), 64);
  // A layer-2 field covers more pixels than any single layer-1 field and is their union.
  const Index n1 = s[0].row_ptr()[1] - s[0].row_ptr()[0];
  const Index n2 = s[1].row_ptr()[1] - s[1].row_ptr()[0];
  EXPECT_GT(n2, n1);
  for (int q = c2.row_ptr()[0]; q < c2.row_ptr()[1]; ++q) {
    const int j = c2.col_index()[static_cast<std::size_t>(q)];
    for (int k = c1.row_ptr()[static_cast<std::size_t>(j)]; k < c1.row_ptr()[static_cast<std::size_t>(j) + 1]; ++k)
      EXPECT_GE(s[1].find(0, c1.col_index()[static_cast<std::size_t>(k)]), 0);
  }
}

TEST(InputSupports, StructuresThatDoNotChainAreAShapeError) {
  EXPECT_THROW(input_supports({Structure::dense(3, 4), Structure::dense(2, 5)}), ShapeError);
}

TEST(ReverseCorrelation, IsTheActivityWeightedMeanInputInsideTheSupport) {
  Eigen::MatrixXf x(3, 2);
  x << 1, 3,  //
      2, 4,   //
      5, 6;
  Eigen::MatrixXd r(2, 2);
  r << 1, 0,  //
      1, -1;
  Eigen::MatrixXd full(2, 3);
  full << 1, 1, 0, 1, 1, 1;
  const Structure support = Structure::from_dense(full);
  const Eigen::MatrixXd f = reverse_correlation(x, r, support);
  EXPECT_DOUBLE_EQ(f(0, 0), 0.5);
  EXPECT_DOUBLE_EQ(f(0, 1), 1.0);
  EXPECT_DOUBLE_EQ(f(0, 2), 0.0);  // outside the support
  EXPECT_DOUBLE_EQ(f(1, 0), -1.0);
  EXPECT_DOUBLE_EQ(f(1, 2), -0.5);
  EXPECT_THROW(reverse_correlation(x, Eigen::MatrixXd(Eigen::MatrixXd::Zero(2, 3)), support), ShapeError);
}

TEST(ReverseCorrelation, CentredActivityRemovesTheMeanInput) {
  Eigen::MatrixXf x(1, 2);
  x << 5, 5;  // constant input: nothing correlates with it
  Eigen::MatrixXd r(1, 2);
  r << 1, 3;
  const Structure support = Structure::dense(1, 1);
  EXPECT_DOUBLE_EQ(reverse_correlation(x, r, support)(0, 0), 10.0);
  EXPECT_DOUBLE_EQ(reverse_correlation(x, r, support, true)(0, 0), 0.0);
}

TEST(CropToSupport, CutsEachFieldToItsBoxCentredInCommonTiles) {
  const Grid image{6, 6, 1};
  const Structure c = Structure::local2d(image, 3, 1.0, 1);  // 2x2 sites, plus-shaped 3x3 boxes
  Eigen::MatrixXd fields = Eigen::MatrixXd::Zero(4, 36);
  for (Index i = 0; i < 4; ++i)
    for (int s = c.row_ptr()[static_cast<std::size_t>(i)]; s < c.row_ptr()[static_cast<std::size_t>(i) + 1]; ++s)
      fields(i, c.col_index()[static_cast<std::size_t>(s)]) = static_cast<double>(i + 1);
  const FieldTiles t = crop_to_support(fields, c, image);
  EXPECT_EQ(t.height, 3);
  EXPECT_EQ(t.width, 3);
  EXPECT_EQ(t.tiles.rows(), 4);
  EXPECT_DOUBLE_EQ(t.tiles(2, 4), 3.0);  // centre of the third field
  EXPECT_DOUBLE_EQ(t.tiles(2, 0), 0.0);  // corner outside the disc
  EXPECT_THROW(crop_to_support(fields, c, Grid{6, 6, 2}), ShapeError);
}

TEST(SpreadIndices, PicksEvenlySpacedOrAll) {
  EXPECT_EQ(spread_indices(10, 5), (std::vector<Index>{0, 2, 4, 6, 8}));
  EXPECT_EQ(spread_indices(3, 0).size(), 3u);
}

}  // namespace
}  // namespace simmatch
