// Batched fixed-point engine for eq. 15 (batch_solver.hpp): the reference Euler schedule and
// Anderson acceleration over sample chunks, sharing one fused layer-input kernel over sparse
// weights in the neuron-major layout. Which engine solves a batch is decided in solver_paths.cpp.
// No fused multiply-add contraction here: the compiler contracts vector bodies and scalar
// remainders differently, which would make a sample's result depend on its position in the
// batch; sharded runs must reproduce a single process bit for bit.
#if defined(__clang__)
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <omp.h>
#include <vector>

#include "core/anderson_coefficients.hpp"
#include "core/batch_kernel.hpp"
#include "core/batch_solver.hpp"
#include "core/residual_test.hpp"
#include "core/small_dense_solve.hpp"
#include "simmatch/error.hpp"

namespace simmatch {
namespace detail {
namespace {

using kernels::CsrView;

// Everything the dynamics need from the network, as raw views (built once per solve).
template <typename T>
struct Model {
  struct LayerView {
    CsrView<T> w;          // W^(p): N_p x N_{p-1}
    CsrView<T> l;          // L^(p): N_p x N_p
    CsrView<T> wnext_t;    // W^(p+1)T: N_p x N_{p+1}, when feedback is on
    bool feedback = false;
    Index n = 0;
    Index offset = 0;      // first row of this layer in the stacked state
    Activation act = Activation::linear();
  };
  std::vector<LayerView> layers;
  std::vector<kernels::CsrMatrix<T>> transposes;
  // L^(p) as dense site blocks where it is block diagonal by site (k = 0 where not): the
  // register-blocked kernel runs several times faster than CSR rows on many neurons per site.
  std::vector<kernels::DenseSiteBlocks<T>> lateral_blocks;
  // The same for W^(p) (p >= 1) and the feedback W^(p+1)T where they are square and block
  // diagonal: above all an all-to-all layer on one of equal size (784-500-500-10), whose two
  // 500 x 500 products dominated its dynamics on CSR rows.
  std::vector<kernels::DenseSiteBlocks<T>> feedforward_blocks;
  std::vector<kernels::DenseSiteBlocks<T>> feedback_blocks;
  Index total = 0;  // sum of N_p
  Index input = 0;  // K: the clamped input's rows; a nudged network's inputs have top_drive more
  Index top_drive = 0;
  T gamma = 0;

  explicit Model(const Network<T>& net) {
    const Index P = net.num_layers();
    gamma = static_cast<T>(net.gamma());
    input = net.input_size();
    top_drive = net.top_drive_rows();
    const bool fb = net.gamma() != 0.0 && P > 1;
    transposes.resize(static_cast<std::size_t>(P));
    lateral_blocks.resize(static_cast<std::size_t>(P));
    feedforward_blocks.resize(static_cast<std::size_t>(P));
    feedback_blocks.resize(static_cast<std::size_t>(P));
    for (Index p = 0; p < P; ++p) {
      LayerView v;
      v.w = kernels::view_of(net.layer(p).W());
      v.l = kernels::view_of(net.layer(p).L());
      // k stays 0 where L is not block diagonal, or below ~8 neurons per site, where the blocks
      // are too small to fill the registers.
      kernels::dense_site_blocks(v.l, 8, lateral_blocks[static_cast<std::size_t>(p)]);
      if (p > 0) kernels::dense_site_blocks(v.w, 8, feedforward_blocks[static_cast<std::size_t>(p)]);
      v.n = net.layer(p).size();
      v.offset = total;
      v.act = net.layer(p).activation();
      v.feedback = fb && p + 1 < P;
      if (v.feedback) {
        kernels::transpose(kernels::view_of(net.layer(p + 1).W()), transposes[static_cast<std::size_t>(p)]);
        v.wnext_t = transposes[static_cast<std::size_t>(p)].view();
        kernels::dense_site_blocks(v.wnext_t, 8, feedback_blocks[static_cast<std::size_t>(p)]);
      }
      total += v.n;
      layers.push_back(v);
    }
  }

