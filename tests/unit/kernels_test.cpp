// The batched kernels (src/core/batch_kernel.hpp) against plain dense arithmetic, for batch sizes
// that hit every register-block width and the tail, in float and double.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <random>

#include "core/batch_kernel.hpp"
#include "simmatch/conv2d.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/error.hpp"
#include "simmatch/structure.hpp"

namespace simmatch {
namespace {

// A random sparse matrix on a local2d pattern with random values, and its dense copy.
template <typename T>
SparseWeights<T> random_sparse(Eigen::MatrixXd& dense, std::uint64_t seed) {
  const Structure s = Structure::local2d(Grid{8, 8, 1}, 2, 2.0, 3);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  dense = s.to_dense();
  for (Index e = 0; e < dense.size(); ++e) {
    if (dense.data()[e] != 0) dense.data()[e] = n(rng);
  }
  SparseWeights<T> m = dense.cast<T>().sparseView();
  m.makeCompressed();
  return m;
}

// neuron-major (rows x batch row-major) view of a column-major batch and back.
template <typename T>
std::vector<T> neuron_major(const Eigen::MatrixXd& batch) {
  std::vector<T> out(static_cast<std::size_t>(batch.size()));
  const Matrix<T> cast = batch.cast<T>();
  kernels::to_neuron_major(cast.data(), cast.rows(), cast.cols(), cast.rows(), out.data());
  return out;
}

template <typename T>
class KernelsTest : public ::testing::Test {};
using Precisions = ::testing::Types<float, double>;
TYPED_TEST_SUITE(KernelsTest, Precisions);

TYPED_TEST(KernelsTest, CsrTimesBatchMatchesDense) {
  using T = TypeParam;
  Eigen::MatrixXd dense;
  const SparseWeights<T> a = random_sparse<T>(dense, 1);
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-12;
  for (Index batch : {1, 2, 7, 16, 33, 64, 100, 129}) {
    const Eigen::MatrixXd x = Eigen::MatrixXd::Random(a.cols(), batch);
    const Eigen::MatrixXd y0 = Eigen::MatrixXd::Random(a.rows(), batch);
    const std::vector<T> xt = neuron_major<T>(x);
    std::vector<T> yt = neuron_major<T>(y0);
    kernels::csr_times_batch(kernels::view_of(a), xt.data(), yt.data(), batch, T(-0.5), T(1));
    const Eigen::MatrixXd expect = y0 - 0.5 * dense * x;
    for (Index i = 0; i < a.rows(); ++i) {
      for (Index b = 0; b < batch; ++b) {
        ASSERT_NEAR(static_cast<double>(yt[static_cast<std::size_t>(i * batch + b)]), expect(i, b), tol * 10)
            << "batch " << batch << " row " << i << " sample " << b;
      }
    }
    kernels::csr_times_batch(kernels::view_of(a), xt.data(), yt.data(), batch, T(1), T(0));
    const Eigen::MatrixXd overwrite = dense * x;
    EXPECT_NEAR(static_cast<double>(yt.back()), overwrite(a.rows() - 1, batch - 1), tol * 10);
  }
}

TYPED_TEST(KernelsTest, TransposeMatchesDense) {
  using T = TypeParam;
  Eigen::MatrixXd dense;
  const SparseWeights<T> a = random_sparse<T>(dense, 2);
  kernels::CsrMatrix<T> t;
  kernels::transpose(kernels::view_of(a), t);
  ASSERT_EQ(t.rows, a.cols());
  ASSERT_EQ(t.cols, a.rows());
  Eigen::MatrixXd back = Eigen::MatrixXd::Zero(t.rows, t.cols);
  for (Index i = 0; i < t.rows; ++i) {
    for (int k = t.row_ptr[static_cast<std::size_t>(i)]; k < t.row_ptr[static_cast<std::size_t>(i) + 1]; ++k) {
      if (k > t.row_ptr[static_cast<std::size_t>(i)]) {
        EXPECT_LT(t.col[static_cast<std::size_t>(k) - 1], t.col[static_cast<std::size_t>(k)]);
      }
      back(i, t.col[static_cast<std::size_t>(k)]) = static_cast<double>(t.val[static_cast<std::size_t>(k)]);
    }
  }
  EXPECT_LE((back - dense.cast<T>().template cast<double>().transpose()).norm(), 0.0);
}

TYPED_TEST(KernelsTest, SddmmMatchesNaiveCorrelations) {
  using T = TypeParam;
  const Structure s = Structure::local2d(Grid{8, 8, 1}, 2, 2.0, 3);
  for (Index batch : {1, 5, 100}) {
    const Eigen::MatrixXd post = Eigen::MatrixXd::Random(s.rows(), batch);
    const Eigen::MatrixXd pre = Eigen::MatrixXd::Random(s.cols(), batch);
    const std::vector<T> pt = neuron_major<T>(post), qt = neuron_major<T>(pre);
    std::vector<double> sums(static_cast<std::size_t>(s.nnz()), 1.0);
    kernels::sddmm_accumulate(s.row_ptr().data(), s.col_index().data(), s.rows(), pt.data(), qt.data(), batch, sums.data());
    for (Index i = 0; i < s.rows(); ++i) {
      for (int k = s.row_ptr()[static_cast<std::size_t>(i)]; k < s.row_ptr()[static_cast<std::size_t>(i) + 1]; ++k) {
        const double expect = 1.0 + post.row(i).dot(pre.row(s.col_index()[static_cast<std::size_t>(k)]));
        ASSERT_NEAR(sums[static_cast<std::size_t>(k)], expect, sizeof(T) == 4 ? 1e-4 * batch : 1e-10);
      }
    }
  }
}

TYPED_TEST(KernelsTest, ColumnDotsMatchPerSampleDotsForEverySlot) {
  using T = TypeParam;
  // Widths below, at and past the kernel's block of 64 columns; 0 to the full 8 slots.
  for (Index batch : {1, 3, 16, 40, 64, 100, 130}) {
    for (Index slots : {0, 1, 5, 8}) {
      const Eigen::MatrixXd c = Eigen::MatrixXd::Random(50, batch), d = Eigen::MatrixXd::Random(50, batch);
      const std::vector<T> ct = neuron_major<T>(c), dt = neuron_major<T>(d);
      std::vector<Eigen::MatrixXd> a;
      std::vector<std::vector<T>> at;
      std::vector<const T*> ap;
      for (Index j = 0; j < slots; ++j) {
        a.push_back(Eigen::MatrixXd::Random(50, batch));
        at.push_back(neuron_major<T>(a.back()));
      }
      for (const auto& v : at) ap.push_back(v.data());
      // Sums add to what the arrays held.
      std::vector<double> ac(static_cast<std::size_t>(slots * batch), 1.0), ad(static_cast<std::size_t>(slots * batch), -1.0);
      kernels::column_dots(ap.data(), slots, ct.data(), dt.data(), 50, batch, ac.data(), ad.data());
      for (Index j = 0; j < slots; ++j) {
        for (Index b = 0; b < batch; ++b) {
          const auto e = static_cast<std::size_t>(j * batch + b);
          EXPECT_NEAR(ac[e], 1.0 + a[static_cast<std::size_t>(j)].col(b).dot(c.col(b)), sizeof(T) == 4 ? 1e-4 : 1e-12)
              << batch << " " << slots;
          EXPECT_NEAR(ad[e], -1.0 + a[static_cast<std::size_t>(j)].col(b).dot(d.col(b)), sizeof(T) == 4 ? 1e-4 : 1e-12)
              << batch << " " << slots;
        }
      }
    }
  }
  const std::vector<T> x(4, T(1));
  std::vector<const T*> nine(9, x.data());
  std::vector<double> out(9 * 4);
  EXPECT_THROW(kernels::column_dots(nine.data(), 9, x.data(), x.data(), 1, 4, out.data(), out.data()), simmatch::InternalError);
}

// A lone column (online learning's Anderson step) has a path of its own; a sample's dots must not
// depend on the batch it is in, so it gives the bits of that column within a wider batch.
TYPED_TEST(KernelsTest, ColumnDotsOfALoneColumnAreItsBitsInABatch) {
  using T = TypeParam;
  const Index rows = 70, batch = 5;
  for (Index slots = 0; slots <= kernels::kMaxDotSlots; ++slots) {
    const std::vector<T> ct = neuron_major<T>(Eigen::MatrixXd::Random(rows, batch));
    const std::vector<T> dt = neuron_major<T>(Eigen::MatrixXd::Random(rows, batch));
    std::vector<std::vector<T>> at;
    std::vector<const T*> ap;
    for (Index j = 0; j < slots; ++j) at.push_back(neuron_major<T>(Eigen::MatrixXd::Random(rows, batch)));
    for (const auto& v : at) ap.push_back(v.data());
    std::vector<double> ac(static_cast<std::size_t>(slots * batch), 0.5), ad(ac.size(), -0.5);
    kernels::column_dots(ap.data(), slots, ct.data(), dt.data(), rows, batch, ac.data(), ad.data());
    for (Index b = 0; b < batch; ++b) {
      auto column = [&](const std::vector<T>& m) {
        std::vector<T> out(static_cast<std::size_t>(rows));
        for (Index i = 0; i < rows; ++i) out[static_cast<std::size_t>(i)] = m[static_cast<std::size_t>(i * batch + b)];
        return out;
      };
      const std::vector<T> c1 = column(ct), d1 = column(dt);
      std::vector<std::vector<T>> a1;
      std::vector<const T*> ap1;
      for (const auto& v : at) a1.push_back(column(v));
      for (const auto& v : a1) ap1.push_back(v.data());
      std::vector<double> ac1(static_cast<std::size_t>(slots), 0.5), ad1(ac1.size(), -0.5);
      kernels::column_dots(ap1.data(), slots, c1.data(), d1.data(), rows, 1, ac1.data(), ad1.data());
      for (Index j = 0; j < slots; ++j) {
        EXPECT_EQ(ac1[static_cast<std::size_t>(j)], ac[static_cast<std::size_t>(j * batch + b)]) << slots << " " << b;
        EXPECT_EQ(ad1[static_cast<std::size_t>(j)], ad[static_cast<std::size_t>(j * batch + b)]) << slots << " " << b;
      }
    }
  }
}

// A random lateral matrix on a sites.height x sites.width grid of sites.channels neurons per
// site (every stored entry random), as CSR.
template <typename T>
SparseWeights<T> random_lateral(const Grid& sites, double radius, std::uint64_t seed, bool drop_one = false) {
  Eigen::MatrixXd dense = Structure::lateral2d(sites, radius).to_dense();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  for (Index e = 0; e < dense.size(); ++e) {
    if (dense.data()[e] != 0) dense.data()[e] = n(rng);
  }
  if (drop_one) dense(dense.rows() - 1, dense.cols() - 2) = 0.0;  // sparseView drops it
  SparseWeights<T> m = dense.cast<T>().sparseView();
  m.makeCompressed();
  return m;
}

template <typename T>
std::vector<T> random_values(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  std::vector<T> v(count);
  for (auto& e : v) e = static_cast<T>(n(rng));
  return v;
}

// y += alpha B x site by site with the dense kernel, and row by row with the CSR kernel.
template <typename T>
std::vector<T> dense_product(const kernels::DenseSiteBlocks<T>& d, const std::vector<T>& x, std::vector<T> y,
                             Index batch, T alpha) {
  for (Index s = 0; s < d.sites; ++s) {
    kernels::dense_site_accumulate(d, s, x.data() + s * d.k * batch, batch, alpha, y.data() + s * d.k * batch);
  }
  return y;
}

template <typename T>
std::vector<T> csr_product(const SparseWeights<T>& a, const std::vector<T>& x, std::vector<T> y, Index batch, T alpha) {
  for (Index i = 0; i < a.rows(); ++i) {
    kernels::csr_row_accumulate(kernels::view_of(a), i, x.data(), batch, alpha, y.data() + i * batch);
  }
  return y;
}

// Bitwise equality, so that -0 vs +0 or different NaNs would show.
template <typename T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

TYPED_TEST(KernelsTest, DenseSiteBlocksMatchCsrBitForBit) {
  using T = TypeParam;
  for (Index k : {8, 13, 100}) {
    const SparseWeights<T> a = random_lateral<T>(Grid{2, 3, k}, 0.0, static_cast<std::uint64_t>(k));
    kernels::DenseSiteBlocks<T> d;
    ASSERT_TRUE(kernels::dense_site_blocks(kernels::view_of(a), 8, d)) << "k " << k;
    ASSERT_EQ(d.k, k);
    ASSERT_EQ(d.sites, 6);
    for (Index batch : {1, 2, 3, 5, 8, 15, 16, 17, 31, 50, 64, 65, 100}) {
      const auto n = static_cast<std::size_t>(a.rows() * batch);
      const std::vector<T> x = random_values<T>(n, 10 + static_cast<std::uint64_t>(batch));
      const std::vector<T> y0 = random_values<T>(n, 20 + static_cast<std::uint64_t>(batch));
      for (T alpha : {T(-1), T(0.37)}) {
        const std::vector<T> expect = csr_product(a, x, y0, batch, alpha);
        const std::vector<T> got = dense_product(d, x, y0, batch, alpha);
        for (std::size_t e = 0; e < n; ++e) {
          ASSERT_TRUE(same_bits(got[e], expect[e]))
              << "k " << k << " batch " << batch << " row " << e / static_cast<std::size_t>(batch) << " sample "
              << e % static_cast<std::size_t>(batch) << ": " << got[e] << " vs " << expect[e];
        }
      }
    }
  }
}

// A conv2d layer's W: the filters of a site all read the site's patch (fewer pixels at a padded
// border, two input channels here). The register-blocked kernel over those rows must give the CSR
// kernel's bits for every batch width, and rows_share_columns must tell such rows from others.
TYPED_TEST(KernelsTest, SharedColumnRowsMatchCsrBitForBit) {
  using T = TypeParam;
  for (const Index filters : {Index{3}, Index{13}}) {
    const Conv2d conv{Grid{7, 6, 2}, 3, 1, Padding::same, filters, 0.0};
    Eigen::MatrixXd dense = conv.cw().to_dense();
    std::mt19937_64 rng(static_cast<std::uint64_t>(filters));
    std::normal_distribution<double> normal(0.0, 1.0);
    for (Index e = 0; e < dense.size(); ++e) {
      if (dense.data()[e] != 0) dense.data()[e] = normal(rng);
    }
    SparseWeights<T> w = dense.cast<T>().sparseView();
    w.makeCompressed();
    const kernels::CsrView<T> v = kernels::view_of(w);
    const Index sites = w.rows() / filters;
    for (Index s = 0; s < sites; ++s) ASSERT_TRUE(kernels::rows_share_columns(v, s * filters, filters)) << s;
    // Rows of two sites read different patches.
    EXPECT_FALSE(kernels::rows_share_columns(v, filters - 1, 2));
    EXPECT_FALSE(kernels::rows_share_columns(v, 0, w.rows() + 1));
    for (Index batch : {1, 2, 7, 8, 15, 16, 17, 33, 64, 65, 100}) {
      const std::vector<T> x = random_values<T>(static_cast<std::size_t>(w.cols() * batch), 30 + static_cast<std::uint64_t>(batch));
      const std::vector<T> y0 = random_values<T>(static_cast<std::size_t>(w.rows() * batch), 40 + static_cast<std::uint64_t>(batch));
      for (T alpha : {T(1), T(-0.61)}) {
        const std::vector<T> expect = csr_product(w, x, y0, batch, alpha);
        std::vector<T> got = y0;
        for (Index s = 0; s < sites; ++s) {
          kernels::shared_column_rows_accumulate(v, s * filters, filters, x.data(), batch, alpha, got.data() + s * filters * batch);
        }
        for (std::size_t e = 0; e < got.size(); ++e) {
          ASSERT_TRUE(same_bits(got[e], expect[e])) << "filters " << filters << " batch " << batch << " row "
                                                    << e / static_cast<std::size_t>(batch) << ": " << got[e] << " vs "
                                                    << expect[e];
        }
      }
    }
  }
  // A row whose columns differ in one place, and one with another count.
  std::vector<Eigen::Triplet<T>> t;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 5; ++j) t.emplace_back(i, i == 2 && j == 3 ? 6 : j, T(1));
  }
  t.emplace_back(3, 7, T(1));
  SparseWeights<T> m(4, 8);
  m.setFromTriplets(t.begin(), t.end());
  EXPECT_TRUE(kernels::rows_share_columns(kernels::view_of(m), 0, 2));
  EXPECT_FALSE(kernels::rows_share_columns(kernels::view_of(m), 1, 2)) << "one column differs";
  EXPECT_FALSE(kernels::rows_share_columns(kernels::view_of(m), 0, 4)) << "one row longer";
}

