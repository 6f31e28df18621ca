// Per-site Newton solver of eq. 15 for block-diagonal lateral structure (see block_newton.hpp).
// No fused multiply-add contraction, as in the other kernels: a sample's result must not depend
// on the batch it comes in (sharded runs reproduce a single process bit for bit). Every sample
// is solved on its own after the batched drive, so that holds by construction here.
#if defined(__clang__)
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif
#include "core/block_newton.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <omp.h>
#include <vector>

#include "core/batch_kernel.hpp"
#include "core/batch_solver.hpp"

namespace simmatch::detail {
namespace {

// One layer's view: dense per-site blocks of L (row-major k x k, zeros where no synapse).
template <typename T>
struct BlockLayer {
  kernels::CsrView<T> w;
  Index n = 0;
  Index k = 0;
  Index sites = 0;
  std::vector<T> lb;
  Activation act = Activation::linear();
};

template <typename T>
BlockLayer<T> block_layer(const Layer<T>& layer) {
  BlockLayer<T> b;
  b.w = kernels::view_of(layer.W());
  b.n = layer.size();
  b.k = layer.grid().channels;
  b.sites = b.n / b.k;
  b.act = layer.activation();
  b.lb.assign(static_cast<std::size_t>(b.n * b.k), T(0));
  const auto& l = layer.L();
  for (Index i = 0; i < b.n; ++i) {
    const Index s = i / b.k;
    for (int e = l.outerIndexPtr()[i]; e < l.outerIndexPtr()[i + 1]; ++e) {
      b.lb[static_cast<std::size_t>((s * b.k + i % b.k) * b.k + (l.innerIndexPtr()[e] - s * b.k))] = l.valuePtr()[e];
    }
  }
  return b;
}

// f'(u) given u and r = f(u) (sub-gradient 0 at the kinks, as Activation::derivative).
template <typename T>
double slope(const Activation& a, T u, T r) {
  switch (a.kind()) {
    case ActivationKind::linear: return 1.0;
    case ActivationKind::tanh: return a.gain() * (1.0 - static_cast<double>(r) * static_cast<double>(r));
    case ActivationKind::relu: return u > T(0) ? 1.0 : 0.0;
    case ActivationKind::clipped_relu: return u > T(0) && static_cast<double>(u) < a.clip() ? 1.0 : 0.0;
  }
  return 1.0;
}

// Solves a x = b in place (a: k x k row-major, overwritten) by LU with partial pivoting;
// false when a pivot vanishes or the solution is not finite. K > 0 fixes k at compile time
// (the common site sizes), so the loops unroll: the solve dominated the 4-per-site profile.
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

// Work space of one thread for one sample of one layer (sized once per chunk).
template <typename T>
struct SampleNewton {
  std::vector<T> r, g, uold, du;
  std::vector<double> fold, lam, sres, suu;
  std::vector<unsigned char> has_old;
  std::vector<double> jac, rhs, fp;  // one site's Newton system (k x k, k, k)

  void size(Index n, Index sites) {
    const Index k = n / sites;
    jac.resize(static_cast<std::size_t>(k * k));
    rhs.resize(static_cast<std::size_t>(k));
    fp.resize(static_cast<std::size_t>(k));
    r.resize(static_cast<std::size_t>(n));
    g.resize(static_cast<std::size_t>(n));
    uold.resize(static_cast<std::size_t>(n));
    du.resize(static_cast<std::size_t>(n));
    fold.resize(static_cast<std::size_t>(sites));
    lam.resize(static_cast<std::size_t>(sites));
    sres.resize(static_cast<std::size_t>(sites));
    suu.resize(static_cast<std::size_t>(sites));
    has_old.resize(static_cast<std::size_t>(sites));
  }