  // g = total input of every layer (eq. 15 without the leak):
  //   g^(p) = W^(p) r^(p-1) - (L^(p) - I) r^(p) + gamma W^(p+1)T r^(p+1),   r^(-1) = x,
  // with W^(1) x precomputed in `drive`. r and g are stacked, neuron-major, ld = bc.
  // Every row adds its terms in the same order on every path (feedforward, lateral, feedback),
  // each term summed on its own before it is added; the dense block kernel has the CSR kernel's
  // arithmetic, so the paths agree bit for bit. A nudged network's top layer then gains beta z
  // (`top`, N_P x bc; null otherwise).
  void layer_input(const T* drive, const T* top, const T* r, T* g, Index bc) const {
    for (std::size_t p = 0; p < layers.size(); ++p) {
      const LayerView& v = layers[p];
      const kernels::DenseSiteBlocks<T>& blocks = lateral_blocks[p];
      const T* rp = r + v.offset * bc;
      const T* below = p > 0 ? r + layers[p - 1].offset * bc : nullptr;
      const T* above = v.feedback ? r + layers[p + 1].offset * bc : nullptr;
      if (feedforward_blocks[p].k > 0 || feedback_blocks[p].k > 0) {
        // The blocks of W, L and W^T need not line up: one pass over the layer's rows per term.
        T* gp = g + v.offset * bc;
        for (Index i = 0; i < v.n; ++i) start_row(p, drive, rp, i, bc, gp + i * bc);
        if (p > 0) accumulate(v.w, feedforward_blocks[p], below, bc, T(1), gp);
        accumulate(v.l, blocks, rp, bc, T(-1), gp);
        if (v.feedback) accumulate(v.wnext_t, feedback_blocks[p], above, bc, gamma, gp);
        continue;
      }
      // Otherwise all terms of a row (of a site, on the dense lateral path) while it is in cache.
      const Index step = blocks.k > 0 ? blocks.k : 1;
      for (Index i0 = 0; i0 < v.n; i0 += step) {
        for (Index i = i0; i < i0 + step; ++i) {
          T* gi = g + (v.offset + i) * bc;
          start_row(p, drive, rp, i, bc, gi);
          if (p > 0) kernels::csr_row_accumulate(v.w, i, below, bc, T(1), gi);
          if (blocks.k == 0) {
            kernels::csr_row_accumulate(v.l, i, rp, bc, T(-1), gi);
            if (v.feedback) kernels::csr_row_accumulate(v.wnext_t, i, above, bc, gamma, gi);
          }
        }
        if (blocks.k > 0) {
          kernels::dense_site_accumulate(blocks, i0 / step, rp + i0 * bc, bc, T(-1), g + (v.offset + i0) * bc);
          if (v.feedback) {
            for (Index i = i0; i < i0 + step; ++i) {
              kernels::csr_row_accumulate(v.wnext_t, i, above, bc, gamma, g + (v.offset + i) * bc);
            }
          }
        }
      }
    }
    if (top != nullptr) {
      const LayerView& v = layers.back();
      for (Index i = 0; i < v.n; ++i) {
        T* gi = g + (v.offset + i) * bc;
        const T* ti = top + i * bc;
#pragma omp simd
        for (Index b = 0; b < bc; ++b) gi[b] += ti[b];
      }
    }
  }

  void activate(const T* u, T* r, Index bc) const {
    for (const LayerView& v : layers) v.act.apply(u + v.offset * bc, r + v.offset * bc, v.n * bc);
  }

  // The leak-free start of row i: r_i, plus the first layer's precomputed drive W^(1) x.
  static void start_row(std::size_t p, const T* drive, const T* rp, Index i, Index bc, T* gi) {
    const T* ri = rp + i * bc;
    if (p == 0) {
      const T* di = drive + i * bc;
#pragma omp simd
      for (Index b = 0; b < bc; ++b) gi[b] = di[b] + ri[b];
    } else {
#pragma omp simd
      for (Index b = 0; b < bc; ++b) gi[b] = ri[b];
    }
  }

