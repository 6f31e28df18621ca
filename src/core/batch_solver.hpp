// Internal: the batched engine behind EulerSolver and FastSolver. Splits a batch into sample
// chunks solved independently on the OpenMP threads (no synchronisation per step), each chunk in
// the neuron-major layout of batch_kernel.hpp, with converged samples compacted away.
#pragma once

#include "simmatch/dynamics.hpp"

namespace simmatch::detail {

enum class Scheme { euler, anderson };

/// How a batch is split into sample chunks: `count` chunks of `per` samples (the last may be
/// shorter). At most 64 samples a chunk (their working set stays in L2 for the reference layer),
/// at least one chunk per thread, a multiple of the thread count so the threads get equal
/// shares; batch 1 (online learning) is one chunk and never enters a parallel region.
struct SampleChunks {
  Index count = 0;
  Index per = 0;
};
SampleChunks split_into_chunks(Index batch, Index threads);

/// Solves eq. 15 for the batch x into `state` (already sized by the caller, u = starting point,
/// r = f(u)), with the stopping rule of `scheme` (see dynamics.hpp for both).
template <typename T>
void solve_batched(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state, const SolverOptions& options,
                   Scheme scheme);

}  // namespace simmatch::detail