  // Newton iterations for one sample: u (n values, in/out, the starting point) with drive d.
  // Returns the layer-input evaluations used; `ok` tells whether the stopping test was met.
  template <Index K>
  int run(const BlockLayer<T>& b, const T* d, T* u, T* rout, const SolverOptions& opt, bool& ok) {
    const Index k = K > 0 ? K : b.k;
    const double tol2 = opt.tolerance * opt.tolerance;
    std::fill(has_old.begin(), has_old.end(), 0);
    ok = false;
    int it = 0;
    while (it < opt.max_steps) {
      ++it;
      b.act.apply(u, r.data(), b.n);
      double res_all = 0, uu_all = 0;
      // Layer input of eq. 15 per site, g_s = d_s - (L_s - I) r_s, and the stopping test's terms:
      // the residual of eq. 15, ||g - u||^2 against ||u||^2, as every solver (dynamics.hpp).
      for (Index s = 0; s < b.sites; ++s) {
        const T* ls = b.lb.data() + s * k * k;
        const Index o = s * k;
        double res = 0, uu = 0;
        for (Index i = 0; i < k; ++i) {
          T acc = 0;
          for (Index j = 0; j < k; ++j) acc += ls[i * k + j] * r[o + j];
          const T gi = d[o + i] + r[o + i] - acc;
          g[o + i] = gi;
          const double e = static_cast<double>(gi - u[o + i]);
          res += e * e;
          uu += static_cast<double>(u[o + i]) * static_cast<double>(u[o + i]);
        }
        sres[static_cast<std::size_t>(s)] = res;
        suu[static_cast<std::size_t>(s)] = uu;
        res_all += res;
        uu_all += uu;
      }
      if (res_all <= tol2 * uu_all) {
        ok = true;
        break;
      }
      if (it == opt.max_steps) break;
      // One safeguarded Newton step per site on F(u) = u - g(u):
      //   (I + (L_s - I) diag(f'(u_s))) du_s = -F_s          (Jacobian of F, eq. 15)
      // Sites already 10x inside the tolerance stay put. A step that does not reduce ||F_s||
      // is halved (from the same start) up to 6 times, then replaced by a damped iteration step
      // u_s += step_min (g_s - u_s), the reference Euler step.
      for (Index s = 0; s < b.sites; ++s) {
        const Index o = s * k;
        const T* ls = b.lb.data() + s * k * k;
        const auto ss = static_cast<std::size_t>(s);
        if (sres[ss] <= 0.01 * tol2 * suu[ss]) continue;
        double fn = 0;
        for (Index i = 0; i < k; ++i) {
          const double f = static_cast<double>(u[o + i] - g[o + i]);
          fn += f * f;
        }
        if (has_old[ss] && !(fn < fold[ss])) {
          if (lam[ss] > 1.0 / 64) {
            lam[ss] *= 0.5;
            const T lm = static_cast<T>(lam[ss]);
            for (Index i = 0; i < k; ++i) u[o + i] = uold[o + i] + lm * du[o + i];
            continue;
          }
          has_old[ss] = 0;
          const T h = static_cast<T>(opt.step_min);
          for (Index i = 0; i < k; ++i) u[o + i] += h * (g[o + i] - u[o + i]);
          continue;
        }
        for (Index j = 0; j < k; ++j) fp[j] = slope(b.act, u[o + j], r[o + j]);
        for (Index i = 0; i < k; ++i) {
          for (Index j = 0; j < k; ++j) {
            const double lij = static_cast<double>(ls[i * k + j]) - (i == j ? 1.0 : 0.0);
            jac[i * k + j] = (i == j ? 1.0 : 0.0) + lij * fp[j];
          }
          rhs[i] = static_cast<double>(g[o + i] - u[o + i]);
        }
        if (!lu_solve<K>(jac.data(), rhs.data(), k)) {
          has_old[ss] = 0;
          const T h = static_cast<T>(opt.step_min);
          for (Index i = 0; i < k; ++i) u[o + i] += h * (g[o + i] - u[o + i]);
          continue;
        }
        has_old[ss] = 1;
        fold[ss] = fn;
        lam[ss] = 1.0;
        for (Index i = 0; i < k; ++i) {
          uold[o + i] = u[o + i];
          du[o + i] = static_cast<T>(rhs[i]);
          u[o + i] += du[o + i];
        }
      }
    }
    std::copy(r.begin(), r.end(), rout);
    return it;
  }
};

}  // namespace

template <typename T>
bool lateral_block_diagonal(const SparseWeights<T>& l, Index k, Index max_site) {
  if (k < 1 || k > max_site || l.rows() != l.cols() || l.rows() % k != 0) return false;
  const int* rp = l.outerIndexPtr();
  const int* col = l.innerIndexPtr();
  for (Index i = 0; i < l.rows(); ++i) {
    const Index lo = i - i % k;
    for (int e = rp[i]; e < rp[i + 1]; ++e) {
      if (col[e] < lo || col[e] >= lo + k) return false;
    }
  }
  return true;
}

template <typename T>
bool newton_blocks_apply(const Network<T>& network, Index max_site) {
  if (network.num_layers() > 1 && network.gamma() != 0.0) return false;
  for (Index p = 0; p < network.num_layers(); ++p) {
    const auto& layer = network.layer(p);
    // Newton needs a smooth map: at the kinks of the ReLUs the Jacobian jumps, and in the -O1
    // sanitizer build the ReLU cases reached a point 45-58 % away from Euler's. Those networks
    // take the Anderson path, which is equivalent for every activation.
    const ActivationKind kind = layer.activation().kind();
    if (kind != ActivationKind::tanh && kind != ActivationKind::linear) return false;
    if (!lateral_block_diagonal(layer.L(), layer.grid().channels, max_site)) return false;
  }
  return true;
}

template <typename T>
void solve_block_newton(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state,
                        const SolverOptions& options) {
  const Index batch = x.cols();
  if (batch == 0) return;
  const auto P = static_cast<std::size_t>(network.num_layers());
  std::vector<BlockLayer<T>> layers;
  for (std::size_t p = 0; p < P; ++p) layers.push_back(block_layer(network.layer(static_cast<Index>(p))));
  for_each_chunk(batch, [&](Index first, Index bc) {
    // Activities below the current layer, neuron-major (the batched drive's layout).
    std::vector<T> below(static_cast<std::size_t>(x.rows() * bc));
    kernels::to_neuron_major(x.data() + first * x.outerStride(), x.rows(), bc, x.outerStride(), below.data());
    std::vector<T> dnm, dsm;
    SampleNewton<T> work;
    for (Index b = first; b < first + bc; ++b) {
      state.iterations[static_cast<std::size_t>(b)] = 0;
      state.converged[static_cast<std::size_t>(b)] = 1;
    }
    for (std::size_t p = 0; p < P; ++p) {
      const BlockLayer<T>& bl = layers[p];
      // The drive W^(p) r^(p-1), once per sample and layer (fixed: nothing above feeds back).
      dnm.resize(static_cast<std::size_t>(bl.n * bc));
      kernels::csr_times_batch(bl.w, below.data(), dnm.data(), bc, T(1), T(0));
      dsm.resize(dnm.size());
      kernels::to_neuron_major(dnm.data(), bc, bl.n, bc, dsm.data());  // sample-major
      work.size(bl.n, bl.sites);
      for (Index j = 0; j < bc; ++j) {
        const Index b = first + j;
        bool ok = false;
        const T* dj = dsm.data() + j * bl.n;
        T* uj = state.u[p].col(b).data();
        T* rj = state.r[p].col(b).data();
        const int it = bl.k == 4    ? work.template run<4>(bl, dj, uj, rj, options, ok)
                       : bl.k == 8  ? work.template run<8>(bl, dj, uj, rj, options, ok)
                       : bl.k == 16 ? work.template run<16>(bl, dj, uj, rj, options, ok)
                                    : work.template run<0>(bl, dj, uj, rj, options, ok);
        auto& iters = state.iterations[static_cast<std::size_t>(b)];
        iters = std::max(iters, it);
        if (!ok) state.converged[static_cast<std::size_t>(b)] = 0;
      }
      if (p + 1 < P) {
        below.resize(static_cast<std::size_t>(bl.n * bc));
        const auto& rp = state.r[p];
        kernels::to_neuron_major(rp.data() + first * rp.outerStride(), bl.n, bc, rp.outerStride(), below.data());
      }
    }
  });
}

template bool lateral_block_diagonal<float>(const SparseWeights<float>&, Index, Index);
template bool lateral_block_diagonal<double>(const SparseWeights<double>&, Index, Index);
template bool newton_blocks_apply<float>(const Network<float>&, Index);
template bool newton_blocks_apply<double>(const Network<double>&, Index);
template void solve_block_newton<float>(const Network<float>&, ConstMatrixRef<float>, FixedPoints<float>&,
                                        const SolverOptions&);
template void solve_block_newton<double>(const Network<double>&, ConstMatrixRef<double>, FixedPoints<double>&,
                                         const SolverOptions&);

}  // namespace simmatch::detail