  // y += alpha a x (a.rows x bc), by site blocks where `blocks` holds them, else row by row.
  static void accumulate(const CsrView<T>& a, const kernels::DenseSiteBlocks<T>& blocks, const T* x, Index bc,
                         T alpha, T* y) {
    if (blocks.k == 0) {
      kernels::csr_times_batch(a, x, y, bc, alpha, T(1));
      return;
    }
    for (Index s = 0; s < blocks.sites; ++s) {
      kernels::dense_site_accumulate(blocks, s, x + s * blocks.k * bc, bc, alpha, y + s * blocks.k * bc);
    }
  }
};

// Keeps the columns `keep` (increasing) of a rows x old_bc neuron-major array, in place.
template <typename V>
void compact(std::vector<V>& a, Index rows, Index old_bc, const std::vector<Index>& keep) {
  const auto nb = static_cast<Index>(keep.size());
  V* d = a.data();
  for (Index i = 0; i < rows; ++i) {
    const V* src = d + i * old_bc;
    V* dst = d + i * nb;  // dst <= src element by element, so a forward copy is safe
    for (Index c = 0; c < nb; ++c) dst[c] = src[keep[static_cast<std::size_t>(c)]];
  }
  a.resize(static_cast<std::size_t>(rows * nb));
}

// The large per-chunk arrays, kept per thread from one solve to the next: a layer of 50,000
// neurons with Anderson's history holds ~50 MB per chunk of 100 samples, and allocating that
// afresh for every batch spent more time in page faults than in the dynamics (measured on a
// 64-filter conv2d layer). Values never carry over: every array is (re)written before use.
template <typename T>
struct ChunkBuffers {
  std::vector<T> drive, u, r, g;
  std::vector<std::vector<T>> dg, df;
};

template <typename T>
ChunkBuffers<T>& thread_chunk_buffers() {
  thread_local ChunkBuffers<T> buffers;
  return buffers;
}

// One chunk of samples [first, first + count) of the batch, solved to completion. At most one
// ChunkSolver per thread is alive at a time (it uses the thread's buffers).
template <typename T>
class ChunkSolver {
public:
  // site_sizes: empty for the layers' test alone; else k per layer for the test of every site.
  ChunkSolver(const Model<T>& model, const SolverOptions& opt, Scheme scheme, const std::vector<Index>& site_sizes)
      : m_(model), opt_(opt), scheme_(scheme), site_sizes_(site_sizes) {}

