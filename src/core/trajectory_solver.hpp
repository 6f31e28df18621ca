// Internal: the fast solver's path for networks whose fixed point of eq. 15 is not provably
// unique (energy_hessian.hpp), where the dynamics' own trajectory decides which fixed point is
// reached. It is followed from the state's u with the reference Euler schedule until the residual
// falls below SolverOptions::switch_tolerance; from there a linearly implicit integrator of the
// same dynamics (ROS2), its steps chosen by their local error (SolverOptions::trajectory_tolerance),
// follows the trajectory in large steps where it is stiff and slow and becomes Newton's method as
// it settles (docs/theory.md, "Solving eq. 15").
#pragma once

#include "core/energy_hessian.hpp"
#include "simmatch/dynamics.hpp"

namespace simmatch::detail {

/// Solves eq. 15 for the batch x into `state` (sized by the caller, u = starting point, r = f(u),
/// iterations 0). Each sample's path is SolverPath::continued, or SolverPath::followed where the
/// continuation did not finish and Euler went on to the tolerance.
template <typename T>
void solve_continued(const Network<T>& network, HessianWorkspace<T>& workspace, ConstMatrixRef<T> x,
                     FixedPoints<T>& state, const SolverOptions& options);

/// Newton steps through the energy's Hessian on the samples of `state` that a direct path
/// (Anderson) brought to the residual test, until the step, the distance to the fixed point to
/// first order, is within 10 times SolverOptions::tolerance of ||u|| in every layer (at most four,
/// each kept only where the residual test still holds after it; options.tolerance must be
/// resolved, not 0). The residual bounds that distance only through the inverse Jacobian, which a
/// unit of small L_ii on its active side makes large (docs/performance.md, "Anderson's direct path
/// and a nearly dead unit"). Samples whose first step is already within that bound are left bit
/// for bit as they were, and so are those not converged or not on SolverPath::direct.
template <typename T>
void polish_converged(const Network<T>& network, HessianWorkspace<T>& workspace, ConstMatrixRef<T> x,
                      FixedPoints<T>& state, const SolverOptions& options);

}  // namespace simmatch::detail
