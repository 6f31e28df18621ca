// Work split across ranks: the contiguous share of each rank, and encoding with whole batches per
// rank, gathered bit for bit on rank 0.
#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>
#include <fmt/format.h>

#include "simmatch/distributed.hpp"
#include "simmatch/encode.hpp"
#include "simmatch/error.hpp"

namespace simmatch {

std::pair<Index, Index> rank_range(Index n, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size) {
    throw InternalError(fmt::format("rank_range: rank {} of {} is not a valid rank", rank, size));
  }
  // floor(n r / s) without forming n r, which overflows for large n: with n = q s + m,
  // n r / s = q r + m r / s, and m r < s^2 stays small.
  const auto start = [&](Index r) { return n / size * r + n % size * r / size; };
  return {start(rank), start(rank + 1)};
}

Matrix<float> gather_columns(const Communicator& comm, const Matrix<float>& mine, Index first_col, Index total_cols,
                             Index chunk_values) {
  const Index rows = mine.rows();
  if (first_col < 0 || first_col + mine.cols() > total_cols) {
    throw InternalError(fmt::format("gather_columns: columns [{}, {}) outside [0, {})", first_col,
                                    first_col + mine.cols(), total_cols));
  }
  if (comm.size() == 1) return mine;
  Matrix<float> whole;
  if (comm.is_root()) whole.resize(rows, total_cols);
  // Columns per chunk; at least one, and the same on every rank (rows and total_cols agree).
  const Index chunk_cols = std::max<Index>(1, rows > 0 ? chunk_values / rows : total_cols);
  std::vector<float> buffer;
  // The loop advances by the columns copied, so a chunk near the largest Index cannot overflow it.
  for (Index begin = 0, count = 0; begin < total_cols; begin += count) {
    count = std::min(chunk_cols, total_cols - begin);
    // -0.0 is the identity of IEEE addition (x + -0.0 == x, also for x = +0.0 and -0.0), so the sum
    // reproduces the owner's bits whatever order the reduction adds in.
    buffer.assign(static_cast<std::size_t>(rows * count), -0.0f);
    const Index lo = std::max(begin, first_col);
    const Index hi = std::min(begin + count, first_col + mine.cols());
    for (Index c = lo; c < hi; ++c) {
      std::copy_n(mine.col(c - first_col).data(), rows, buffer.data() + (c - begin) * rows);
    }
    comm.allreduce_sum(std::span<float>(buffer));
    if (comm.is_root()) std::copy(buffer.begin(), buffer.end(), whole.middleCols(begin, count).data());
  }
  return whole;
}

template <typename T>
std::vector<Matrix<float>> encode_distributed(const Network<T>& network, const DynamicsSolver<T>& solver,
                                              const Dataset& data, const std::vector<Index>& layers,
                                              const Pooling& pooling, Index batch_size, const Communicator& comm,
                                              SolveReport* report) {
  check_encoding(network, data, batch_size, "encode", layers);
  std::vector<Grid> grids;
  for (Index p : layers) grids.push_back(network.layer(p).grid());
  // Whole batches per rank: each rank then solves exactly the batches a single process would, so
  // the output does not depend on the number of ranks.
  const Index batches = batch_count(data.size(), batch_size);
  const auto [first_batch, end_batch] = rank_range(batches, comm.rank(), comm.size());
  const Index first = std::min(first_batch * batch_size, data.size());
  const Index end = std::min(end_batch * batch_size, data.size());
  SolveReport own;
  std::vector<Matrix<float>> mine = agree(comm, "encoding", [&] {
    std::vector<Matrix<float>> out;
    for (const Grid& grid : grids) out.emplace_back(pooling.output(grid).size(), end - first);
    const auto inputs = [&](Index begin, Index count) -> Matrix<T> {
      return data.x.middleCols(first + begin, count).template cast<T>();
    };
    solve_in_batches(network, solver, end - first, batch_size, &own, inputs,
                     [&](Index begin, const Matrix<T>& x, const FixedPoints<T>& fixed) {
                       for (std::size_t i = 0; i < layers.size(); ++i) {
                         const Matrix<T>& r = fixed.r[static_cast<std::size_t>(layers[i])];
                         auto columns = out[i].middleCols(begin, x.cols());
                         // float32 first, then pooled: the pooled values are those of the written
                         // float32 activities, whatever the network's precision.
                         if constexpr (std::is_same_v<T, float>) {
                           columns = pooling.apply(r, grids[i]);
                         } else {
                           columns = pooling.apply(Matrix<float>(r.template cast<float>()), grids[i]);
                         }
                       }
                     });
    return out;
  });
  if (comm.size() == 1) {  // nothing to gather, and no copy of the result
    if (report) report->merge(own);
    return mine;
  }
  if (report) {
    // Counts far below 2^53: exact in doubles, whatever order the sum takes.
    std::array<double, 4> counts{static_cast<double>(own.samples), static_cast<double>(own.unconverged),
                                 static_cast<double>(own.overflowed), static_cast<double>(own.scheduled)};
    comm.allreduce_sum(std::span<double>(counts));
    SolveReport all;
    all.samples = static_cast<Index>(counts[0]);
    all.unconverged = static_cast<Index>(counts[1]);
    all.overflowed = static_cast<Index>(counts[2]);
    all.scheduled = static_cast<Index>(counts[3]);
    report->merge(all);
  }
  std::vector<Matrix<float>> result;
  for (const auto& r : mine) result.push_back(gather_columns(comm, r, first, data.size()));
  return result;
}

template std::vector<Matrix<float>> encode_distributed<float>(const Network<float>&, const DynamicsSolver<float>&,
                                                              const Dataset&, const std::vector<Index>&,
                                                              const Pooling&, Index, const Communicator&,
                                                              SolveReport*);
template std::vector<Matrix<float>> encode_distributed<double>(const Network<double>&,
                                                               const DynamicsSolver<double>&, const Dataset&,
                                                               const std::vector<Index>&, const Pooling&, Index,
                                                               const Communicator&, SolveReport*);

}  // namespace simmatch