// A conv2d layer's tied lateral matrix: every site holds one block. The kernel then reads site
// 0's block for all sites; the products must stay the CSR kernel's, bit for bit.
TYPED_TEST(KernelsTest, SharedSiteBlocksAreDetectedAndMatchCsrBitForBit) {
  using T = TypeParam;
  for (Index k : {8, 13, 64}) {
    SparseWeights<T> a = random_lateral<T>(Grid{2, 2, k}, 0.0, 40 + static_cast<std::uint64_t>(k));
    T* v = a.valuePtr();
    for (Index s = 1; s < 4; ++s) std::copy(v, v + k * k, v + s * k * k);
    kernels::DenseSiteBlocks<T> d;
    ASSERT_TRUE(kernels::dense_site_blocks(kernels::view_of(a), 8, d));
    EXPECT_TRUE(d.shared) << "k " << k;
    EXPECT_EQ(d.tval.size(), static_cast<std::size_t>(k * d.kp)) << "one transposed block is enough";
    for (Index batch : {1, 5, 16, 33, 100}) {
      const auto n = static_cast<std::size_t>(a.rows() * batch);
      const std::vector<T> x = random_values<T>(n, 50 + static_cast<std::uint64_t>(batch));
      const std::vector<T> y0 = random_values<T>(n, 60 + static_cast<std::uint64_t>(batch));
      const std::vector<T> expect = csr_product(a, x, y0, batch, T(-1));
      const std::vector<T> got = dense_product(d, x, y0, batch, T(-1));
      for (std::size_t e = 0; e < n; ++e) {
        ASSERT_TRUE(same_bits(got[e], expect[e])) << "k " << k << " batch " << batch << " entry " << e;
      }
    }
    // One entry of the last site differs: the blocks are no longer shared.
    v[4 * k * k - 1] += T(1);
    ASSERT_TRUE(kernels::dense_site_blocks(kernels::view_of(a), 8, d));
    EXPECT_FALSE(d.shared);
  }
}

