// The public face of dynamics.hpp: the two solvers' option checks and state preparation,
// make_solver, and the residuals of eq. 15. The solving itself is internal: the batched engine
// (batch_solver.cpp) and the fast solver's choice of path (solver_paths.cpp).
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <mutex>

#include "simmatch/dynamics.hpp"
#include "core/batch_solver.hpp"
#include "core/energy_hessian.hpp"
#include "simmatch/error.hpp"

namespace simmatch {

SolverMethod solver_method_from_name(const std::string& name) {
  if (name == "euler") return SolverMethod::euler;
  if (name == "fast") return SolverMethod::fast;
  throw ConfigError(fmt::format("unknown solver method '{}' (expected euler or fast)", name));
}

std::string solver_method_name(SolverMethod method) {
  switch (method) {
    case SolverMethod::euler: return "euler";
    case SolverMethod::fast: return "fast";
  }
  throw InternalError("unknown solver method");
}

std::string solver_path_name(SolverPath path) {
  switch (path) {
    case SolverPath::direct: return "direct";
    case SolverPath::continued: return "continued";
    case SolverPath::followed: return "followed";
  }
  throw InternalError("unknown solver path");
}

template <typename T>
Index FixedPoints<T>::path_count(SolverPath which) const {
  return static_cast<Index>(std::count(path.begin(), path.end(), which));
}

template <typename T>
double FixedPoints<T>::mean_iterations() const {
  if (iterations.empty()) return 0.0;
  double sum = 0;
  for (int n : iterations) sum += n;
  return sum / static_cast<double>(iterations.size());
}

template <typename T>
double FixedPoints<T>::converged_fraction() const {
  if (converged.empty()) return 0.0;
  double sum = 0;
  for (unsigned char c : converged) sum += c;
  return sum / static_cast<double>(converged.size());
}

template <typename T>
bool FixedPoints<T>::overflowed(Index b) const {
  for (const Matrix<T>& layer : u) {
    double uu = 0;
    for (Index i = 0; i < layer.rows(); ++i) uu += static_cast<double>(layer(i, b)) * static_cast<double>(layer(i, b));
    if (!std::isfinite(uu)) return true;
  }
  return false;
}

namespace {

template <typename T>
void check_input(const Network<T>& network, ConstMatrixRef<T> x) {
  if (x.rows() != network.solver_input_rows()) {
    throw ShapeError(fmt::format("dynamics: inputs have {} features but the network expects {}", x.rows(),
                                 network.solver_input_rows()));
  }
}

// Sizes `state` for a batch of `batch` samples; keeps u as a warm start when the shape matches.
template <typename T>
void prepare_state(const Network<T>& network, Index batch, FixedPoints<T>& state) {
  const auto layers = static_cast<std::size_t>(network.num_layers());
  bool warm = state.u.size() == layers;
  for (std::size_t p = 0; warm && p < layers; ++p) {
    warm = state.u[p].rows() == network.layer(static_cast<Index>(p)).size() && state.u[p].cols() == batch;
  }
  if (!warm) {
    state.u.assign(layers, Matrix<T>());
    for (std::size_t p = 0; p < layers; ++p) {
      state.u[p].setZero(network.layer(static_cast<Index>(p)).size(), batch);
    }
  }
  state.r.resize(layers);
  for (std::size_t p = 0; p < layers; ++p) {
    state.r[p].resize(state.u[p].rows(), batch);
    network.layer(static_cast<Index>(p)).activation().apply(state.u[p].data(), state.r[p].data(), state.u[p].size());
  }
  state.iterations.assign(static_cast<std::size_t>(batch), 0);
  state.converged.assign(static_cast<std::size_t>(batch), 0);
  state.path.assign(static_cast<std::size_t>(batch), SolverPath::followed);
}

// Both solvers: check x, size the state (u = warm start or rest), then the batched engine with
// `scheme` (batch_solver.hpp).
template <typename T>
void solve_from_state(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state,
                      const SolverOptions& options, detail::Scheme scheme, detail::HessianWorkspace<T>* workspace) {
  check_input(network, x);
  prepare_state(network, x.cols(), state);
  detail::solve_batched<T>(network, x, state, options, scheme, workspace);
}

// Total input of layer p given the feedforward drive `ff` of that layer (W^(p) r^(p-1)).
template <typename T>
void add_recurrent_input(const Network<T>& network, const std::vector<Matrix<T>>& r, Index p, Matrix<T>& out) {
  const auto& layer = network.layer(p);
  const auto sp = static_cast<std::size_t>(p);
  out.noalias() -= layer.L() * r[sp];
  out += r[sp];
  if (p + 1 < network.num_layers() && network.gamma() != 0.0) {
    out.noalias() += static_cast<T>(network.gamma()) * (network.layer(p + 1).W().transpose() * r[sp + 1]);
  }
}

}  // namespace

template <typename T>
void layer_input(const Network<T>& network, NonDeduced<ConstMatrixRef<T>> x, const std::vector<Matrix<T>>& r, Index p,
                 Matrix<T>& out) {
  const auto& layer = network.layer(p);
  if (p == 0) {
    out.noalias() = layer.W() * x.topRows(network.input_size());
  } else {
    out.noalias() = layer.W() * r[static_cast<std::size_t>(p - 1)];
  }
  add_recurrent_input(network, r, p, out);
  // The nudged phase's beta z (the rows of x after the clamped input).
  if (p + 1 == network.num_layers() && network.top_drive_rows() > 0) out += x.bottomRows(network.top_drive_rows());
}

template <typename T>
double fixed_point_residual(const Network<T>& network, NonDeduced<ConstMatrixRef<T>> x, const std::vector<Matrix<T>>& r) {
  check_input(network, x);
  double worst = 0;
  Matrix<T> in;
  Matrix<T> fr;
  for (Index p = 0; p < network.num_layers(); ++p) {
    layer_input(network, x, r, p, in);
    fr.resize(in.rows(), in.cols());
    network.layer(p).activation().apply(in.data(), fr.data(), in.size());
    const auto& rp = r[static_cast<std::size_t>(p)];
    for (Index b = 0; b < in.cols(); ++b) {
      const double diff = static_cast<double>((rp.col(b) - fr.col(b)).norm());
      const double scale = std::max(static_cast<double>(rp.col(b).norm()), 1e-30);
      worst = std::max(worst, diff / scale);
    }
  }
  return worst;
}

template <typename T>
double dynamics_residual(const Network<T>& network, NonDeduced<ConstMatrixRef<T>> x, const FixedPoints<T>& state) {
  check_input(network, x);
  double worst = 0;
  Matrix<T> in;
  for (Index p = 0; p < network.num_layers(); ++p) {
    layer_input(network, x, state.r, p, in);
    const auto& up = state.u[static_cast<std::size_t>(p)];
    for (Index b = 0; b < in.cols(); ++b) {
      const double diff = static_cast<double>((in.col(b) - up.col(b)).norm());
      const double scale = static_cast<double>(up.col(b).norm());
      if (diff > 0) worst = std::max(worst, scale > 0 ? diff / scale : std::numeric_limits<double>::infinity());
    }
  }
  return worst;
}

template <typename T>
EulerSolver<T>::EulerSolver(SolverOptions options) : options_(options) {
  if (!(options_.step_initial > 0) || !(options_.step_min > 0) || !(options_.step_decay >= 0)) {
    throw ConfigError("euler solver: step_initial and step_min must be > 0 and step_decay >= 0");
  }
  if (options_.tolerance == 0) options_.tolerance = kEulerTolerance;
  if (!(options_.tolerance > 0)) throw ConfigError("euler solver: tolerance must be >= 0 (0 = the default)");
  if (options_.max_steps < 1) throw ConfigError("euler solver: max_steps must be >= 1");
}

template <typename T>
void EulerSolver<T>::solve(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state) const {
  solve_from_state<T>(network, x, state, options_, detail::Scheme::euler, nullptr);
}

template <typename T>
struct FastSolver<T>::Workspace {
  std::mutex mutex;
  detail::HessianWorkspace<T> hessian;
};

template <typename T>
FastSolver<T>::FastSolver(SolverOptions options) : options_(options), workspace_(std::make_shared<Workspace>()) {
  if (options_.tolerance == 0) options_.tolerance = kFastTolerance;
  if (!(options_.tolerance > 0)) throw ConfigError("fast solver: tolerance must be >= 0 (0 = the default)");
  if (!(options_.switch_tolerance > 0)) throw ConfigError("fast solver: switch_tolerance must be > 0");
  if (!(options_.trajectory_tolerance > 0)) throw ConfigError("fast solver: trajectory_tolerance must be > 0");
  if (options_.max_steps < 1) throw ConfigError("fast solver: max_steps must be >= 1");
  if (options_.newton_max_site < 0 || options_.newton_max_site > kMaxNewtonSite) {
    throw ConfigError(fmt::format("fast solver: newton_max_site must be in [0, {}], got {}", kMaxNewtonSite,
                                  options_.newton_max_site));
  }
  if (options_.anderson_depth < 0 || options_.anderson_depth > kMaxAndersonDepth) {
    throw ConfigError(fmt::format("fast solver: anderson_depth must be in [0, {}], got {}", kMaxAndersonDepth,
                                  options_.anderson_depth));
  }
  if (!(options_.anderson_mixing > 0 && options_.anderson_mixing <= 1)) {
    throw ConfigError(fmt::format("fast solver: anderson_mixing must be in (0, 1], got {}", options_.anderson_mixing));
  }
  if (!(options_.anderson_restart > 1)) {
    throw ConfigError(fmt::format("fast solver: anderson_restart must be > 1, got {}", options_.anderson_restart));
  }
  if (!(options_.step_min > 0)) throw ConfigError("fast solver: step_min must be > 0");
}

template <typename T>
void FastSolver<T>::solve(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state) const {
  // eq. 15's fixed point: directly where it is unique, along the trajectory otherwise
  // (solver_paths.cpp). The Hessian workspace is reused across solves; a concurrent solve on the
  // same solver works with one of its own instead of waiting.
  std::unique_lock<std::mutex> lock(workspace_->mutex, std::try_to_lock);
  detail::HessianWorkspace<T> local;
  solve_from_state<T>(network, x, state, options_, detail::Scheme::anderson,
                   lock.owns_lock() ? &workspace_->hessian : &local);
}

template <typename T>
Matrix<T> stack_top_drive(NonDeduced<ConstMatrixRef<T>> x, NonDeduced<ConstMatrixRef<T>> drive) {
  if (x.cols() != drive.cols()) {
    throw ShapeError(fmt::format("top-layer drive: {} samples of input but {} of drive", x.cols(), drive.cols()));
  }
  Matrix<T> stacked(x.rows() + drive.rows(), x.cols());
  // An empty batch (a rank without samples) has no data pointer to take row blocks of.
  if (stacked.size() > 0) {
    stacked.topRows(x.rows()) = x;
    stacked.bottomRows(drive.rows()) = drive;
  }
  return stacked;
}

template <typename T>
std::unique_ptr<DynamicsSolver<T>> make_solver(const SolverOptions& options) {
  switch (options.method) {
    case SolverMethod::euler: return std::make_unique<EulerSolver<T>>(options);
    case SolverMethod::fast: return std::make_unique<FastSolver<T>>(options);
  }
  throw InternalError("unknown solver method");
}

template struct FixedPoints<float>;
template struct FixedPoints<double>;
template class EulerSolver<float>;
template class EulerSolver<double>;
template class FastSolver<float>;
template class FastSolver<double>;
template std::unique_ptr<DynamicsSolver<float>> make_solver<float>(const SolverOptions&);
template std::unique_ptr<DynamicsSolver<double>> make_solver<double>(const SolverOptions&);
template void layer_input<float>(const Network<float>&, ConstMatrixRef<float>, const std::vector<Matrix<float>>&,
                                 Index, Matrix<float>&);
template void layer_input<double>(const Network<double>&, ConstMatrixRef<double>, const std::vector<Matrix<double>>&,
                                  Index, Matrix<double>&);
template Matrix<float> stack_top_drive<float>(ConstMatrixRef<float>, ConstMatrixRef<float>);
template Matrix<double> stack_top_drive<double>(ConstMatrixRef<double>, ConstMatrixRef<double>);
template double dynamics_residual<float>(const Network<float>&, ConstMatrixRef<float>, const FixedPoints<float>&);
template double dynamics_residual<double>(const Network<double>&, ConstMatrixRef<double>, const FixedPoints<double>&);
template double fixed_point_residual<float>(const Network<float>&, ConstMatrixRef<float>,
                                            const std::vector<Matrix<float>>&);
template double fixed_point_residual<double>(const Network<double>&, ConstMatrixRef<double>,
                                             const std::vector<Matrix<double>>&);

}  // namespace simmatch
