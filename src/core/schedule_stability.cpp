// The stiffest rate of eq. 15 by Lanczos iteration on the energy Hessian's constant part.
#include "simmatch/schedule_stability.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <random>
#include <vector>

#include "core/energy_hessian.hpp"

namespace simmatch {
namespace {

// Lanczos iterations kept at most (the basis is n x kMaxLanczos doubles) and the relative
// accuracy at which the largest Ritz value is accepted.
constexpr Index kMaxLanczos = 200;
constexpr double kLanczosAccuracy = 1e-8;
constexpr Index kRitzCheck = 10;
constexpr double kBreakdown = 1e-12;

double largest_slope(const Activation& activation) {
  return activation.kind() == ActivationKind::tanh ? activation.gain() : 1.0;
}

// Largest eigenvalue of the symmetric operator `apply` (n x n) by Lanczos iteration with full
// reorthogonalisation, stopped when the Ritz residual |beta_m y_m| of the largest Ritz value is
// within kLanczosAccuracy of its size (an eigenvalue then lies that close to it). A Ritz value
// never exceeds the largest eigenvalue: after kMaxLanczos iterations without that, the largest
// Ritz value so far is returned, an estimate from below.
template <typename Apply>
double largest_eigenvalue(Index n, Apply&& apply) {
  const Index m_max = std::min(n, kMaxLanczos);
  Eigen::MatrixXd basis(n, m_max);
  std::vector<double> alpha, beta;
  std::mt19937_64 engine(20191208);  // fixed: the bound must not depend on a run's seed
  std::normal_distribution<double> normal;
  Eigen::VectorXd v(n), w(n);
  for (Index i = 0; i < n; ++i) v[i] = normal(engine);
  v.normalize();
  double top = 0;
  for (Index j = 0; j < m_max; ++j) {
    basis.col(j) = v;
    apply(v, w);
    alpha.push_back(v.dot(w));
    // Twice, for orthogonality to the whole basis in floating point.
    for (int pass = 0; pass < 2; ++pass) w -= basis.leftCols(j + 1) * (basis.leftCols(j + 1).transpose() * w);
    const double b = w.norm();
    // The Ritz values every kRitzCheck iterations: each check is a tridiagonal eigenproblem.
    // An invariant subspace (w vanishes against the basis) holds its eigenvalues exactly.
    const bool last = j + 1 == m_max || b <= kBreakdown * std::max(1.0, std::abs(alpha.back()));
    if (j % kRitzCheck != kRitzCheck - 1 && !last) {
      beta.push_back(b);
      v = w / b;
      continue;
    }
    const Eigen::Map<const Eigen::VectorXd> diagonal(alpha.data(), j + 1);
    const Eigen::Map<const Eigen::VectorXd> off_diagonal(beta.data(), j);
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> ritz;
    ritz.computeFromTridiagonal(diagonal, off_diagonal, Eigen::ComputeEigenvectors);
    top = ritz.eigenvalues()[j];
    const double residual = b * std::abs(ritz.eigenvectors()(j, j));
    const double scale = std::max(1.0, std::abs(top));
    if (last || residual <= kLanczosAccuracy * scale) break;
    beta.push_back(b);
    v = w / b;
  }
  return top;
}

}  // namespace

template <typename T>
double jacobian_eigenvalue_bound(const Network<T>& network) {
  // The Hessian's constant part is H = diag(w)^(1/2) (S + I) diag(w)^(1/2), so
  // G S G = D H D - diag(s) with D = diag(sqrt(s / w)) (docs/theory.md).
  const detail::EnergyHessian<T> hessian(network);
  const Index n = hessian.total();
  Eigen::VectorXd slope(n), scale(n);
  for (Index p = 0; p < network.num_layers(); ++p) {
    const double s = largest_slope(network.layer(p).activation());
    for (Index i = hessian.offset(p); i < hessian.offset(p) + network.layer(p).size(); ++i) {
      slope[i] = s;
      scale[i] = std::sqrt(s / hessian.weight(i));
    }
  }
  Eigen::VectorXd scaled(n);
  const double top = largest_eigenvalue(n, [&](const Eigen::VectorXd& x, Eigen::VectorXd& y) {
    scaled = scale.cwiseProduct(x);
    hessian.multiply_constant(scaled, y);
    y = scale.cwiseProduct(y) - slope.cwiseProduct(x);
  });
  return 1.0 + std::max(top, 0.0);
}

template <typename T>
std::string schedule_warning(const Network<T>& network, const SolveReport& report, const SolverOptions& options,
                             const std::string& what) {
  // The solver's own record decides: a provably unique fixed point (the direct path) never follows
  // the schedule, and then the bound is not needed.
  if (report.scheduled == 0) return {};
  const double lambda = jacobian_eigenvalue_bound(network);
  const double limit = 2.0 / lambda;
  if (options.step_min <= limit) return {};
  return fmt::format(
      "{} of {} samples {} were solved along the Euler step schedule, whose floor step solver.step_min = {:g} is "
      "beyond the dynamics' stability limit 2 / lambda_max = {:.3g} (lambda_max = {:.3g}, the stiffest rate of "
      "eq. 15), so the schedule can oscillate instead of following the dynamics: they may have settled at another "
      "fixed point than the one the dynamics reach from rest, or not at all (more solver.max_steps does not help); "
      "set solver.step_min and solver.step_initial below {:.3g}",
      report.scheduled, report.samples, what, options.step_min, limit, lambda, limit);
}

template <typename T>
std::vector<std::string> solve_warnings(const Network<T>& network, const SolveReport& report,
                                        const SolverOptions& options, const std::string& what) {
  std::vector<std::string> out;
  std::string schedule = schedule_warning(network, report, options, what);
  std::string unconverged = unconverged_warning(report, options, what, !schedule.empty());
  for (std::string* text : {&schedule, &unconverged}) {
    if (!text->empty()) out.push_back(std::move(*text));
  }
  return out;
}

template double jacobian_eigenvalue_bound<float>(const Network<float>&);
template double jacobian_eigenvalue_bound<double>(const Network<double>&);
template std::string schedule_warning<float>(const Network<float>&, const SolveReport&, const SolverOptions&,
                                             const std::string&);
template std::string schedule_warning<double>(const Network<double>&, const SolveReport&, const SolverOptions&,
                                              const std::string&);
template std::vector<std::string> solve_warnings<float>(const Network<float>&, const SolveReport&,
                                                        const SolverOptions&, const std::string&);
template std::vector<std::string> solve_warnings<double>(const Network<double>&, const SolveReport&,
                                                         const SolverOptions&, const std::string&);

}  // namespace simmatch
