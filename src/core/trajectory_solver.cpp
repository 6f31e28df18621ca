// The fast solver's trajectory-following path (trajectory_solver.hpp): Euler along the dynamics
// of eq. 15 from rest, then ROS2 steps with local error control, their linear systems solved
// through the energy's Hessian.
#include "core/trajectory_solver.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <omp.h>
#include <vector>

#include "core/batch_solver.hpp"
#include "core/residual_test.hpp"
#include "core/block_newton.hpp"

namespace simmatch::detail {
namespace {

using Eigen::VectorXd;
using DoubleWeights = Eigen::SparseMatrix<double, Eigen::RowMajor, int>;

// Largest matrix (entries) stored dense below: 32 MB in double.
constexpr Index kLargestDenseMatrix = Index{1} << 22;

// A layer's W or L in double precision for products with one sample's vector. Dense where at
// least a quarter of it is non-zero (all-to-all layers; measured: the sparse product was half of
// contrastive training's time on a 500-neuron layer), and then a product walks only the columns
// of the vector's non-zero entries, which skips the rectified units at rest; sparse otherwise.
class DoubleMatrix {
public:
  // The dense copy is filled from m directly: through a sparse double copy it took 5 % of
  // contrastive training's time on a 784-500-10 network (one copy per batch of 20).
  template <typename S>
  explicit DoubleMatrix(const S& m) {
    const Index entries = m.rows() * m.cols();
    if (entries <= kLargestDenseMatrix && 4 * static_cast<Index>(m.nonZeros()) >= entries) {
      dense_ = Eigen::MatrixXd::Zero(m.rows(), m.cols());
      for (Index i = 0; i < m.outerSize(); ++i) {
        for (typename S::InnerIterator it(m, i); it; ++it) dense_(it.row(), it.col()) = static_cast<double>(it.value());
      }
      is_dense_ = true;
    } else {
      sparse_ = m.template cast<double>();
    }
  }
  // out += alpha A v.
  void add_product(double alpha, const Eigen::Ref<const VectorXd>& v, Eigen::Ref<VectorXd> out) const {
    if (!is_dense_) {
      out.noalias() += alpha * (sparse_ * v);
      return;
    }
    for (Index j = 0; j < v.size(); ++j) {
      if (v[j] != 0.0) out.noalias() += (alpha * v[j]) * dense_.col(j);
    }
  }
  // out += alpha A^T v.
  void add_transposed_product(double alpha, const Eigen::Ref<const VectorXd>& v, Eigen::Ref<VectorXd> out) const {
    if (is_dense_) {
      out.noalias() += alpha * (dense_.transpose() * v);
    } else {
      out.noalias() += alpha * (sparse_.transpose() * v);
    }
  }

private:
  DoubleWeights sparse_;
  Eigen::MatrixXd dense_;
  bool is_dense_ = false;
};

// The network in double precision, for one sample at a time.
struct DoubleModel {
  std::vector<DoubleMatrix> w, l;
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
      w.emplace_back(net.layer(p).W());
      l.emplace_back(net.layer(p).L());
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

// Bounds of the integrator's step size: below the first no step is taken (the step's matrix
// stays indefinite even for a tiny step only when values are not finite); the second is a Newton
// step in all but name.
constexpr double kSmallestStep = 1e-10;
constexpr double kLargestStep = 1e12;
// Largest growth of the step size from one step to the next (the usual safety limit of step
// size control: the error estimate is only asymptotic).
constexpr double kStepGrowth = 4.0;
// Least growth of the step size for which the step's matrix is factorised anew; below it the
// factorisation is reused at the same step size.
constexpr double kLeastGrowth = 2.0;
// ROS2's gamma, 1 + 1/sqrt(2): the value that makes it L-stable.
constexpr double kRosenbrockGamma = 1.7071067811865475;
// Newton steps taken after the residual test holds, at most (as per-site Newton's polish).
constexpr int kPolishSteps = 4;
// After Anderson's direct path, a Newton step is taken only where it exceeds this many times the
// tolerance (of ||u||, in some layer). Steps of the order of the tolerance are the residual
// test's own slack, well inside the fidelity bound: on a float32 contrastive 784-500-10 network
// 40 % of the samples took one, moving them by 3.7e-7 (median), each for a second evaluation and
// factorisation. The defect the polish mends is larger: 130 times the tolerance on the network of
// bench/random_fidelity_sweep.py seed 230.
constexpr double kDirectPolishStep = 10.0;
// A stall: the residual ||g - u|| not halved within this many evaluations while the accepted steps
// get the state nowhere: the last one no longer moves it (below kStallStep ||u||), or their net
// displacement over those evaluations is at most kStallDrift of the distance they travelled (steps
// back and forth around a cycle). The sample then goes on by the Euler schedule (the reference),
// which follows the same trajectory. A trajectory that merely moves slowly (out of a saddle)
// travels in one direction and is left to the integrator.
constexpr int kStallEvaluations = 200;
constexpr double kStallStep = 1e-10;
constexpr double kStallDrift = 0.1;

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

// The error-controlled integration of eq. 15 for one sample at a time; one per thread.
template <typename T>
class TrajectoryIntegrator {
public:
  TrajectoryIntegrator(const DoubleModel& model, const EnergyHessian<T>& hessian,
                       std::vector<typename EnergyHessian<T>::Factor>& factors)
      : m_(model), h_(hessian), factors_(factors) {
    const auto n = static_cast<std::size_t>(m_.total);
    bound_.assign(n, 0);
    fpp_.assign(n, 0.0);
    slope_.assign(n, 0.0);
  }

