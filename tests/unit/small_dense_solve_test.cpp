// The small dense solves of the solvers (src/core/small_dense_solve.hpp, and Anderson's
// coefficients in anderson_coefficients.hpp) against Eigen's decompositions, on the sizes the
// solvers use and on the inputs they must refuse. Compiled as the solvers that include these
// headers are, without fused multiply-add contraction: with it, GCC contracts a vector loop and
// the same loop on one sample (a width fixed at 1) differently, and bit-for-bit checks compare them.
#if defined(__clang__)
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/anderson_coefficients.hpp"
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

// Anderson's coefficients for samples side by side (anderson_coefficients.hpp): each sample's
// regularised normal equations over the history columns it holds, as Eigen solves them.
struct History {
  Index bc = 0, depth = 0, head = 0;
  std::vector<double> gram, rhs, fnorm, best;
  std::vector<Index> used;
};

// Sample c holds used[c] random columns dF (12 rows) in the ring before `head`, and f.
History random_history(const std::vector<Index>& used, Index depth, Index head, unsigned seed) {
  History h;
  h.bc = static_cast<Index>(used.size());
  h.depth = depth;
  h.head = head;
  h.used = used;
  h.gram.assign(static_cast<std::size_t>(depth * depth * h.bc), 0.0);
  h.rhs.assign(static_cast<std::size_t>(depth * h.bc), 0.0);
  h.fnorm.assign(static_cast<std::size_t>(h.bc), 1.0);
  h.best.assign(static_cast<std::size_t>(h.bc), std::numeric_limits<double>::infinity());
  for (Index c = 0; c < h.bc; ++c) {
    const DenseRowMajor df = random_matrix(12, seed + static_cast<unsigned>(c)).leftCols(depth);
    const Eigen::VectorXd f = random_vector(12, seed + 100 + static_cast<unsigned>(c));
    for (Index i = 0; i < depth; ++i) {
      h.rhs[static_cast<std::size_t>(i * h.bc + c)] = df.col(i).dot(f);
      for (Index j = 0; j < depth; ++j) h.gram[static_cast<std::size_t>((i * depth + j) * h.bc + c)] = df.col(i).dot(df.col(j));
    }
  }
  return h;
}

struct Coefficients {
  std::vector<double> coef;
  std::vector<unsigned char> kept;
};

Coefficients solve(History& h, double restart = 100.0) {
  Coefficients out;
  out.coef.assign(static_cast<std::size_t>(h.depth * h.bc), -1.0);
  out.kept.assign(static_cast<std::size_t>(h.bc), 2);
  std::vector<double> work;
  anderson_coefficients<double>(h.gram.data(), h.rhs.data(), h.bc, h.depth, h.head, h.fnorm.data(), restart,
                                h.best.data(), h.used.data(), out.coef.data(), out.kept.data(), work);
  return out;
}

TEST(AndersonCoefficientsTest, EachSampleSolvesItsOwnNormalEquations) {
  const Index m = 5, head = 2;
  const std::vector<Index> used = {0, 1, 2, 3, 4, 5, 3, 5};
  History h = random_history(used, m, head, 7);
  const History before = h;
  const Coefficients got = solve(h);
  for (Index c = 0; c < h.bc; ++c) {
    const Index k = used[static_cast<std::size_t>(c)];
    EXPECT_EQ(got.kept[static_cast<std::size_t>(c)], 1) << c;
    EXPECT_EQ(h.used[static_cast<std::size_t>(c)], k) << c;
    // The k newest slots: head, head - 1, ... (mod m); ridge of 1e-12 times the largest diagonal.
    Eigen::MatrixXd a(k, k);
    Eigen::VectorXd y(k);
    double diag = 0;
    auto slot = [&](Index p) { return (head - p + m) % m; };
    for (Index p = 0; p < k; ++p) {
      y[p] = before.rhs[static_cast<std::size_t>(slot(p) * h.bc + c)];
      for (Index q = 0; q < k; ++q) a(p, q) = before.gram[static_cast<std::size_t>((slot(p) * m + slot(q)) * h.bc + c)];
      diag = std::max(diag, a(p, p));
    }
    a.diagonal().array() += diag * 1e-12;
    const Eigen::VectorXd expected = k > 0 ? Eigen::VectorXd(a.llt().solve(y)) : Eigen::VectorXd();
    for (Index s = 0; s < m; ++s) {
      double want = 0;
      for (Index p = 0; p < k; ++p) {
        if (slot(p) == s) want = expected[p];
      }
      EXPECT_NEAR(got.coef[static_cast<std::size_t>(s * h.bc + c)], want, 1e-9 * (1 + std::abs(want))) << c << " " << s;
    }
  }
}

// A sample's coefficients are the same bits alone or beside samples holding more columns.
TEST(AndersonCoefficientsTest, ASampleGetsTheSameBitsWhateverItsNeighbours) {
  const Index m = 5;
  History all = random_history({1, 5, 3, 2, 5, 4}, m, 4, 11);
  const Coefficients together = solve(all);
  for (Index c = 0; c < all.bc; ++c) {
    History one = random_history({all.used[static_cast<std::size_t>(c)]}, m, 4, 11 + static_cast<unsigned>(c));
    const Coefficients alone = solve(one);
    for (Index s = 0; s < m; ++s) {
      EXPECT_EQ(alone.coef[static_cast<std::size_t>(s)], together.coef[static_cast<std::size_t>(s * all.bc + c)]) << c;
    }
  }
}

// Restarts: a residual grown past restart_factor^2 times its best, a non-finite residual, and a
// history whose Gram matrix is zero or not a number; the others step on.
TEST(AndersonCoefficientsTest, RestartsClearTheHistoryAndFallBackToThePlainStep) {
  const Index m = 3;
  History h = random_history({2, 2, 2, 2, 2}, m, 0, 21);
  h.best[0] = 1.0;
  h.fnorm[0] = 1e4 + 1;  // > 100^2 x best
  h.best[1] = 1.0;
  h.fnorm[1] = 1e4;      // at the threshold: no restart
  h.fnorm[2] = std::numeric_limits<double>::quiet_NaN();
  for (Index e = 0; e < m * m; ++e) {
    h.gram[static_cast<std::size_t>(e * h.bc + 3)] = 0.0;
    h.gram[static_cast<std::size_t>(e * h.bc + 4)] = e == 0 ? std::numeric_limits<double>::quiet_NaN() : 1.0;
  }
  const Coefficients got = solve(h);
  const std::vector<unsigned char> kept = {0, 1, 0, 0, 0};
  for (Index c = 0; c < h.bc; ++c) {
    const auto sc = static_cast<std::size_t>(c);
    EXPECT_EQ(got.kept[sc], kept[sc]) << c;
    EXPECT_EQ(h.used[sc], kept[sc] ? 2 : 0) << c;
    if (!kept[sc]) {
      EXPECT_EQ(h.best[sc], std::numeric_limits<double>::infinity()) << c;
      for (Index s = 0; s < m; ++s) EXPECT_EQ(got.coef[static_cast<std::size_t>(s * h.bc + c)], 0.0) << c;
    }
  }
  EXPECT_EQ(h.best[1], 1.0);  // the smallest residual since the last restart
}

}  // namespace
}  // namespace simmatch::detail
