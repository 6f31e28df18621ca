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
#include <type_traits>
#include <vector>

#include "core/batch_kernel.hpp"
#include "core/batch_solver.hpp"
#include "core/small_dense_solve.hpp"

namespace simmatch::detail {
namespace {

// One layer's view: dense per-site blocks of L in double, transposed (lt[(s k + j) k + i] =
// L(s k + i, s k + j), zeros where no synapse), so that L_s r_s is a sum of columns.
template <typename T>
struct BlockLayer {
  kernels::CsrView<T> w;
  Index n = 0;
  Index k = 0;
  Index sites = 0;
  std::vector<double> lt;
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
  b.lt.assign(static_cast<std::size_t>(b.n * b.k), 0.0);
  const auto& l = layer.L();
  for (Index i = 0; i < b.n; ++i) {
    const Index s = i / b.k;
    for (int e = l.outerIndexPtr()[i]; e < l.outerIndexPtr()[i + 1]; ++e) {
      const Index j = l.innerIndexPtr()[e] - s * b.k;
      b.lt[static_cast<std::size_t>((s * b.k + j) * b.k + i % b.k)] = static_cast<double>(l.valuePtr()[e]);
    }
  }
  return b;
}

// f'(u) given u and r = f(u) (sub-gradient 0 at the kinks, as Activation::derivative), for n
// neurons.
void slopes(const Activation& a, const double* u, const double* r, double* fp, Index n) {
  switch (a.kind()) {
    case ActivationKind::linear:
      for (Index i = 0; i < n; ++i) fp[i] = 1.0;
      return;
    case ActivationKind::tanh:
      for (Index i = 0; i < n; ++i) fp[i] = a.gain() * (1.0 - r[i] * r[i]);
      return;
    case ActivationKind::relu:
      for (Index i = 0; i < n; ++i) fp[i] = u[i] > 0 ? 1.0 : 0.0;
      return;
    case ActivationKind::clipped_relu:
      for (Index i = 0; i < n; ++i) fp[i] = u[i] > 0 && u[i] < a.clip() ? 1.0 : 0.0;
      return;
  }
}

// f in double for the Newton path. Eigen vectorises exp in double but not tanh, and tanh(x) =
// 1 - 2 / (exp(2x) + 1) is within a few units of 1e-16 absolute (exp overflowing to inf gives 1).
void apply_in_double(const Activation& a, const double* u, double* r, Index n) {
  if (a.kind() != ActivationKind::tanh) {
    a.apply(u, r, n);
    return;
  }
  Eigen::Map<const Eigen::ArrayXd> in(u, n);
  Eigen::Map<Eigen::ArrayXd> out(r, n);
  out = 1.0 - 2.0 / ((in * (2.0 * a.gain())).exp() + 1.0);
}

// Newton steps taken after the residual test holds, at most (each but the last costs a layer-input
// evaluation); Newton's quadratic convergence needs one or two.
constexpr int kPolishSteps = 4;

// Work space of one thread for one sample of one layer (sized once per chunk). The iteration
// runs in double whatever T is: the residual a float32 evaluation can resolve (~1e-7) is, on a
// trained layer whose L has eigenvalues near 0 (measured 4e-5), amplified up to ~2,500 times
// into the activities, so the final steps need the extra digits. Until the residual test holds
// a float32 model evaluates f in float32 (Eigen vectorises float tanh, not double: the double
// f tripled the reference layer's time per sample); the steps after it evaluate f in double.
template <typename T>
struct SampleNewton {
  // u and r (and their float32 copies) are aligned to Eigen's packets: the vectorised f then has
  // no scalar head whose length depends on where the buffer lies, so a sample's result does not
  // depend on the thread or batch that solves it.
  template <typename V>
  using Aligned = std::vector<V, Eigen::aligned_allocator<V>>;
  Aligned<double> u, r;
  std::vector<double> g, uold, du;
  Aligned<float> uf, rf;  // f in float32 for a float32 model, before the residual test holds
  std::vector<double> fold, lam, sres, suu;
  std::vector<unsigned char> has_old;
  std::vector<double> fp;  // f'(u) at the last evaluation

  void size(Index n, Index sites) {
    fp.resize(static_cast<std::size_t>(n));
    u.resize(static_cast<std::size_t>(n));
    r.resize(static_cast<std::size_t>(n));
    for (auto* v : {&g, &uold, &du}) v->resize(static_cast<std::size_t>(n));
    if constexpr (std::is_same_v<T, float>) {
      uf.resize(static_cast<std::size_t>(n));
      rf.resize(static_cast<std::size_t>(n));
    }
    for (auto* v : {&fold, &lam, &sres, &suu}) v->resize(static_cast<std::size_t>(sites));
    has_old.resize(static_cast<std::size_t>(sites));
  }

