// Internal: the small dense linear solves inside the solvers, in double, on row-major k x k
// arrays that live on the stack or in per-thread work space: LU with partial pivoting for the
// per-site Newton steps (block_newton.cpp: the Jacobian of one site, k = neurons per site; for
// k = 4, 8, 16 eight sites at once in SIMD lanes, structure-of-arrays layout). (Anderson's
// coefficients, Cholesky solves of k <= kMaxAndersonDepth, one per sample in vector lanes, are in
// anderson_coefficients.hpp.) Eigen's fixed-size decompositions allocate per call or need the
// size at compile time; these run millions of times per training epoch on k of 1-128.
//
// No fused multiply-add contraction (as in the solvers that call these): a sample's result
// must not depend on the translation unit or the batch position it is solved in.
#pragma once

#include <cmath>
#include <cstring>
#include <utility>

#include "simmatch/types.hpp"

#if defined(__clang__)
#pragma float_control(push)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

namespace simmatch::detail {

/// Solves a x = b in place by LU with partial pivoting: a (k x k, row-major) is overwritten by
/// its factors, b by x. Returns false when a pivot is exactly 0 or the solution is not finite.
/// K > 0 fixes k at compile time (the common site sizes), so the loops unroll: the solve
/// dominated the 4-per-site Newton profile; K = 0 takes k from `k_dynamic`.
template <Index K>
bool lu_solve(double* a, double* b, Index k_dynamic) {
  const Index k = K > 0 ? K : k_dynamic;
  for (Index c = 0; c < k; ++c) {
    Index piv = c;
    for (Index i = c + 1; i < k; ++i) {
      if (std::abs(a[i * k + c]) > std::abs(a[piv * k + c])) piv = i;
    }
    if (!(std::abs(a[piv * k + c]) > 0)) return false;
    if (piv != c) {
      for (Index j = 0; j < k; ++j) std::swap(a[c * k + j], a[piv * k + j]);
      std::swap(b[c], b[piv]);
    }
    const double inv = 1.0 / a[c * k + c];
    for (Index i = c + 1; i < k; ++i) {
      const double m = a[i * k + c] * inv;
      if (m == 0) continue;
      for (Index j = c + 1; j < k; ++j) a[i * k + j] -= m * a[c * k + j];
      b[i] -= m * b[c];
    }
  }
  for (Index i = k - 1; i >= 0; --i) {
    double s = b[i];
    for (Index j = i + 1; j < k; ++j) s -= a[i * k + j] * b[j];
    b[i] = s / a[i * k + i];
    if (!std::isfinite(b[i])) return false;
  }
  return true;
}

/// W doubles as one SIMD value (GCC / Clang vector extension: element-wise arithmetic,
/// comparisons giving 0 / -1 masks, `mask ? x : y` selecting lane by lane).
template <int W>
struct DoubleLanes {
  typedef double V __attribute__((vector_size(sizeof(double) * W)));
  static V load(const double* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(double* p, V v) { std::memcpy(p, &v, sizeof v); }
  static V abs(V v) { return v < 0 ? -v : v; }
};

/// Solves W independent k x k systems at once, K = k fixed at compile time: lane l of every
/// entry belongs to system l, a[(i * K + j) * W + l] and b[i * W + l] (structure of arrays, so
/// each step of the elimination is one vector operation across the W systems). The same
/// arithmetic as lu_solve<K> in each lane, with the pivot row chosen by lane-wise compare and
/// swap instead of a branch: the per-site Newton solves of many sites run in SIMD lanes instead
/// of one mispredicted branch at a time. A lane's result depends on its own system alone (up to
/// the choice between exactly equal pivot candidates). ok[l] is set to false when system l
/// has a zero pivot or a non-finite solution; the other lanes are unaffected. a is left as it was.
template <Index K, int W>
void lu_solve_lanes(double* a, double* b, bool* ok) {
  static_assert(K > 0 && W > 0, "lu_solve_lanes needs a fixed system size and lane count");
  using L = DoubleLanes<W>;
  using V = typename L::V;
  V m[K][K + 1];  // the systems, b as column K, held in registers for small K
  for (Index i = 0; i < K; ++i) {
    for (Index j = 0; j < K; ++j) m[i][j] = L::load(a + (i * K + j) * W);
    m[i][K] = L::load(b + i * W);
  }
  V zero = {};
  auto good = zero == zero;  // all lanes true
  for (Index c = 0; c < K; ++c) {
    // Row c ends up holding the first row of largest |a(i, c)|, as lu_solve's pivot search.
    for (Index i = c + 1; i < K; ++i) {
      const auto swap = L::abs(m[i][c]) > L::abs(m[c][c]);
      for (Index j = c; j <= K; ++j) {
        const V x = m[c][j], y = m[i][j];
        m[c][j] = swap ? y : x;
        m[i][j] = swap ? x : y;
      }
    }
    good = good & (L::abs(m[c][c]) > 0);
    const V inv = 1.0 / m[c][c];
    for (Index i = c + 1; i < K; ++i) {
      const V f = m[i][c] * inv;
      for (Index j = c + 1; j <= K; ++j) m[i][j] -= f * m[c][j];
    }
  }
  for (Index i = K - 1; i >= 0; --i) {
    V s = m[i][K];
    for (Index j = i + 1; j < K; ++j) s -= m[i][j] * m[j][K];
    m[i][K] = s / m[i][i];
    good = good & (m[i][K] - m[i][K] == 0);  // finite: not inf, not NaN
  }
  for (Index i = 0; i < K; ++i) L::store(b + i * W, m[i][K]);
  for (int l = 0; l < W; ++l) ok[l] = good[l] != 0;
}

}  // namespace simmatch::detail

#if defined(__clang__)
#pragma float_control(pop)
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
