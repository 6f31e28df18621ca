// Neural dynamics (eq. 15) solved to a fixed point for a batch of clamped inputs: every layer
// together, feedback gamma W^(p+1)T r^(p+1) included. Solvers are interchangeable; all must reach
// the fixed point r = f(W r^(p-1) - (L - I) r + gamma W^(p+1)T r^(p+1)) (docs/theory.md check 2).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "simmatch/network.hpp"
#include "simmatch/types.hpp"

namespace simmatch {

enum class SolverMethod { euler, fast };

/// Solver settings. Every method stops a sample at the first state whose residual of eq. 15,
///   ||du^(p)/ds|| / ||u^(p)|| = ||g^(p)(u) - u^(p)|| / ||u^(p)||   (g = layer_input below),
/// is at most `tolerance` in every layer p (docs/theory.md, "Solving eq. 15"). The default
/// method is the fast solver: it returns the fixed point that the dynamics reach from rest, as
/// Euler does (tests/property/solver_equivalence_test.cpp, solver_fidelity_test.cpp), in far fewer
/// iterations; `euler` with the schedule below is the reference.
struct SolverOptions {
  SolverMethod method = SolverMethod::fast;
  /// Euler step at iteration n (0-based): max(step_initial / (1 + step_decay n), step_min).
  double step_initial = 0.2;
  double step_decay = 0.005;
  double step_min = 0.05;
  /// Stop a sample when the residual above is <= tolerance in every layer, or after max_steps
  /// layer-input evaluations. 0 = the method's default: kEulerTolerance for Euler (the
  /// reference code's rule), kFastTolerance for the fast solver. The fast solver's per-site
  /// Newton and trajectory paths then also take Newton steps until the step is within the
  /// tolerance of ||u||, and its whole-network Anderson path wherever the step exceeds 10 times it.
  double tolerance = 0;
  int max_steps = 3000;
  /// Fast solver, networks whose fixed point is not provably unique: the trajectory is followed
  /// by Euler steps until the residual is below `switch_tolerance` (never below `tolerance`),
  /// then by a linearly implicit integrator (ROS2) whose local error per step stays within
  /// `trajectory_tolerance` times the size of u (max norm, per layer), down to `tolerance`.
  double switch_tolerance = 1e-2;
  double trajectory_tolerance = 1e-3;
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

/// Default tolerances (SolverOptions::tolerance = 0). Euler's is the reference code's; float32
/// Euler stagnates near 1e-6, so it cannot have the fast solver's. With the fast solver's, and
/// the Newton steps its per-site path takes after the residual test until the step is within the
/// tolerance, the returned activities of the trained reference layers lie within 1e-4 (relative,
/// per sample) of the exact fixed point (docs/performance.md, "Fidelity").
inline constexpr double kEulerTolerance = 1e-4;
inline constexpr double kFastTolerance = 3e-7;

/// Bounds of the fast solver's options (SolverOptions): the deepest Anderson history, which also
/// sizes the small dense solve of the mixing step, and the largest site solved by per-site Newton.
inline constexpr int kMaxAndersonDepth = 8;
inline constexpr int kMaxNewtonSite = 256;

/// How the fast solver reached a sample's fixed point (FixedPoints::path).
enum class SolverPath : unsigned char {
  /// The fixed point is provably unique (the energy is strictly convex): accelerated from rest.
  direct = 0,
  /// Euler steps along the trajectory from rest, then the same trajectory integrated by a linearly
  /// implicit method with local error control (ROS2) to the tolerance.
  continued = 1,
  /// Euler steps along the trajectory all the way to the tolerance (also every `euler` sample).
  followed = 2,
};
std::string solver_path_name(SolverPath path);

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
  std::vector<SolverPath> path;          // how each sample was solved

