// The fast solver's trajectory-following path (trajectory_solver.hpp): Euler along the dynamics
// of eq. 15 from rest, then implicit Euler steps of growing size (pseudo-transient continuation)
// solved through the energy's Hessian.
#include "core/trajectory_solver.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <omp.h>
#include <vector>

#include "core/batch_solver.hpp"
#include "core/block_newton.hpp"

namespace simmatch::detail {
namespace {

using Eigen::VectorXd;
using DoubleWeights = Eigen::SparseMatrix<double, Eigen::RowMajor, int>;

// The network in double precision, for one sample at a time.
struct DoubleModel {
  std::vector<DoubleWeights> w, l;
  std::vector<Activation> act;
  std::vector<Index> offset, size;
  Index total = 0;
  Index input = 0;      // K; a nudged network's inputs carry top_drive rows of beta z after it
  Index top_drive = 0;
  double gamma = 0;
  bool feedback = false;

  template <typename T>
  explicit DoubleModel(const Network<T>& net) {
    gamma = net.gamma();
    input = net.input_size();
    top_drive = net.top_drive_rows();
    feedback = net.gamma() != 0.0 && net.num_layers() > 1;
    for (Index p = 0; p < net.num_layers(); ++p) {
      w.push_back(net.layer(p).W().template cast<double>());
      l.push_back(net.layer(p).L().template cast<double>());
      act.push_back(net.layer(p).activation());
      offset.push_back(total);
      size.push_back(net.layer(p).size());
      total += net.layer(p).size();
    }
  }
  Index layers() const { return static_cast<Index>(act.size()); }
  bool smooth(Index p) const {
    const ActivationKind k = act[static_cast<std::size_t>(p)].kind();
    return k == ActivationKind::tanh || k == ActivationKind::linear;
  }
};

// Bounds of the continuation's step size: below the first no step is taken (the step's matrix
// stays indefinite even for a tiny step only when values are not finite); the second is a Newton
// step in all but name.
constexpr double kSmallestStep = 1e-10;
constexpr double kLargestStep = 1e12;
// Least growth of the step size at each new factorisation (measured: 4 halves the factorisations
// of plain switched evolution relaxation on trained deep networks, same fixed points).
constexpr double kStepGrowth = 4.0;

// f'(u) given r = f(u); 0 on the flat pieces of the rectifiers. For tanh it is kept above a
// floor so that a unit saturated to r = +-1 in double still has a finite curvature F'' = 1/f' - 1.
double slope(const Activation& a, double u, double r) {
  switch (a.kind()) {
    case ActivationKind::linear: return 1.0;
    case ActivationKind::tanh: return std::max(a.gain() * (1.0 - r * r), 1e-200);
    case ActivationKind::relu: return u > 0 ? 1.0 : 0.0;
    case ActivationKind::clipped_relu: return u > 0 && u < a.clip() ? 1.0 : 0.0;
  }
  return 1.0;
}

// Pseudo-transient continuation of eq. 15 for one sample at a time; one per thread.
template <typename T>
class ImplicitContinuation {
public:
  ImplicitContinuation(const DoubleModel& model, const EnergyHessian<T>& hessian,
                       std::vector<typename EnergyHessian<T>::Factor>& factors)
      : m_(model), h_(hessian), factors_(factors) {
    const auto n = static_cast<std::size_t>(m_.total);
    bound_.assign(n, 0);
    fpp_.assign(n, 0.0);
  }

