// The structure checks of L: lateral_block_diagonal (run once per layer, SiteLayout) and the
// comparisons of stored site blocks the fast solver runs before every solve (energy_hessian.hpp,
// batch_kernel.hpp). lateral_block_diagonal reads only each row's first and last column, which
// relies on Eigen keeping a row's columns sorted: an entry outside its site's block must be found
// wherever it lies in the row.
#include <gtest/gtest.h>

#include <cmath>
#include <omp.h>
#include <vector>

#include "core/batch_kernel.hpp"
#include "core/block_newton.hpp"
#include "core/energy_hessian.hpp"
#include "test_networks.hpp"

namespace simmatch {
namespace {

// Sites of k neurons with every within-site synapse, plus `extra` (row, column) entries.
SparseWeights<float> site_blocks(Index k, Index sites, const std::vector<std::pair<Index, Index>>& extra) {
  std::vector<Eigen::Triplet<float>> t;
  for (Index s = 0; s < sites; ++s) {
    for (Index i = 0; i < k; ++i) {
      for (Index j = 0; j < k; ++j) t.emplace_back(static_cast<int>(s * k + i), static_cast<int>(s * k + j), i == j ? 2.0F : 0.1F);
    }
  }
  for (const auto& [r, c] : extra) t.emplace_back(static_cast<int>(r), static_cast<int>(c), 0.5F);
  SparseWeights<float> m(k * sites, k * sites);
  m.setFromTriplets(t.begin(), t.end());
  m.makeCompressed();
  return m;
}

TEST(LateralStructureTest, BlockDiagonalFindsAnEntryOutsideItsSiteAnywhereInTheRow) {
  const Index k = 4, sites = 3;
  EXPECT_TRUE(detail::lateral_block_diagonal(site_blocks(k, sites, {}), k, k));
  // Just past a block's last column, just before its first, and far off, in first / middle / last rows.
  for (const auto& [r, c] : std::vector<std::pair<Index, Index>>{{1, 4}, {4, 3}, {5, 11}, {11, 0}, {8, 7}, {3, 4}}) {
    EXPECT_FALSE(detail::lateral_block_diagonal(site_blocks(k, sites, {{r, c}}), k, k)) << r << ", " << c;
  }
  // Sparser blocks and empty rows stay block diagonal.
  SparseWeights<float> sparse(k * sites, k * sites);
  sparse.insert(1, 2) = 1.0F;
  sparse.insert(9, 11) = 1.0F;
  sparse.makeCompressed();
  EXPECT_TRUE(detail::lateral_block_diagonal(sparse, k, k));
  EXPECT_FALSE(detail::lateral_block_diagonal(site_blocks(k, sites, {}), k, k - 1)) << "sites above max_site";
  EXPECT_FALSE(detail::lateral_block_diagonal(site_blocks(k, sites, {}), 5, 8)) << "rows not a whole number of sites";
}

// unique_fixed_point compares a full site block's stored values with the last block factorised
// before building it: float weights, a block that differs in one value's last bit, and one that
// differs only in the sign of a zero must each get their own verdict.
TEST(LateralStructureTest, StoredValueComparisonKeepsEverySitesVerdict) {
  const Conv2d conv{Grid{5, 4, 1}, 3, 1, Padding::same, 9, 0.0};
  Network<float> net = test_support::conv_network<float>(conv.input, {conv}, 0.0, Activation::tanh(), 3);
  ASSERT_TRUE(detail::unique_fixed_point(net));
  const Index k = conv.channels, sites = net.layer(0).size() / k;
  // An indefinite block whose difference lies in its first or its last row (the comparison must
  // cover the whole block), after the first site and after a site that differs in one last bit.
  for (const Index site : {Index{1}, sites / 2, sites - 1}) {
    for (const Index row : {Index{0}, k - 1}) {
      Network<float> broken = net;
      broken.layer(0).L().coeffRef(site * k + row, site * k + row) = -2.0F;
      EXPECT_FALSE(detail::unique_fixed_point(broken)) << "site " << site << " row " << row;
      float& d = broken.layer(0).L().coeffRef(row, row);
      d = std::nextafter(net.layer(0).L().coeff(row, row), 10.0F);
      EXPECT_FALSE(detail::unique_fixed_point(broken)) << "site " << site << " row " << row << " after a changed site 0";
    }
  }
  // -0.0 against 0.0: different bits, same block.
  Network<float> signed_zero = net;
  for (Index s = 0; s < sites; ++s) {
    const float zero = s % 2 == 0 ? 0.0F : -0.0F;
    signed_zero.layer(0).L().coeffRef(s * k, s * k + 1) = zero;
    signed_zero.layer(0).L().coeffRef(s * k + 1, s * k) = zero;
  }
  EXPECT_TRUE(detail::unique_fixed_point(signed_zero));
  // Not one block in bits: the solve that reuses the verdict must not read site 0's block for all.
  detail::HessianWorkspace<float> workspace;
  detail::unique_fixed_point(signed_zero, workspace);
  ASSERT_EQ(workspace.lateral_blocks_shared.size(), 1U);
  EXPECT_EQ(workspace.lateral_blocks_shared[0], 0);
  signed_zero.layer(0).L().coeffRef((sites - 1) * k + 1, (sites - 1) * k + 1) = -2.0F;
  EXPECT_FALSE(detail::unique_fixed_point(signed_zero));
}

// From kernels::kParallelBlockValues stored values on, both comparisons of the site blocks run on
// all threads: a layer past it (28 x 28 sites of 9 neurons) keeps every site's verdict on 1 and 3,
// and unique_fixed_point records the verdict view_site_blocks gives (HessianWorkspace).
TEST(LateralStructureTest, ComparisonOnAllThreadsKeepsEverySitesVerdict) {
  const Conv2d conv{Grid{28, 28, 1}, 3, 1, Padding::same, 9, 0.0};
  const Network<float> net = test_support::conv_network<float>(conv.input, {conv}, 0.0, Activation::tanh(), 3);
  ASSERT_GE(net.layer(0).L().nonZeros(), kernels::kParallelBlockValues);
  const Index k = conv.channels, sites = net.layer(0).size() / k;
  auto shared = [&](const Network<float>& n) {
    kernels::DenseSiteBlocks<float> blocks;
    kernels::view_site_blocks(kernels::view_of(n.layer(0).L()), k, blocks);
    return blocks.shared;
  };
  // unique_fixed_point records the same verdict for the solve that follows it to reuse.
  auto recorded = [&](const Network<float>& n) {
    detail::HessianWorkspace<float> workspace;
    workspace.lateral_blocks_shared = {7};  // stale: must be replaced
    detail::unique_fixed_point(n, workspace);
    EXPECT_EQ(workspace.lateral_blocks_shared.size(), 1U);
    return workspace.lateral_blocks_shared.empty() ? -1 : workspace.lateral_blocks_shared[0];
  };
  const int threads = omp_get_max_threads();
  for (const int t : {1, 3}) {
    omp_set_num_threads(t);
    EXPECT_TRUE(shared(net));
    EXPECT_EQ(recorded(net), 1);
    EXPECT_TRUE(detail::unique_fixed_point(net));
    for (const Index site : {Index{1}, sites / 2, sites - 1}) {
      // One neuron inhibiting itself: indefinite.
      Network<float> broken = net;
      broken.layer(0).L().coeffRef(site * k + k - 1, site * k + k - 1) = -2.0F;
      EXPECT_FALSE(shared(broken)) << t << " threads, site " << site;
      EXPECT_EQ(recorded(broken), 0) << t << " threads, site " << site;
      EXPECT_FALSE(detail::unique_fixed_point(broken)) << t << " threads, site " << site;
      // One synapse's last bit: a different block, still definite.
      Network<float> nudged = net;
      float& v = nudged.layer(0).L().coeffRef(site * k, site * k + 1);
      v = std::nextafter(v, 10.0F);
      nudged.layer(0).L().coeffRef(site * k + 1, site * k) = v;
      EXPECT_FALSE(shared(nudged)) << t << " threads, site " << site;
      EXPECT_EQ(recorded(nudged), 0) << t << " threads, site " << site;
      EXPECT_TRUE(detail::unique_fixed_point(nudged)) << t << " threads, site " << site;
    }
  }
  omp_set_num_threads(threads);
}

}  // namespace
}  // namespace simmatch
