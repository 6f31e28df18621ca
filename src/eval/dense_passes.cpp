// The passes of the dense read-out: blocks of samples through Eigen's matrix products, chunks of
// blocks over OpenMP threads, chunk sums added in a fixed order.
#include "eval/dense_passes.hpp"

#include <omp.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <vector>

namespace simmatch::dense_detail {

namespace {

// Samples converted and multiplied together. 32 columns of 19,601 features are 5 MB in double:
// the block stays in the last-level cache between its two products (margins, then sums).
constexpr Index kBlock = 32;
// At most this many chunks per pass, so that the per-chunk sums ((n+1) x K doubles each) stay
// small, and at least kMinChunk samples and kMinChunkValues values per chunk, so that small
// problems are not split finely (on a loaded machine every parallel region costs a time slice).
constexpr Index kMaxChunks = 32;
constexpr Index kMinChunk = 8 * kBlock;
constexpr Index kMinChunkValues = Index{1} << 20;

struct ChunkPlan {
  Index size = 0;    // samples per chunk (a multiple of kBlock)
  Index chunks = 0;
};

ChunkPlan plan(Index positions, Index features) {
  ChunkPlan p;
  const Index even = (positions + kMaxChunks - 1) / kMaxChunks;
  const Index least = std::max(kMinChunk, (kMinChunkValues + features - 1) / std::max<Index>(features, 1));
  p.size = (std::max(even, least) + kBlock - 1) / kBlock * kBlock;
  p.chunks = (positions + p.size - 1) / p.size;
  return p;
}

// Runs body(chunk) for every chunk on the OpenMP threads; the first exception thrown is rethrown
// here (exceptions cannot leave an OpenMP region).
template <typename Body>
void for_each_chunk(Index chunks, Body&& body) {
  std::exception_ptr error;
  std::mutex error_mutex;
  // A parallel region even for one chunk: Eigen then keeps each chunk's products on the calling
  // thread. A lone chunk's products parallelised by Eigen itself gave sums that depended on the
  // thread count (the solver's passes differed between 1 and 2 threads on 300 samples) and, on
  // a loaded machine, spun: 35 s instead of 0.1 s.
#pragma omp parallel for schedule(dynamic, 1)
  for (Index c = 0; c < chunks; ++c) {
    try {
      body(c);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// The block's samples as the columns of `out` (n x count), converted to Scalar.
template <typename Scalar>
void gather(const Samples& s, std::span<const Index> positions, Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& out) {
  out.resize(s.features(), static_cast<Index>(positions.size()));
  for (std::size_t b = 0; b < positions.size(); ++b) {
    out.col(static_cast<Index>(b)) = s.x.col(s.columns[static_cast<std::size_t>(positions[b])]).template cast<Scalar>();
  }
}

// Adds the chunk sums in chunk order.
Eigen::MatrixXd ordered_sum(const std::vector<Eigen::MatrixXd>& parts, Index rows, Index cols) {
  Eigen::MatrixXd total = Eigen::MatrixXd::Zero(rows, cols);
  for (const auto& part : parts) total += part;
  return total;
}

}  // namespace

MarginPassResult margin_pass(const Samples& s, std::span<const Index> positions, const Eigen::MatrixXd& w,
                             const MarginFunction& margin_function, bool squares) {
  const Index n = s.features(), k = w.cols(), m = static_cast<Index>(positions.size());
  const ChunkPlan p = plan(m, n);
  std::vector<Eigen::MatrixXd> sums(static_cast<std::size_t>(p.chunks)), square_sums(squares ? sums.size() : 0);
  const auto w_features = w.topRows(n);
  const Eigen::RowVectorXd w_bias = s.bias * w.row(n);
  for_each_chunk(p.chunks, [&](Index c) {
    Eigen::MatrixXd& sum = sums[static_cast<std::size_t>(c)];
    sum.setZero(n + 1, k);
    if (squares) square_sums[static_cast<std::size_t>(c)].setZero(n + 1, k);
    Eigen::MatrixXd xb, z, u, d, xb2;
    for (Index first = c * p.size; first < std::min(m, (c + 1) * p.size); first += kBlock) {
      const auto block = positions.subspan(static_cast<std::size_t>(first),
                                           static_cast<std::size_t>(std::min(kBlock, m - first)));
      gather(s, block, xb);
      z.noalias() = xb.transpose() * w_features;
      z.rowwise() += w_bias;
      u.setZero(z.rows(), k);
      d.setZero(z.rows(), k);
      margin_function(block, z, u, d);
      sum.topRows(n).noalias() += xb * u;
      sum.row(n) += s.bias * u.colwise().sum();
      if (squares) {
        Eigen::MatrixXd& square_sum = square_sums[static_cast<std::size_t>(c)];
        xb2 = xb.array().square().matrix();
        square_sum.topRows(n).noalias() += xb2 * d;
        square_sum.row(n) += s.bias * s.bias * d.colwise().sum();
      }
    }
  });
  MarginPassResult out;
  out.weighted_sum = ordered_sum(sums, n + 1, k);
  if (squares) out.squares_sum = ordered_sum(square_sums, n + 1, k);
  return out;
}

Eigen::MatrixXd weighted_sum_pass(const Samples& s, std::span<const Index> positions, const Eigen::MatrixXd& u) {
  const Index n = s.features(), k = u.cols(), m = static_cast<Index>(positions.size());
  const ChunkPlan p = plan(m, n);
  std::vector<Eigen::MatrixXd> sums(static_cast<std::size_t>(p.chunks));
  for_each_chunk(p.chunks, [&](Index c) {
    Eigen::MatrixXd& sum = sums[static_cast<std::size_t>(c)];
    sum.setZero(n + 1, k);
    Eigen::MatrixXd xb, ub;
    for (Index first = c * p.size; first < std::min(m, (c + 1) * p.size); first += kBlock) {
      const auto block = positions.subspan(static_cast<std::size_t>(first),
                                           static_cast<std::size_t>(std::min(kBlock, m - first)));
      gather(s, block, xb);
      ub.resize(static_cast<Index>(block.size()), k);
      for (std::size_t b = 0; b < block.size(); ++b) ub.row(static_cast<Index>(b)) = u.row(block[b]);
      sum.topRows(n).noalias() += xb * ub;
      sum.row(n) += s.bias * ub.colwise().sum();
    }
  });
  return ordered_sum(sums, n + 1, k);
}

Eigen::MatrixXd hessian_pass(const Samples& s, std::span<const Index> positions, const Eigen::MatrixXd& v,
                             const Eigen::MatrixXd& d) {
  const Index n = s.features(), k = v.cols(), m = static_cast<Index>(positions.size());
  const ChunkPlan p = plan(m, n);
  std::vector<Eigen::MatrixXd> sums(static_cast<std::size_t>(p.chunks));
  const Eigen::MatrixXf v_features = v.topRows(n).cast<float>();
  const Eigen::RowVectorXd v_bias = s.bias * v.row(n);
  for_each_chunk(p.chunks, [&](Index c) {
    Eigen::MatrixXd& sum = sums[static_cast<std::size_t>(c)];
    sum.setZero(n + 1, k);
    Eigen::MatrixXf xb, z, u, block_sum;
    for (Index first = c * p.size; first < std::min(m, (c + 1) * p.size); first += kBlock) {
      const auto block = positions.subspan(static_cast<std::size_t>(first),
                                           static_cast<std::size_t>(std::min(kBlock, m - first)));
      gather(s, block, xb);
      z.noalias() = xb.transpose() * v_features;
      u.resize(z.rows(), k);
      Eigen::RowVectorXd bias_sum = Eigen::RowVectorXd::Zero(k);
      for (Index b = 0; b < z.rows(); ++b) {
        const Index position = block[static_cast<std::size_t>(b)];
        for (Index j = 0; j < k; ++j) {
          const double value = d(position, j) * (static_cast<double>(z(b, j)) + v_bias(j));
          u(b, j) = static_cast<float>(value);
          bias_sum(j) += value;
        }
      }
      block_sum.noalias() = xb * u;
      sum.topRows(n) += block_sum.cast<double>();
      sum.row(n) += s.bias * bias_sum;
    }
  });
  return ordered_sum(sums, n + 1, k);
}

Eigen::MatrixXd scores_pass(const Samples& s, const Eigen::MatrixXd& w, const Eigen::VectorXd& biases) {
  const Index n = s.features(), m = s.size(), k = w.rows();
  Eigen::MatrixXd scores(k, m);
  const ChunkPlan p = plan(m, n);
  std::vector<Index> all(static_cast<std::size_t>(m));
  for (Index i = 0; i < m; ++i) all[static_cast<std::size_t>(i)] = i;
  for_each_chunk(p.chunks, [&](Index c) {
    Eigen::MatrixXd xb;
    for (Index first = c * p.size; first < std::min(m, (c + 1) * p.size); first += kBlock) {
      const Index count = std::min(kBlock, m - first);
      gather(s, std::span<const Index>(all).subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(count)), xb);
      scores.middleCols(first, count).noalias() = w * xb;
      scores.middleCols(first, count).colwise() += biases;
    }
  });
  return scores;
}

}  // namespace simmatch::dense_detail