  // From u (in/out) to the tolerance, within `budget` layer-input evaluations, starting with
  // implicit steps of size `first_step`. Returns the evaluations used; `ok` when the residual
  // test was met.
  //
  // Each iteration is one implicit (backward) Euler step of eq. 15 of size delta,
  //   (I / delta + J) du = -F(u),   F = u - g(u),   J its Jacobian,
  // which for the energy's descent is a proximal step: it moves to the nearby minimum of the
  // energy plus a penalty, growing as 1 / delta, on the distance travelled, so it follows the
  // trajectory as Euler does. delta grows as the residual falls (switched evolution relaxation,
  // delta_{k+1} = delta_k ||F_k|| / ||F_{k+1}||): the steps become Newton steps once the state
  // settles. It is cut by 4 whenever the step's matrix H + W D'^{-1} / delta is not positive
  // definite, i.e. where the energy is not convex at the scale of the step: near a saddle the
  // steps stay small and leave it along the dynamics' own unstable direction.
  int run(const VectorXd& x, VectorXd& u, double tol, double first_step, int budget, bool& ok) {
    ok = false;
    int evals = 0;
    VectorXd r, g, trial, tr, tg;
    drive_.noalias() = m_.w[0] * x.head(m_.input);  // the first layer's input is fixed
    evaluate(x, u, r, g);
    ++evals;
    snap(u, g);
    double fn = (g - u).norm();
    double delta = first_step;
    double fn_factored = fn;
    bool factored = false;
    while (evals < budget && !converged(u, g, tol)) {
      if (!factored || !same_flat_units(u, r)) {
        // Shrink the step until its matrix is positive definite.
        while (delta >= kSmallestStep && !factorize_step(u, r, delta)) {
          delta *= 0.25;
        }
        if (delta < kSmallestStep) break;
        factored = true;
        fn_factored = fn;
      }
      solve_step(u, r, g, delta);
      trial = u + du_;
      evaluate(x, trial, tr, tg);
      ++evals;
      snap(trial, tg);
      const double fn_t = (tg - trial).norm();
      // A step may speed the state up (leaving a saddle) but not blow it up: else a new, smaller
      // step from the same state.
      if (!(std::isfinite(fn_t) && fn_t <= 10.0 * fn + std::numeric_limits<double>::min())) {
        delta *= 0.25;
        factored = false;
        continue;
      }
      u.swap(trial);
      r.swap(tr);
      g.swap(tg);
      // The factorisation is kept while each step at least halves the residual (a chord
      // iteration); after a slower step the step size grows with the progress made since the
      // last factorisation, by at least kStepGrowth (switched evolution relaxation).
      if (fn_t > 0.5 * fn) {
        delta = std::min(delta * std::max(kStepGrowth, fn_factored / std::max(fn_t, std::numeric_limits<double>::min())),
                         kLargestStep);
        factored = false;
      }
      fn = fn_t;
    }
    ok = converged(u, g, tol);
    return evals;
  }

private:
  // r = f(u) and g = layer inputs of eq. 15.
  void evaluate(const VectorXd& x, const VectorXd& u, VectorXd& r, VectorXd& g) const {
    r.resize(m_.total);
    g.resize(m_.total);
    for (Index p = 0; p < m_.layers(); ++p) {
      const auto sp = static_cast<std::size_t>(p);
      m_.act[sp].apply(u.data() + m_.offset[sp], r.data() + m_.offset[sp], m_.size[sp]);
    }
    for (Index p = 0; p < m_.layers(); ++p) {
      const auto sp = static_cast<std::size_t>(p);
      auto gp = g.segment(m_.offset[sp], m_.size[sp]);
      const auto rp = r.segment(m_.offset[sp], m_.size[sp]);
      if (p == 0) {
        gp = drive_;
      } else {
        gp.noalias() = m_.w[sp] * r.segment(m_.offset[sp - 1], m_.size[sp - 1]);
      }
      gp.noalias() -= m_.l[sp] * rp;
      gp += rp;
      if (m_.feedback && p + 1 < m_.layers()) {
        gp.noalias() += m_.gamma * (m_.w[sp + 1].transpose() * r.segment(m_.offset[sp + 1], m_.size[sp + 1]));
      }
      if (m_.top_drive > 0 && p + 1 == m_.layers()) gp += x.tail(m_.top_drive);
    }
  }

  // Units on a flat piece of a rectifier whose input stays on that piece move straight to it
  // (u = g leaves r, hence g, unchanged): exactly where the dynamics take them.
  void snap(VectorXd& u, const VectorXd& g) const {
    for (Index p = 0; p < m_.layers(); ++p) {
      const Activation& a = m_.act[static_cast<std::size_t>(p)];
      if (m_.smooth(p)) continue;
      const double top = a.kind() == ActivationKind::clipped_relu ? a.clip() : std::numeric_limits<double>::infinity();
      for (Index i = m_.offset[static_cast<std::size_t>(p)]; i < m_.offset[static_cast<std::size_t>(p)] + m_.size[static_cast<std::size_t>(p)]; ++i) {
        if ((u[i] <= 0 && g[i] <= 0) || (u[i] >= top && g[i] >= top)) u[i] = g[i];
      }
    }
  }

