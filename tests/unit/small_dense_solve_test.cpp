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
