// The fixed preconditioner of the site-by-site Anderson solve (site_preconditioner.hpp): J_a^{-1}
// for J_a = (1 - a) I + a L_s, a = the activation's slope at rest, only where it applies.
#include <gtest/gtest.h>

#include <vector>

#include "core/site_preconditioner.hpp"

namespace simmatch {
namespace {

// Sites of k neurons, every site the same symmetric block (or site 1 changed in one entry).
SparseWeights<double> tied_blocks(Index k, Index sites, bool tied) {
  std::vector<Eigen::Triplet<double>> t;
  for (Index s = 0; s < sites; ++s) {
    for (Index i = 0; i < k; ++i) {
      for (Index j = 0; j < k; ++j) {
        double v = i == j ? 1.5 : 0.2 / static_cast<double>(1 + i + j);
        if (!tied && s == 1 && i == 0 && j == 0) v = 1.25;
        t.emplace_back(static_cast<int>(s * k + i), static_cast<int>(s * k + j), v);
      }
    }
  }
  SparseWeights<double> m(k * sites, k * sites);
  m.setFromTriplets(t.begin(), t.end());
  m.makeCompressed();
  return m;
}

TEST(SitePreconditionerTest, IsTheInverseOfTheJacobianAtRestForTanhAndLinearUnits) {
  const Index k = 9;
  const SparseWeights<double> l = tied_blocks(k, 3, true);
  kernels::DenseSiteBlocks<double> blocks;
  ASSERT_TRUE(kernels::dense_site_blocks(kernels::view_of(l), 8, blocks));
  ASSERT_TRUE(blocks.shared);
  const Eigen::MatrixXd ls = Eigen::MatrixXd(l).topLeftCorner(k, k);
  for (const auto& [act, a] : std::vector<std::pair<Activation, double>>{
           {Activation::tanh(), 1.0}, {Activation::tanh(0.5), 0.5}, {Activation::tanh(3.0), 3.0}, {Activation::linear(), 1.0}}) {
    std::vector<double> storage;
    kernels::DenseSiteBlocks<double> pre;
    ASSERT_TRUE(detail::site_preconditioner(blocks, act, storage, pre)) << act.name();
    EXPECT_TRUE(pre.shared);
    EXPECT_EQ(pre.k, k);
    EXPECT_EQ(pre.sites, 3);
    const Eigen::MatrixXd ja = (1 - a) * Eigen::MatrixXd::Identity(k, k) + a * ls;
    const Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> p(pre.block(2), k, k);
    EXPECT_LT((p * ja - Eigen::MatrixXd::Identity(k, k)).cwiseAbs().maxCoeff(), 1e-12) << act.name();
    // Applied through the block kernel, narrow and wide batches alike.
    for (const Index batch : {1, 3, 40}) {
      const Eigen::MatrixXd x = Eigen::MatrixXd::Random(k, batch);
      const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> xr = x;
      Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> y = Eigen::MatrixXd::Zero(k, batch);
      kernels::dense_site_accumulate(pre, 1, xr.data(), batch, 1.0, y.data());
      EXPECT_LT((ja * y - x).cwiseAbs().maxCoeff(), 1e-12) << act.name() << " batch " << batch;
    }
  }
}

TEST(SitePreconditionerTest, DeclinesRectifiersUntiedBlocksAndTheIdentity) {
  const Index k = 8;
  std::vector<double> storage;
  kernels::DenseSiteBlocks<double> pre;
  const SparseWeights<double> tied = tied_blocks(k, 3, true);
  kernels::DenseSiteBlocks<double> blocks;
  ASSERT_TRUE(kernels::dense_site_blocks(kernels::view_of(tied), 8, blocks));
  EXPECT_FALSE(detail::site_preconditioner(blocks, Activation::relu(), storage, pre));
  EXPECT_FALSE(detail::site_preconditioner(blocks, Activation::clipped_relu(1.0), storage, pre));

  const SparseWeights<double> untied = tied_blocks(k, 3, false);
  ASSERT_TRUE(kernels::dense_site_blocks(kernels::view_of(untied), 8, blocks));
  ASSERT_FALSE(blocks.shared);
  EXPECT_FALSE(detail::site_preconditioner(blocks, Activation::tanh(), storage, pre));

  SparseWeights<double> identity(3 * k, 3 * k);
  std::vector<Eigen::Triplet<double>> t;
  for (Index s = 0; s < 3; ++s) {
    for (Index i = 0; i < k; ++i) {
      for (Index j = 0; j < k; ++j) t.emplace_back(static_cast<int>(s * k + i), static_cast<int>(s * k + j), i == j ? 1.0 : 0.0);
    }
  }
  identity.setFromTriplets(t.begin(), t.end());
  ASSERT_TRUE(kernels::dense_site_blocks(kernels::view_of(identity), 8, blocks));
  ASSERT_TRUE(blocks.shared);
  EXPECT_FALSE(detail::site_preconditioner(blocks, Activation::tanh(0.5), storage, pre));
  EXPECT_FALSE(detail::site_preconditioner(blocks, Activation::linear(), storage, pre));
}

}  // namespace
}  // namespace simmatch
