#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <new>
#include <string>

#include "memory_limit.hpp"
#include "simmatch/error.hpp"
#include "simmatch/structure.hpp"

using namespace simmatch;

namespace {
std::vector<int> row_columns(const Structure& s, Index row) {
  return {s.col_index().begin() + s.row_ptr()[static_cast<std::size_t>(row)],
          s.col_index().begin() + s.row_ptr()[static_cast<std::size_t>(row) + 1]};
}

// The local2d and lateral2d patterns written the plain way (every pixel or site of the bounding
// box through the distance test), as the builders did before they counted their synapses first.
std::vector<std::vector<int>> reference_local2d(const Grid& input, Index stride, double radius, Index nps) {
  const Grid out{input.height / stride, input.width / stride, nps};
  radius = std::min(radius, std::hypot(static_cast<double>(input.height), static_cast<double>(input.width)));
  std::vector<std::vector<int>> rows;
  for (Index row = 0; row < out.size(); ++row) {
    const Index site = row / nps;
    const double half = static_cast<double>(stride) / 2.0;
    const double ci = static_cast<double>(site / out.width) * static_cast<double>(stride) + half;
    const double cj = static_cast<double>(site % out.width) * static_cast<double>(stride) + half;
    const Index k0 = std::max<Index>(0, static_cast<Index>(std::floor(ci - radius - 0.5)));
    const Index k1 = std::min<Index>(input.height - 1, static_cast<Index>(std::ceil(ci + radius - 0.5)));
    const Index l0 = std::max<Index>(0, static_cast<Index>(std::floor(cj - radius - 0.5)));
    const Index l1 = std::min<Index>(input.width - 1, static_cast<Index>(std::ceil(cj + radius - 0.5)));
    std::vector<int> cols;
    for (Index k = k0; k <= k1; ++k) {
      for (Index l = l0; l <= l1; ++l) {
        const double dk = static_cast<double>(k) + 0.5 - ci;
        const double dl = static_cast<double>(l) + 0.5 - cj;
        if (dk * dk + dl * dl <= radius * radius) {
          for (Index c = 0; c < input.channels; ++c) cols.push_back(static_cast<int>((k * input.width + l) * input.channels + c));
        }
      }
    }
    rows.push_back(cols);
  }
  return rows;
}

std::vector<std::vector<int>> reference_lateral2d(const Grid& sites, double radius) {
  radius = std::min(radius, std::hypot(static_cast<double>(sites.height), static_cast<double>(sites.width)));
  const Index reach = static_cast<Index>(std::floor(radius));
  std::vector<std::vector<int>> rows;
  for (Index row = 0; row < sites.size(); ++row) {
    const Index site = row / sites.channels;
    const Index i = site / sites.width, j = site % sites.width;
    std::vector<int> cols;
    for (Index i2 = std::max<Index>(0, i - reach); i2 <= std::min(sites.height - 1, i + reach); ++i2) {
      for (Index j2 = std::max<Index>(0, j - reach); j2 <= std::min(sites.width - 1, j + reach); ++j2) {
        const double di = static_cast<double>(i2 - i), dj = static_cast<double>(j2 - j);
        if (di * di + dj * dj <= radius * radius) {
          for (Index n = 0; n < sites.channels; ++n) cols.push_back(static_cast<int>((i2 * sites.width + j2) * sites.channels + n));
        }
      }
    }
    rows.push_back(cols);
  }
  return rows;
}

std::vector<std::vector<int>> all_rows(const Structure& s) {
  std::vector<std::vector<int>> rows;
  for (Index r = 0; r < s.rows(); ++r) rows.push_back(row_columns(s, r));
  return rows;
}

// Radii on and around the distances that occur on a grid (sqrt of sums of squares, and halves).
const std::vector<double> kRadii = {0.0, 0.5, 0.7071067811865476, 0.70710678, 1.0, 1.4142135623730951, 1.5,
                                    1.5811388300841898, 2.0, 2.1213203435596424, 2.23606797749979, 2.5, 3.0,
                                    3.5355339059059, 4.0, 4.5, 7.0, 1e300};
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

TEST(StructureTest, Local2dCountsAndBuildsExactlyTheReferencePattern) {
  for (const Grid input : {Grid{1, 1, 1}, Grid{6, 6, 1}, Grid{6, 9, 2}, Grid{12, 6, 3}, Grid{9, 3, 1}}) {
    for (const Index stride : {1, 2, 3, 6}) {
      if (input.height % stride != 0 || input.width % stride != 0) continue;
      for (const double radius : kRadii) {
        for (const Index nps : {1, 2}) {
          const std::string what = std::to_string(input.height) + "x" + std::to_string(input.width) + "x" +
                                   std::to_string(input.channels) + " stride " + std::to_string(stride) + " radius " +
                                   std::to_string(radius) + " nps " + std::to_string(nps);
          const Structure s = Structure::local2d(input, stride, radius, nps);
          EXPECT_EQ(all_rows(s), reference_local2d(input, stride, radius, nps)) << what;
          EXPECT_EQ(Structure::local2d_synapses(input, stride, radius, nps), s.nnz()) << what;
        }
      }
    }
  }
}

TEST(StructureTest, Lateral2dCountsAndBuildsExactlyTheReferencePattern) {
  for (const Grid sites : {Grid{1, 1, 1}, Grid{3, 4, 2}, Grid{7, 5, 1}, Grid{1, 9, 3}}) {
    for (const double radius : kRadii) {
      const Structure s = Structure::lateral2d(sites, radius);
      EXPECT_EQ(all_rows(s), reference_lateral2d(sites, radius)) << radius;
      EXPECT_EQ(Structure::lateral2d_synapses(sites, radius), s.nnz()) << radius;
    }
  }
  EXPECT_EQ(Structure::dense_synapses(300, 7), Structure::dense(300, 7).nnz());
}

TEST(StructureTest, CountsStopEarlyAndSaturateInsteadOfOverflowing) {
  // 1000 x 1000 sites of 1000 neurons with radius 100: about 3e13 synapses, found to be over
  // the limit after a few sites instead of counted in full.
  const Index limit = 1000000;
  EXPECT_GT(Structure::local2d_synapses(Grid{1000, 1000, 1}, 1, 100.0, 1000, limit), limit);
  EXPECT_GT(Structure::lateral2d_synapses(Grid{1000, 1000, 1000}, 100.0, limit), limit);
  EXPECT_EQ(Structure::dense_synapses(std::int64_t{1} << 40, std::int64_t{1} << 40), std::numeric_limits<Index>::max());
  // 14 x 14 sites of 2 * 10^7 neurons: 3.9e9 rows are more than a matrix holds; of 10^5 neurons,
  // all-to-all within a site: 196 * 10^10 synapses, counted without overflow.
  EXPECT_THROW(Structure::lateral2d_synapses(Grid{14, 14, 20000000}, 0.0), ShapeError);
  EXPECT_EQ(Structure::lateral2d_synapses(Grid{14, 14, 100000}, 0.0), 196 * std::int64_t{10000000000});
  EXPECT_THROW(Structure::local2d_synapses(Grid{28, 28, 1}, 3, 4.0, 4), ConfigError);
}

TEST(StructureTest, BuildersRefuseMoreSynapsesThanCsrHoldsBeforeAllocating) {
  // Each of these used to allocate gigabytes (12 bytes per synapse) before the check that the
  // count fits CSR's int offsets; now they are refused at once, here under a 512 MiB limit.
  if (!test_support::can_limit_memory()) GTEST_SKIP() << "no address-space limit under AddressSanitizer";
  const auto refused = [](const std::function<void()>& build) {
    return test_support::run_with_memory_limit(std::uint64_t{512} << 20, [&] {
      try {
        build();
        return 1;
      } catch (const ShapeError& e) {
        return std::string(e.what()).find("more than 2147483647 synapses") != std::string::npos ? 0 : 2;
      } catch (const std::bad_alloc&) {
        return 3;
      }
    });
  };
  EXPECT_EQ(refused([] { Structure::dense(50000, 50000); }), 0);
  EXPECT_EQ(refused([] { Structure::local2d(Grid{28, 28, 1}, 2, 4.0, 1000000); }), 0);
  EXPECT_EQ(refused([] { Structure::lateral2d(Grid{14, 14, 100000}, 0.0); }), 0);
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
