// Euler's stability limit on a network's dynamics (docs/theory.md, "Euler's stability limit"):
// how stiff eq. 15 can be, and the warning a user needs when the step schedule is beyond it.
#pragma once

#include <string>

#include "simmatch/dynamics.hpp"
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
/// dynamics: its floor step solver.step_min is beyond 2 / jacobian_eigenvalue_bound(network), and
/// the solver follows the schedule (the Euler method; the fast solver where the fixed point is
/// not provably unique, which then follows the schedule down to solver.switch_tolerance). Empty
/// otherwise. Names the limit and the settings to lower; `what` names the network ("this model",
/// "the trained network") and starts the text.
template <typename T>
std::string schedule_warning(const Network<T>& network, const SolverOptions& options, const std::string& what);

}  // namespace simmatch