  void run(ConstMatrixRef<T> x, FixedPoints<T>& state, Index first, Index count) {
    bc_ = count;
    const Index total = m_.total;
    const auto P = static_cast<Index>(m_.layers.size());
    cols_.resize(static_cast<std::size_t>(count));
    for (Index c = 0; c < count; ++c) cols_[static_cast<std::size_t>(c)] = first + c;
    finished_.assign(static_cast<std::size_t>(count), 0);
    // Steps a sample has already taken (a phase resumed by solve_batched); 0 from a fresh state.
    start_.resize(static_cast<std::size_t>(count));
    for (Index c = 0; c < count; ++c) start_[static_cast<std::size_t>(c)] = state.iterations[static_cast<std::size_t>(first + c)];
    step_.resize(static_cast<std::size_t>(count));

    // The clamped input's drive W^(1) x, once per sample.
    const Index n0 = m_.layers[0].n;
    {
      std::vector<T> xt(static_cast<std::size_t>(x.rows() * count));
      kernels::to_neuron_major(x.data() + first * x.outerStride(), x.rows(), count, x.outerStride(), xt.data());
      drive_.resize(static_cast<std::size_t>(n0 * count));
      kernels::csr_times_batch(m_.layers[0].w, xt.data(), drive_.data(), count, T(1), T(0));
      // W^(1) reads the first K rows only; the rows after them are the nudged top layer's drive.
      top_.assign(xt.begin() + m_.input * count, xt.begin() + (m_.input + m_.top_drive) * count);
    }
    u_.resize(static_cast<std::size_t>(total * count));
    for (Index p = 0; p < P; ++p) {
      const auto& v = m_.layers[static_cast<std::size_t>(p)];
      const auto& su = state.u[static_cast<std::size_t>(p)];
      kernels::to_neuron_major(su.data() + first * su.outerStride(), v.n, count, su.outerStride(),
                               u_.data() + v.offset * count);
    }
    r_.resize(u_.size());
    g_.resize(u_.size());
    m_.activate(u_.data(), r_.data(), count);
    norms_.assign(static_cast<std::size_t>(2 * P * count), 0.0);

    depth_ = scheme_ == Scheme::anderson ? std::max(0, opt_.anderson_depth) : 0;
    if (depth_ > 0) {
      // Not cleared: anderson_update reads only the slots that hold history, which it wrote in
      // this solve (2 x depth x N x B values, 200 MB per batch for a 64-filter conv2d layer).
      dg_.resize(static_cast<std::size_t>(depth_));
      df_.resize(static_cast<std::size_t>(depth_));
      for (auto& a : dg_) a.resize(u_.size());
      for (auto& a : df_) a.resize(u_.size());
      gram_.assign(static_cast<std::size_t>(depth_ * depth_ * count), 0.0);
      rhs_.assign(static_cast<std::size_t>(depth_ * count), 0.0);
      coef_.assign(static_cast<std::size_t>(depth_ * count), 0.0);
      used_.assign(static_cast<std::size_t>(count), 0);
      best_.assign(static_cast<std::size_t>(count), std::numeric_limits<double>::infinity());
      fnorm_.assign(static_cast<std::size_t>(count), 0.0);
      head_ = 0;
    }

    Index pending = 0;  // finished samples still occupying a column
    for (int n = 0; n < opt_.max_steps && bc_ > 0; ++n) {
      // Every scheme evaluates g(u) and the residual of the current iterate first, so a sample
      // stops at a state whose residual ||g - u|| / ||u|| is below the tolerance in every layer.
      residual(n);
      Index done_now = 0;
      for (Index c = 0; c < bc_; ++c) {
        if (finished_[static_cast<std::size_t>(c)]) continue;
        const bool ok = converged(c);
        const bool last = start_[static_cast<std::size_t>(c)] + n + 1 >= opt_.max_steps;
        const Index b = cols_[static_cast<std::size_t>(c)];
        state.iterations[static_cast<std::size_t>(b)] = start_[static_cast<std::size_t>(c)] + n + 1;
        if (ok || last || overflowed(c)) {
          state.converged[static_cast<std::size_t>(b)] = ok ? 1 : 0;
          store(state, c);
          finished_[static_cast<std::size_t>(c)] = 1;
          ++done_now;
        }
      }
      pending += done_now;
      if (pending == bc_) break;
      // Compaction costs about one iteration, so wait until an eighth of the chunk is idle.
      if (pending > 0 && pending * 8 >= bc_) {
        compact_all();
        pending = 0;
      }
      if (scheme_ == Scheme::anderson) {
        anderson_update();
      } else {
        euler_advance(n);
      }
    }
  }

private:
  // Euler step of eq. 15 with the reference schedule, u <- u + h_n (g - u), h_n =
  // max(step_initial / (1 + step_decay n), step_min), n counting the sample's own steps (a
  // sample resumed after an earlier phase continues its schedule), g = g(u) from residual().
  void euler_advance(int n) {
    for (Index c = 0; c < bc_; ++c) {
      const double k = static_cast<double>(start_[static_cast<std::size_t>(c)] + n);
      step_[static_cast<std::size_t>(c)] =
          static_cast<T>(std::max(opt_.step_initial / (1.0 + opt_.step_decay * k), opt_.step_min));
    }
    const T* __restrict h = step_.data();
    for (Index i = 0; i < m_.total; ++i) {
      T* __restrict ui = u_.data() + i * bc_;
      const T* __restrict gi = g_.data() + i * bc_;
#pragma omp simd
      for (Index b = 0; b < bc_; ++b) ui[b] += h[b] * (gi[b] - ui[b]);
    }
    m_.activate(u_.data(), r_.data(), bc_);
  }

