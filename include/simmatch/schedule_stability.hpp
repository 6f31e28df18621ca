// Euler's stability limit on a network's dynamics (docs/theory.md, "Euler's stability limit"):
// how stiff eq. 15 can be, and the warning a user needs when the step schedule is beyond it.
#pragma once

#include <string>
#include <vector>

#include "simmatch/dynamics.hpp"
#include "simmatch/encode.hpp"
#include "simmatch/network.hpp"

namespace simmatch {

/// lambda_max = 1 + max(lambda_max(G S G), 0): an upper bound on the eigenvalues of the Jacobian
/// of u -> u - g(u) (eq. 15) at every state of the box, S being the symmetric matrix of blocks
/// L^(p) - I and -sqrt(gamma) W^(p) and G = diag(sqrt(s_p)), s_p the largest slope of layer p's
/// activation (the gain for tanh, 1 otherwise). Exact at rest for tanh and linear units; for the
/// rectifiers it is reached where every unit is on its slope-1 side. Dimensionless (a rate in
/// units of the dynamics' time constant); always >= 1. An Euler step h amplifies perturbations
/// along the stiffest direction when h lambda_max > 2. Computed by Lanczos iteration from a
/// fixed start vector (deterministic), to a relative accuracy of about 1e-8.
template <typename T>
double jacobian_eigenvalue_bound(const Network<T>& network);

/// The warning a user should see when the Euler schedule cannot settle onto the continuous
/// dynamics: `report` counts samples solved along the schedule (SolveReport::scheduled: the Euler
/// method's, the fast solver's where the fixed point is not provably unique) and the schedule's
/// floor step solver.step_min is beyond 2 / jacobian_eigenvalue_bound(network). Empty otherwise
/// (the bound is only computed where some sample followed the schedule). Counts the samples and
/// names the limit and the settings to lower; `what` names the samples' use ("encoded", "trained
/// on"), as in unconverged_warning. For training (training_report) the bound is the trained
/// network's, whose weights the last epochs' solves saw most nearly.
template <typename T>
std::string schedule_warning(const Network<T>& network, const SolveReport& report, const SolverOptions& options,
                             const std::string& what);

/// Every warning the solves that `report` counts call for, in this order: schedule_warning, then
/// unconverged_warning (which then points at the schedule instead of at solver.max_steps). The
/// empty ones are left out.
template <typename T>
std::vector<std::string> solve_warnings(const Network<T>& network, const SolveReport& report,
                                        const SolverOptions& options, const std::string& what);

}  // namespace simmatch
