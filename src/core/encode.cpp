// Encoding a data set: batches of samples solved to their fixed points (eq. 15) with fixed weights,
// kept as representations or summed into correlations.
#include "simmatch/encode.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <string>

#include "simmatch/error.hpp"

namespace simmatch {
namespace {

// The inputs of samples [begin, begin + count) of `data` in precision T.
template <typename T>
auto dataset_batches(const Dataset& data) {
  return [&data](Index begin, Index count) -> Matrix<T> { return data.x.middleCols(begin, count).template cast<T>(); };
}

}  // namespace

template <typename T>
void check_encoding(const Network<T>& network, const Dataset& data, Index batch_size, const std::string& what,
                    const std::vector<Index>& layers) {
  if (data.dim() != network.input_size()) {
    throw ShapeError(fmt::format("{}: samples have {} features but the network expects {}", what, data.dim(),
                                 network.input_size()));
  }
  if (batch_size < kMinBatchSize) {
    throw ConfigError(fmt::format("{}: batch size must be >= {}, got {}", what, kMinBatchSize, batch_size));
  }
  for (Index layer : layers) {
    if (layer < 0 || layer >= network.num_layers()) {
      throw ShapeError(fmt::format("{}: layer {} does not exist (the network has {} layers)", what, layer,
                                   network.num_layers()));
    }
  }
}

void SolveReport::merge(const SolveReport& other) {
  samples += other.samples;
  unconverged += other.unconverged;
  overflowed += other.overflowed;
  scheduled += other.scheduled;
}

std::string unconverged_warning(const SolveReport& report, const SolverOptions& options, const std::string& what,
                                bool schedule_at_fault) {
  std::string text;
  if (report.unconverged > report.overflowed) {
    text = fmt::format(
        "{} of {} samples {} did not reach their fixed point within solver.max_steps = {} (residual above "
        "solver.tolerance = {:g}): their activities are the last state reached; {}",
        report.unconverged - report.overflowed, report.samples, what, options.max_steps, options.tolerance,
        schedule_at_fault ? "the step schedule is beyond its stability limit (the warning about solver.step_min), "
                            "which more solver.max_steps does not mend"
                          : "raise solver.max_steps");
  }
  if (report.overflowed > 0) {
    if (!text.empty()) text += "; ";
    text += fmt::format(
        "{} of {} samples {} diverged: their activities overflowed, where no fixed point lies (the dynamics have "
        "no bounded fixed point from rest there, or the steps solver.step_initial = {:g} to solver.step_min = {:g} "
        "are beyond the Euler schedule's stability limit)",
        report.overflowed, report.samples, what, options.step_initial, options.step_min);
  }
  return text;
}

template <typename T>
std::vector<Matrix<T>> encode(const Network<T>& network, const DynamicsSolver<T>& solver, const Dataset& data,
                              Index batch_size, SolveReport* report) {
  check_encoding(network, data, batch_size, "encode");
  std::vector<Matrix<T>> out;
  for (const auto& layer : network.layers()) out.emplace_back(layer.size(), data.size());
  solve_in_batches(network, solver, data.size(), batch_size, report, dataset_batches<T>(data),
                   [&](Index begin, const Matrix<T>& x, const FixedPoints<T>& fixed) {
                     for (std::size_t p = 0; p < out.size(); ++p) out[p].middleCols(begin, x.cols()) = fixed.r[p];
                   });
  return out;
}

template <typename T>
Matrix<T> encode_layer(const Network<T>& network, const DynamicsSolver<T>& solver, const Dataset& data, Index layer,
                       const Pooling& pooling, Index batch_size, SolveReport* report) {
  check_encoding(network, data, batch_size, "encode", {layer});
  const Grid& grid = network.layer(layer).grid();
  Matrix<T> out(pooling.output(grid).size(), data.size());
  solve_in_batches(network, solver, data.size(), batch_size, report, dataset_batches<T>(data),
                   [&](Index begin, const Matrix<T>& x, const FixedPoints<T>& fixed) {
                     out.middleCols(begin, x.cols()) = pooling.apply(fixed.r[static_cast<std::size_t>(layer)], grid);
                   });
  return out;
}

template <typename T>
Correlations dataset_correlations(const Network<T>& network, const DynamicsSolver<T>& solver, const Dataset& data,
                                  Index max_samples, Index batch_size, SolveReport* report) {
  check_encoding(network, data, batch_size, "cost");
  const Index n = max_samples > 0 ? std::min(max_samples, data.size()) : data.size();
  Correlations sums = Correlations::zeros_like(network);
  solve_in_batches(network, solver, n, batch_size, report, dataset_batches<T>(data),
                   [&](Index, const Matrix<T>& x, const FixedPoints<T>& fixed) {
                     accumulate_correlations(network, x, fixed, sums, true);
                   });
  return sums;
}

template <typename T>
Matrix<T> gather_batch(const Dataset& data, const std::vector<Index>& indices) {
  Matrix<T> batch(data.dim(), static_cast<Index>(indices.size()));
  for (std::size_t c = 0; c < indices.size(); ++c) {
    const Index i = indices[c];
    if (i < 0 || i >= data.size()) throw ShapeError(fmt::format("batch: sample index {} outside [0, {})", i, data.size()));
    batch.col(static_cast<Index>(c)) = data.x.col(i).template cast<T>();
  }
  return batch;
}

template std::vector<Matrix<float>> encode<float>(const Network<float>&, const DynamicsSolver<float>&, const Dataset&,
                                                  Index, SolveReport*);
template std::vector<Matrix<double>> encode<double>(const Network<double>&, const DynamicsSolver<double>&,
                                                    const Dataset&, Index, SolveReport*);
template Matrix<float> encode_layer<float>(const Network<float>&, const DynamicsSolver<float>&, const Dataset&, Index,
                                           const Pooling&, Index, SolveReport*);
template Matrix<double> encode_layer<double>(const Network<double>&, const DynamicsSolver<double>&, const Dataset&,
                                             Index, const Pooling&, Index, SolveReport*);
template Correlations dataset_correlations<float>(const Network<float>&, const DynamicsSolver<float>&, const Dataset&,
                                                  Index, Index, SolveReport*);
template Correlations dataset_correlations<double>(const Network<double>&, const DynamicsSolver<double>&,
                                                   const Dataset&, Index, Index, SolveReport*);
template void check_encoding<float>(const Network<float>&, const Dataset&, Index, const std::string&,
                                    const std::vector<Index>&);
template void check_encoding<double>(const Network<double>&, const Dataset&, Index, const std::string&,
                                     const std::vector<Index>&);
template Matrix<float> gather_batch<float>(const Dataset&, const std::vector<Index>&);
template Matrix<double> gather_batch<double>(const Dataset&, const std::vector<Index>&);

}  // namespace simmatch
