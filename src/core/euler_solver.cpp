// Reference Euler integration of the neural dynamics (eq. 15), batched, with per-sample stopping.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "simmatch/dynamics.hpp"
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

namespace {

template <typename T>
void check_input(const Network<T>& network, ConstMatrixRef<T> x) {
  if (x.rows() != network.input_size()) {
    throw ShapeError(fmt::format("dynamics: inputs have {} features but the network expects {}", x.rows(),
                                 network.input_size()));
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
    out.noalias() = layer.W() * x;
  } else {
    out.noalias() = layer.W() * r[static_cast<std::size_t>(p - 1)];
  }
  add_recurrent_input(network, r, p, out);
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
EulerSolver<T>::EulerSolver(SolverOptions options) : options_(options) {
  if (!(options_.step_initial > 0) || !(options_.step_min > 0) || !(options_.step_decay >= 0)) {
    throw ConfigError("euler solver: step_initial and step_min must be > 0 and step_decay >= 0");
  }
  if (!(options_.tolerance > 0)) throw ConfigError("euler solver: tolerance must be > 0");
  if (options_.max_steps < 1) throw ConfigError("euler solver: max_steps must be >= 1");
}

template <typename T>
void EulerSolver<T>::solve(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state) const {
  check_input(network, x);
  const Index batch = x.cols();
  const Index layers = network.num_layers();
  prepare_state(network, batch, state);
  if (batch == 0) return;

  // Working copies hold only the samples still moving; finished ones are written back to `state`.
  std::vector<Index> active(static_cast<std::size_t>(batch));
  for (Index b = 0; b < batch; ++b) active[static_cast<std::size_t>(b)] = b;
  std::vector<Matrix<T>> u = state.u;
  std::vector<Matrix<T>> r = state.r;
  Matrix<T> drive = network.layer(0).W() * x;  // the clamped input's drive, once per sample
  Matrix<T> in;
  std::vector<Matrix<T>> du(static_cast<std::size_t>(layers));
  const T tol2 = static_cast<T>(options_.tolerance * options_.tolerance);

  for (int n = 0; n < options_.max_steps && !active.empty(); ++n) {
    const T step = static_cast<T>(std::max(options_.step_initial / (1.0 + options_.step_decay * n), options_.step_min));
    for (Index p = 0; p < layers; ++p) {
      const auto sp = static_cast<std::size_t>(p);
      if (p == 0) {
        in = drive;
      } else {
        in.noalias() = network.layer(p).W() * r[sp - 1];
      }
      add_recurrent_input(network, r, p, in);
      du[sp] = step * (in - u[sp]);
    }
    std::vector<unsigned char> done(active.size(), 1);
    for (Index p = 0; p < layers; ++p) {
      const auto sp = static_cast<std::size_t>(p);
      u[sp] += du[sp];
      network.layer(p).activation().apply(u[sp].data(), r[sp].data(), u[sp].size());
      for (std::size_t c = 0; c < active.size(); ++c) {
        const auto col = static_cast<Index>(c);
        if (!(du[sp].col(col).squaredNorm() <= tol2 * u[sp].col(col).squaredNorm())) done[c] = 0;
      }
    }
    const bool last = n + 1 == options_.max_steps;
    std::size_t keep = 0;
    for (std::size_t c = 0; c < active.size(); ++c) {
      const Index b = active[c];
      state.iterations[static_cast<std::size_t>(b)] = n + 1;
      if (done[c] || last) {
        state.converged[static_cast<std::size_t>(b)] = done[c];
        for (Index p = 0; p < layers; ++p) {
          const auto sp = static_cast<std::size_t>(p);
          state.u[sp].col(b) = u[sp].col(static_cast<Index>(c));
          state.r[sp].col(b) = r[sp].col(static_cast<Index>(c));
        }
      } else {
        if (keep != c) {
          for (Index p = 0; p < layers; ++p) {
            const auto sp = static_cast<std::size_t>(p);
            u[sp].col(static_cast<Index>(keep)) = u[sp].col(static_cast<Index>(c));
            r[sp].col(static_cast<Index>(keep)) = r[sp].col(static_cast<Index>(c));
          }
          drive.col(static_cast<Index>(keep)) = drive.col(static_cast<Index>(c));
        }
        active[keep++] = b;
      }
    }
    if (keep != active.size()) {
      active.resize(keep);
      for (Index p = 0; p < layers; ++p) {
        const auto sp = static_cast<std::size_t>(p);
        u[sp].conservativeResize(Eigen::NoChange, static_cast<Index>(keep));
        r[sp].conservativeResize(Eigen::NoChange, static_cast<Index>(keep));
      }
      drive.conservativeResize(Eigen::NoChange, static_cast<Index>(keep));
    }
  }
}

template <typename T>
std::unique_ptr<DynamicsSolver<T>> make_solver(const SolverOptions& options) {
  switch (options.method) {
    case SolverMethod::euler: return std::make_unique<EulerSolver<T>>(options);
    case SolverMethod::fast:
      throw ConfigError("solver method 'fast' is not built into this version; use 'euler'");
  }
  throw InternalError("unknown solver method");
}

template struct FixedPoints<float>;
template struct FixedPoints<double>;
template class EulerSolver<float>;
template class EulerSolver<double>;
template std::unique_ptr<DynamicsSolver<float>> make_solver<float>(const SolverOptions&);
template std::unique_ptr<DynamicsSolver<double>> make_solver<double>(const SolverOptions&);
template void layer_input<float>(const Network<float>&, ConstMatrixRef<float>, const std::vector<Matrix<float>>&,
                                 Index, Matrix<float>&);
template void layer_input<double>(const Network<double>&, ConstMatrixRef<double>, const std::vector<Matrix<double>>&,
                                  Index, Matrix<double>&);
template double fixed_point_residual<float>(const Network<float>&, ConstMatrixRef<float>,
                                            const std::vector<Matrix<float>>&);
template double fixed_point_residual<double>(const Network<double>&, ConstMatrixRef<double>,
                                             const std::vector<Matrix<double>>&);

}  // namespace simmatch
