// Encoding: the fixed points (eq. 15) of a whole data set, solved in batches with fixed weights,
// and the correlations summed over them (for the cost of eq. 11). No learning, no ranks.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "simmatch/dataset.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/learning.hpp"
#include "simmatch/network.hpp"
#include "simmatch/pooling.hpp"

namespace simmatch {

/// Samples solved together when encoding, unless a caller says otherwise (CLI --batch-size,
/// Python's batch_size keyword). Any size gives the same fixed points; this one keeps the
/// solver's matrices in cache-friendly blocks.
inline constexpr Index kDefaultEncodeBatch = 256;
/// The smallest batch, for encoding and for training (train.batch_size): one sample.
inline constexpr Index kMinBatchSize = 1;

/// Batches of at most `batch_size` (>= 1) that cover `samples` (>= 0) samples: a ceiling division
/// that cannot overflow, whatever the batch size.
constexpr Index batch_count(Index samples, Index batch_size) {
  return samples / batch_size + (samples % batch_size != 0 ? 1 : 0);
}

/// How the solves of eq. 15 for a set of samples ended. A sample is unconverged when the solver
/// stopped at solver.max_steps layer-input evaluations before its residual met solver.tolerance
/// (docs/theory.md, "Solving eq. 15"): its activities are the last state reached, not the fixed
/// point, and callers must say so (the CLI on stderr, Python with simmatch.ConvergenceWarning).
struct SolveReport {
  Index samples = 0;
  Index unconverged = 0;
  Index overflowed = 0;  // of the unconverged, those whose state overflowed (FixedPoints::overflowed)
  /// Samples solved along the Euler step schedule, at least in part (FixedPoints::path not direct:
  /// every sample of the Euler method; the fast solver's where the fixed point is not provably
  /// unique). Only these can meet schedule_warning's trouble.
  Index scheduled = 0;