TYPED_TEST(KernelsTest, DenseSiteBlocksGiveASampleTheSameBitsAtAnyBatchWidthAndPosition) {
  using T = TypeParam;
  for (Index k : {8, 13, 100}) {
    const SparseWeights<T> a = random_lateral<T>(Grid{1, 2, k}, 0.0, 7 + static_cast<std::uint64_t>(k));
    kernels::DenseSiteBlocks<T> d;
    ASSERT_TRUE(kernels::dense_site_blocks(kernels::view_of(a), 8, d));
    const Index rows = a.rows();
    constexpr Index full = 64;
    const std::vector<T> x = random_values<T>(static_cast<std::size_t>(rows * full), 31);
    const std::vector<T> y0 = random_values<T>(static_cast<std::size_t>(rows * full), 32);
    const std::vector<T> all = dense_product(d, x, y0, full, T(-1));
    for (Index batch : {1, 3, 16, 17, 50, 64}) {
      // Columns of the full batch in a scrambled order: sample c lands at position q.
      std::vector<Index> pick(static_cast<std::size_t>(batch));
      for (Index q = 0; q < batch; ++q) pick[static_cast<std::size_t>(q)] = (q * 37 + 11 + batch) % full;
      std::vector<T> xs(static_cast<std::size_t>(rows * batch)), ys(xs.size());
      for (Index i = 0; i < rows; ++i) {
        for (Index q = 0; q < batch; ++q) {
          xs[static_cast<std::size_t>(i * batch + q)] = x[static_cast<std::size_t>(i * full + pick[static_cast<std::size_t>(q)])];
          ys[static_cast<std::size_t>(i * batch + q)] = y0[static_cast<std::size_t>(i * full + pick[static_cast<std::size_t>(q)])];
        }
      }
      const std::vector<T> part = dense_product(d, xs, ys, batch, T(-1));
      for (Index i = 0; i < rows; ++i) {
        for (Index q = 0; q < batch; ++q) {
          const T want = all[static_cast<std::size_t>(i * full + pick[static_cast<std::size_t>(q)])];
          ASSERT_TRUE(same_bits(part[static_cast<std::size_t>(i * batch + q)], want))
              << "k " << k << " batch " << batch << " position " << q << " row " << i;
        }
      }
    }
  }
}