  bool converged(const VectorXd& u, const VectorXd& g, double tol) const {
    for (Index p = 0; p < m_.layers(); ++p) {
      const auto sp = static_cast<std::size_t>(p);
      const double res = (g.segment(m_.offset[sp], m_.size[sp]) - u.segment(m_.offset[sp], m_.size[sp])).squaredNorm();
      const double uu = u.segment(m_.offset[sp], m_.size[sp]).squaredNorm();
      if (!(res <= tol * tol * uu)) return false;
    }
    return true;
  }

  // The implicit Euler step of size delta: (I / delta + J) du = -F, F = u - g(u). The Jacobian
  // satisfies H D' = diag(w) J (H the energy Hessian at r = f(u), D' = diag f'(u)), so the step
  // is solved in r as (H + diag(w / (delta f'))) dr = -w F on the units off the rectifiers' flat
  // pieces, du = dr / f'(u); a unit on a flat piece (f' = 0) has a fixed input g there and moves
  // by the exact implicit step du = delta / (1 + delta) (g - u). In the cascade (gamma = 0) the
  // layers are solved in order, layer p's right-hand side taking the change W^(p) dr^(p-1) of its
  // input. factorize_step factorises the matrix at (u, delta), false when it is not positive
  // definite; solve_step takes the step from the state u with the last factorisation.
  bool factorize_step(const VectorXd& u, const VectorXd& r, double delta) {
    for (Index p = 0; p < m_.layers(); ++p) {
      const auto sp = static_cast<std::size_t>(p);
      const Activation& a = m_.act[sp];
      for (Index i = m_.offset[sp]; i < m_.offset[sp] + m_.size[sp]; ++i) {
        const double d = slope(a, u[i], r[i]);
        bound_[static_cast<std::size_t>(i)] = d == 0.0 ? 1 : 0;
        // F''(r) = 1 / f'(u) - 1, plus the implicit step's 1 / (delta f'(u)).
        fpp_[static_cast<std::size_t>(i)] = d == 0.0 ? 0.0 : 1.0 / d - 1.0 + 1.0 / (delta * d);
      }
    }
    for (Index s = 0; s < h_.systems(); ++s) {
      if (!h_.factorize(s, fpp_.data(), bound_.data(), 0.0, factors_[static_cast<std::size_t>(s)])) return false;
    }
    return true;
  }

  // Whether the units on flat pieces are those of the last factorisation.
  bool same_flat_units(const VectorXd& u, const VectorXd& r) const {
    for (Index p = 0; p < m_.layers(); ++p) {
      const auto sp = static_cast<std::size_t>(p);
      if (m_.smooth(p)) continue;
      for (Index i = m_.offset[sp]; i < m_.offset[sp] + m_.size[sp]; ++i) {
        if ((slope(m_.act[sp], u[i], r[i]) == 0.0) != (bound_[static_cast<std::size_t>(i)] != 0)) return false;
      }
    }
    return true;
  }

  void solve_step(const VectorXd& u, const VectorXd& r, const VectorXd& g, double delta) {
    dr_.setZero(m_.total);
    for (Index s = 0; s < h_.systems(); ++s) {
      const Index b0 = h_.system_begin(s);
      const Index n = h_.system_size(s);
      VectorXd rhs(n);
      for (Index i = 0; i < n; ++i) {
        rhs[i] = bound_[static_cast<std::size_t>(b0 + i)] ? 0.0 : -h_.weight(b0 + i) * (u[b0 + i] - g[b0 + i]);
      }
      if (!h_.coupled() && s > 0) {
        const auto ss = static_cast<std::size_t>(s);
        const VectorXd moved = m_.w[ss] * dr_.segment(m_.offset[ss - 1], m_.size[ss - 1]);
        for (Index i = 0; i < n; ++i) {
          if (!bound_[static_cast<std::size_t>(b0 + i)]) rhs[i] += moved[i];
        }
      }
      VectorXd sol;
      factors_[static_cast<std::size_t>(s)].solve(rhs, sol);
      dr_.segment(b0, n) = sol;
    }
    const double flat = delta / (1.0 + delta);
    du_.resize(m_.total);
    for (Index p = 0; p < m_.layers(); ++p) {
      const auto sp = static_cast<std::size_t>(p);
      for (Index i = m_.offset[sp]; i < m_.offset[sp] + m_.size[sp]; ++i) {
        du_[i] = bound_[static_cast<std::size_t>(i)] ? flat * (g[i] - u[i]) : dr_[i] / slope(m_.act[sp], u[i], r[i]);
      }
    }
  }

