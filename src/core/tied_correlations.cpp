// Bank-level correlations of a conv2d layer by dense products (tied_correlations.hpp).
#include "core/tied_correlations.hpp"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "simmatch/error.hpp"

namespace simmatch::detail {
namespace {

template <typename T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

// Columns (site-sample pairs) per chunk: enough depth for the products to run near the GEMM
// peak, few enough that a chunk's float sums stay short (the chunks add up in double).
constexpr Index kChunkColumns = 8192;

// Synapses of the lateral structure a geometry defines: every ordered pair of sites at a lateral
// offset, times channels^2.
Index lateral_synapses(const Conv2d& conv) {
  const Grid out = conv.output();
  Index pairs = 0;
  for (const auto& d : conv.lateral_offsets()) pairs += (out.height - std::abs(d[0])) * (out.width - std::abs(d[1]));
  return pairs * conv.channels * conv.channels;
}

// One chunk of samples [b0, b0 + bs): the bank sums of W (channels x K K C_in) and of L (per
// lateral offset, channels x channels), added to wbank / lbank in bank order.
template <typename T>
void chunk_bank_sums(const Conv2d& conv, const T* pre, const T* post, Index b0, Index bs, double* wbank,
                     double* lbank) {
  const Grid in = conv.input;
  const Grid out = conv.output();
  const Index k = conv.channels, K = conv.kernel, cin = in.channels;
  const Index sites = out.height * out.width;
  const Index kkc = K * K * cin;
  const Index n_in = in.size(), n_out = sites * k;
  // The activities of the chunk: channels x (sites * bs), column b * sites + s.
  const Eigen::Map<const Mat<T>> r(post + b0 * n_out, k, sites * bs);

  // im2col: column b * sites + s holds site s's receptive field in sample b, (dy, dx, c) order,
  // zero where the kernel reaches into the padding (no synapse there).
  Mat<T> patches = Mat<T>::Zero(kkc, sites * bs);
  const Index top = conv.pad_top(), left = conv.pad_left();
  for (Index b = 0; b < bs; ++b) {
    const T* x = pre + (b0 + b) * n_in;
    for (Index s = 0; s < sites; ++s) {
      const Index y0 = (s / out.width) * conv.stride - top, x0 = (s % out.width) * conv.stride - left;
      T* col = patches.col(b * sites + s).data();
      for (Index dy = 0; dy < K; ++dy) {
        const Index y = y0 + dy;
        if (y < 0 || y >= in.height) continue;
        for (Index dx = 0; dx < K; ++dx) {
          const Index xx = x0 + dx;
          if (xx < 0 || xx >= in.width) continue;
          std::copy_n(x + (y * in.width + xx) * cin, cin, col + (dy * K + dx) * cin);
        }
      }
    }
  }
  const Mat<T> gw = r * patches.transpose();  // channels x K K C_in
  for (Index n = 0; n < k; ++n) {
    for (Index t = 0; t < kkc; ++t) wbank[n * kkc + t] += static_cast<double>(gw(n, t));
  }

  const std::vector<std::array<Index, 2>> offsets = conv.lateral_offsets();
  Mat<T> a, b;
  Mat<T> gl;
  for (std::size_t d = 0; d < offsets.size(); ++d) {
    const Index di = offsets[d][0], dj = offsets[d][1];
    if (di == 0 && dj == 0) {
      gl.noalias() = r * r.transpose();
    } else {
      // Sites whose neighbour at (di, dj) exists, and that neighbour, for every sample.
      const Index rows = out.height - std::abs(di), cols = out.width - std::abs(dj);
      a.resize(k, rows * cols * bs);
      b.resize(k, rows * cols * bs);
      Index m = 0;
      for (Index q = 0; q < bs; ++q) {
        for (Index i = std::max<Index>(0, -di); i < std::min(out.height, out.height - di); ++i) {
          for (Index j = std::max<Index>(0, -dj); j < std::min(out.width, out.width - dj); ++j, ++m) {
            a.col(m) = r.col(q * sites + i * out.width + j);
            b.col(m) = r.col(q * sites + (i + di) * out.width + (j + dj));
          }
        }
      }
      gl.noalias() = a * b.transpose();
    }
    double* ld = lbank + static_cast<Index>(d) * k * k;
    for (Index i = 0; i < k; ++i) {
      for (Index j = 0; j < k; ++j) ld[i * k + j] += static_cast<double>(gl(i, j));
    }
  }
}

}  // namespace

template <typename T>
bool tied_sums_apply(const Layer<T>& layer) {
  const Conv2d* conv = layer.conv();
  return conv != nullptr && layer.cw().nnz() == conv->w_synapses() && layer.cl().nnz() == lateral_synapses(*conv);
}

template <typename T>
void add_tied_correlations(const Layer<T>& layer, const T* pre, const T* post, Index batch, double* sums_w,
                           double* sums_l) {
  if (!tied_sums_apply(layer)) throw InternalError("tied correlations: the layer is not a complete conv2d layer");
  const Conv2d& conv = *layer.conv();
  const Grid out = conv.output();
  const Index sites = out.height * out.width;
  const auto wsize = static_cast<Index>(layer.w_sharing().bank_group.size());
  const auto lsize = static_cast<Index>(layer.l_sharing().bank_group.size());
  const Index per_chunk = std::max<Index>(1, kChunkColumns / sites);
  const Index chunks = (batch + per_chunk - 1) / per_chunk;
  std::vector<double> banks(static_cast<std::size_t>(chunks * (wsize + lsize)), 0.0);
  // Always inside a parallel region, even for one chunk: Eigen then runs each chunk's products on
  // the calling thread. Left to parallelise a lone chunk's products itself (online learning,
  // batches of up to kChunkColumns / sites samples), its GEMM gave bits that depended on the thread
  // count and, beside the solver's threads, halved online training of 64 filters (46 -> 97 samples/s).
#pragma omp parallel for schedule(dynamic)
  for (Index c = 0; c < chunks; ++c) {
    const Index b0 = c * per_chunk;
    double* wbank = banks.data() + c * (wsize + lsize);
    chunk_bank_sums(conv, pre, post, b0, std::min(per_chunk, batch - b0), wbank, wbank + wsize);
  }
  // In chunk order, so the sums do not depend on how the chunks were spread over threads.
  for (Index c = 0; c < chunks; ++c) {
    const double* wbank = banks.data() + c * (wsize + lsize);
    const double* lbank = wbank + wsize;
    const auto& wg = layer.w_sharing().bank_group;
    const auto& lg = layer.l_sharing().bank_group;
    for (Index e = 0; e < wsize; ++e) {
      if (wg[static_cast<std::size_t>(e)] >= 0) sums_w[wg[static_cast<std::size_t>(e)]] += wbank[e];
    }
    for (Index e = 0; e < lsize; ++e) {
      if (lg[static_cast<std::size_t>(e)] >= 0) sums_l[lg[static_cast<std::size_t>(e)]] += lbank[e];
    }
  }
}

template bool tied_sums_apply<float>(const Layer<float>&);
template bool tied_sums_apply<double>(const Layer<double>&);
template void add_tied_correlations<float>(const Layer<float>&, const float*, const float*, Index, double*, double*);
template void add_tied_correlations<double>(const Layer<double>&, const double*, const double*, Index, double*,
                                            double*);

}  // namespace simmatch::detail
