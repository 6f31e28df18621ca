// The structured deep similarity-matching cost (eq. 11) through the correlations A, B, and the
// per-sample dual objective l_t (eq. 14) with its Lyapunov bracket (the energy of eq. 15).
#pragma once

#include <vector>

#include "simmatch/dynamics.hpp"
#include "simmatch/learning.hpp"
#include "simmatch/network.hpp"

namespace simmatch {

/// eq. 11 from summed correlations over T samples (A = hebbian / T, B = lateral / T):
///   sum_p gamma^{p-P} ( - sum C^W_ij A_ij^2 + k_p/2 sum C^L_ij B_ij^2 + 2 mean_t sum_i F(r^(p)_{t,i}) )
/// Only the entries with non-zero constants are touched: O(synapses), never O(T^2).
/// Throws ShapeError when `sums` was not accumulated for this network's shape.
template <typename T>
double structured_cost(const Network<T>& network, const Correlations& sums);

/// Per-layer terms of structured_cost (already multiplied by gamma^{p-P}).
template <typename T>
std::vector<double> structured_cost_per_layer(const Network<T>& network, const Correlations& sums);

/// Lyapunov bracket of eq. 14 for one sample (x: K, r[p]: N_p column vectors):
///   sum_p gamma^{p-P} ( -2 r^(p)T W^(p) r^(p-1) + r^(p)T L^(p) r^(p) + 2 sum_i F(r^(p)_i) ).
/// Non-increasing along the dynamics of eq. 15 (docs/theory.md check 1).
template <typename T>
double lyapunov_energy(const Network<T>& network, const Vector<T>& x, const std::vector<Vector<T>>& r);

/// The weight terms of eq. 14: sum_p gamma^{p-P} ( sum W_ij^2 / C^W_ij - sum L_ij^2 / (2 k_p C^L_ij) ).
template <typename T>
double dual_weight_term(const Network<T>& network);

/// l_t of eq. 14 evaluated at activities r (the minimum over r is reached at the fixed point):
/// dual_weight_term + lyapunov_energy.
template <typename T>
double dual_objective(const Network<T>& network, const Vector<T>& x, const std::vector<Vector<T>>& r);

}  // namespace simmatch