  const DoubleModel& m_;
  const EnergyHessian<T>& h_;
  std::vector<typename EnergyHessian<T>::Factor>& factors_;  // the worker's, kept across solves
  std::vector<unsigned char> bound_;
  std::vector<double> fpp_;
  VectorXd du_, dr_;
  VectorXd drive_;  // W^(1) x of the sample being solved
};

}  // namespace

template <typename T>
void solve_continued(const Network<T>& network, HessianWorkspace<T>& workspace, ConstMatrixRef<T> x,
                     FixedPoints<T>& state, const SolverOptions& options) {
  const Index batch = x.cols();
  const std::size_t P = state.u.size();
  const DoubleModel model(network);
  // Phase 1: the reference Euler schedule from the given state, to the switch tolerance. Where
  // the sites are independent systems (lateral structure within sites, no feedback) every site
  // must meet it: the implicit steps' size follows the whole residual, which the loud sites
  // dominate, and a faint site switched early left its trajectory for another fixed point (a
  // trained tanh layer of gain 4, 40 neurons per site: 2 samples of 12 moved by 10 %).
  SolverOptions euler = options;
  euler.tolerance = std::max(options.tolerance, options.switch_tolerance);
  const bool independent_sites = newton_blocks_apply(network, std::numeric_limits<Index>::max());
  solve_chunks(network, x, state, euler, Scheme::euler, independent_sites);
  if (euler.tolerance <= options.tolerance) return;  // already at the tolerance
  // Phase 2: implicit steps, continuing where Euler stopped.
  std::vector<Index> go;
  for (Index b = 0; b < batch; ++b) {
    if (state.converged[static_cast<std::size_t>(b)]) go.push_back(b);
  }
  if (go.empty()) return;
  const EnergyHessian<T>& hessian = workspace.prepare(network);
  const auto workers = static_cast<std::size_t>(std::max(1, omp_get_max_threads()));
  for (std::size_t t = 0; t < workers; ++t) workspace.factors(t);  // sized before the threads start
  for_each_chunk(static_cast<Index>(go.size()), [&](Index first, Index count) {
    ImplicitContinuation<T> continuation(model, hessian, workspace.factors(static_cast<std::size_t>(omp_get_thread_num())));
    VectorXd xb, u, r;
    for (Index j = first; j < first + count; ++j) {
      const Index b = go[static_cast<std::size_t>(j)];
      const auto sb = static_cast<std::size_t>(b);
      xb = x.col(b).template cast<double>();
      u.resize(model.total);
      for (std::size_t p = 0; p < P; ++p) u.segment(model.offset[p], model.size[p]) = state.u[p].col(b).template cast<double>();
      // The Euler phase's last evaluation took no step: its schedule stands at that many steps.
      const int steps = state.iterations[sb] - 1;
      const double h = std::max(options.step_initial / (1.0 + options.step_decay * steps), options.step_min);
      bool ok = false;
      const int budget = std::max(1, options.max_steps - state.iterations[sb]);
      state.iterations[sb] += continuation.run(xb, u, options.tolerance, h, budget, ok);
      r.resize(model.total);
      for (std::size_t p = 0; p < P; ++p) {
        model.act[p].apply(u.data() + model.offset[p], r.data() + model.offset[p], model.size[p]);
        state.u[p].col(b) = u.segment(model.offset[p], model.size[p]).template cast<T>();
        state.r[p].col(b) = r.segment(model.offset[p], model.size[p]).template cast<T>();
      }
      state.converged[sb] = ok ? 1 : 0;
      state.path[sb] = SolverPath::continued;
    }
  });
  // Where the continuation could not finish (its budget spent, or no definite step at all), the
  // Euler schedule goes on from the state it reached.
  std::vector<Index> rest;
  for (const Index b : go) {
    const auto sb = static_cast<std::size_t>(b);
    if (!state.converged[sb] && state.iterations[sb] < options.max_steps) rest.push_back(b);
  }
  solve_open_samples(x, state, rest, [&](ConstMatrixRef<T> xs, FixedPoints<T>& part) {
    solve_chunks(network, xs, part, options, Scheme::euler);
    std::fill(part.path.begin(), part.path.end(), SolverPath::followed);
  });
}

template void solve_continued<float>(const Network<float>&, HessianWorkspace<float>&, ConstMatrixRef<float>,
                                     FixedPoints<float>&, const SolverOptions&);
template void solve_continued<double>(const Network<double>&, HessianWorkspace<double>&, ConstMatrixRef<double>,
                                      FixedPoints<double>&, const SolverOptions&);

}  // namespace simmatch::detail