  // From u (in/out) to the tolerance, within `budget` layer-input evaluations, starting with
  // steps of size `first_step`. Returns the evaluations used; `ok` when the residual test was met.
  //
  // The trajectory du/ds = -F(u), F = u - g(u), is integrated by ROS2, the two-stage linearly
  // implicit Rosenbrock method of Verwer, Spee, Blom and Hundsdorfer (SIAM J. Sci. Comput. 20,
  // 1999), with g = 1 + 1/sqrt(2):
  //   (I + g h J) k1 = -F(u),   (I + g h J) k2 = -F(u + h k1) - 2 k1,   u+ = u + h (3 k1 + k2) / 2,
  // second order and L-stable, so it takes the stiff directions in large steps and becomes
  // Newton's method once the state has settled (for large h the step is exact on a linear F).
  // Each stage is an implicit Euler solve of step g h, (I / (g h) + J) du = v, through the energy's
  // Hessian (solve_step). The step size is chosen by the local error, estimated by the embedded
  // first-order solution: h (k1 + k2) / 2 must stay within `error_tol` times the size of u in
  // every layer (max norms), so the state tracks the trajectory itself, however slowly it moves:
  // a trajectory that lingers near a saddle is followed out of it along the same side, which no
  // step size grown from residual progress guarantees. Where the step's matrix is not positive
  // definite (the energy is not convex at the scale of the step) the step is cut by 4.
  int run(const VectorXd& x, VectorXd& u, double tol, double error_tol, double first_step, int budget, bool& ok) {
    ok = false;
    int evals = 0;
    VectorXd r, g, u1, r1, g1, v, k1, trial, tr, tg;
    set_drive(x);
    evaluate(x, u, r, g);
    ++evals;
    snap(u, g);
    double fn = (g - u).norm();
    // ROS2's steps can settle where F(u) is not 0: with a clipped unit near its kink, the first
    // stage's state crosses it and the two stages cancel (3 k1 + k2 = 0), accepted steps of
    // 1e-15 at a residual of 3e-5, every evaluation to max_steps, where Euler from rest converges
    // (a random network of bench/random_fidelity_sweep.py, seed 7). They can also cycle there:
    // accepted steps of 5.6e-4 (|u| = 37) back and forth, the residual between 3.5e-5 and 4e-5
    // for 200,000 evaluations (the same network trained on a CPU without AVX-512). Such a stall
    // is handed back.
    double stall_mark = fn;
    int stall_from = evals;
    VectorXd window_start = u;  // the state where the current window of evaluations began
    double travelled = 0;       // the accepted steps' lengths since then
    double h = first_step;
    double factored_h = 0;  // the step size of the kept factorisation; 0 = none
    bool stalled = false;
    while (evals + 2 <= budget && !converged(u, g, tol) && !stalled) {
      const double delta = kRosenbrockGamma * h;
      // The factorisation is kept while the step size is (ROS2 keeps its order with a Jacobian
      // from an earlier state) and the rectifiers' flat units are those it was made for.
      if (h != factored_h || !same_flat_units(u, r)) {
        factored_h = 0;
        if (!factorize_step(u, r, delta)) {
          h *= 0.25;
          if (h < kSmallestStep) break;
          continue;
        }
        factored_h = h;
      }
      v = g - u;
      solve_step(v, delta);
      k1 = du_ / delta;
      u1 = u + h * k1;
      evaluate(x, u1, r1, g1);
      ++evals;
      v = (g1 - u1) - 2.0 * k1;
      solve_step(v, delta);
      // h (k1 + k2) / 2 with k2 = du_ / delta.
      const VectorXd error = (0.5 * h) * (k1 + du_ / delta);
      trial = u + (0.5 * h) * (3.0 * k1 + du_ / delta);
      const double ratio = error_ratio(error, u, trial, error_tol);
      if (!(ratio <= 1.0) || !trial.allFinite()) {
        h *= std::isfinite(ratio) ? std::max(0.2, 0.9 / std::sqrt(ratio)) : 0.25;
        if (h < kSmallestStep) break;
        continue;
      }
      evaluate(x, trial, tr, tg);
      ++evals;
      snap(trial, tg);
      // A step may speed the state up (leaving a saddle) but not blow it up: the only guard
      // where there is no error control (a unique fixed point, finish_with_continuation).
      const double fn_t = (tg - trial).norm();
      if (!(std::isfinite(fn_t) && fn_t <= 10.0 * fn + std::numeric_limits<double>::min())) {
        h *= 0.25;
        if (h < kSmallestStep) break;
        continue;
      }
      fn = fn_t;
      const double moved = (trial - u).norm();
      travelled += moved;
      const bool progress = fn <= 0.5 * stall_mark;
      if (progress) stall_mark = fn;
      if (progress || evals - stall_from >= kStallEvaluations) {
        // The window ends: a stall where the last step no longer moves the state or the steps
        // went round in a cycle; a trajectory that got somewhere gets another window.
        if (!progress) stalled = moved <= kStallStep * u.norm() || (trial - window_start).norm() <= kStallDrift * travelled;
        stall_from = evals;
        window_start = trial;
        travelled = 0;
      }
      u.swap(trial);
      r.swap(tr);
      g.swap(tg);
      // The step size changes (and the matrix is factorised anew) only where it can at least
      // double: a factorisation costs more than the steps a smaller growth would save.
      const double growth = std::min(kStepGrowth, 0.9 / std::sqrt(std::max(ratio, 1e-300)));
      if (growth >= kLeastGrowth) h = std::min(h * growth, kLargestStep);
    }
    ok = converged(u, g, tol);
    if (ok) evals += polish(x, u, r, g, tol, tol, budget - evals);
    return evals;
  }

