#include <gtest/gtest.h>

#include "simmatch/error.hpp"
#include "simmatch/structure.hpp"

using namespace simmatch;

namespace {
std::vector<int> row_columns(const Structure& s, Index row) {
  return {s.col_index().begin() + s.row_ptr()[static_cast<std::size_t>(row)],
          s.col_index().begin() + s.row_ptr()[static_cast<std::size_t>(row) + 1]};
}
}  // namespace

TEST(StructureTest, DenseConnectsEveryPair) {
  const Structure s = Structure::dense(3, 4, 2.0);
  EXPECT_EQ(s.rows(), 3);
  EXPECT_EQ(s.cols(), 4);
  EXPECT_EQ(s.nnz(), 12);
  EXPECT_TRUE((s.to_dense().array() == 2.0).all());
  EXPECT_FALSE(s.is_binary());
}

TEST(StructureTest, Local2dRadiusOneSeesItsOwnTwoByTwoBlock) {
  // 4x4 input, stride 2: site (0,0) has centre (1,1); only pixels (0..1, 0..1) lie within 1.
  const Structure s = Structure::local2d(Grid{4, 4, 1}, 2, 1.0, 1);
  ASSERT_EQ(s.rows(), 4);
  ASSERT_EQ(s.cols(), 16);
  EXPECT_EQ(row_columns(s, 0), (std::vector<int>{0, 1, 4, 5}));
  EXPECT_EQ(row_columns(s, 1), (std::vector<int>{2, 3, 6, 7}));
  EXPECT_EQ(row_columns(s, 2), (std::vector<int>{8, 9, 12, 13}));
  EXPECT_EQ(row_columns(s, 3), (std::vector<int>{10, 11, 14, 15}));
}

TEST(StructureTest, Local2dLargerRadiusReachesNeighbouringPixels) {
  // Radius 1.6 from (1,1): pixel centres at distance sqrt(0.25 + 2.25) = 1.58 join, (2.5, 2.5) does not.
  const Structure s = Structure::local2d(Grid{4, 4, 1}, 2, 1.6, 1);
  EXPECT_EQ(row_columns(s, 0), (std::vector<int>{0, 1, 2, 4, 5, 6, 8, 9}));
  // Site (1,1) has centre (3,3); the grid clips it at the border.
  EXPECT_EQ(row_columns(s, 3), (std::vector<int>{6, 7, 9, 10, 11, 13, 14, 15}));
}

