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

}  // namespace simmatch::detail
