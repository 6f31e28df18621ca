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
#include <numeric>
#include <omp.h>
#include <type_traits>
#include <vector>

#include "core/batch_kernel.hpp"
#include "core/batch_solver.hpp"
#include "core/residual_test.hpp"
#include "core/small_dense_solve.hpp"

namespace simmatch::detail {
namespace {

// One layer's view: dense per-site blocks of L in double, transposed (lt[(s k + j) k + i] =
// L(s k + i, s k + j), zeros where no synapse), so that L_s r_s is a sum of columns. Where every
// site stores the same block (a conv2d layer's tied L) lt holds it once: its copy for every site
// was 1.6 MB written per solve and read per evaluation on a 16-filter layer.
template <typename T>
struct BlockLayer {
  kernels::CsrView<T> w;
  Index n = 0;
  Index k = 0;
  Index sites = 0;
  std::vector<double> lt;
  Index block_stride = 0;  // k * k, or 0 where the sites share one block
  Activation act = Activation::linear();

  const double* block(Index s) const { return lt.data() + s * block_stride; }
};

// `shared`: every site of L stores the same full k x k block (HessianWorkspace's verdict).
template <typename T>
BlockLayer<T> block_layer(const Layer<T>& layer, bool shared) {
  BlockLayer<T> b;
  b.w = kernels::view_of(layer.W());
  b.n = layer.size();
  b.k = layer.grid().channels;
  b.sites = b.n / b.k;
  b.act = layer.activation();
  b.block_stride = shared ? 0 : b.k * b.k;
  const Index copied = shared ? std::min(b.k, b.n) : b.n;
  b.lt.assign(static_cast<std::size_t>(copied * b.k), 0.0);
  const auto& l = layer.L();
  for (Index i = 0; i < copied; ++i) {
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

// The threads that share one sample's sites. A batch of one (online learning) is one chunk, and
// per-site Newton left every thread but one idle (a 16-filter conv2d layer: the other thread spun
// for 39 % of the CPU samples). Thread `index` of `count` (of()) owns the sites [first, last): whole
// groups of sites spanning a multiple of 16 neurons, so that f, applied to each owner's neurons
// in one call, gives every neuron the bits of one call over the layer: Eigen's packets (at most
// 16 floats or 8 doubles, from an aligned start) then fall on the same neurons, and its scalar
// tail on the layer's last (the test PerSiteNewtonOfOneSampleGivesTheBitsOfOneThread fails
// with groups of one site).
struct SiteTeam {
  int count = 1;
  Index first = 0;
  Index last = 0;

  static SiteTeam of(int index, int count, Index sites, Index k) {
    const Index group = 16 / std::gcd(k, Index{16});
    const Index groups = (sites + group - 1) / group;
    SiteTeam team{count, 0, 0};
    team.first = std::min(sites, groups * index / count * group);
    team.last = std::min(sites, groups * (index + 1) / count * group);
    return team;
  }
  // Every thread of the team waits here (all reach the same calls: their decisions are taken
  // from the same shared sums).
  void sync() const {
    if (count > 1) {
#pragma omp barrier
    }
  }
};

// Newton systems of several sites, solved together one site per lane of lu_solve_lanes (fixed
// site sizes; a dynamic size solves one site at a time, where lane layout is row-major). One per
// thread; a lane's result depends on its own system alone, so which sites share a call does not
// change any site's step.
template <Index K>
struct NewtonLanes {
  static constexpr int kWidth = K > 0 ? 8 : 1;
  std::vector<double, Eigen::aligned_allocator<double>> a, b;  // k x k and k per lane, lane-minor
  Index site[kWidth] = {};
  bool ok[kWidth] = {};
  int queued = 0;

  void size(Index k) {
    a.resize(static_cast<std::size_t>(k * k * kWidth));
    b.resize(static_cast<std::size_t>(k * kWidth));
    queued = 0;
  }
  bool full() const { return queued == kWidth; }

  // Queues the Newton step of site s, (I + (L_s - I) diag(f'(u_s))) du_s = g_s - u_s (the
  // Jacobian of u - g(u), eq. 15), at the work space's current state, as the next lane.
  template <typename Layer, typename Work>
  void queue(const Layer& bl, const Work& w, Index s) {
    const Index k = K > 0 ? K : bl.k;
    constexpr int W = kWidth;
    const int l = queued++;
    const Index o = s * k;
    const double* lts = bl.block(s);
    for (Index i = 0; i < k; ++i) {
      for (Index j = 0; j < k; ++j) {
        const double lij = lts[j * k + i] - (i == j ? 1.0 : 0.0);
        a[static_cast<std::size_t>((i * k + j) * W + l)] = (i == j ? 1.0 : 0.0) + lij * w.fp[static_cast<std::size_t>(o + j)];
      }
      b[static_cast<std::size_t>(i * W + l)] = w.g[static_cast<std::size_t>(o + i)] - w.u[static_cast<std::size_t>(o + i)];
    }
    site[l] = s;
  }

  // Solves the queued steps and hands each to take(site, solved, du) in queue order, du[i * W]
  // being the step of the site's neuron i; unused lanes solve the identity.
  template <typename Layer, typename Take>
  void solve(const Layer& bl, Take&& take) {
    if (queued == 0) return;
    constexpr int W = kWidth;
    if constexpr (K == 0) {
      ok[0] = lu_solve<0>(a.data(), b.data(), bl.k);
    } else {
      for (int l = queued; l < W; ++l) {
        for (Index i = 0; i < K; ++i) {
          for (Index j = 0; j < K; ++j) a[static_cast<std::size_t>((i * K + j) * W + l)] = i == j ? 1.0 : 0.0;
          b[static_cast<std::size_t>(i * W + l)] = 0;
        }
      }
      lu_solve_lanes<K, W>(a.data(), b.data(), ok);
    }
    for (int l = 0; l < queued; ++l) take(site[l], ok[l], b.data() + l);
    queued = 0;
  }
};

// Work space for one sample of one layer (sized once per chunk), shared by the threads of a
// SiteTeam, each writing its own sites' entries only. The iteration
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
  std::vector<unsigned char> has_old, stepped;
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
    stepped.resize(static_cast<std::size_t>(sites));
  }

  // Layer input of eq. 15 per site, g_s = d_s - (L_s - I) r_s at the current u, and the terms of
  // the stopping test, the residual ||g - u||^2 against ||u||^2 (as every solver, dynamics.hpp),
  // for the team's sites; the test itself sums every site's terms in site order, on every thread.
  template <Index K>
  bool evaluate(const BlockLayer<T>& b, const T* d, double tol2, bool in_double, const SiteTeam& team) {
    const Index k = K > 0 ? K : b.k;
    const Index n0 = team.first * k, n = (team.last - team.first) * k;
    if (std::is_same_v<T, float> && !in_double) {
      for (Index i = n0; i < n0 + n; ++i) uf[i] = static_cast<float>(u[i]);
      b.act.apply(uf.data() + n0, rf.data() + n0, n);
      for (Index i = n0; i < n0 + n; ++i) r[i] = static_cast<double>(rf[i]);
    } else {
      apply_in_double(b.act, u.data() + n0, r.data() + n0, n);
    }
    slopes(b.act, u.data() + n0, r.data() + n0, fp.data() + n0, n);
    for (Index s = team.first; s < team.last; ++s) {
      const double* lts = b.block(s);
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
    }
    team.sync();
    double res_all = 0, uu_all = 0;
    for (Index s = 0; s < b.sites; ++s) {
      res_all += sres[static_cast<std::size_t>(s)];
      uu_all += suu[static_cast<std::size_t>(s)];
    }
    team.sync();  // every thread has read the terms before any overwrites them
    return residual_within(res_all, uu_all, tol2);
  }

  // Newton iterations for one sample: u_io (n values, in/out, the starting point) with drive d,
  // on the team's sites. Returns the layer-input evaluations used; `ok` tells whether the
  // stopping test was met.
  template <Index K>
  int run(const BlockLayer<T>& b, const T* d, T* u_io, T* rout, const SolverOptions& opt, bool& ok,
          const SiteTeam& team, NewtonLanes<K>& lanes) {
    const Index k = K > 0 ? K : b.k;
    constexpr int W = NewtonLanes<K>::kWidth;
    const Index n0 = team.first * k, n1 = team.last * k;
    const double tol2 = opt.tolerance * opt.tolerance;
    for (Index i = n0; i < n1; ++i) u[i] = static_cast<double>(u_io[i]);
    std::fill(has_old.begin() + team.first, has_old.begin() + team.last, 0);
    ok = false;
    int it = 0;
    while (it < opt.max_steps) {
      ++it;
      if (evaluate<K>(b, d, tol2, false, team)) {
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
      for (Index s = team.first; s < team.last; ++s) {
        const Index o = s * k;
        const auto ss = static_cast<std::size_t>(s);
        if (residual_within(sres[ss], suu[ss], 0.25 * tol2)) continue;
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
        lanes.queue(b, *this, s);
        if (lanes.full()) lanes.solve(b, take_step);
      }
      lanes.solve(b, take_step);
    }
    // Once the residual test holds, Newton steps on every site until the step itself is within the
    // tolerance of ||u||: the residual bounds the distance to the fixed point only through the
    // inverse Jacobian, which an ill-conditioned site makes large (a trained Fashion-MNIST
    // reference layer: 7.6e-4 from the exact fixed point at residual 3e-7), while the Newton step
    // is that distance to first order (docs/performance.md#fidelity).
    if (ok && std::is_same_v<T, float> && it < opt.max_steps) {
      ++it;
      evaluate<K>(b, d, tol2, true, team);  // g in double at the accepted state, for the steps below
    }
    for (int polish = 0; ok && polish < kPolishSteps; ++polish) {
      auto take_polish = [&](Index s, bool solved, const double* step) {
        stepped[static_cast<std::size_t>(s)] = solved ? 1 : 0;
        if (!solved) return;
        for (Index i = 0; i < k; ++i) {
          du[s * k + i] = step[i * W];
          u[s * k + i] += step[i * W];
        }
      };
      for (Index s = team.first; s < team.last; ++s) {
        lanes.queue(b, *this, s);
        if (lanes.full()) lanes.solve(b, take_polish);
      }
      lanes.solve(b, take_polish);
      team.sync();
      // The step's and the state's norms, summed in site order on every thread.
      double step2 = 0, uu = 0;
      for (Index s = 0; s < b.sites; ++s) {
        if (!stepped[static_cast<std::size_t>(s)]) continue;
        for (Index i = s * k; i < (s + 1) * k; ++i) step2 += du[i] * du[i];
      }
      for (Index i = 0; i < b.n; ++i) uu += u[i] * u[i];
      if (residual_within(step2, uu, tol2) || it >= opt.max_steps) break;
      ++it;
      evaluate<K>(b, d, tol2, true, team);  // its first sync: every thread has summed the norms
    }
    if (ok) apply_in_double(b.act, u.data() + n0, r.data() + n0, n1 - n0);
    for (Index i = n0; i < n1; ++i) {
      u_io[i] = static_cast<T>(u[i]);
      rout[i] = static_cast<T>(r[i]);
    }
    return it;
  }
};

// From this many neurons on, a lone sample's sites are shared among the threads (below, the
// team's barriers would cost more than the split saves).
constexpr Index kSiteTeamNeurons = 4096;

// One sample of one layer (SampleNewton::run) on `threads` threads sharing its sites, or on the
// calling thread alone; the same bits either way.
template <Index K, typename T>
int solve_sample(const BlockLayer<T>& bl, SampleNewton<T>& work, const T* d, T* u, T* r, const SolverOptions& opt,
                 int threads, bool& ok) {
  std::vector<NewtonLanes<K>> lanes(static_cast<std::size_t>(std::max(threads, 1)));
  for (auto& l : lanes) l.size(bl.k);
  if (threads <= 1) return work.template run<K>(bl, d, u, r, opt, ok, SiteTeam::of(0, 1, bl.sites, bl.k), lanes[0]);
  int it = 0;
#pragma omp parallel num_threads(threads)
  {
    // run neither allocates nor throws: every buffer is sized above.
    const int t = omp_get_thread_num();
    bool ok_t = false;
    const int it_t = work.template run<K>(bl, d, u, r, opt, ok_t, SiteTeam::of(t, omp_get_num_threads(), bl.sites, bl.k),
                                          lanes[static_cast<std::size_t>(t)]);
    if (t == 0) {
      it = it_t;
      ok = ok_t;
    }
  }
  return it;
}

}  // namespace

template <typename T>
bool lateral_block_diagonal(const SparseWeights<T>& l, Index k, Index max_site) {
  if (k < 1 || k > max_site || l.rows() != l.cols() || l.rows() % k != 0) return false;
  const int* rp = l.outerIndexPtr();
  const int* col = l.innerIndexPtr();
  // Eigen keeps a row's column indices sorted (its coeff() searches them by bisection), so the
  // first and last entries bound the row: a check per row instead of per synapse (run once per
  // layer, when it is built: SiteLayout).
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
                        const SolverOptions& options, const std::vector<signed char>* lateral_blocks_shared) {
  const Index batch = x.cols();
  if (batch == 0) return;
  const auto P = static_cast<std::size_t>(network.num_layers());
  std::vector<BlockLayer<T>> layers;
  for (std::size_t p = 0; p < P; ++p) {
    const bool shared = lateral_blocks_shared && p < lateral_blocks_shared->size() && (*lateral_blocks_shared)[p] == 1;
    layers.push_back(block_layer(network.layer(static_cast<Index>(p)), shared));
  }
  auto solve_chunk = [&](Index first, Index bc) {
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
      // A lone chunk (a batch of one) shares its samples' sites among the threads, where no
      // parallel region encloses it, active or not (a team there would be a nested one).
      const int team = omp_get_level() > 0 || bl.n < kSiteTeamNeurons ? 1 : std::max(1, omp_get_max_threads());
      for (Index j = 0; j < bc; ++j) {
        const Index b = first + j;
        bool ok = false;
        const T* dj = dsm.data() + j * bl.n;
        T* uj = state.u[p].col(b).data();
        T* rj = state.r[p].col(b).data();
        const int it = bl.k == 4    ? solve_sample<4>(bl, work, dj, uj, rj, options, team, ok)
                       : bl.k == 8  ? solve_sample<8>(bl, work, dj, uj, rj, options, team, ok)
                       : bl.k == 16 ? solve_sample<16>(bl, work, dj, uj, rj, options, team, ok)
                                    : solve_sample<0>(bl, work, dj, uj, rj, options, team, ok);
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
  };
  // A lone chunk runs outside any parallel region (for_each_chunk), so its sample's team (below)
  // is the thread pool's first level, not a nested team on new threads (half one thread's speed).
  for_each_chunk(batch, solve_chunk);
}

template bool lateral_block_diagonal<float>(const SparseWeights<float>&, Index, Index);
template bool lateral_block_diagonal<double>(const SparseWeights<double>&, Index, Index);
template bool newton_blocks_apply<float>(const Network<float>&, Index);
template bool newton_blocks_apply<double>(const Network<double>&, Index);
template void solve_block_newton<float>(const Network<float>&, ConstMatrixRef<float>, FixedPoints<float>&,
                                        const SolverOptions&, const std::vector<signed char>*);
template void solve_block_newton<double>(const Network<double>&, ConstMatrixRef<double>, FixedPoints<double>&,
                                         const SolverOptions&, const std::vector<signed char>*);

}  // namespace simmatch::detail
