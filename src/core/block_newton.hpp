// Internal: per-site Newton solver for layers whose lateral structure is block diagonal by site
// (lateral radius 0). With no feedback (one layer, or gamma = 0) eq. 15's fixed point then
// splits into independent problems per site s of k neurons,
//   u_s = d_s - (L_s - I) f(u_s),   d_s = (W^(p) r^(p-1))_s,
// each a k-dimensional root problem that Newton's method solves in a handful of iterations where
// one Anderson history per sample needs ~20 (it cannot fit 196 different local spectra at once).
#pragma once

#include <algorithm>

#include "simmatch/dynamics.hpp"

namespace simmatch::detail {

/// True when L is block diagonal with contiguous k x k blocks (the sites of k neurons), 1 <= k <= max_site.
template <typename T>
bool lateral_block_diagonal(const SparseWeights<T>& l, Index k, Index max_site);

/// True when every layer's L is block diagonal with contiguous k x k blocks (k = the layer
/// grid's channels, 1 <= k <= max_site) and the layers do not feed back (one layer or
/// gamma = 0): then the per-site Newton solver applies. A dense Newton step costs k^3 / 3
/// multiply-adds per site: measured on MNIST, it beats Anderson at k = 64 and 100 once L is
/// trained (7.7 against 267 iterations at 64), not at k = 100 with a barely trained L
/// (docs/performance.md).
template <typename T>
bool newton_blocks_apply(const Network<T>& network, Index max_site = SolverOptions{}.newton_max_site);

/// Where Newton applies, sites of at most kNewtonFirstSite neurons are solved by Newton alone;
/// larger sites take kAndersonBeforeNewton Anderson iterations first (site by site where L's
/// site blocks are dense, site_anderson.hpp) and only the samples still unconverged go on by
/// Newton (solver_paths.cpp, solve_batched).
inline constexpr Index kNewtonFirstSite = 32;
inline constexpr int kAndersonBeforeNewton = 40;
/// Where Newton does not apply and the fixed point is unique, Anderson gets this many iterations;
/// the samples it leaves unconverged go on by the trajectory solver's implicit steps.
inline constexpr int kAndersonBeforeContinuation = 500;

/// The largest site (grid channels) over the network's layers.
template <typename T>
Index largest_site(const Network<T>& network) {
  Index k = 0;
  for (Index p = 0; p < network.num_layers(); ++p) k = std::max(k, network.layer(p).grid().channels);
  return k;
}

/// Solves eq. 15 by per-site Newton (layers in order, each with the final activities of the one
/// below) into `state`, already sized with u = starting point. Stopping rule and `iterations`
/// as FastSolver (dynamics.hpp): a sample stops when, for every layer, ||f(g) - r|| <= tol ||r||
/// (through gain ||g - u|| for tanh); iterations = the most layer-input evaluations of any layer.
/// `lateral_blocks_shared`, when given: per layer, whether every site's block of L holds the same
/// values, as HessianWorkspace records it for the current weights (-1 or missing: not known, each
/// site's block is copied).
template <typename T>
void solve_block_newton(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state,
                        const SolverOptions& options, const std::vector<signed char>* lateral_blocks_shared = nullptr);

}  // namespace simmatch::detail
