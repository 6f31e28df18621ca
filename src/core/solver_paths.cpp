// The fast solver's choice of path for a batch (batch_solver.hpp, solve_batched): the direct
// jump where eq. 15 has one fixed point (per-site Newton where the lateral structure allows it,
// else Anderson), the followed trajectory and continuation where it may have several.
#include <algorithm>
#include <limits>
#include <vector>

#include "core/batch_solver.hpp"
#include "core/block_newton.hpp"
#include "core/energy_hessian.hpp"
#include "core/site_anderson.hpp"
#include "core/trajectory_solver.hpp"

namespace simmatch::detail {
namespace {

// Samples that Anderson left unconverged continue with per-site Newton from where they are.
template <typename T>
void finish_with_newton(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state,
                        const SolverOptions& options, int spent, const std::vector<signed char>& lateral_blocks_shared) {
  std::vector<Index> open;
  for (Index b = 0; b < x.cols(); ++b) {
    if (!state.converged[static_cast<std::size_t>(b)]) open.push_back(b);
  }
  SolverOptions newton = options;
  newton.max_steps = std::max(1, options.max_steps - spent);
  solve_open_samples(x, state, open, [&](ConstMatrixRef<T> xs, FixedPoints<T>& rest) {
    solve_block_newton(network, xs, rest, newton, &lateral_blocks_shared);  // counts its own iterations from 0
    for (int& it : rest.iterations) it += spent;
  });
}

// Samples that Anderson left unconverged on a network with one fixed point continue by the
// trajectory solver's implicit steps (without its error control) from where they are: with a unique fixed point every path
// that converges reaches the one the dynamics reach from rest. The Anderson steps count against
// the budget, and the Euler schedule starts from them.
template <typename T>
void finish_with_continuation(const Network<T>& network, HessianWorkspace<T>& workspace, ConstMatrixRef<T> x,
                              FixedPoints<T>& state, const SolverOptions& options) {
  std::vector<Index> open;
  for (Index b = 0; b < x.cols(); ++b) {
    if (!state.converged[static_cast<std::size_t>(b)] && state.iterations[static_cast<std::size_t>(b)] < options.max_steps) {
      open.push_back(b);
    }
  }
  solve_open_samples(x, state, open, [&](ConstMatrixRef<T> xs, FixedPoints<T>& rest) {
    std::fill(rest.converged.begin(), rest.converged.end(), 0);
    std::fill(rest.path.begin(), rest.path.end(), SolverPath::continued);
    // One fixed point: any convergent path will do, so the steps grow without error control.
    SolverOptions untracked = options;
    untracked.trajectory_tolerance = std::numeric_limits<double>::infinity();
    solve_continued(network, workspace, xs, rest, untracked);
  });
}

}  // namespace

template <typename T>
void solve_batched(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state, const SolverOptions& options,
                   Scheme scheme, HessianWorkspace<T>* workspace) {
  const Index batch = x.cols();
  if (batch == 0) return;
  if (scheme == Scheme::euler) {
    solve_chunks(network, x, state, options, scheme);
    return;
  }
  // Acceleration may jump straight to a fixed point only where there is one: otherwise the
  // trajectory from the given state decides which one the dynamics reach.
  HessianWorkspace<T> local;
  HessianWorkspace<T>& ws = workspace ? *workspace : local;
  const typename HessianWorkspace<T>::Solve solve(ws);
  if (!unique_fixed_point(network, ws)) {
    solve_continued(network, ws, x, state, options);
    return;
  }
  std::fill(state.path.begin(), state.path.end(), SolverPath::direct);
  // Lateral structure block diagonal by site and no feedback: the fixed point splits into small
  // per-site problems that Newton's method solves in a few iterations (block_newton.hpp).
  if (options.anderson_depth > 0 && newton_blocks_apply(network, options.newton_max_site)) {
    if (largest_site(network) <= kNewtonFirstSite || options.max_steps <= kAndersonBeforeNewton) {
      solve_block_newton(network, x, state, options, &ws.lateral_blocks_shared);
      return;
    }
    // Large sites: a Newton iteration costs k^3 / 3 per site, several times a whole Anderson solve
    // while L is barely trained (18 Anderson iterations at 100 per site); once training makes L
    // stiff Anderson needs hundreds of iterations and Newton still 7-8. So Anderson first, and
    // the samples it has not settled within kAndersonBeforeNewton iterations go on by Newton.
    // Each sample's path depends on that sample alone, so results stay independent of the batch.
    // Where L's site blocks are dense, Anderson runs site by site (site_anderson.hpp): each site
    // with its own history, in cache, and done when it has converged.
    SolverOptions first = options;
    first.max_steps = kAndersonBeforeNewton;
    if (!solve_site_anderson(network, x, state, first, &ws.lateral_blocks_shared)) {
      solve_chunks(network, x, state, first, scheme);
    }
    finish_with_newton(network, x, state, options, kAndersonBeforeNewton, ws.lateral_blocks_shared);
    return;
  }
  // Anderson stalls where the learnt L is nearly singular (a dense layer of 500 trained on MNIST:
  // 17.6 % of the samples met the tolerance within 3,000 steps); the samples it has not settled
  // within kAndersonBeforeContinuation iterations go on by implicit steps, which do not stall there.
  SolverOptions first = options;
  first.max_steps = std::min(options.max_steps, kAndersonBeforeContinuation);
  solve_chunks(network, x, state, first, scheme);
  finish_with_continuation(network, ws, x, state, options);
  // Anderson stops at the residual test, which bounds the distance to the fixed point only through
  // the inverse Jacobian: Newton steps until the step itself is within 10 times the tolerance, as
  // per-site Newton and the implicit steps end (docs/performance.md, "Anderson's direct path and a
  // nearly dead unit").
  polish_converged(network, ws, x, state, options);
}

template void solve_batched<float>(const Network<float>&, ConstMatrixRef<float>, FixedPoints<float>&,
                                   const SolverOptions&, Scheme, HessianWorkspace<float>*);
template void solve_batched<double>(const Network<double>&, ConstMatrixRef<double>, FixedPoints<double>&,
                                    const SolverOptions&, Scheme, HessianWorkspace<double>*);

}  // namespace simmatch::detail
