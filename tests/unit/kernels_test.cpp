// The batched kernels (src/core/batch_kernel.hpp) against plain dense arithmetic, for batch sizes
// that hit every register-block width and the tail, in float and double.
#include <gtest/gtest.h>

#include <random>

#include "core/batch_kernel.hpp"
#include "simmatch/dynamics.hpp"
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

TYPED_TEST(KernelsTest, ColumnDotsMatchPerSampleDots) {
  using T = TypeParam;
  for (Index batch : {1, 3, 16, 40, 64}) {
    const Eigen::MatrixXd a = Eigen::MatrixXd::Random(50, batch), c = Eigen::MatrixXd::Random(50, batch),
                          d = Eigen::MatrixXd::Random(50, batch);
    const std::vector<T> at = neuron_major<T>(a), ct = neuron_major<T>(c), dt = neuron_major<T>(d);
    std::vector<double> ac(static_cast<std::size_t>(batch), 0.0), ad(static_cast<std::size_t>(batch), 0.0);
    kernels::column_dots2(at.data(), ct.data(), dt.data(), 50, batch, ac.data(), ad.data());
    for (Index b = 0; b < batch; ++b) {
      EXPECT_NEAR(ac[static_cast<std::size_t>(b)], a.col(b).dot(c.col(b)), sizeof(T) == 4 ? 1e-4 : 1e-12);
      EXPECT_NEAR(ad[static_cast<std::size_t>(b)], a.col(b).dot(d.col(b)), sizeof(T) == 4 ? 1e-4 : 1e-12);
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
