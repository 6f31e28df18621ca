// Internal: the pieces of an Anderson step (type II, Walker & Ni 2011) shared by the whole-layer
// solver (batch_solver.cpp) and the per-site one (site_anderson.cpp). One sample's coefficients,
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

/// Stores the dot products of the newest history column with every slot in use: ag[j * bc + c] =
/// dF_head . dF_slots[j] and ar[j * bc + c] = dF_slots[j] . f for sample c go into the symmetric
/// gram (row and column head) and into rhs, laid out as AndersonHistory reads them (stride bc).
inline void store_history_dots(const double* ag, const double* ar, const Index* slots, Index ns, Index head, Index depth,
                               Index bc, double* gram, double* rhs) {
  for (Index j = 0; j < ns; ++j) {
    const Index s = slots[j];
    for (Index c = 0; c < bc; ++c) {
      gram[(head * depth + s) * bc + c] = ag[j * bc + c];
      gram[(s * depth + head) * bc + c] = ag[j * bc + c];
      rhs[s * bc + c] = ar[j * bc + c];
    }
  }
}

/// One neuron's row of the Anderson update for bc samples,
///   d = scale f - sum_j coef_j dG_j,   u += d,
/// and the row of the slot that becomes the newest: dG = d - beta f and dF = -f, completed by
/// the next residual (dG = dX + beta dF). dg[j] is slot j's row, coef row j's coefficients per
/// sample (ns x bc); d is scratch. The slot written may be among those read: each is read first.
template <typename T>
inline void anderson_row_update(const T* __restrict scale, const T* __restrict f, const T* const* dg, const T* coef,
                                Index ns, T beta, Index bc, T* __restrict d, T* __restrict u, T* __restrict dg_new,
                                T* __restrict df_new) {
#pragma omp simd
  for (Index b = 0; b < bc; ++b) d[b] = scale[b] * f[b];
  for (Index j = 0; j < ns; ++j) {
    const T* __restrict dgj = dg[j];
    const T* __restrict cj = coef + j * bc;
#pragma omp simd
    for (Index b = 0; b < bc; ++b) d[b] -= cj[b] * dgj[b];
  }
#pragma omp simd
  for (Index b = 0; b < bc; ++b) {
    dg_new[b] = d[b] - beta * f[b];
    df_new[b] = -f[b];
    u[b] += d[b];
  }
}

}  // namespace simmatch::detail