  Index batch_size() const { return static_cast<Index>(iterations.size()); }
  double mean_iterations() const;
  double converged_fraction() const;
  /// Whether sample b's state has overflowed: some layer's ||u||^2 is not finite in double (an
  /// infinite or NaN activity, or values beyond ~1e154). Such a sample diverged; no fixed point
  /// lies there, and solvers stop it as unconverged.
  bool overflowed(Index b) const;
  /// Number of samples solved by `which`.
  Index path_count(SolverPath which) const;
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
  /// Tolerance 0 becomes kEulerTolerance. Throws ConfigError for a negative tolerance, step
  /// sizes <= 0, step_decay < 0 or max_steps < 1.
  explicit EulerSolver(SolverOptions options = {});
  void solve(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state) const override;
  const SolverOptions& options() const override { return options_; }

private:
  SolverOptions options_;
};

/// The default solver (SolverMethod::fast): the fixed point that eq. 15's dynamics reach from
/// rest, in far fewer iterations than Euler. First it decides, by a sparse Cholesky factorisation
/// of the energy's Hessian with F'' at its lower bound, whether the fixed point is unique (the
/// energy strictly convex). If so it jumps straight to it: per-site Newton where the lateral
/// structure is block diagonal without feedback, Anderson acceleration of u -> g(u) otherwise
/// (SolverPath::direct). If not (an indefinite L, e.g. after training with lateral_radius >= 1,
/// or strong feedback) it follows the trajectory from rest: the reference Euler schedule down to
/// `switch_tolerance`, then the same dynamics integrated by ROS2 (linearly implicit, second order,
/// steps chosen by their local error, `trajectory_tolerance`) to the tolerance (docs/theory.md,
/// eq. 15's solvers; SolverPath::continued; Euler to the tolerance where that does not finish,
/// SolverPath::followed). `iterations` counts
/// layer-input evaluations (Euler steps, Anderson, Newton or implicit iterations together).
template <typename T>
class FastSolver : public DynamicsSolver<T> {
public:
  /// Tolerance 0 becomes kFastTolerance. Throws ConfigError for a negative tolerance,
  /// switch_tolerance <= 0, max_steps < 1, anderson_depth outside [0, 8], anderson_mixing outside
  /// (0, 1] or anderson_restart <= 1.
  explicit FastSolver(SolverOptions options = {});
  void solve(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state) const override;
  const SolverOptions& options() const override { return options_; }

private:
  SolverOptions options_;
  // The energy Hessian's pattern and factorisations, kept across solves (copies share it).
  struct Workspace;
  std::shared_ptr<Workspace> workspace_;
};

/// The solver named by options.method.
template <typename T>
std::unique_ptr<DynamicsSolver<T>> make_solver(const SolverOptions& options);

/// Right-hand side of eq. 15 without the leak: the total input
/// W^(p) r^(p-1) - (L^(p) - I) r^(p) + gamma W^(p+1)T r^(p+1) of layer p for the batch, plus
/// beta z on the top layer of a nudged network (x = [x; beta z], Network::top_drive_rows).
/// `r` holds every layer's activities; r^(-1) is x.
template <typename T>
void layer_input(const Network<T>& network, NonDeduced<ConstMatrixRef<T>> x, const std::vector<Matrix<T>>& r,
                 Index p, Matrix<T>& out);

/// The input of a solve on a network with a top-layer drive (Network::top_drive_rows): the
/// network's inputs x (input_size x B) stacked over the drive of its top layer (top_drive_rows x
/// B), [x; drive]. ShapeError when the two have different numbers of samples. A batch of 0
/// samples gives a (rows x 0) matrix.
template <typename T>
Matrix<T> stack_top_drive(NonDeduced<ConstMatrixRef<T>> x, NonDeduced<ConstMatrixRef<T>> drive);

/// Largest relative fixed-point residual over layers and samples:
/// max_p,b ||r^(p)_b - f(layer_input)|| / max(||r^(p)_b||, tiny)   (docs/theory.md check 2).
template <typename T>
double fixed_point_residual(const Network<T>& network, NonDeduced<ConstMatrixRef<T>> x, const std::vector<Matrix<T>>& r);

/// Largest residual of eq. 15 over layers and samples, the quantity every solver's tolerance
/// bounds: max_p,b ||g^(p)_b - u^(p)_b|| / ||u^(p)_b||, g = layer_input at the state's r = f(u)
/// (0 where both norms are 0).
template <typename T>
double dynamics_residual(const Network<T>& network, NonDeduced<ConstMatrixRef<T>> x, const FixedPoints<T>& state);

extern template class EulerSolver<float>;
extern template class EulerSolver<double>;
extern template class FastSolver<float>;
extern template class FastSolver<double>;

}  // namespace simmatch