  // Layer inputs g = g(u) of the current iterate and, per layer and sample, the two terms of the
  // residual of eq. 15, ||du/ds||^2 = ||g - u||^2 and ||u||^2 (docs/theory.md, "Solving eq. 15").
  // With an Anderson history g_ then holds f = g - u, which drives the acceleration.
  void residual(int n) {
    m_.layer_input(drive_.data(), m_.top_drive > 0 ? top_.data() : nullptr, r_.data(), g_.data(), bc_);
    std::fill(norms_.begin(), norms_.end(), 0.0);
    if (!site_sizes_.empty()) {
      sites_ok_.assign(static_cast<std::size_t>(bc_), 1);
      site_norms_.assign(static_cast<std::size_t>(2 * bc_), 0.0);
    }
    const bool history = scheme_ == Scheme::anderson && depth_ > 0;
    if (history) std::fill(fnorm_.begin(), fnorm_.end(), 0.0);
    const bool complete = n > 0;
    const T beta = static_cast<T>(opt_.anderson_mixing);
    for (std::size_t p = 0; p < m_.layers.size(); ++p) {
      const auto& v = m_.layers[p];
      double* nres = norms_.data() + 2 * static_cast<Index>(p) * bc_;
      double* nu = nres + bc_;
      const Index k = site_sizes_.empty() ? 0 : site_sizes_[p];
      for (Index i = v.offset; i < v.offset + v.n; ++i) {
        const T* ui = u_.data() + i * bc_;
        T* gi = g_.data() + i * bc_;
        if (k > 0) {
          // The same terms go to the site's sums too (per-site test of the Euler phase).
          double* sres = site_norms_.data();
          double* suu = sres + bc_;
#pragma omp simd
          for (Index b = 0; b < bc_; ++b) {
            const double d = static_cast<double>(gi[b] - ui[b]);
            const double uu = static_cast<double>(ui[b]) * static_cast<double>(ui[b]);
            nres[b] += d * d;
            nu[b] += uu;
            sres[b] += d * d;
            suu[b] += uu;
          }
          if ((i - v.offset + 1) % k == 0) close_site_test();
        } else {
#pragma omp simd
          for (Index b = 0; b < bc_; ++b) {
            const double d = static_cast<double>(gi[b] - ui[b]);
            nres[b] += d * d;
            nu[b] += static_cast<double>(ui[b]) * static_cast<double>(ui[b]);
          }
        }
        if (history) {
          double* fn = fnorm_.data();
#pragma omp simd
          for (Index b = 0; b < bc_; ++b) {
            const T f = gi[b] - ui[b];
            fn[b] += static_cast<double>(f) * static_cast<double>(f);
            gi[b] = f;
          }
          if (complete) {
            complete_history_row(gi, beta, bc_, df_[static_cast<std::size_t>(head_)].data() + i * bc_,
                                 dg_[static_cast<std::size_t>(head_)].data() + i * bc_);
          }
        }
      }
    }
    if (history && complete) {
      for (Index c = 0; c < bc_; ++c) {
        auto& u = used_[static_cast<std::size_t>(c)];
        u = std::min(u + 1, depth_);
      }
    }
  }

  // At a site's last row (its terms summed in site_norms_ by residual()): clears sites_ok_ for the
  // samples whose site misses the tolerance, and restarts the sums for the next site.
  void close_site_test() {
    double* sres = site_norms_.data();
    double* suu = sres + bc_;
    const double tol2 = opt_.tolerance * opt_.tolerance;
    for (Index b = 0; b < bc_; ++b) {
      if (!residual_within(sres[b], suu[b], tol2)) sites_ok_[static_cast<std::size_t>(b)] = 0;
      sres[b] = 0;
      suu[b] = 0;
    }
  }

  bool converged(Index c) const {
    if (!site_sizes_.empty() && !sites_ok_[static_cast<std::size_t>(c)]) return false;
    const double tol2 = opt_.tolerance * opt_.tolerance;
    for (std::size_t p = 0; p < m_.layers.size(); ++p) {
      const double* a = norms_.data() + 2 * static_cast<Index>(p) * bc_;
      const double* b = a + bc_;
      if (!residual_within(a[c], b[c], tol2)) return false;
    }
    return true;
  }

  bool overflowed(Index c) const {
    for (std::size_t p = 0; p < m_.layers.size(); ++p) {
      const double* a = norms_.data() + 2 * static_cast<Index>(p) * bc_;
      if (state_overflowed(a[c + bc_])) return true;
    }
    return false;
  }

  void store(FixedPoints<T>& state, Index c) const {
    const Index b = cols_[static_cast<std::size_t>(c)];
    for (const auto& v : m_.layers) {
      const auto sp = static_cast<std::size_t>(&v - m_.layers.data());
      T* su = state.u[sp].col(b).data();
      T* sr = state.r[sp].col(b).data();
      for (Index i = 0; i < v.n; ++i) {
        su[i] = u_[static_cast<std::size_t>((v.offset + i) * bc_ + c)];
        sr[i] = r_[static_cast<std::size_t>((v.offset + i) * bc_ + c)];
      }
    }
  }

