// Sparse x batch kernels in the neuron-major layout (see batch_kernel.hpp).
// No fused multiply-add contraction here: the compiler contracts vector bodies and scalar
// remainders differently, which would make a sample's result depend on its position in the
// batch; sharded runs must reproduce a single process bit for bit.
#pragma GCC optimize("fp-contract=off")
#include "core/batch_kernel.hpp"

#include <algorithm>

namespace simmatch::kernels {

namespace {

// Samples handled per register block: 4 AVX-512 (or 8 AVX2) vectors of accumulators, enough
// independent FMA chains to hide latency while staying in registers.
template <typename T>
constexpr Index kBlock = 256 / static_cast<Index>(sizeof(T));

// acc[0..W) += alpha * sum_k v_k x[col_k, c0 .. c0 + W), with W a compile-time width so the
// accumulators live in registers and the loop over k only loads x and fuses multiply-adds.
template <typename T, Index W>
inline void row_block(const CsrView<T>& a, Index i, const T* x, Index ld, Index c0, T alpha, T* out) {
  T acc[W];
#pragma omp simd
  for (Index j = 0; j < W; ++j) acc[j] = T(0);
  for (int k = a.row_ptr[i]; k < a.row_ptr[i + 1]; ++k) {
    const T v = a.val[k];
    const T* xr = x + static_cast<Index>(a.col[k]) * ld + c0;
#pragma omp simd
    for (Index j = 0; j < W; ++j) acc[j] += v * xr[j];
  }
#pragma omp simd
  for (Index j = 0; j < W; ++j) out[c0 + j] += alpha * acc[j];
}

// The same for a run-time width w < kBlock (the tail of the batch). The arithmetic is the same
// as row_block's, sum from zero then scale, so a sample's result does not depend on which
// block of the batch it falls in (sharded runs reproduce a single process bit for bit).
template <typename T>
inline void row_tail(const CsrView<T>& a, Index i, const T* x, Index ld, Index c0, Index w, T alpha, T* out) {
  T acc[kBlock<T>];
  for (Index j = 0; j < w; ++j) acc[j] = T(0);
  for (int k = a.row_ptr[i]; k < a.row_ptr[i + 1]; ++k) {
    const T v = a.val[k];
    const T* xr = x + static_cast<Index>(a.col[k]) * ld + c0;
#pragma omp simd
    for (Index j = 0; j < w; ++j) acc[j] += v * xr[j];
  }
  for (Index j = 0; j < w; ++j) out[c0 + j] += alpha * acc[j];
}

template <typename T, Index W>
inline void dots2_block(const T* a, const T* c, const T* d, Index rows, Index ld, Index c0, double* ac, double* ad) {
  T s1[W];
  T s2[W];
#pragma omp simd
  for (Index j = 0; j < W; ++j) s1[j] = s2[j] = T(0);
  for (Index i = 0; i < rows; ++i) {
    const Index o = i * ld + c0;
#pragma omp simd
    for (Index j = 0; j < W; ++j) {
      s1[j] += a[o + j] * c[o + j];
      s2[j] += a[o + j] * d[o + j];
    }
  }
  for (Index j = 0; j < W; ++j) {
    ac[c0 + j] += static_cast<double>(s1[j]);
    ad[c0 + j] += static_cast<double>(s2[j]);
  }
}

template <typename Post>
void sddmm_impl(const int* row_ptr, const int* col, Index rows, const Post* post, const Post* pre, Index batch,
                double* sums) {
  const Index nnz = row_ptr[rows];
  // Threads only pay off above ~100k multiply-adds; batch-1 online learning stays serial.
  const bool parallel = static_cast<double>(nnz) * static_cast<double>(batch) > 2e5;
#pragma omp parallel for schedule(static) if (parallel)
  for (Index i = 0; i < rows; ++i) {
    const Post* pi = post + i * batch;
    for (int k = row_ptr[i]; k < row_ptr[i + 1]; ++k) {
      const Post* pj = pre + static_cast<Index>(col[k]) * batch;
      // Products accumulate in T (float by default): the batch is short, and the double sums
      // across batches carry the precision that matters.
      Post s = 0;
#pragma omp simd reduction(+ : s)
      for (Index b = 0; b < batch; ++b) s += pi[b] * pj[b];
      sums[k] += static_cast<double>(s);
    }
  }
}

}  // namespace

template <typename T>
void transpose(const CsrView<T>& a, CsrMatrix<T>& out) {
  out.rows = a.cols;
  out.cols = a.rows;
  const Index nnz = a.row_ptr[a.rows];
  out.row_ptr.assign(static_cast<std::size_t>(a.cols) + 1, 0);
  out.col.resize(static_cast<std::size_t>(nnz));
  out.val.resize(static_cast<std::size_t>(nnz));
  for (Index k = 0; k < nnz; ++k) ++out.row_ptr[static_cast<std::size_t>(a.col[k]) + 1];
  for (Index j = 0; j < a.cols; ++j) out.row_ptr[static_cast<std::size_t>(j) + 1] += out.row_ptr[static_cast<std::size_t>(j)];
  std::vector<int> next(out.row_ptr.begin(), out.row_ptr.end() - 1);
  for (Index i = 0; i < a.rows; ++i) {
    for (int k = a.row_ptr[i]; k < a.row_ptr[i + 1]; ++k) {
      const int at = next[static_cast<std::size_t>(a.col[k])]++;
      out.col[static_cast<std::size_t>(at)] = static_cast<int>(i);
      out.val[static_cast<std::size_t>(at)] = a.val[k];
    }
  }
}

template <typename T>
void csr_row_accumulate(const CsrView<T>& a, Index i, const T* x, Index batch, T alpha, T* acc) {
  if (batch == 1) {
    // One sample: a plain sparse dot product.
    T s = 0;
    for (int k = a.row_ptr[i]; k < a.row_ptr[i + 1]; ++k) s += a.val[k] * x[a.col[k]];
    acc[0] += alpha * s;
    return;
  }
  constexpr Index W = kBlock<T>;
  Index c0 = 0;
  for (; c0 + W <= batch; c0 += W) row_block<T, W>(a, i, x, batch, c0, alpha, acc);
  if (c0 + W / 2 <= batch) {
    row_block<T, W / 2>(a, i, x, batch, c0, alpha, acc);
    c0 += W / 2;
  }
  if (c0 + W / 4 <= batch) {
    row_block<T, W / 4>(a, i, x, batch, c0, alpha, acc);
    c0 += W / 4;
  }
  if (c0 < batch) row_tail(a, i, x, batch, c0, batch - c0, alpha, acc);
}

template <typename T>
void csr_times_batch(const CsrView<T>& a, const T* x, T* y, Index batch, T alpha, T beta) {
  for (Index i = 0; i < a.rows; ++i) {
    T* yi = y + i * batch;
    if (beta == T(0)) std::fill(yi, yi + batch, T(0));
    csr_row_accumulate(a, i, x, batch, alpha, yi);
  }
}

template <typename T>
void column_dots2(const T* a, const T* c, const T* d, Index rows, Index batch, double* ac, double* ad) {
  constexpr Index W = 64 / static_cast<Index>(sizeof(T));  // one vector register of samples
  Index c0 = 0;
  for (; c0 + 2 * W <= batch; c0 += 2 * W) dots2_block<T, 2 * W>(a, c, d, rows, batch, c0, ac, ad);
  for (; c0 + W <= batch; c0 += W) dots2_block<T, W>(a, c, d, rows, batch, c0, ac, ad);
  for (; c0 < batch; ++c0) dots2_block<T, 1>(a, c, d, rows, batch, c0, ac, ad);
}

void sddmm_accumulate(const int* row_ptr, const int* col, Index rows, const float* post, const float* pre,
                      Index batch, double* sums) {
  sddmm_impl(row_ptr, col, rows, post, pre, batch, sums);
}

void sddmm_accumulate(const int* row_ptr, const int* col, Index rows, const double* post, const double* pre,
                      Index batch, double* sums) {
  sddmm_impl(row_ptr, col, rows, post, pre, batch, sums);
}

template <typename T>
void to_neuron_major(const T* src, Index rows, Index cols, Index src_ld, T* dst) {
  // Blocked so both sides stream through cache lines.
  constexpr Index tile = 32;
  for (Index c0 = 0; c0 < cols; c0 += tile) {
    const Index c1 = std::min(cols, c0 + tile);
    for (Index r0 = 0; r0 < rows; r0 += tile) {
      const Index r1 = std::min(rows, r0 + tile);
      for (Index c = c0; c < c1; ++c) {
        for (Index r = r0; r < r1; ++r) dst[r * cols + c] = src[c * src_ld + r];
      }
    }
  }
}

template void transpose<float>(const CsrView<float>&, CsrMatrix<float>&);
template void transpose<double>(const CsrView<double>&, CsrMatrix<double>&);
template void csr_row_accumulate<float>(const CsrView<float>&, Index, const float*, Index, float, float*);
template void csr_row_accumulate<double>(const CsrView<double>&, Index, const double*, Index, double, double*);
template void csr_times_batch<float>(const CsrView<float>&, const float*, float*, Index, float, float);
template void csr_times_batch<double>(const CsrView<double>&, const double*, double*, Index, double, double);
template void column_dots2<float>(const float*, const float*, const float*, Index, Index, double*, double*);
template void column_dots2<double>(const double*, const double*, const double*, Index, Index, double*, double*);
template void to_neuron_major<float>(const float*, Index, Index, Index, float*);
template void to_neuron_major<double>(const double*, Index, Index, Index, double*);

}  // namespace simmatch::kernels
