// Neural dynamics (eq. 15) solved to a fixed point for a batch of clamped inputs: every layer
// together, feedback gamma W^(p+1)T r^(p+1) included. Solvers are interchangeable; all must reach
// the fixed point r = f(W r^(p-1) - (L - I) r + gamma W^(p+1)T r^(p+1)) (THEORY.md check 2).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "simmatch/network.hpp"
#include "simmatch/types.hpp"

namespace simmatch {

enum class SolverMethod { euler, fast };

/// Solver settings. The default method is the fast solver: it reaches the Euler fixed point
/// (tests/property/solver_equivalence_test.cpp) in ~15x fewer iterations with the same linear
/// read-out accuracy (docs/performance.md); `euler` with the schedule below is the reference.
struct SolverOptions {
  SolverMethod method = SolverMethod::fast;
  /// Euler step at iteration n (0-based): max(step_initial / (1 + step_decay n), step_min).
  double step_initial = 0.2;
  double step_decay = 0.005;
  double step_min = 0.05;
  /// Stop a sample when ||du^(p)|| / ||u^(p)|| < tolerance for every layer p, du being the
  /// increment of the last step, or after max_steps steps.
  double tolerance = 1e-4;
  int max_steps = 3000;
  /// Fast solver only: Anderson history depth m (0 = plain damped iteration), mixing beta of
  /// u_{k+1} = u_k + beta f_k - (dX + beta dF) gamma, and the restart threshold: a sample whose
  /// residual norm exceeds `anderson_restart` times its best clears its history.
  int anderson_depth = 5;
  double anderson_mixing = 1.0;
  double anderson_restart = 100.0;
  /// Fast solver only: layers whose lateral connections stay within sites of at most this many
  /// neurons (lateral radius 0), without feedback, are solved by per-site Newton (cost ~k^3/3
  /// multiply-adds per site and iteration, few iterations however stiff the trained L is);
  /// larger sites use Anderson. 0 = always Anderson. At most 256. Measured on MNIST
  /// (docs/performance.md): once L is trained, Anderson needs hundreds of iterations at 64-100
  /// per site and Newton 7-8, so Newton is the default up to 128.
  int newton_max_site = 128;
};

/// "euler" or "fast"; throws ConfigError otherwise.
SolverMethod solver_method_from_name(const std::string& name);
std::string solver_method_name(SolverMethod method);

/// Fixed points of a batch of B samples. u[p] and r[p] are N_p x B (column b = sample b).
template <typename T>
struct FixedPoints {
  std::vector<Matrix<T>> u;
  std::vector<Matrix<T>> r;
  std::vector<int> iterations;        // steps taken, per sample
  std::vector<unsigned char> converged;  // 1 when the tolerance was met, per sample

  Index batch_size() const { return static_cast<Index>(iterations.size()); }
  double mean_iterations() const;
  double converged_fraction() const;
};

template <typename T>
class DynamicsSolver {
public:
  virtual ~DynamicsSolver() = default;
  /// Solves eq. 15 for the K x B inputs `x` (K = network.input_size()). `state` is resized;
  /// when it already holds a batch of the right shape its u is the starting point (warm start),
  /// otherwise u starts at 0. Throws ShapeError when x has the wrong number of rows.
  virtual void solve(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state) const = 0;
  virtual const SolverOptions& options() const = 0;
};

/// Reference Euler integration of eq. 15 with the schedule of SolverOptions.
template <typename T>
class EulerSolver : public DynamicsSolver<T> {
public:
  explicit EulerSolver(SolverOptions options = {});
  void solve(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state) const override;
  const SolverOptions& options() const override { return options_; }

private:
  SolverOptions options_;
};

/// Anderson-accelerated fixed-point iteration of eq. 15 (SolverMethod::fast): same fixed point as
/// EulerSolver in far fewer iterations. Iteration k evaluates the layer inputs g = g(u_k) (one
/// evaluation costs the same as one Euler step) and stops a sample when, for every layer p,
///   ||f(g^(p)) - r^(p)|| <= tolerance ||r^(p)||,   r^(p) = f(u^(p)),
/// i.e. the fixed-point residual of THEORY.md check 2 of the returned r. For tanh this is tested
/// through the bound gain ||g^(p) - u^(p)|| >= ||f(g^(p)) - f(u^(p))||, which saves a second tanh
/// per iteration. Euler's test ||du|| <= tol ||u|| with step s < 1 means ||g - u|| <= (tol / s) ||u||,
/// so at equal `tolerance` this test is at least 1/s (5 to 20) times stricter.
/// `iterations` counts layer-input evaluations. Step-size options are used only for restarts.
template <typename T>
class FastSolver : public DynamicsSolver<T> {
public:
  /// Throws ConfigError for tolerance <= 0, max_steps < 1, anderson_depth outside [0, 8],
  /// anderson_mixing outside (0, 1] or anderson_restart <= 1.
  explicit FastSolver(SolverOptions options = {});
  void solve(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state) const override;
  const SolverOptions& options() const override { return options_; }

private:
  SolverOptions options_;
};

/// The solver named by options.method.
template <typename T>
std::unique_ptr<DynamicsSolver<T>> make_solver(const SolverOptions& options);

/// Right-hand side of eq. 15 without the leak: the total input
/// W^(p) r^(p-1) - (L^(p) - I) r^(p) + gamma W^(p+1)T r^(p+1) of layer p for the batch.
/// `r` holds every layer's activities; r^(-1) is x.
template <typename T>
void layer_input(const Network<T>& network, NonDeduced<ConstMatrixRef<T>> x, const std::vector<Matrix<T>>& r,
                 Index p, Matrix<T>& out);

/// Largest relative fixed-point residual over layers and samples:
/// max_p,b ||r^(p)_b - f(layer_input)|| / max(||r^(p)_b||, tiny)   (THEORY.md check 2).
template <typename T>
double fixed_point_residual(const Network<T>& network, NonDeduced<ConstMatrixRef<T>> x, const std::vector<Matrix<T>>& r);

extern template class EulerSolver<float>;
extern template class EulerSolver<double>;
extern template class FastSolver<float>;
extern template class FastSolver<double>;

}  // namespace simmatch