TYPED_TEST(KernelsTest, DenseSiteBlocksRejectOtherStructures) {
  using T = TypeParam;
  kernels::DenseSiteBlocks<T> d;
  // Lateral radius 1: rows reach the neighbouring sites.
  EXPECT_FALSE(kernels::dense_site_blocks(kernels::view_of(random_lateral<T>(Grid{3, 3, 10}, 1.0, 1)), 8, d));
  // One entry of the last block missing.
  EXPECT_FALSE(kernels::dense_site_blocks(kernels::view_of(random_lateral<T>(Grid{2, 2, 10}, 0.0, 2, true)), 8, d));
  // Blocks smaller than asked for.
  EXPECT_FALSE(kernels::dense_site_blocks(kernels::view_of(random_lateral<T>(Grid{2, 2, 4}, 0.0, 3)), 8, d));
  // Not square: a feedforward local2d pattern.
  Eigen::MatrixXd dense;
  EXPECT_FALSE(kernels::dense_site_blocks(kernels::view_of(random_sparse<T>(dense, 4)), 8, d));
  EXPECT_EQ(d.k, 0);
  // A row of k entries, one of them moved just outside its block (past the end or before the
  // start): the count is right, the pattern is not.
  for (const auto& [row, from, to] : std::vector<std::array<int, 3>>{{3, 3, 8}, {12, 12, 7}, {0, 0, 15}, {15, 8, 0}}) {
    std::vector<Eigen::Triplet<T>> t;
    for (int i = 0; i < 16; ++i) {
      for (int j = i / 8 * 8; j < i / 8 * 8 + 8; ++j) t.emplace_back(i, i == row && j == from ? to : j, T(1));
    }
    SparseWeights<T> moved(16, 16);
    moved.setFromTriplets(t.begin(), t.end());
    EXPECT_FALSE(kernels::dense_site_blocks(kernels::view_of(moved), 8, d)) << row << ": " << from << " -> " << to;
  }
  // The radius-0 pattern itself is accepted, whatever the grid.
  EXPECT_TRUE(kernels::dense_site_blocks(kernels::view_of(random_lateral<T>(Grid{3, 1, 9}, 0.0, 5)), 8, d));
  EXPECT_EQ(d.k, 9);
  EXPECT_EQ(d.sites, 3);
}

