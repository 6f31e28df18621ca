// Internal: the stopping test every solver applies (docs/theory.md, "Solving eq. 15").
#pragma once

#include <cmath>

namespace simmatch::detail {

/// Whether a state of squared norm uu2 = ||u||^2 (in double) has overflowed or holds NaN
/// (FixedPoints::overflowed): no further iteration brings it back, so solvers stop it at once,
/// unconverged.
inline bool state_overflowed(double uu2) { return !std::isfinite(uu2); }

/// ||g - u|| <= tol ||u||, from the squared norms res2 = ||g - u||^2 and uu2 = ||u||^2 (in
/// double) and tol2 = tol^2. A state that overflowed fails it: in IEEE arithmetic
/// inf <= tol^2 inf holds, so an iteration whose state blew up (Euler's steps beyond their
/// stability limit, or dynamics with no bounded fixed point) would otherwise stop there as
/// converged.
inline bool residual_within(double res2, double uu2, double tol2) { return !state_overflowed(uu2) && res2 <= tol2 * uu2; }

}  // namespace simmatch::detail