TEST(StructureTest, Local2dConnectsEveryChannelToEveryNeuronOfTheSite) {
  const Structure s = Structure::local2d(Grid{2, 2, 2}, 2, 1.0, 3);
  ASSERT_EQ(s.rows(), 3);
  ASSERT_EQ(s.cols(), 8);
  for (Index n = 0; n < 3; ++n) EXPECT_EQ(row_columns(s, n), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(Structure::local2d_output(Grid{2, 2, 2}, 2, 3), (Grid{1, 1, 3}));
}

TEST(StructureTest, ReferenceMnistLayerHasTheExpectedSynapseCounts) {
  const Structure cw = Structure::local2d(Grid{28, 28, 1}, 2, 4.0, 4);
  const Structure cl = Structure::lateral2d(Structure::local2d_output(Grid{28, 28, 1}, 2, 4), 0.0);
  EXPECT_EQ(cw.rows(), 784);
  EXPECT_EQ(cw.nnz(), 35968);
  EXPECT_EQ(cl.rows(), 784);
  EXPECT_EQ(cl.nnz(), 3136);
  EXPECT_TRUE(cl.is_symmetric());
  EXPECT_TRUE(cw.is_binary());
}

TEST(StructureTest, LateralRadiusOneJoinsTheFourNeighbours) {
  const Structure s = Structure::lateral2d(Grid{3, 3, 1}, 1.0);
  EXPECT_EQ(s.nnz(), 4 * 3 + 4 * 4 + 5);
  EXPECT_EQ(row_columns(s, 4), (std::vector<int>{1, 3, 4, 5, 7}));
  EXPECT_EQ(row_columns(s, 0), (std::vector<int>{0, 1, 3}));
  EXPECT_TRUE(s.is_symmetric());
}

TEST(StructureTest, LateralRadiusZeroJoinsOnlyTheSameSite) {
  const Structure s = Structure::lateral2d(Grid{2, 2, 2}, 0.0);
  EXPECT_EQ(s.nnz(), 4 * 4);
  EXPECT_EQ(row_columns(s, 3), (std::vector<int>{2, 3}));
}

// Found by fuzzing the config parser: lateral_radius = 9.2e19 overflowed the site reach.
// Any radius beyond the grid's diagonal connects everything, in range.
TEST(StructureTest, HugeRadiiConnectEverythingWithoutOverflow) {
  const Structure lateral = Structure::lateral2d(Grid{3, 4, 2}, 9.2233720368547758e19);
  EXPECT_EQ(lateral.nnz(), 24 * 24);
  EXPECT_EQ(lateral.nnz(), Structure::lateral2d(Grid{3, 4, 2}, 5.0).nnz());
  const Structure local = Structure::local2d(Grid{4, 4, 1}, 2, 1e300, 3);
  EXPECT_EQ(local.nnz(), 12 * 16);
  EXPECT_EQ(local.nnz(), Structure::local2d(Grid{4, 4, 1}, 2, 6.0, 3).nnz());
}

TEST(StructureTest, SparseStructureMemoryGrowsWithSynapsesNotNeuronsSquared) {
  // 100 neurons per site: 19,600 neurons; dense C^L would take 19600^2 * 8 bytes = 3 GB.
  const Grid sites = Structure::local2d_output(Grid{28, 28, 1}, 2, 100);
  const Structure cl = Structure::lateral2d(sites, 0.0);
  EXPECT_EQ(cl.nnz(), 196 * 100 * 100);
  EXPECT_LT(cl.memory_bytes(), static_cast<std::size_t>(cl.nnz()) * 13 + 200000);
}

TEST(StructureTest, BadArgumentsAreClearErrors) {
  EXPECT_THROW(Structure::local2d(Grid{28, 28, 1}, 3, 4.0, 4), ConfigError);
  EXPECT_THROW(Structure::local2d(Grid{28, 28, 1}, 2, -1.0, 4), ConfigError);
  EXPECT_THROW(Structure::local2d(Grid{28, 28, 1}, 2, 4.0, 0), ConfigError);
  EXPECT_THROW(Structure::local2d(Grid{28, 28, 1}, 0, 4.0, 4), ConfigError);
  EXPECT_THROW(Structure::lateral2d(Grid{2, 2, 1}, -0.5), ConfigError);
  EXPECT_THROW(Structure::dense(2, 2, -1.0), ConfigError);
  try {
    Structure::local2d(Grid{28, 28, 1}, 3, 4.0, 4);
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("stride 3"), std::string::npos) << e.what();
  }
}

TEST(StructureTest, FromDenseDropsZerosAndKeepsNonBinaryValues) {
  Eigen::MatrixXd c(2, 3);
  c << 0.0, 1.5, 0.0, 2.0, 0.0, 0.25;
  const Structure s = Structure::from_dense(c, "c.npy");
  EXPECT_EQ(s.nnz(), 3);
  EXPECT_EQ(s.values(), (std::vector<double>{1.5, 2.0, 0.25}));
  EXPECT_EQ(s.find(1, 2), 2);
  EXPECT_EQ(s.find(0, 0), -1);
  EXPECT_EQ(s.to_dense(), c);
  c(0, 0) = -1.0;
  try {
    Structure::from_dense(c, "c.npy");
    FAIL() << "negative constant accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("c.npy"), std::string::npos);
  }
}

TEST(StructureTest, FromCsrRejectsMalformedArrays) {
  EXPECT_NO_THROW(Structure::from_csr(2, 2, {0, 1, 2}, {0, 1}, {1.0, 1.0}));
  EXPECT_THROW(Structure::from_csr(2, 2, {0, 1}, {0}, {1.0}), ShapeError);
  EXPECT_THROW(Structure::from_csr(2, 2, {0, 1, 2}, {0, 2}, {1.0, 1.0}), ShapeError);
  EXPECT_THROW(Structure::from_csr(1, 3, {0, 2}, {1, 0}, {1.0, 1.0}), ShapeError);
  EXPECT_THROW(Structure::from_csr(1, 3, {0, 1}, {1}, {0.0}), ConfigError);
  EXPECT_THROW(Structure::from_csr(1, 3, {0, 1}, {1}, {1.0, 2.0}), ShapeError);
}

TEST(StructureTest, AsymmetricConstantsAreDetected) {
  Eigen::MatrixXd c(2, 2);
  c << 1, 2, 1, 1;
  EXPECT_FALSE(Structure::from_dense(c).is_symmetric());
  c(0, 1) = 1;
  EXPECT_TRUE(Structure::from_dense(c).is_symmetric());
}