  void compact_all() {
    std::vector<Index> keep;
    for (Index c = 0; c < bc_; ++c) {
      if (!finished_[static_cast<std::size_t>(c)]) keep.push_back(c);
    }
    const Index total = m_.total;
    compact(u_, total, bc_, keep);
    compact(r_, total, bc_, keep);
    compact(g_, total, bc_, keep);
    compact(drive_, m_.layers[0].n, bc_, keep);
    compact(top_, m_.top_drive, bc_, keep);
    compact(norms_, 2 * static_cast<Index>(m_.layers.size()), bc_, keep);
    if (depth_ > 0) {
      for (auto& a : dg_) compact(a, total, bc_, keep);
      for (auto& a : df_) compact(a, total, bc_, keep);
      compact(gram_, depth_ * depth_, bc_, keep);
      compact(rhs_, depth_, bc_, keep);
      compact(coef_, depth_, bc_, keep);
      compact(used_, 1, bc_, keep);
      compact(best_, 1, bc_, keep);
      compact(fnorm_, 1, bc_, keep);
    }
    compact(cols_, 1, bc_, keep);
    compact(start_, 1, bc_, keep);
    compact(finished_, 1, bc_, keep);
    bc_ = static_cast<Index>(keep.size());
  }

  // Anderson acceleration (type II, Walker & Ni 2011) of the fixed-point map u -> g(u) of eq. 15:
  //   gamma = argmin || f_k - dF gamma ||,   u_{k+1} = u_k + beta f_k - (dX + beta dF) gamma,
  // f = g - u, dF / dX the last `depth` differences of f / u. Per sample, with a restart (plain
  // damped step, history cleared) when the residual grows far above its best or the small
  // least-squares problem is singular.
  void anderson_update() {
    const Index m = depth_;
    const Index bc = bc_;
    const Index total = m_.total;
    const T beta = static_cast<T>(opt_.anderson_mixing);
    if (m == 0) {
      // No history: the damped fixed-point iteration u <- u + beta (g - u).
      for (std::size_t e = 0; e < u_.size(); ++e) u_[e] += beta * (g_[e] - u_[e]);  // g_ holds g here
      m_.activate(u_.data(), r_.data(), bc);
      return;
    }
    // Gram row of the newest column and right-hand side dF_j . f for every slot, in one pass.
    // Only slots with data are visited; the others are ignored by every sample's solve.
    std::vector<Index> slots;
    Index max_used = 0;
    for (Index c = 0; c < bc; ++c) max_used = std::max(max_used, used_[static_cast<std::size_t>(c)]);
    for (Index j = 0; j < max_used; ++j) slots.push_back((head_ - j + m) % m);
    const auto ns = static_cast<Index>(slots.size());
    if (ns > 0) {
      std::vector<double> acc(static_cast<std::size_t>(2 * ns * bc), 0.0);
      double* ag = acc.data();            // ns x bc: dF_head . dF_j
      double* ar = acc.data() + ns * bc;  // ns x bc: dF_j . f
      const T* dfh = df_[static_cast<std::size_t>(head_)].data();
      std::vector<const T*> dfs(static_cast<std::size_t>(ns));
      for (Index j = 0; j < ns; ++j) dfs[static_cast<std::size_t>(j)] = df_[static_cast<std::size_t>(slots[static_cast<std::size_t>(j)])].data();
      kernels::column_dots(dfs.data(), ns, dfh, g_.data(), total, bc, ag, ar);
      store_history_dots(ag, ar, slots.data(), ns, head_, m, bc, gram_.data(), rhs_.data());
    }
    // Small per-sample least squares by Cholesky of the (regularised) normal equations.
    std::vector<T> scale(static_cast<std::size_t>(bc));
    kept_.resize(static_cast<std::size_t>(bc));
    anderson_coefficients<T>(gram_.data(), rhs_.data(), bc, m, head_, fnorm_.data(), opt_.anderson_restart, best_.data(),
                             used_.data(), coef_.data(), kept_.data(), coefficient_work_);
    for (Index c = 0; c < bc; ++c) {
      scale[static_cast<std::size_t>(c)] = kept_[static_cast<std::size_t>(c)] ? beta : static_cast<T>(opt_.step_min);
    }
    // u_{k+1} = u_k + beta f_k - sum_j gamma_j dG_j with dG = dX + beta dF; then the oldest slot
    // becomes the newest: dG = (u_{k+1} - u_k) - beta f_k and dF = -f_k, completed by the next
    // residual.
    const Index next = (head_ + 1) % m;
    std::vector<T> cf(static_cast<std::size_t>(ns * bc));
    for (Index j = 0; j < ns; ++j) {
      for (Index c = 0; c < bc; ++c) {
        cf[static_cast<std::size_t>(j * bc + c)] =
            static_cast<T>(coef_[static_cast<std::size_t>(slots[static_cast<std::size_t>(j)] * bc + c)]);
      }
    }
    std::vector<const T*> dgs(static_cast<std::size_t>(ns));
    for (Index j = 0; j < ns; ++j) dgs[static_cast<std::size_t>(j)] = dg_[static_cast<std::size_t>(slots[static_cast<std::size_t>(j)])].data();
    T* __restrict d = step_.data();
    const T* __restrict sc = scale.data();
    // r = activation(u) row by row while the new row of u is in cache (a separate pass over u and
    // r cost as much as a tenth of an iteration on a 64-filter conv2d layer).
    std::size_t layer = 0;
    for (Index i = 0; i < total; ++i) {
      while (i >= m_.layers[layer].offset + m_.layers[layer].n) ++layer;
      T* __restrict ui = u_.data() + i * bc;
      const T* __restrict fi = g_.data() + i * bc;
      const T* rows[kMaxAndersonDepth];
      for (Index j = 0; j < ns; ++j) rows[j] = dgs[static_cast<std::size_t>(j)] + i * bc;
      anderson_row_update(sc, fi, rows, cf.data(), ns, beta, bc, d, ui, dg_[static_cast<std::size_t>(next)].data() + i * bc,
                          df_[static_cast<std::size_t>(next)].data() + i * bc);
      m_.layers[layer].act.apply(ui, r_.data() + i * bc, bc);
    }
    head_ = next;
  }

  
  const Model<T>& m_;
  const SolverOptions& opt_;
  Scheme scheme_;
  const std::vector<Index>& site_sizes_;
  std::vector<unsigned char> sites_ok_;  // per sample: every site met the tolerance (site_sizes_ set)
  std::vector<double> site_norms_;       // the current site's [||g_s - u_s||^2 | ||u_s||^2], bc long each
  Index bc_ = 0;
  std::vector<Index> cols_;
  std::vector<int> start_;
  std::vector<unsigned char> finished_;
  ChunkBuffers<T>& buffers_ = thread_chunk_buffers<T>();
  std::vector<T>& drive_ = buffers_.drive;
  std::vector<T> top_;  // beta z of a nudged network, neuron-major (empty otherwise)
  std::vector<T>& u_ = buffers_.u;
  std::vector<T>& r_ = buffers_.r;
  std::vector<T>& g_ = buffers_.g;
  std::vector<T> step_;
  std::vector<double> norms_;  // per layer: [||g - u||^2 | ||u||^2], each bc long
  Index depth_ = 0;
  Index head_ = 0;
  std::vector<std::vector<T>>& dg_ = buffers_.dg;  // ring of depth_ columns: dX + beta dF, and dF
  std::vector<std::vector<T>>& df_ = buffers_.df;
  std::vector<double> gram_, rhs_, coef_, best_, fnorm_, coefficient_work_;
  std::vector<unsigned char> kept_;
  std::vector<Index> used_;
};

}  // namespace

SampleChunks split_into_chunks(Index batch, Index threads) {
  Index chunks = std::max<Index>((batch + 63) / 64, std::min(threads, batch));
  if (chunks > threads) chunks = (chunks + threads - 1) / threads * threads;
  chunks = std::min(chunks, batch);
  const Index per = (batch + chunks - 1) / chunks;
  return SampleChunks{(batch + per - 1) / per, per};
}

template <typename T>
void solve_chunks(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state, const SolverOptions& options,
                  Scheme scheme, bool per_site_test) {
  const Model<T> model(network);
  std::vector<Index> sites;
  if (per_site_test) {
    for (Index p = 0; p < network.num_layers(); ++p) sites.push_back(network.layer(p).grid().channels);
  }
  for_each_chunk(x.cols(), [&](Index first, Index count) {
    ChunkSolver<T> solver(model, options, scheme, sites);
    solver.run(x, state, first, count);
  });
}

template void solve_chunks<float>(const Network<float>&, ConstMatrixRef<float>, FixedPoints<float>&,
                                  const SolverOptions&, Scheme, bool);
template void solve_chunks<double>(const Network<double>&, ConstMatrixRef<double>, FixedPoints<double>&,
                                   const SolverOptions&, Scheme, bool);

}  // namespace detail
}  // namespace simmatch