  // polish() from a state that some other method brought to the residual test (Anderson's
  // direct jump), without touching u unless a step is taken. Returns the evaluations used by steps.
  int polish_from(const VectorXd& x, VectorXd& u, double tol, double step_tol, int budget) {
    set_drive(x);
    VectorXd r, g;
    evaluate(x, u, r, g);
    return polish(x, u, r, g, tol, step_tol, budget);
  }

private:
  // W^(1) x: the first layer's input is fixed for the whole solve of a sample.
  void set_drive(const VectorXd& x) {
    drive_.setZero(m_.size[0]);
    m_.w[0].add_product(1.0, x.head(m_.input), drive_);
  }

  // Once the residual test holds, Newton steps (the implicit step of infinite size, J du = g - u)
  // until the step, the distance to the fixed point to first order, is within the tolerance of
  // ||u|| in every layer, within `budget` evaluations. Where J is nearly singular the residual
  // bounds that distance only through J's inverse (a trained tanh layer of gain 4, 40 neurons per
  // site: samples up to 1.6e-5 from their fixed point at residual 3e-7, 1.4e-7 after these steps;
  // docs/performance.md, "A nearly singular network"; per-site Newton polishes the same way). A
  // step is taken only where the energy's Hessian is positive definite (a minimum, which the
  // trajectory descends to, not a saddle) and kept only where the residual test still holds after
  // it. Returns the evaluations used.
  int polish(const VectorXd& x, VectorXd& u, VectorXd& r, VectorXd& g, double tol, double step_tol, int budget) {
    constexpr double kNewton = std::numeric_limits<double>::infinity();
    int evals = 0;
    VectorXd v, trial, tr, tg;
    for (int k = 0; k < kPolishSteps && evals < budget; ++k) {
      if (!factorize_step(u, r, kNewton)) break;
      v = g - u;
      solve_step(v, kNewton);
      if (within(du_, u, step_tol)) break;
      trial = u + du_;
      evaluate(x, trial, tr, tg);
      ++evals;
      snap(trial, tg);
      if (!trial.allFinite() || !converged(trial, tg, tol)) break;
      u.swap(trial);
      r.swap(tr);
      g.swap(tg);
    }
    return evals;
  }

