// Anderson acceleration site by site (site_anderson.hpp). No fused multiply-add contraction, as in
// the other solvers: a sample's result must not depend on the batch or position it is solved in
// (sharded runs reproduce a single process bit for bit). Every operation below works on one
// sample's column on its own, so a sample's iterates do not depend on its neighbours.
#if defined(__clang__)
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif
#include "core/site_anderson.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <omp.h>
#include <optional>
#include <vector>

#include "core/anderson_coefficients.hpp"
#include "core/batch_kernel.hpp"
#include "core/residual_test.hpp"
#include "core/site_preconditioner.hpp"

namespace simmatch::detail {
namespace {

// Below this many samples per row the Anderson step activates the site's rows in one call.
constexpr Index kWholeSiteActivation = 16;
// Below this many samples the residual norms are summed column by column, in registers.
constexpr Index kNarrowBatch = 8;
// Finished samples' columns are dropped once they are at least 1/kCompactDone of the columns.
constexpr Index kCompactDone = 4;

template <typename T>
struct SiteLayer {
  kernels::CsrView<T> w;
  const std::vector<unsigned char>* patch_rows = nullptr;  // per site: its rows of W share their columns
  kernels::DenseSiteBlocks<T> l;
  bool preconditioned = false;      // Anderson runs on J_a^{-1} (g_s - u_s) (site_preconditioner.hpp)
  kernels::DenseSiteBlocks<T> pre;  // J_a^{-1}, viewing pre_values
  std::vector<T> pre_values;
  Activation act = Activation::linear();
  Index n = 0;
};

// One site's solve for the samples of a batch: k x bc neuron-major arrays (row i = the site's
// neuron i for every active sample), compacted as samples finish. Sized once per layer and thread.
template <typename T>
class SiteSolver {
public:
  SiteSolver(const SolverOptions& opt, Index k, Index bc) : opt_(opt), k_(k), depth_(std::max(0, opt.anderson_depth)) {
    const auto kb = static_cast<std::size_t>(k * bc);
    for (auto* a : {&d_, &u_, &r_, &g_, &pg_}) a->resize(kb);
    dg_.assign(static_cast<std::size_t>(depth_), std::vector<T>(kb));
    df_.assign(static_cast<std::size_t>(depth_), std::vector<T>(kb));
    col_.resize(static_cast<std::size_t>(bc));
    step_.resize(static_cast<std::size_t>(bc));
    scale_.resize(static_cast<std::size_t>(bc));
    cf_.resize(static_cast<std::size_t>(depth_ * bc));
    for (auto* a : {&res_, &uu_, &best_}) a->resize(static_cast<std::size_t>(bc));
    used_.resize(static_cast<std::size_t>(bc));
    gram_.resize(static_cast<std::size_t>(depth_ * depth_ * bc));
    rhs_.resize(static_cast<std::size_t>(depth_ * bc));
    coef_.resize(static_cast<std::size_t>(depth_ * bc));
    kept_.resize(static_cast<std::size_t>(bc));
    done_.resize(static_cast<std::size_t>(bc));
    flat_scale_.resize(static_cast<std::size_t>(k));
    flat_step_.resize(static_cast<std::size_t>(k));
    flat_coef_.resize(static_cast<std::size_t>(depth_ * k));
  }

  // Per-sample outputs: the site's own residual terms, and over the thread's sites so far the most
  // iterations and whether every site met its test.
  struct Totals {
    double* res = nullptr;                // this site's ||g_s - u_s||^2 and ||u_s||^2 per sample
    double* uu = nullptr;
    std::vector<int> iterations;          // the most any site took (counted on from `start`)
    std::vector<unsigned char> every_site;  // 1 while every site met its own test
  };

