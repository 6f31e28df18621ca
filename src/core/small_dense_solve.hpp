// Internal: the small dense linear solves inside the solvers, in double, on row-major k x k
// arrays that live on the stack or in per-thread work space: LU with partial pivoting for the
// per-site Newton steps (block_newton.cpp: the Jacobian of one site, k = neurons per site) and
// Cholesky for Anderson's least-squares coefficients (batch_solver.cpp: the Gram matrix of the
// history, k <= kMaxAndersonDepth). Eigen's fixed-size decompositions allocate per call or
// need the size at compile time; these run millions of times per training epoch on k of 1-128.
//
// No fused multiply-add contraction (as in the solvers that call these): a sample's result
// must not depend on the translation unit or the batch position it is solved in.
#pragma once

#include <cmath>
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

/// Solves a y = b in place for symmetric positive definite a (k x k, row-major): a's lower
/// triangle is overwritten by the Cholesky factor L (a = L L^T), y by the solution. Returns
/// false when a pivot is not positive (a is not positive definite to working precision) or the
/// solution is not finite; the caller regularises a first where it may be singular.
inline bool cholesky_solve(double* a, double* y, Index k) {
  for (Index p = 0; p < k; ++p) {
    for (Index q = 0; q <= p; ++q) {
      double s = a[p * k + q];
      for (Index t = 0; t < q; ++t) s -= a[p * k + t] * a[q * k + t];
      if (p == q) {
        if (!(s > 0)) return false;
        a[p * k + p] = std::sqrt(s);
      } else {
        a[p * k + q] = s / a[q * k + q];
      }
    }
  }
  for (Index p = 0; p < k; ++p) {
    double s = y[p];
    for (Index t = 0; t < p; ++t) s -= a[p * k + t] * y[t];
    y[p] = s / a[p * k + p];
  }
  for (Index p = k - 1; p >= 0; --p) {
    double s = y[p];
    for (Index t = p + 1; t < k; ++t) s -= a[t * k + p] * y[t];
    y[p] = s / a[p * k + p];
  }
  bool finite = true;
  for (Index p = 0; p < k; ++p) finite = finite && std::isfinite(y[p]);
  return finite;
}

}  // namespace simmatch::detail

#if defined(__clang__)
#pragma float_control(pop)
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
