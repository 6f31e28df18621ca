// Internal: one sample's Anderson mixing coefficients (type II, Walker & Ni 2011), shared by the
// whole-layer solver (batch_solver.cpp) and the per-site one (site_anderson.cpp):
//   gamma = argmin || f_k - dF gamma ||
// by Cholesky of the regularised normal equations dF^T dF gamma = dF^T f_k, over the history
// columns the sample holds, with a restart (history cleared, a plain step of the reference size)
// when the residual grows far above its best or the small system is singular.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/small_dense_solve.hpp"
#include "simmatch/dynamics.hpp"

namespace simmatch::detail {

/// A sample's view of the Gram matrix and right-hand side, stored for many samples side by side:
/// gram[(i * depth + j) * stride] = dF_i . dF_j and rhs[i * stride] = dF_i . f for ring slots i, j;
/// the newest column is slot `head`, the one before it head - 1 (mod depth), and so on.
struct AndersonHistory {
  const double* gram = nullptr;
  const double* rhs = nullptr;
  Index stride = 1;
  Index depth = 0;
  Index head = 0;
};

/// Fills coef[slot] (depth entries; 0 for slots not used) for the sample whose squared residual is
/// `fnorm` and which holds `used` history columns. Returns true for an Anderson step with mixing
/// beta; false for a restart, after which `used` is 0 and the step is the reference's step_min.
/// `best` (the smallest fnorm since the last restart) is updated. T is the precision of the
/// iteration, which sets the regularisation of the normal equations.
template <typename T>
bool anderson_coefficients(const AndersonHistory& h, double fnorm, double restart_factor, double& best, Index& used,
                           double* coef) {
  const Index m = h.depth;
  for (Index j = 0; j < m; ++j) coef[j] = 0.0;
  bool restart = !std::isfinite(fnorm) || fnorm > restart_factor * restart_factor * best;
  best = std::min(best, fnorm);
  const Index k = restart ? 0 : used;
  if (k > 0) {
    double a[kMaxAndersonDepth * kMaxAndersonDepth];
    double y[kMaxAndersonDepth];
    for (Index p = 0; p < k; ++p) {
      const Index sp = (h.head - p + m) % m;
      y[p] = h.rhs[sp * h.stride];
      for (Index q = 0; q < k; ++q) {
        const Index sq = (h.head - q + m) % m;
        a[p * k + q] = h.gram[(sp * m + sq) * h.stride];
      }
    }
    double diag = 0;
    for (Index p = 0; p < k; ++p) diag = std::max(diag, a[p * k + p]);
    const double reg = diag * (sizeof(T) == 4 ? 1e-7 : 1e-12) + std::numeric_limits<double>::min();
    for (Index p = 0; p < k; ++p) a[p * k + p] += reg;
    if (diag > 0 && cholesky_solve(a, y, k)) {
      for (Index p = 0; p < k; ++p) coef[(h.head - p + m) % m] = y[p];
    } else {
      restart = true;
    }
  }
  if (restart) {
    used = 0;
    best = std::numeric_limits<double>::infinity();
  }
  return !restart;
}

}  // namespace simmatch::detail
