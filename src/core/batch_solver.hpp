// Internal: the batched engine behind EulerSolver and FastSolver. Splits a batch into sample
// chunks solved independently on the OpenMP threads (no synchronisation per step), each chunk in
// the neuron-major layout of batch_kernel.hpp, with converged samples compacted away.
#pragma once

#include <algorithm>
#include <exception>
#include <omp.h>
#include <vector>

#include "simmatch/dynamics.hpp"

namespace simmatch::detail {

template <typename T>
class HessianWorkspace;

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

/// Runs solve_chunk(first, count) for every chunk of split_into_chunks over the OpenMP threads;
/// an exception thrown in a chunk is rethrown here, after every chunk has finished. A lone chunk
/// runs on the calling thread, outside any parallel region.
template <typename ChunkFn>
void for_each_chunk(Index batch, ChunkFn&& solve_chunk) {
  // Plain variables, not a structured binding: clang cannot capture bindings in OpenMP regions.
  const SampleChunks split = split_into_chunks(batch, std::max(1, omp_get_max_threads()));
  const Index chunks = split.count;
  const Index per = split.per;
  // Not an inactive region (`if (false)`) around a lone chunk: a parallel region inside one, the
  // chunk's own or Eigen's sparse products, is a nested team that libgomp starts on new threads
  // every time (online on a saturated layer: two threads took twice one thread's time).
  if (chunks == 1) {
    solve_chunk(Index{0}, batch);
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(chunks));
#pragma omp parallel for schedule(dynamic, 1)
  for (Index c = 0; c < chunks; ++c) {
    try {
      const Index first = c * per;
      solve_chunk(first, std::min(per, batch - first));
    } catch (...) {
      errors[static_cast<std::size_t>(c)] = std::current_exception();
    }
  }
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

/// Runs solve(xs, rest) on the samples `open` of the batch, gathered into their own state (u, r,
/// iterations, converged, path as they stand), and writes the results back into `state`.
template <typename T, typename SolveFn>
void solve_open_samples(ConstMatrixRef<T> x, FixedPoints<T>& state, const std::vector<Index>& open, SolveFn&& solve) {
  if (open.empty()) return;
  const auto m = static_cast<Index>(open.size());
  const std::size_t P = state.u.size();
  Matrix<T> xs(x.rows(), m);
  FixedPoints<T> rest;
  rest.u.resize(P);
  rest.r.resize(P);
  for (std::size_t p = 0; p < P; ++p) {
    rest.u[p].resize(state.u[p].rows(), m);
    rest.r[p].resize(state.r[p].rows(), m);
  }
  for (Index j = 0; j < m; ++j) {
    const Index b = open[static_cast<std::size_t>(j)];
    const auto sb = static_cast<std::size_t>(b);
    xs.col(j) = x.col(b);
    for (std::size_t p = 0; p < P; ++p) {
      rest.u[p].col(j) = state.u[p].col(b);
      rest.r[p].col(j) = state.r[p].col(b);
    }
    rest.iterations.push_back(state.iterations[sb]);
    rest.converged.push_back(state.converged[sb]);
    rest.path.push_back(state.path[sb]);
  }
  solve(ConstMatrixRef<T>(xs), rest);
  for (Index j = 0; j < m; ++j) {
    const Index b = open[static_cast<std::size_t>(j)];
    const auto sb = static_cast<std::size_t>(b);
    const auto sj = static_cast<std::size_t>(j);
    for (std::size_t p = 0; p < P; ++p) {
      state.u[p].col(b) = rest.u[p].col(j);
      state.r[p].col(b) = rest.r[p].col(j);
    }
    state.iterations[sb] = rest.iterations[sj];
    state.converged[sb] = rest.converged[sj];
    state.path[sb] = rest.path[sj];
  }
}

/// The batched engine alone: `scheme` (Euler steps or Anderson) over sample chunks, each sample
/// continuing from state.iterations already taken (its Euler schedule and step budget go on).
/// With `per_site_test` a sample stops only when, besides every layer, every site (the layer
/// grid's k channels at one position) meets ||g_s - u_s|| <= tolerance ||u_s||: for networks
/// whose sites are independent systems (lateral structure within sites, no feedback), so that a
/// faint site is not judged by its loud neighbours.
template <typename T>
void solve_chunks(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state, const SolverOptions& options,
                  Scheme scheme, bool per_site_test = false);

/// Solves eq. 15 for the batch x into `state` (already sized by the caller, u = starting point,
/// r = f(u)), with the stopping rule of `scheme` (see dynamics.hpp for both). Euler runs the
/// engine above; Anderson first picks its path (solver_paths.cpp).
/// `workspace` keeps the energy Hessian and its factorisations across calls (may be null).
template <typename T>
void solve_batched(const Network<T>& network, ConstMatrixRef<T> x, FixedPoints<T>& state, const SolverOptions& options,
                   Scheme scheme, HessianWorkspace<T>* workspace);

}  // namespace simmatch::detail
