// Internal: Anderson acceleration site by site, for the networks where the per-site Newton solver
// applies (block_newton.hpp: L block diagonal by site, no feedback). There eq. 15's fixed point
// splits into independent k-dimensional problems per site,
//   u_s = d_s - (L_s - I) f(u_s),   d_s = (W^(p) r^(p-1))_s,
// and each site gets its own Anderson history and its own stopping test. Against one history per
// sample over the whole layer (batch_solver.cpp) this
// - keeps a site's state, history and L_s in cache for its whole solve (a 64-filter conv2d layer
//   holds 50,176 neurons per sample: the whole-layer iteration streamed ~25 arrays of N x B floats
//   from memory per iteration);
// - fits each site's own spectrum, and stops each site when it has converged: a site whose input
//   patch is blank has d_s = 0 and is done at its first evaluation;
// - where L_s is tied across sites and the units are tanh or linear, accelerates the
//   preconditioned map u_s -> u_s + J_a^{-1} (g_s - u_s) (site_preconditioner.hpp): same fixed
//   point, ~40 % fewer evaluations on a trained 64-filter layer. The stopping test stays on
//   g_s - u_s itself.
// A sample stops when every site has met ||g_s - u_s|| <= tol ||u_s||, which implies the
// whole-layer test ||g - u|| <= tol ||u|| of every solver (dynamics.hpp); a sample whose sites did
// not all meet it within max_steps is reported converged when the whole-layer test holds at the
// states reached, and unconverged otherwise (the caller continues those by Newton).
#pragma once

#include "simmatch/dynamics.hpp"

#include <vector>

namespace simmatch::detail {

/// Where the network qualifies (no feedback, and every layer's L stores full k x k site blocks, k =
/// the layer grid's channels >= 8, for the register-blocked block product),
/// solves eq. 15 layer by layer (each layer with the final activities of the one below) by
/// Anderson per site into `state`, already sized with u = the starting point, and returns true;
/// otherwise returns false and leaves `state` alone. At most options.max_steps layer-input
/// evaluations per sample, counted on from state.iterations (a phase resumed from an earlier
/// solve); iterations = the most of any site and layer. `lateral_blocks_shared`, when given: per
/// layer, whether every site's block of L holds the same values, as HessianWorkspace records it
/// for the current weights (-1 or missing: compared here).
template <typename T>
bool solve_site_anderson(const Network<T>& network, NonDeduced<ConstMatrixRef<T>> x, FixedPoints<T>& state,
                         const SolverOptions& options, const std::vector<signed char>* lateral_blocks_shared = nullptr);

}  // namespace simmatch::detail