  // Layer input of eq. 15 per site, g_s = d_s - (L_s - I) r_s at the current u, and the terms of
  // the stopping test, the residual ||g - u||^2 against ||u||^2 (as every solver, dynamics.hpp).
  template <Index K>
  bool evaluate(const BlockLayer<T>& b, const T* d, double tol2, bool in_double) {
    const Index k = K > 0 ? K : b.k;
    if (std::is_same_v<T, float> && !in_double) {
      for (Index i = 0; i < b.n; ++i) uf[i] = static_cast<float>(u[i]);
      b.act.apply(uf.data(), rf.data(), b.n);
      for (Index i = 0; i < b.n; ++i) r[i] = static_cast<double>(rf[i]);
    } else {
      apply_in_double(b.act, u.data(), r.data(), b.n);
    }
    slopes(b.act, u.data(), r.data(), fp.data(), b.n);
    double res_all = 0, uu_all = 0;
    for (Index s = 0; s < b.sites; ++s) {
      const double* lts = b.lt.data() + s * k * k;
      const Index o = s * k;
      double* go = g.data() + o;
      for (Index i = 0; i < k; ++i) go[i] = 0;
      for (Index j = 0; j < k; ++j) {
        const double rj = r[o + j];
        for (Index i = 0; i < k; ++i) go[i] += lts[j * k + i] * rj;
      }
      double res = 0, uu = 0;
      for (Index i = 0; i < k; ++i) {
        go[i] = static_cast<double>(d[o + i]) + r[o + i] - go[i];
        const double e = go[i] - u[o + i];
        res += e * e;
        uu += u[o + i] * u[o + i];
      }
      sres[static_cast<std::size_t>(s)] = res;
      suu[static_cast<std::size_t>(s)] = uu;
      res_all += res;
      uu_all += uu;
    }
    return res_all <= tol2 * uu_all;
  }

  // Newton systems of several sites are solved together, one site per lane of lu_solve_lanes
  // (fixed site sizes; a dynamic size solves one site at a time, where lane layout is row-major).
  static constexpr int kLanes = 8;
  template <Index K>
  static constexpr int lanes() {
    return K > 0 ? kLanes : 1;
  }
  Aligned<double> lane_a, lane_b;  // k x k and k per lane, lane-minor (lu_solve_lanes)
  Index lane_site[kLanes] = {};
  bool lane_ok[kLanes] = {};
  int queued = 0;

  // Queues the Newton step of site s, (I + (L_s - I) diag(f'(u_s))) du_s = g_s - u_s (the
  // Jacobian of u - g(u), eq. 15), as the next lane.
  template <Index K>
  void queue_newton_step(const BlockLayer<T>& b, Index s) {
    const Index k = K > 0 ? K : b.k;
    constexpr int W = lanes<K>();
    const int l = queued++;
    const Index o = s * k;
    const double* lts = b.lt.data() + s * k * k;
    for (Index i = 0; i < k; ++i) {
      for (Index j = 0; j < k; ++j) {
        const double lij = lts[j * k + i] - (i == j ? 1.0 : 0.0);
        lane_a[(i * k + j) * W + l] = (i == j ? 1.0 : 0.0) + lij * fp[o + j];
      }
      lane_b[i * W + l] = g[o + i] - u[o + i];
    }
    lane_site[l] = s;
  }

  // Solves the queued steps and hands each to take(site, solved, du) in queue order, du[i * W]
  // being the step of the site's neuron i; unused lanes solve the identity.
  template <Index K, typename Take>
  void solve_queued(const BlockLayer<T>& b, Take&& take) {
    if (queued == 0) return;
    constexpr int W = lanes<K>();
    if constexpr (K == 0) {
      lane_ok[0] = lu_solve<0>(lane_a.data(), lane_b.data(), b.k);
    } else {
      for (int l = queued; l < W; ++l) {
        for (Index i = 0; i < K; ++i) {
          for (Index j = 0; j < K; ++j) lane_a[(i * K + j) * W + l] = i == j ? 1.0 : 0.0;
          lane_b[i * W + l] = 0;
        }
      }
      lu_solve_lanes<K, W>(lane_a.data(), lane_b.data(), lane_ok);
    }
    for (int l = 0; l < queued; ++l) take(lane_site[l], lane_ok[l], lane_b.data() + l);
    queued = 0;
  }