  // ||du|| <= tol ||u|| in every layer.
  bool within(const VectorXd& du, const VectorXd& u, double tol) const {
    for (Index p = 0; p < m_.layers(); ++p) {
      const auto sp = static_cast<std::size_t>(p);
      const double step = du.segment(m_.offset[sp], m_.size[sp]).squaredNorm();
      if (!residual_within(step, u.segment(m_.offset[sp], m_.size[sp]).squaredNorm(), tol * tol)) return false;
    }
    return true;
  }

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
        gp.setZero();
        m_.w[sp].add_product(1.0, r.segment(m_.offset[sp - 1], m_.size[sp - 1]), gp);
      }
      m_.l[sp].add_product(-1.0, rp, gp);
      gp += rp;
      if (m_.feedback && p + 1 < m_.layers()) {
        m_.w[sp + 1].add_transposed_product(m_.gamma, r.segment(m_.offset[sp + 1], m_.size[sp + 1]), gp);
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
      if (!residual_within(res, uu, tol * tol)) return false;
    }
    return true;
  }

  // The implicit Euler solve of step delta, (I / delta + J) du = v (v = -F, F = u - g(u), for an
  // implicit Euler step). The Jacobian satisfies H D' = diag(w) J (H the energy Hessian at
  // r = f(u), D' = diag f'(u)), so it is solved in r as (H + diag(w / (delta f'))) dr = w v on the
  // units off the rectifiers' flat pieces, du = dr / f'(u); a unit on a flat piece (f' = 0) takes
  // du = delta / (1 + delta) v, its row of J taken as I (its input's dependence on the other units
  // left out: ROS2 keeps its order two with any matrix in place of J). In the cascade (gamma = 0)
  // the layers are solved in order, layer p's right-hand side taking the change W^(p) dr^(p-1) of
  // its input. factorize_step factorises the matrix at (u, delta), false when it is not positive
  // definite; solve_step solves with the last factorisation. delta = infinity is Newton's step,
  // J du = v (a unit on a flat piece: du = v).
  bool factorize_step(const VectorXd& u, const VectorXd& r, double delta) {
    for (Index p = 0; p < m_.layers(); ++p) {
      const auto sp = static_cast<std::size_t>(p);
      const Activation& a = m_.act[sp];
      for (Index i = m_.offset[sp]; i < m_.offset[sp] + m_.size[sp]; ++i) {
        const double d = slope(a, u[i], r[i]);
        bound_[static_cast<std::size_t>(i)] = d == 0.0 ? 1 : 0;
        slope_[static_cast<std::size_t>(i)] = d;
        // F''(r) = 1 / f'(u) - 1, plus the implicit step's 1 / (delta f'(u)).
        fpp_[static_cast<std::size_t>(i)] = d == 0.0 ? 0.0 : 1.0 / d - 1.0 + 1.0 / (delta * d);
      }
    }
    for (Index s = 0; s < h_.systems(); ++s) {
      if (!h_.factorize(s, fpp_.data(), bound_.data(), 0.0, factors_[static_cast<std::size_t>(s)])) return false;
    }
    return true;
  }