  /// Counts the batch `fixed` just solved.
  template <typename T>
  void record(const FixedPoints<T>& fixed) {
    samples += fixed.batch_size();
    scheduled += fixed.batch_size() - fixed.path_count(SolverPath::direct);
    for (Index b = 0; b < fixed.batch_size(); ++b) {
      if (fixed.converged[static_cast<std::size_t>(b)]) continue;
      ++unconverged;
      if (fixed.overflowed(b)) ++overflowed;
    }
  }
  void merge(const SolveReport& other);
};

/// The warning a user should see when `report` counts unconverged samples ("3 of 40 samples did
/// not reach their fixed point ..."; names solver.max_steps and solver.tolerance with the values of
/// `options`, which must be the solver's own, DynamicsSolver::options(), where a tolerance of 0
/// has already become the method's default), or an empty string when every sample converged.
/// Samples whose state overflowed get a sentence of their own ("... diverged ..."): more steps do
/// not help them. `what` names the samples' use ("encoded", "transformed"). `schedule_at_fault`:
/// the step schedule is beyond the stability limit (schedule_warning is not empty), so the advice
/// to raise solver.max_steps becomes a pointer to that warning.
std::string unconverged_warning(const SolveReport& report, const SolverOptions& options, const std::string& what,
                                bool schedule_at_fault = false);

/// What every encoding of `data` checks before solving: ShapeError when its samples do not fit the
/// network or one of `layers` does not exist, ConfigError when batch_size < kMinBatchSize. `what`
/// opens the message ("encode", "cost").
template <typename T>
void check_encoding(const Network<T>& network, const Dataset& data, Index batch_size, const std::string& what,
                    const std::vector<Index>& layers = {});

/// Solves samples [0, n) in batches of at most `batch_size` (>= 1), each batch from rest (u = 0, as
/// in training), and hands every batch to visit(first sample, inputs, fixed points) before the next
/// is solved, so a caller keeps only what it reduces a batch to (pooled features, correlation sums).
/// inputs(first, count) gives the batch's K x count inputs in precision T (a Matrix<T> or a map of
/// the caller's memory). `report`, when given, counts the solves. The loop advances by the count
/// solved, so a batch size near the largest Index cannot overflow it.
template <typename T, typename Inputs, typename Visit>
void solve_in_batches(const Network<T>& network, const DynamicsSolver<T>& solver, Index n, Index batch_size,
                      SolveReport* report, Inputs&& inputs, Visit&& visit) {
  FixedPoints<T> fixed;
  for (Index begin = 0; begin < n;) {
    const Index count = std::min(batch_size, n - begin);
    const auto x = inputs(begin, count);
    fixed = FixedPoints<T>{};
    solver.solve(network, x, fixed);
    if (report) report->record(fixed);
    visit(begin, x, fixed);
    begin += count;
  }
}

/// Fixed points of every layer for every sample of `data`, in batches of `batch_size` (>= 1):
/// result[p] is N_p x T. ShapeError when the samples do not fit the network. `report`, when
/// given, counts the solves (added to what it holds).
template <typename T>
std::vector<Matrix<T>> encode(const Network<T>& network, const DynamicsSolver<T>& solver, const Dataset& data,
                              Index batch_size = kDefaultEncodeBatch, SolveReport* report = nullptr);

/// Fixed points of layer `layer` alone, pooled batch by batch (Pooling::apply; an identity pooling
/// keeps them as they are): output(grid).size() x T. Only that layer's pooled values are kept, so a
/// conv2d layer of 50,000 neurons pooled to 3,136 values a sample fits where encode() would not.
/// ShapeError when the samples do not fit the network or `layer` does not exist. `report` as encode().
template <typename T>
Matrix<T> encode_layer(const Network<T>& network, const DynamicsSolver<T>& solver, const Dataset& data, Index layer,
                       const Pooling& pooling, Index batch_size = kDefaultEncodeBatch, SolveReport* report = nullptr);

/// Summed correlations of `data`'s first `max_samples` samples (0 = all) at their fixed points.
/// `report` as encode().
template <typename T>
Correlations dataset_correlations(const Network<T>& network, const DynamicsSolver<T>& solver, const Dataset& data,
                                  Index max_samples = 0, Index batch_size = kDefaultEncodeBatch,
                                  SolveReport* report = nullptr);

/// The columns `indices` of data.x as a K x B matrix in precision T (ShapeError for an index
/// outside the data set).
template <typename T>
Matrix<T> gather_batch(const Dataset& data, const std::vector<Index>& indices);

extern template std::vector<Matrix<float>> encode<float>(const Network<float>&, const DynamicsSolver<float>&,
                                                         const Dataset&, Index, SolveReport*);
extern template std::vector<Matrix<double>> encode<double>(const Network<double>&, const DynamicsSolver<double>&,
                                                           const Dataset&, Index, SolveReport*);
extern template Matrix<float> encode_layer<float>(const Network<float>&, const DynamicsSolver<float>&, const Dataset&,
                                                  Index, const Pooling&, Index, SolveReport*);
extern template Matrix<double> encode_layer<double>(const Network<double>&, const DynamicsSolver<double>&,
                                                    const Dataset&, Index, const Pooling&, Index, SolveReport*);
extern template Correlations dataset_correlations<float>(const Network<float>&, const DynamicsSolver<float>&,
                                                         const Dataset&, Index, Index, SolveReport*);
extern template Correlations dataset_correlations<double>(const Network<double>&, const DynamicsSolver<double>&,
                                                          const Dataset&, Index, Index, SolveReport*);
extern template void check_encoding<float>(const Network<float>&, const Dataset&, Index, const std::string&,
                                           const std::vector<Index>&);
extern template void check_encoding<double>(const Network<double>&, const Dataset&, Index, const std::string&,
                                            const std::vector<Index>&);
extern template Matrix<float> gather_batch<float>(const Dataset&, const std::vector<Index>&);
extern template Matrix<double> gather_batch<double>(const Dataset&, const std::vector<Index>&);

}  // namespace simmatch