  // Solves site s of `layer` for the batch's columns [0, bc0): d_ already holds its drive and u_
  // its starting point (rows of k x bc0). Writes u and r back into out_u / out_r (k x bc0,
  // neuron-major) and the site's figures into `totals`.
  void solve(const SiteLayer<T>& layer, Index s, Index bc0, const std::vector<int>& start, T* out_u, T* out_r,
             Totals& totals) {
    bc_ = bc0;
    for (Index c = 0; c < bc0; ++c) col_[static_cast<std::size_t>(c)] = c;
    std::fill(done_.begin(), done_.begin() + bc0, 0);
    activate_rows(layer.act);
    reset_history();
    const double tol2 = opt_.tolerance * opt_.tolerance;
    const T beta = static_cast<T>(opt_.anderson_mixing);
    for (int n = 0; bc_ > 0; ++n) {
      // g = d + r - L_s r, the site's layer input of eq. 15 (no feedback), then f = g - u in g.
      for (std::size_t e = 0; e < static_cast<std::size_t>(k_ * bc_); ++e) g_[e] = d_[e] + r_[e];
      // From rest (r = f(0) = 0) the product adds a sum of signed zeros, +0, times -1: nothing,
      // bit for bit. Skipping it spares one of the ~10 block products of a site's solve.
      if (n > 0 || std::any_of(r_.begin(), r_.begin() + k_ * bc_, [](T v) { return v != T(0); })) {
        kernels::dense_site_accumulate(layer.l, s, r_.data(), bc_, T(-1), g_.data());
      }
      residual_norms();
      // Stopping test per sample; finished samples are written out, and their columns dropped once
      // they are a quarter of the batch's (until then they go on with the rest, their results
      // already taken: moving every array's columns each time a few samples finish was ~15 % of a
      // 64-filter layer's solve under perf, as its sites finish spread over several iterations).
      keep_.clear();
      for (Index c = 0; c < bc_; ++c) {
        const auto sc = static_cast<std::size_t>(c);
        if (done_[sc]) continue;
        const Index j = col_[sc];
        const int its = start[static_cast<std::size_t>(j)] + n + 1;
        const bool ok = residual_within(res_[sc], uu_[sc], tol2);
        if (!ok && its < opt_.max_steps && !state_overflowed(uu_[sc])) {
          keep_.push_back(c);
          continue;
        }
        for (Index i = 0; i < k_; ++i) {
          out_u[i * bc0 + j] = u_[static_cast<std::size_t>(i * bc_ + c)];
          out_r[i * bc0 + j] = r_[static_cast<std::size_t>(i * bc_ + c)];
        }
        const auto sj = static_cast<std::size_t>(j);
        totals.res[sj] = res_[sc];
        totals.uu[sj] = uu_[sc];
        totals.iterations[sj] = std::max(totals.iterations[sj], its);
        if (!ok) totals.every_site[sj] = 0;
        done_[sc] = 1;
      }
      const auto active = static_cast<Index>(keep_.size());
      if (active == 0) break;
      if (kCompactDone * (bc_ - active) >= bc_) compact();
      // The samples going on: Anderson's residual, preconditioned where it applies, completes the
      // newest history column (the test above used g_s - u_s itself, as every solver does).
      if (layer.preconditioned) {
        std::fill(pg_.begin(), pg_.begin() + k_ * bc_, T(0));
        kernels::dense_site_accumulate(layer.pre, s, g_.data(), bc_, T(1), pg_.data());
        g_.swap(pg_);
      }
      if (depth_ > 0 && n > 0) {
        // Elementwise: the site's k x bc values in one call.
        complete_history_row(g_.data(), beta, k_ * bc_, df_[static_cast<std::size_t>(head_)].data(),
                             dg_[static_cast<std::size_t>(head_)].data());
        for (Index c = 0; c < bc_; ++c) used_[static_cast<std::size_t>(c)] = std::min(used_[static_cast<std::size_t>(c)] + 1, depth_);
      }
      anderson_step(layer.act);
    }
  }

