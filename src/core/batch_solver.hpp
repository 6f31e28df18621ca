// Internal: the batched engine behind EulerSolver and FastSolver. Splits a batch into sample
// chunks solved independently on the OpenMP threads (no synchronisation per step), each chunk in
// the neuron-major layout of batch_kernel.hpp, with converged samples compacted away.
#pragma once

#include "simmatch/dynamics.hpp"

namespace simmatch::detail {

enum class Scheme { euler, anderson };

/// Solves eq. 15 for the batch x into `state` (already sized by the caller, u = starting point,
/// r = f(u)), with the stopping rule of `scheme` (see dynamics.hpp for both).
template <typename T>
void solve_batched(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state, const SolverOptions& options,
                   Scheme scheme);

}  // namespace simmatch::detail