TEST(Kernels, SolversWithDenseSiteBlocksAreUnchangedBySplittingTheBatch) {
  // Ten neurons per site and lateral radius 0: the engine takes the dense lateral kernel (Euler,
  // and the fast solver on ReLUs, which Newton leaves to it), and a sample's fixed point is
  // still the same bits alone as in a batch.
  const Grid in{8, 8, 1};
  const Grid out = Structure::local2d_output(in, 2, 10);
  for (const Activation act : {Activation::tanh(), Activation::relu()}) {
    std::vector<Layer<float>> layers;
    layers.emplace_back(Structure::local2d(in, 2, 1.5, 10), Structure::lateral2d(out, 0.0), act, out);
    Network<float> net(64, std::move(layers), 0.0);
    net.initialise(3);
    // Diagonal 0.3 and small symmetric couplings, so that the lateral sums matter.
    auto& l = net.layer(0).L();
    for (Index i = 0; i < l.outerSize(); ++i) {
      for (SparseWeights<float>::InnerIterator it(l, i); it; ++it) {
        it.valueRef() = it.col() == i ? 0.3f : 0.03f * std::sin(static_cast<float>(i + it.col()));
      }
    }
    const Matrix<float> x = Matrix<float>::Random(64, 70);
    SolverOptions o;
    o.method = act.kind() == ActivationKind::tanh ? SolverMethod::euler : SolverMethod::fast;
    const auto solver = make_solver<float>(o);
    FixedPoints<float> all;
    solver->solve(net, x, all);
    EXPECT_GT(all.mean_iterations(), 3.0);
    for (Index s : {Index{0}, Index{17}, Index{69}}) {
      FixedPoints<float> one;
      solver->solve(net, x.col(s), one);
      EXPECT_EQ(one.iterations[0], all.iterations[static_cast<std::size_t>(s)]);
      for (Index i = 0; i < net.layer(0).size(); ++i) {
        ASSERT_TRUE(same_bits(one.r[0](i, 0), all.r[0](i, s))) << "sample " << s << " neuron " << i;
      }
    }
  }
}

TEST(Kernels, EulerIsUnchangedBySplittingTheBatch) {
  // The chunked engine solves each sample independently: a sample's fixed point and iteration
  // count do not depend on the batch it came in.
  const Grid in{8, 8, 1};
  std::vector<Layer<double>> layers;
  layers.emplace_back(Structure::local2d(in, 2, 1.5, 2), Structure::lateral2d(Grid{4, 4, 2}, 1.0), Activation::tanh(),
                      Grid{4, 4, 2});
  Network<double> net(64, std::move(layers), 0.0);
  net.initialise(3);
  const Matrix<double> x = Matrix<double>::Random(64, 70);
  EulerSolver<double> euler;
  FixedPoints<double> all;
  euler.solve(net, x, all);
  for (Index s : {Index{0}, Index{35}, Index{69}}) {
    FixedPoints<double> one;
    euler.solve(net, x.col(s), one);
    EXPECT_EQ(one.iterations[0], all.iterations[static_cast<std::size_t>(s)]);
    EXPECT_LE((one.r[0].col(0) - all.r[0].col(s)).norm(), 1e-12);
  }
}

}  // namespace
}  // namespace simmatch
