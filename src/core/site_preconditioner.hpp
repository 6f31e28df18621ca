// Internal: the fixed preconditioner of the site-by-site Anderson solve (site_anderson.hpp).
// Anderson there accelerates the map u_s -> g_s(u_s) = d_s - (L_s - I) f(u_s), whose residual
// f_s = g_s - u_s = -F(u_s), F(u) = u + (L_s - I) f(u) - d_s (eq. 15 at one site). Its Jacobian
// I + (L_s - I) D, D = diag f'(u_s), is at rest, where f' = a (the activation's slope at 0),
//   J_a = (1 - a) I + a L_s.
// The preconditioned map u -> u + J_a^{-1} (g_s(u) - u) has the same fixed points (J_a is
// invertible) and, for a smooth activation, a Jacobian (I - J_a^{-1} J(u)) that vanishes at rest
// and stays small while f' stays near a: Anderson on it needs about half the evaluations on a
// trained 64-filter conv2d layer (docs/performance.md), each one block product J_a^{-1} f dearer.
#pragma once

#include <vector>

#include "core/batch_kernel.hpp"
#include "simmatch/activation.hpp"

namespace simmatch::detail {

/// Where the preconditioner applies, writes J_a^{-1} for the site blocks of `l` into `out` (its
/// values in `storage`, which must outlive out's use) and returns true: tanh (a = gain) and linear
/// (a = 1) units, whose slope varies smoothly from a, and a lateral matrix tied across sites
/// (l.shared, a conv2d layer's: one k x k inverse per solve, in double, whatever the batch). The
/// rectifiers' slopes jump between 0 and 1, where the fixed J_a^{-1} measured slower than none,
/// and a per-site inverse would cost k^3 per site and solve, too dear for online learning; both
/// return false, as do L_s = I (J_a = I: nothing to gain) and a J_a whose inverse is not finite. Where the site solver runs, the
/// uniqueness certificate (docs/theory.md) has found L_s + (1/a - 1) I positive definite for tanh
/// and L_s for linear units, so J_a = a (L_s + (1/a - 1) I) is invertible.
template <typename T>
bool site_preconditioner(const kernels::DenseSiteBlocks<T>& l, const Activation& activation, std::vector<T>& storage,
                         kernels::DenseSiteBlocks<T>& out);

}  // namespace simmatch::detail