  std::vector<T>& drive() { return d_; }
  std::vector<T>& start_point() { return u_; }

private:
  // f = g - u in g, and per sample ||f||^2 and ||u||^2 summed in row order. Narrow batches sum each
  // column in registers: summed in memory row by row, each add waited for the previous store (for
  // online learning, a tenth of the site solve).
  void residual_norms() {
    T* g = g_.data();
    const T* u = u_.data();
    const Index bc = bc_;
    if (bc < kNarrowBatch) {
      for (Index b = 0; b < bc; ++b) {
        double res = 0.0;
        double uu = 0.0;
        for (Index i = 0; i < k_; ++i) {
          const T f = g[i * bc + b] - u[i * bc + b];
          res += static_cast<double>(f) * static_cast<double>(f);
          uu += static_cast<double>(u[i * bc + b]) * static_cast<double>(u[i * bc + b]);
          g[i * bc + b] = f;
        }
        res_[static_cast<std::size_t>(b)] = res;
        uu_[static_cast<std::size_t>(b)] = uu;
      }
      return;
    }
    std::fill(res_.begin(), res_.begin() + bc, 0.0);
    std::fill(uu_.begin(), uu_.begin() + bc, 0.0);
    for (Index i = 0; i < k_; ++i) {
      T* gi = g + i * bc;
      const T* ui = u + i * bc;
      double* res = res_.data();
      double* uu = uu_.data();
#pragma omp simd
      for (Index b = 0; b < bc; ++b) {
        const T f = gi[b] - ui[b];
        res[b] += static_cast<double>(f) * static_cast<double>(f);
        uu[b] += static_cast<double>(ui[b]) * static_cast<double>(ui[b]);
        gi[b] = f;
      }
    }
  }

  // r = f(u). f is elementwise with the same bits in and out of vector lanes (a sample's results do
  // not depend on its position in the batch: tested), so the k x bc rows, contiguous, go in one
  // call; row by row, online learning (bc = 1) made k calls on single values per iteration.
  void activate_rows(const Activation& act) { act.apply(u_.data(), r_.data(), k_ * bc_); }

  void reset_history() {
    head_ = 0;
    std::fill(used_.begin(), used_.end(), 0);
    std::fill(best_.begin(), best_.end(), std::numeric_limits<double>::infinity());
  }

  // Keeps the columns keep_ of every per-column array (rows x bc_, rows x nb after).
  void compact() {
    const auto nb = static_cast<Index>(keep_.size());
    auto keep = [&](auto& a, Index rows) {
      for (Index i = 0; i < rows; ++i) {
        for (Index c = 0; c < nb; ++c) a[static_cast<std::size_t>(i * nb + c)] = a[static_cast<std::size_t>(i * bc_ + keep_[static_cast<std::size_t>(c)])];
      }
    };
    for (auto* a : {&d_, &u_, &r_, &g_}) keep(*a, k_);
    for (auto& a : dg_) keep(a, k_);
    for (auto& a : df_) keep(a, k_);
    keep(col_, 1);
    keep(res_, 1);
    keep(used_, 1);
    keep(best_, 1);
    keep(gram_, depth_ * depth_);
    keep(rhs_, depth_);
    std::fill(done_.begin(), done_.begin() + nb, 0);
    bc_ = nb;
  }

