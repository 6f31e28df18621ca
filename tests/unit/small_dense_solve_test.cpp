// The small dense solves of the solvers (src/core/small_dense_solve.hpp) against Eigen's
// decompositions, on the sizes the solvers use and on the inputs they must refuse.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/small_dense_solve.hpp"
#include "simmatch/dynamics.hpp"

namespace simmatch::detail {
namespace {

using DenseRowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

DenseRowMajor random_matrix(Index k, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  DenseRowMajor a(k, k);
  for (Index e = 0; e < a.size(); ++e) a.data()[e] = n(rng);
  return a;
}

Eigen::VectorXd random_vector(Index k, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  Eigen::VectorXd b(k);
  for (Index e = 0; e < k; ++e) b[e] = n(rng);
  return b;
}

// Solves with lu_solve<K> on copies; the solution, or an empty vector when it refuses.
template <Index K>
Eigen::VectorXd lu(const DenseRowMajor& a, const Eigen::VectorXd& b) {
  DenseRowMajor work = a;
  Eigen::VectorXd x = b;
  if (!lu_solve<K>(work.data(), x.data(), a.rows())) return {};
  return x;
}

Eigen::VectorXd cholesky(const DenseRowMajor& a, const Eigen::VectorXd& b) {
  DenseRowMajor work = a;
  Eigen::VectorXd y = b;
  if (!cholesky_solve(work.data(), y.data(), a.rows())) return {};
  return y;
}

TEST(SmallDenseSolveTest, LuMatchesEigenOnSiteSizes) {
  for (Index k : {1, 2, 3, 4, 8, 16, 33, 100}) {
    // A site Jacobian I + (L - I) diag(f'): diagonally dominant enough to be well conditioned.
    DenseRowMajor a = random_matrix(k, static_cast<unsigned>(k)) * 0.3 + DenseRowMajor::Identity(k, k) * 2.0;
    const Eigen::VectorXd b = random_vector(k, static_cast<unsigned>(k + 100));
    const Eigen::VectorXd expected = a.partialPivLu().solve(b);
    const Eigen::VectorXd got = lu<0>(a, b);
    ASSERT_EQ(got.size(), k) << "k = " << k;
    EXPECT_LE((got - expected).norm(), 1e-12 * expected.norm()) << "k = " << k;
  }
}

TEST(SmallDenseSolveTest, FixedSizeLuIsBitIdenticalToTheDynamicOne) {
  const DenseRowMajor a = random_matrix(4, 7);
  const Eigen::VectorXd b = random_vector(4, 8);
  const Eigen::VectorXd fixed = lu<4>(a, b);
  const Eigen::VectorXd dynamic = lu<0>(a, b);
  ASSERT_EQ(fixed.size(), 4);
  ASSERT_EQ(dynamic.size(), 4);
  for (Index i = 0; i < 4; ++i) EXPECT_EQ(fixed[i], dynamic[i]);
}

TEST(SmallDenseSolveTest, LuPivotsWhereTheLeadingEntryIsZero) {
  DenseRowMajor a(2, 2);
  a << 0.0, 1.0, 1.0, 0.0;
  Eigen::VectorXd b(2);
  b << 3.0, 5.0;
  const Eigen::VectorXd x = lu<0>(a, b);
  ASSERT_EQ(x.size(), 2);
  EXPECT_DOUBLE_EQ(x[0], 5.0);
  EXPECT_DOUBLE_EQ(x[1], 3.0);
}

TEST(SmallDenseSolveTest, LuRefusesSingularAndNonFiniteSystems) {
  DenseRowMajor singular(3, 3);
  singular << 1, 2, 3, 2, 4, 6, 0, 0, 1;
  EXPECT_EQ(lu<0>(singular, random_vector(3, 1)).size(), 0);
  DenseRowMajor tiny = DenseRowMajor::Identity(2, 2) * 1e-310;
  Eigen::VectorXd big(2);
  big << 1e300, 1.0;
  EXPECT_EQ(lu<0>(tiny, big).size(), 0) << "an overflowing solution must be refused, not returned";
  DenseRowMajor nan = DenseRowMajor::Identity(2, 2);
  nan(1, 0) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(lu<0>(nan, random_vector(2, 2)).size(), 0);
}

// Solves the given systems (one per lane, unused lanes padded with the identity) with
// lu_solve_lanes<K, W>; each solution, or an empty vector where the lane refused.
template <Index K, int W>
std::vector<Eigen::VectorXd> lu_lanes(const std::vector<DenseRowMajor>& a, const std::vector<Eigen::VectorXd>& b) {
  std::vector<double> sa(static_cast<std::size_t>(K * K * W), 0.0), sb(static_cast<std::size_t>(K * W), 0.0);
  for (int l = 0; l < W; ++l) {
    for (Index i = 0; i < K; ++i) {
      for (Index j = 0; j < K; ++j) {
        const bool given = l < static_cast<int>(a.size());
        sa[static_cast<std::size_t>((i * K + j) * W + l)] = given ? a[static_cast<std::size_t>(l)](i, j) : (i == j ? 1.0 : 0.0);
      }
      if (l < static_cast<int>(b.size())) sb[static_cast<std::size_t>(i * W + l)] = b[static_cast<std::size_t>(l)][i];
    }
  }
  bool ok[W];
  lu_solve_lanes<K, W>(sa.data(), sb.data(), ok);
  std::vector<Eigen::VectorXd> x;
  for (std::size_t l = 0; l < a.size(); ++l) {
    if (!ok[l]) {
      x.emplace_back();
      continue;
    }
    Eigen::VectorXd xl(K);
    for (Index i = 0; i < K; ++i) xl[i] = sb[static_cast<std::size_t>(i * W) + l];
    x.push_back(xl);
  }
  return x;
}

template <Index K, int W>
void expect_lanes_equal_scalar_lu(unsigned seed) {
  std::vector<DenseRowMajor> a;
  std::vector<Eigen::VectorXd> b;
  for (int l = 0; l < W - 1; ++l) {  // one lane left as padding
    a.push_back(random_matrix(K, seed + static_cast<unsigned>(l)));
    b.push_back(random_vector(K, seed + 1000 + static_cast<unsigned>(l)));
  }
  const auto got = lu_lanes<K, W>(a, b);
  for (std::size_t l = 0; l < a.size(); ++l) {
    const Eigen::VectorXd expected = lu<K>(a[l], b[l]);
    ASSERT_EQ(got[l].size(), K) << "K = " << K << ", lane " << l;
    for (Index i = 0; i < K; ++i) EXPECT_EQ(got[l][i], expected[i]) << "K = " << K << ", lane " << l << ", entry " << i;
  }
}

TEST(SmallDenseSolveTest, LanesAreBitIdenticalToTheScalarLu) {
  // Random Gaussian systems pivot in every lane differently; no exact ties between candidates.
  expect_lanes_equal_scalar_lu<4, 8>(11);
  expect_lanes_equal_scalar_lu<8, 8>(22);
  expect_lanes_equal_scalar_lu<16, 8>(33);
  expect_lanes_equal_scalar_lu<4, 4>(44);
  expect_lanes_equal_scalar_lu<3, 1>(55);
}

TEST(SmallDenseSolveTest, ALaneThatRefusesLeavesTheOthersSolved) {
  DenseRowMajor singular(4, 4);
  singular << 1, 2, 3, 4, 2, 4, 6, 8, 0, 0, 1, 0, 0, 0, 0, 1;
  DenseRowMajor nan = DenseRowMajor::Identity(4, 4);
  nan(2, 1) = std::numeric_limits<double>::quiet_NaN();
  DenseRowMajor tiny = DenseRowMajor::Identity(4, 4) * 1e-310;
  Eigen::VectorXd big = Eigen::VectorXd::Ones(4) * 1e300;
  const DenseRowMajor good = random_matrix(4, 9);
  const Eigen::VectorXd rhs = random_vector(4, 10);
  const auto x = lu_lanes<4, 8>({good, singular, good, nan, tiny}, {rhs, rhs, rhs, rhs, big});
  EXPECT_EQ(x[1].size(), 0) << "singular";
  EXPECT_EQ(x[3].size(), 0) << "NaN entry";
  EXPECT_EQ(x[4].size(), 0) << "overflowing solution";
  const Eigen::VectorXd expected = good.partialPivLu().solve(rhs);
  for (std::size_t l : {0u, 2u}) {
    ASSERT_EQ(x[l].size(), 4);
    EXPECT_LE((x[l] - expected).norm(), 1e-12 * expected.norm());
  }
}

TEST(SmallDenseSolveTest, CholeskyMatchesEigenOnGramMatrices) {
  for (Index k = 1; k <= kMaxAndersonDepth; ++k) {
    // Anderson's Gram matrix dF^T dF of k history columns: positive definite for independent columns.
    const DenseRowMajor f = random_matrix(k + 5, static_cast<unsigned>(k)).leftCols(k);
    const DenseRowMajor gram = f.transpose() * f;
    const Eigen::VectorXd b = random_vector(k, static_cast<unsigned>(k + 50));
    const Eigen::VectorXd expected = gram.llt().solve(b);
    const Eigen::VectorXd got = cholesky(gram, b);
    ASSERT_EQ(got.size(), k) << "k = " << k;
    EXPECT_LE((got - expected).norm(), 1e-10 * expected.norm()) << "k = " << k;
  }
}

TEST(SmallDenseSolveTest, CholeskyRefusesMatricesThatAreNotPositiveDefinite) {
  DenseRowMajor indefinite(2, 2);
  indefinite << 1.0, 2.0, 2.0, 1.0;  // eigenvalues 3 and -1
  EXPECT_EQ(cholesky(indefinite, random_vector(2, 3)).size(), 0);
  // Two equal history columns: singular Gram matrix, a zero pivot.
  DenseRowMajor singular(2, 2);
  singular << 4.0, 4.0, 4.0, 4.0;
  EXPECT_EQ(cholesky(singular, random_vector(2, 4)).size(), 0);
  DenseRowMajor nan = DenseRowMajor::Identity(2, 2);
  nan(1, 1) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(cholesky(nan, random_vector(2, 5)).size(), 0);
}

}  // namespace
}  // namespace simmatch::detail