  // Newton iterations for one sample: u_io (n values, in/out, the starting point) with drive d.
  // Returns the layer-input evaluations used; `ok` tells whether the stopping test was met.
  template <Index K>
  int run(const BlockLayer<T>& b, const T* d, T* u_io, T* rout, const SolverOptions& opt, bool& ok) {
    const Index k = K > 0 ? K : b.k;
    constexpr int W = lanes<K>();
    lane_a.resize(static_cast<std::size_t>(k * k * W));
    lane_b.resize(static_cast<std::size_t>(k * W));
    queued = 0;
    const double tol2 = opt.tolerance * opt.tolerance;
    for (Index i = 0; i < b.n; ++i) u[i] = static_cast<double>(u_io[i]);
    std::fill(has_old.begin(), has_old.end(), 0);
    ok = false;
    int it = 0;
    while (it < opt.max_steps) {
      ++it;
      if (evaluate<K>(b, d, tol2, false)) {
        ok = true;
        break;
      }
      if (it == opt.max_steps) break;
      // One safeguarded Newton step per site. Sites already within half the tolerance stay put:
      // the steps after the residual test (below) bound the error, not this loop, and a site at
      // the float32 evaluation's resolution gains nothing from further steps here (0.25 instead of
      // 0.01 in squared terms: 18 % fewer site solves, ~10 % faster encoding).
      // A step that does not reduce ||F_s|| is halved (from the same start) up to 6 times, then
      // replaced by a damped iteration step u_s += step_min (g_s - u_s), the reference Euler step.
      auto take_step = [&](Index s, bool solved, const double* step) {
        const Index o = s * k;
        const auto ss = static_cast<std::size_t>(s);
        if (!solved) {
          has_old[ss] = 0;
          for (Index i = 0; i < k; ++i) u[o + i] += opt.step_min * (g[o + i] - u[o + i]);
          return;
        }
        has_old[ss] = 1;
        lam[ss] = 1.0;
        for (Index i = 0; i < k; ++i) {
          uold[o + i] = u[o + i];
          du[o + i] = step[i * W];
          u[o + i] += du[o + i];
        }
      };
      for (Index s = 0; s < b.sites; ++s) {
        const Index o = s * k;
        const auto ss = static_cast<std::size_t>(s);
        if (sres[ss] <= 0.25 * tol2 * suu[ss]) continue;
        double fn = 0;
        for (Index i = 0; i < k; ++i) fn += (u[o + i] - g[o + i]) * (u[o + i] - g[o + i]);
        const bool backtrack = has_old[ss] && !(fn < fold[ss]);
        if (backtrack && lam[ss] > 1.0 / 64) {
          lam[ss] *= 0.5;
          for (Index i = 0; i < k; ++i) u[o + i] = uold[o + i] + lam[ss] * du[o + i];
          continue;
        }
        if (backtrack) {
          take_step(s, false, nullptr);
          continue;
        }
        fold[ss] = fn;  // read only once the step is taken (has_old)
        queue_newton_step<K>(b, s);
        if (queued == W) solve_queued<K>(b, take_step);
      }
      solve_queued<K>(b, take_step);
    }
    // Once the residual test holds, Newton steps on every site until the step itself is within the
    // tolerance of ||u||: the residual bounds the distance to the fixed point only through the
    // inverse Jacobian, which an ill-conditioned site makes large (a trained Fashion-MNIST
    // reference layer: 7.6e-4 from the exact fixed point at residual 3e-7), while the Newton step
    // is that distance to first order (docs/performance.md#fidelity).
    if (ok && std::is_same_v<T, float> && it < opt.max_steps) {
      ++it;
      evaluate<K>(b, d, tol2, true);  // g in double at the accepted state, for the steps below
    }
    for (int polish = 0; ok && polish < kPolishSteps; ++polish) {
      double step2 = 0, uu = 0;
      auto take_polish = [&](Index s, bool solved, const double* step) {
        if (!solved) return;
        for (Index i = 0; i < k; ++i) {
          u[s * k + i] += step[i * W];
          step2 += step[i * W] * step[i * W];
        }
      };
      for (Index s = 0; s < b.sites; ++s) {
        queue_newton_step<K>(b, s);
        if (queued == W) solve_queued<K>(b, take_polish);
      }
      solve_queued<K>(b, take_polish);
      for (Index i = 0; i < b.n; ++i) uu += u[i] * u[i];
      if (step2 <= tol2 * uu || it >= opt.max_steps) break;
      ++it;
      evaluate<K>(b, d, tol2, true);
    }
    if (ok) apply_in_double(b.act, u.data(), r.data(), b.n);
    for (Index i = 0; i < b.n; ++i) {
      u_io[i] = static_cast<T>(u[i]);
      rout[i] = static_cast<T>(r[i]);
    }
    return it;
  }
};

}  // namespace

template <typename T>
bool lateral_block_diagonal(const SparseWeights<T>& l, Index k, Index max_site) {
  if (k < 1 || k > max_site || l.rows() != l.cols() || l.rows() % k != 0) return false;
  const int* rp = l.outerIndexPtr();
  const int* col = l.innerIndexPtr();
  // Eigen keeps a row's column indices sorted (its coeff() searches them by bisection), so the
  // first and last entries bound the row: a check per row instead of per synapse, run per solve.
  for (Index i = 0; i < l.rows(); ++i) {
    if (rp[i] == rp[i + 1]) continue;
    const Index lo = i - i % k;
    if (col[rp[i]] < lo || col[rp[i + 1] - 1] >= lo + k) return false;
  }
  return true;
}

template <typename T>
bool newton_blocks_apply(const Network<T>& network, Index max_site) {
  if (network.num_layers() > 1 && network.gamma() != 0.0) return false;
  for (Index p = 0; p < network.num_layers(); ++p) {
    const auto& layer = network.layer(p);
    if (!layer.site_layout().lateral_block_diagonal || layer.grid().channels > max_site) return false;
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
    // A nudged network's top layer gains beta z: the input's rows after the first K.
    const Index top_rows = network.top_drive_rows();
    const std::vector<T> top(below.begin() + network.input_size() * bc, below.end());
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
      if (p + 1 == P && top_rows > 0) {
        for (std::size_t e = 0; e < dnm.size(); ++e) dnm[e] += top[e];
      }
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