  // One Anderson step per active sample (the whole-layer solver's, batch_solver.cpp, on the site):
  //   gamma = argmin || f_k - dF gamma ||,  u_{k+1} = u_k + beta f_k - (dX + beta dF) gamma.
  void anderson_step(const Activation& act) {
    const Index m = depth_;
    const Index bc = bc_;
    const T beta = static_cast<T>(opt_.anderson_mixing);
    if (m == 0) {
      for (std::size_t e = 0; e < static_cast<std::size_t>(k_ * bc); ++e) u_[e] += beta * g_[e];
      activate_rows(act);
      return;
    }
    Index max_used = 0;
    for (Index c = 0; c < bc; ++c) max_used = std::max(max_used, used_[static_cast<std::size_t>(c)]);
    slots_.clear();
    for (Index j = 0; j < max_used; ++j) slots_.push_back((head_ - j + m) % m);
    const auto ns = static_cast<Index>(slots_.size());
    if (ns > 0) {
      acc_.assign(static_cast<std::size_t>(2 * ns * bc), 0.0);
      double* ag = acc_.data();
      double* ar = acc_.data() + ns * bc;
      dfs_.resize(static_cast<std::size_t>(ns));
      for (Index j = 0; j < ns; ++j) dfs_[static_cast<std::size_t>(j)] = df_[static_cast<std::size_t>(slots_[static_cast<std::size_t>(j)])].data();
      kernels::column_dots(dfs_.data(), ns, df_[static_cast<std::size_t>(head_)].data(), g_.data(), k_, bc, ag, ar);
      store_history_dots(ag, ar, slots_.data(), ns, head_, m, bc, gram_.data(), rhs_.data());
    }
    anderson_coefficients<T>(gram_.data(), rhs_.data(), bc, m, head_, res_.data(), opt_.anderson_restart, best_.data(),
                             used_.data(), coef_.data(), kept_.data(), work_);
    for (Index c = 0; c < bc; ++c) scale_[static_cast<std::size_t>(c)] = kept_[static_cast<std::size_t>(c)] ? beta : static_cast<T>(opt_.step_min);
    for (Index j = 0; j < ns; ++j) {
      const double* cj = coef_.data() + slots_[static_cast<std::size_t>(j)] * bc;
      for (Index c = 0; c < bc; ++c) cf_[static_cast<std::size_t>(j * bc + c)] = static_cast<T>(cj[c]);
    }
    const Index next = (head_ + 1) % m;
    if (bc == 1) {
      // One sample (online learning): the site's k values are one contiguous row, so the update
      // runs once over them with the sample's scale and coefficients repeated per neuron (the
      // same operations per value as row by row, in k calls on single values).
      std::fill(flat_scale_.begin(), flat_scale_.end(), scale_[0]);
      const T* rows[kMaxAndersonDepth];
      for (Index j = 0; j < ns; ++j) {
        std::fill_n(flat_coef_.begin() + j * k_, k_, cf_[static_cast<std::size_t>(j)]);
        rows[j] = dg_[static_cast<std::size_t>(slots_[static_cast<std::size_t>(j)])].data();
      }
      anderson_row_update(flat_scale_.data(), g_.data(), rows, flat_coef_.data(), ns, beta, k_, flat_step_.data(),
                          u_.data(), dg_[static_cast<std::size_t>(next)].data(), df_[static_cast<std::size_t>(next)].data());
      activate_rows(act);
      head_ = next;
      return;
    }
    T* __restrict d = step_.data();
    const T* __restrict sc = scale_.data();
    for (Index i = 0; i < k_; ++i) {
      T* __restrict ui = u_.data() + i * bc;
      const T* __restrict fi = g_.data() + i * bc;
      const T* rows[kMaxAndersonDepth];
      for (Index j = 0; j < ns; ++j) rows[j] = dg_[static_cast<std::size_t>(slots_[static_cast<std::size_t>(j)])].data() + i * bc;
      anderson_row_update(sc, fi, rows, cf_.data(), ns, beta, bc, d, ui, dg_[static_cast<std::size_t>(next)].data() + i * bc,
                          df_[static_cast<std::size_t>(next)].data() + i * bc);
      // Each row while it is in cache; narrow batches at once after the loop (activate_rows).
      if (bc >= kWholeSiteActivation) act.apply(ui, r_.data() + i * bc, bc);
    }
    if (bc < kWholeSiteActivation) activate_rows(act);
    head_ = next;
  }

