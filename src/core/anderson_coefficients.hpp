// Internal: the pieces of an Anderson step (type II, Walker & Ni 2011) shared by the whole-layer
// solver (batch_solver.cpp) and the per-site one (site_anderson.cpp). Each sample's coefficients,
//   gamma = argmin || f_k - dF gamma ||
// by Cholesky of the regularised normal equations dF^T dF gamma = dF^T f_k, over the history
// columns the sample holds, with a restart (history cleared, a plain step of the reference size)
// when the residual grows far above its best or the small system is singular.
// Include it only where fused multiply-add contraction is off (as the solvers' files turn it off):
// a sample's bits must not depend on its neighbours, and a width of one takes its own code.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "simmatch/dynamics.hpp"

namespace simmatch::detail {

/// The coefficients of bc samples side by side, each sample's system solved on its own (the
/// samples are the vector lanes of every loop: a 5 x 5 solve per sample and iteration had become a
/// quarter of a 64-filter conv2d layer's training, one sample at a time). gram[(i * depth + j) * bc
/// + c] = dF_i . dF_j and rhs[i * bc + c] = dF_i . f of sample c for ring slots i, j; the newest
/// column is slot `head`, the one before it head - 1 (mod depth), and so on. Sample c holds
/// used[c] columns and has squared residual fnorm[c]; best[c] is the smallest fnorm since its last
/// restart. Fills coef[slot * bc + c] (0 for slots not used) and kept[c]: 1 for an Anderson step
/// with mixing beta, 0 for a restart (the residual grew past restart_factor times its best, or
/// the system is singular), after which used[c] = 0 and the step is the reference's step_min.
/// T is the precision of the iteration, which sets the regularisation of the normal equations.
/// Each sample's arithmetic is the same whatever the others hold (a sample with fewer columns
/// than its neighbours solves its system padded with identity rows, which leave it unchanged).
template <typename T, Index FixedBc>
void anderson_coefficients_of(const double* gram, const double* rhs, Index samples, Index depth, Index head,
                              const double* fnorm, double restart_factor, double* best, Index* used, double* coef,
                              unsigned char* kept, std::vector<double>& work) {
  // A width known when compiling (one sample, online learning) takes every loop over the samples
  // away; the arithmetic is the same.
  const Index bc = FixedBc > 0 ? FixedBc : samples;
  const Index m = depth;
  std::fill(coef, coef + m * bc, 0.0);
  work.resize(static_cast<std::size_t>((m * m + m + 3) * bc));
  double* cols = work.data();  // columns each sample solves for (0 after a restart)
  double* ok = cols + bc;
  double* diag = ok + bc;
  double* y = diag + bc;      // k x bc
  double* a = y + m * bc;     // k x k x bc
  Index k = 0;
  for (Index c = 0; c < bc; ++c) {
    const bool restart = !std::isfinite(fnorm[c]) || fnorm[c] > restart_factor * restart_factor * best[c];
    best[c] = std::min(best[c], fnorm[c]);
    cols[c] = restart ? 0.0 : static_cast<double>(used[c]);
    ok[c] = restart ? 0.0 : 1.0;
    k = std::max(k, restart ? Index{0} : used[c]);
  }
  if (k > 0) {
    for (Index c = 0; c < bc; ++c) diag[c] = 0;
    for (Index p = 0; p < k; ++p) {
      const Index sp = (head - p + m) % m;
      for (Index q = 0; q < k; ++q) {
        const Index sq = (head - q + m) % m;
        const double* g = gram + (sp * m + sq) * bc;
        double* apq = a + (p * k + q) * bc;
        const double pad = p == q ? 1.0 : 0.0;
#pragma omp simd
        for (Index c = 0; c < bc; ++c) apq[c] = static_cast<double>(p) < cols[c] && static_cast<double>(q) < cols[c] ? g[c] : pad;
      }
      const double* r = rhs + sp * bc;
      double* yp = y + p * bc;
      const double* app = a + (p * k + p) * bc;
#pragma omp simd
      for (Index c = 0; c < bc; ++c) {
        const bool in = static_cast<double>(p) < cols[c];
        yp[c] = in ? r[c] : 0.0;
        diag[c] = in ? std::max(diag[c], app[c]) : diag[c];
      }
    }
    const double eps = sizeof(T) == 4 ? 1e-7 : 1e-12;
    for (Index p = 0; p < k; ++p) {
      double* app = a + (p * k + p) * bc;
#pragma omp simd
      for (Index c = 0; c < bc; ++c) {
        if (static_cast<double>(p) < cols[c]) app[c] += diag[c] * eps + std::numeric_limits<double>::min();
      }
    }
#pragma omp simd
    for (Index c = 0; c < bc; ++c) ok[c] = ok[c] > 0 && (cols[c] == 0 || diag[c] > 0) ? 1.0 : 0.0;
    // Cholesky a = L L^T in a's lower triangle, then the two triangular solves, lane by lane.
    for (Index p = 0; p < k; ++p) {
      for (Index q = 0; q <= p; ++q) {
        double* apq = a + (p * k + q) * bc;
        for (Index t = 0; t < q; ++t) {
          const double* apt = a + (p * k + t) * bc;
          const double* aqt = a + (q * k + t) * bc;
#pragma omp simd
          for (Index c = 0; c < bc; ++c) apq[c] -= apt[c] * aqt[c];
        }
        if (p == q) {
#pragma omp simd
          for (Index c = 0; c < bc; ++c) {
            ok[c] = ok[c] > 0 && apq[c] > 0 ? 1.0 : 0.0;
            apq[c] = std::sqrt(std::max(apq[c], 0.0));
          }
        } else {
          const double* aqq = a + (q * k + q) * bc;
#pragma omp simd
          for (Index c = 0; c < bc; ++c) apq[c] = apq[c] / aqq[c];
        }
      }
    }
    for (Index p = 0; p < k; ++p) {
      double* yp = y + p * bc;
      for (Index t = 0; t < p; ++t) {
        const double* apt = a + (p * k + t) * bc;
        const double* yt = y + t * bc;
#pragma omp simd
        for (Index c = 0; c < bc; ++c) yp[c] -= apt[c] * yt[c];
      }
      const double* app = a + (p * k + p) * bc;
#pragma omp simd
      for (Index c = 0; c < bc; ++c) yp[c] = yp[c] / app[c];
    }
    for (Index p = k - 1; p >= 0; --p) {
      double* yp = y + p * bc;
      for (Index t = p + 1; t < k; ++t) {
        const double* atp = a + (t * k + p) * bc;
        const double* yt = y + t * bc;
#pragma omp simd
        for (Index c = 0; c < bc; ++c) yp[c] -= atp[c] * yt[c];
      }
      const double* app = a + (p * k + p) * bc;
#pragma omp simd
      for (Index c = 0; c < bc; ++c) yp[c] = yp[c] / app[c];
    }
    for (Index p = 0; p < k; ++p) {
      const double* yp = y + p * bc;
      double* cp = coef + ((head - p + m) % m) * bc;
      for (Index c = 0; c < bc; ++c) {
        if (static_cast<double>(p) >= cols[c]) continue;
        if (!std::isfinite(yp[c])) ok[c] = 0;
        cp[c] = yp[c];
      }
    }
  }
  for (Index c = 0; c < bc; ++c) {
    kept[c] = ok[c] > 0 ? 1 : 0;
    if (!kept[c]) {
      for (Index j = 0; j < m; ++j) coef[j * bc + c] = 0.0;
      used[c] = 0;
      best[c] = std::numeric_limits<double>::infinity();
    }
  }
}

template <typename T>
void anderson_coefficients(const double* gram, const double* rhs, Index bc, Index depth, Index head,
                           const double* fnorm, double restart_factor, double* best, Index* used, double* coef,
                           unsigned char* kept, std::vector<double>& work) {
  if (bc == 1) {
    anderson_coefficients_of<T, 1>(gram, rhs, bc, depth, head, fnorm, restart_factor, best, used, coef, kept, work);
  } else {
    anderson_coefficients_of<T, 0>(gram, rhs, bc, depth, head, fnorm, restart_factor, best, used, coef, kept, work);
  }
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

/// Completes one neuron's row of the newest history slot with the new residual f (bc samples):
/// the slot holds dF = -f_{k-1} and dG = dX - beta f_{k-1} (anderson_row_update), so adding f_k
/// gives dF = f_k - f_{k-1} and dG = dX + beta dF.
template <typename T>
inline void complete_history_row(const T* __restrict f, T beta, Index bc, T* __restrict df, T* __restrict dg) {
#pragma omp simd
  for (Index b = 0; b < bc; ++b) {
    df[b] += f[b];
    dg[b] += beta * f[b];
  }
}

/// d[b] -= c[b] g[b] for b < n. A function of its own: inlined into anderson_row_update's loop over
/// history slots, GCC 12 loaded the second slot's row by vector gathers (a fifth of the site
/// solver's time); here every operand is a plain contiguous stream.
template <typename T>
inline void subtract_products(const T* __restrict c, const T* __restrict g, Index n, T* __restrict d) {
#pragma omp simd
  for (Index b = 0; b < n; ++b) d[b] -= c[b] * g[b];
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
  for (Index j = 0; j < ns; ++j) subtract_products(coef + j * bc, dg[j], bc, d);
#pragma omp simd
  for (Index b = 0; b < bc; ++b) {
    dg_new[b] = d[b] - beta * f[b];
    df_new[b] = -f[b];
    u[b] += d[b];
  }
}

}  // namespace simmatch::detail