  // The largest ratio over layers of the local error's max norm to error_tol times the layer's
  // size (the larger max norm of u before and after the step; an absolute floor of the smallest
  // normal double keeps a layer at rest from demanding a zero error). Measured per unit instead
  // (|e_i| against |u_i|, floored at 1e-2 or 1e-1 of the layer's largest), the gain-3 conv network
  // of docs/theory.md took 4x or 3x the time for the same fixed points.
  double error_ratio(const VectorXd& error, const VectorXd& before, const VectorXd& after, double error_tol) const {
    double worst = 0;
    for (Index p = 0; p < m_.layers(); ++p) {
      const auto sp = static_cast<std::size_t>(p);
      const double e = error.segment(m_.offset[sp], m_.size[sp]).lpNorm<Eigen::Infinity>();
      const double scale = std::max({before.segment(m_.offset[sp], m_.size[sp]).lpNorm<Eigen::Infinity>(),
                                     after.segment(m_.offset[sp], m_.size[sp]).lpNorm<Eigen::Infinity>(),
                                     std::numeric_limits<double>::min()});
      worst = std::max(worst, e / (error_tol * scale));
    }
    return worst;
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

  void solve_step(const VectorXd& v, double delta) {
    dr_.setZero(m_.total);
    for (Index s = 0; s < h_.systems(); ++s) {
      const Index b0 = h_.system_begin(s);
      const Index n = h_.system_size(s);
      VectorXd rhs(n);
      for (Index i = 0; i < n; ++i) {
        rhs[i] = bound_[static_cast<std::size_t>(b0 + i)] ? 0.0 : h_.weight(b0 + i) * v[b0 + i];
      }
      if (!h_.coupled() && s > 0) {
        const auto ss = static_cast<std::size_t>(s);
        VectorXd moved = VectorXd::Zero(m_.size[ss]);
        m_.w[ss].add_product(1.0, dr_.segment(m_.offset[ss - 1], m_.size[ss - 1]), moved);
        for (Index i = 0; i < n; ++i) {
          if (!bound_[static_cast<std::size_t>(b0 + i)]) rhs[i] += moved[i];
        }
      }
      VectorXd sol;
      factors_[static_cast<std::size_t>(s)].solve(rhs, sol);
      dr_.segment(b0, n) = sol;
    }
    const double flat = std::isinf(delta) ? 1.0 : delta / (1.0 + delta);
    du_.resize(m_.total);
    for (Index p = 0; p < m_.layers(); ++p) {
      const auto sp = static_cast<std::size_t>(p);
      for (Index i = m_.offset[sp]; i < m_.offset[sp] + m_.size[sp]; ++i) {
        du_[i] = bound_[static_cast<std::size_t>(i)] ? flat * v[i] : dr_[i] / slope_[static_cast<std::size_t>(i)];
      }
    }
  }

  const DoubleModel& m_;
  const EnergyHessian<T>& h_;
  std::vector<typename EnergyHessian<T>::Factor>& factors_;  // the worker's, kept across solves
  std::vector<unsigned char> bound_;
  std::vector<double> fpp_;
  std::vector<double> slope_;  // f'(u) at the factorised state
  VectorXd du_, dr_;
  VectorXd drive_;  // W^(1) x of the sample being solved
};

// Runs integrate(integrator, xb, u, b) for each sample b of `go` on the worker threads, with xb
// and u the sample's input and state in double; where it returns true, u and r = f(u) are written
// back to `state` (in T).
template <typename T, typename Integrate>
void integrate_samples(const DoubleModel& model, const Network<T>& network, HessianWorkspace<T>& workspace,
                       ConstMatrixRef<T> x, FixedPoints<T>& state, const std::vector<Index>& go, Integrate integrate) {
  const std::size_t P = state.u.size();
  const EnergyHessian<T>& hessian = workspace.current(network);
  const auto workers = static_cast<std::size_t>(std::max(1, omp_get_max_threads()));
  for (std::size_t t = 0; t < workers; ++t) workspace.factors(t);  // sized before the threads start
  for_each_chunk(static_cast<Index>(go.size()), [&](Index first, Index count) {
    TrajectoryIntegrator<T> integrator(model, hessian, workspace.factors(static_cast<std::size_t>(omp_get_thread_num())));
    VectorXd xb, u, r;
    for (Index j = first; j < first + count; ++j) {
      const Index b = go[static_cast<std::size_t>(j)];
      xb = x.col(b).template cast<double>();
      u.resize(model.total);
      for (std::size_t p = 0; p < P; ++p) u.segment(model.offset[p], model.size[p]) = state.u[p].col(b).template cast<double>();
      if (!integrate(integrator, xb, u, b)) continue;
      r.resize(model.total);
      for (std::size_t p = 0; p < P; ++p) {
        model.act[p].apply(u.data() + model.offset[p], r.data() + model.offset[p], model.size[p]);
        state.u[p].col(b) = u.segment(model.offset[p], model.size[p]).template cast<T>();
        state.r[p].col(b) = r.segment(model.offset[p], model.size[p]).template cast<T>();
      }
    }
  });
}

}  // namespace

template <typename T>
void solve_continued(const Network<T>& network, HessianWorkspace<T>& workspace, ConstMatrixRef<T> x,
                     FixedPoints<T>& state, const SolverOptions& options) {
  const Index batch = x.cols();
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
  const DoubleModel model(network);
  integrate_samples(model, network, workspace, x, state, go, [&](TrajectoryIntegrator<T>& integrator, const VectorXd& xb, VectorXd& u, Index b) {
    const auto sb = static_cast<std::size_t>(b);
    // The Euler phase's last evaluation took no step: its schedule stands at that many steps.
    const int steps = state.iterations[sb] - 1;
    const double h = std::max(options.step_initial / (1.0 + options.step_decay * steps), options.step_min);
    bool ok = false;
    const int budget = std::max(1, options.max_steps - state.iterations[sb]);
    state.iterations[sb] += integrator.run(xb, u, options.tolerance, options.trajectory_tolerance, h, budget, ok);
    state.converged[sb] = ok ? 1 : 0;
    state.path[sb] = SolverPath::continued;
    return true;
  });
  // Where the integrator could not finish (its budget spent, or no definite step at all), the
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

template <typename T>
void polish_converged(const Network<T>& network, HessianWorkspace<T>& workspace, ConstMatrixRef<T> x,
                      FixedPoints<T>& state, const SolverOptions& options) {
  std::vector<Index> go;
  for (Index b = 0; b < x.cols(); ++b) {
    const auto sb = static_cast<std::size_t>(b);
    if (state.converged[sb] && state.path[sb] == SolverPath::direct && state.iterations[sb] < options.max_steps) {
      go.push_back(b);
    }
  }
  if (go.empty()) return;
  const DoubleModel model(network);
  integrate_samples(model, network, workspace, x, state, go, [&](TrajectoryIntegrator<T>& integrator, const VectorXd& xb, VectorXd& u, Index b) {
    const auto sb = static_cast<std::size_t>(b);
    const int steps = integrator.polish_from(xb, u, options.tolerance, kDirectPolishStep * options.tolerance,
                                             options.max_steps - state.iterations[sb]);
    state.iterations[sb] += steps;
    return steps > 0;  // otherwise the state stands as the solver left it, bit for bit
  });
}

template void solve_continued<float>(const Network<float>&, HessianWorkspace<float>&, ConstMatrixRef<float>,
                                     FixedPoints<float>&, const SolverOptions&);
template void solve_continued<double>(const Network<double>&, HessianWorkspace<double>&, ConstMatrixRef<double>,
                                      FixedPoints<double>&, const SolverOptions&);

template void polish_converged<float>(const Network<float>&, HessianWorkspace<float>&, ConstMatrixRef<float>,
                                      FixedPoints<float>&, const SolverOptions&);
template void polish_converged<double>(const Network<double>&, HessianWorkspace<double>&, ConstMatrixRef<double>,
                                       FixedPoints<double>&, const SolverOptions&);

}  // namespace simmatch::detail