  const SolverOptions& opt_;
  Index k_;
  Index depth_;
  Index bc_ = 0;
  Index head_ = 0;
  std::vector<T> d_, u_, r_, g_, pg_, step_, scale_, cf_;
  std::vector<T> flat_scale_, flat_step_, flat_coef_;  // one sample's scale and coefficients per neuron
  std::vector<std::vector<T>> dg_, df_;  // ring of depth_ columns: dX + beta dF, and dF
  std::vector<Index> col_, keep_, used_, slots_;
  std::vector<double> res_, uu_, best_, gram_, rhs_, acc_, coef_, work_;
  std::vector<unsigned char> kept_, done_;  // done_: finished, results taken, column not yet dropped
  std::vector<const T*> dfs_;
};

}  // namespace

template <typename T>
bool solve_site_anderson(const Network<T>& network, NonDeduced<ConstMatrixRef<T>> x, FixedPoints<T>& state,
                         const SolverOptions& options, const std::vector<signed char>* lateral_blocks_shared) {
  const auto P = static_cast<std::size_t>(network.num_layers());
  if (P > 1 && network.gamma() != 0.0) return false;  // feedback couples the sites across layers
  std::vector<SiteLayer<T>> layers(P);
  for (std::size_t p = 0; p < P; ++p) {
    const auto& layer = network.layer(static_cast<Index>(p));
    const Index k = layer.grid().channels;
    if (!layer.site_layout().lateral_full_blocks || k < 8) return false;
    const signed char known = lateral_blocks_shared && p < lateral_blocks_shared->size() ? (*lateral_blocks_shared)[p] : -1;
    if (known >= 0) {
      kernels::view_site_blocks(kernels::view_of(layer.L()), k, known == 1, layers[p].l);
    } else {
      kernels::view_site_blocks(kernels::view_of(layer.L()), k, layers[p].l);
    }
    layers[p].w = kernels::view_of(layer.W());
    layers[p].patch_rows = &layer.site_layout().patch_rows;
    layers[p].act = layer.activation();
    layers[p].preconditioned = site_preconditioner(layers[p].l, layers[p].act, layers[p].pre_values, layers[p].pre);
    layers[p].n = layer.size();
  }
  const Index batch = x.cols();
  if (batch == 0) return true;
  const double tol2 = options.tolerance * options.tolerance;
  // Activities below the current layer, neuron-major (the batched drive's layout).
  std::vector<T> below(static_cast<std::size_t>(x.rows() * batch));
  kernels::to_neuron_major(x.data(), x.rows(), batch, x.outerStride(), below.data());
  // A nudged network's top layer gains beta z: the input's rows after the first K.
  const Index top_rows = network.top_drive_rows();
  const std::vector<T> top(below.begin() + network.input_size() * batch, below.end());
  const std::vector<int> start(state.iterations.begin(), state.iterations.end());
  std::vector<unsigned char> converged(static_cast<std::size_t>(batch), 1);
  std::vector<int> iterations = start;
  for (std::size_t p = 0; p < P; ++p) {
    const SiteLayer<T>& layer = layers[p];
    const Index k = layer.l.k;
    auto& su_state = state.u[p];
    auto& sr_state = state.r[p];
    const int threads = std::max(1, omp_get_max_threads());
    // Sites in parallel, each solved for the whole batch (the widest rows for the block product; a
    // sample's iterates depend on its own column only). Per thread: the most iterations and the
    // every-site flag per sample, combined afterwards.
    std::vector<typename SiteSolver<T>::Totals> totals(static_cast<std::size_t>(threads));
    // Each site's residual terms per sample, summed in site order below (a sum in the order the
    // threads happened to take the sites would make the stopping decision vary between runs).
    std::vector<double> site_res(static_cast<std::size_t>(layer.l.sites * batch));
    std::vector<double> site_uu(site_res.size());
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(threads));
#pragma omp parallel num_threads(threads) if (layer.l.sites > 1)
    {
      // An exception must not leave the worksharing loop: each thread keeps its first and skips
      // its remaining sites; it is rethrown after the region.
      const auto t = static_cast<std::size_t>(omp_get_thread_num());
      auto& tot = totals[t];
      std::optional<SiteSolver<T>> solver;
      std::vector<T> su, sr;
      try {
        tot.every_site.assign(static_cast<std::size_t>(batch), 1);
        tot.iterations = start;
        solver.emplace(options, k, batch);
        su.resize(static_cast<std::size_t>(k * batch));
        sr.resize(su.size());
      } catch (...) {
        errors[t] = std::current_exception();
      }
#pragma omp for schedule(dynamic, 4)
      for (Index s = 0; s < layer.l.sites; ++s) {
        if (errors[t]) continue;
        try {
          SiteSolver<T>& site = *solver;
          // The site's drive (W^(p) r^(p-1))_s and starting point, neuron-major.
          T* d = site.drive().data();
          std::fill(d, d + k * batch, T(0));
          if ((*layer.patch_rows)[static_cast<std::size_t>(s)]) {
            kernels::shared_column_rows_accumulate(layer.w, s * k, k, below.data(), batch, T(1), d);
          } else {
            for (Index i = 0; i < k; ++i) kernels::csr_row_accumulate(layer.w, s * k + i, below.data(), batch, T(1), d + i * batch);
          }
          for (Index i = 0; i < k; ++i) {
            T* di = d + i * batch;
            if (p + 1 == P && top_rows > 0) {
              const T* ti = top.data() + (s * k + i) * batch;
              for (Index b = 0; b < batch; ++b) di[b] += ti[b];
            }
          }
          T* u0 = site.start_point().data();
          for (Index b = 0; b < batch; ++b) {
            const T* col = su_state.col(b).data() + s * k;
            for (Index i = 0; i < k; ++i) u0[i * batch + b] = col[i];
          }
          tot.res = site_res.data() + s * batch;
          tot.uu = site_uu.data() + s * batch;
          site.solve(layer, s, batch, start, su.data(), sr.data(), tot);
          for (Index b = 0; b < batch; ++b) {
            T* ucol = su_state.col(b).data() + s * k;
            T* rcol = sr_state.col(b).data() + s * k;
            for (Index i = 0; i < k; ++i) {
              ucol[i] = su[static_cast<std::size_t>(i * batch + b)];
              rcol[i] = sr[static_cast<std::size_t>(i * batch + b)];
            }
          }
        } catch (...) {
          errors[t] = std::current_exception();
        }
      }
    }
    for (auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
    for (Index b = 0; b < batch; ++b) {
      const auto sb = static_cast<std::size_t>(b);
      double res = 0, uu = 0;
      for (Index s = 0; s < layer.l.sites; ++s) {
        res += site_res[static_cast<std::size_t>(s * batch + b)];
        uu += site_uu[static_cast<std::size_t>(s * batch + b)];
      }
      bool every = true;
      for (const auto& tot : totals) {
        if (tot.every_site.empty()) continue;
        every = every && tot.every_site[sb];
        iterations[sb] = std::max(iterations[sb], tot.iterations[sb]);
      }
      if (!every && !residual_within(res, uu, tol2)) converged[sb] = 0;
    }
    if (p + 1 < P) {
      below.resize(static_cast<std::size_t>(layer.n * batch));
      kernels::to_neuron_major(sr_state.data(), layer.n, batch, sr_state.outerStride(), below.data());
    }
  }
  std::copy(iterations.begin(), iterations.end(), state.iterations.begin());
  std::copy(converged.begin(), converged.end(), state.converged.begin());
  return true;
}

template bool solve_site_anderson<float>(const Network<float>&, ConstMatrixRef<float>, FixedPoints<float>&,
                                         const SolverOptions&, const std::vector<signed char>*);
template bool solve_site_anderson<double>(const Network<double>&, ConstMatrixRef<double>, FixedPoints<double>&,
                                          const SolverOptions&, const std::vector<signed char>*);

}  // namespace simmatch::detail
