// Internal kernels of the batched dynamics and learning: sparse (CSR) weights times a batch of
// activities stored "neuron-major" (row i of an N x B row-major block holds neuron i for every
// sample), so the innermost loop runs over contiguous samples and vectorises for any structure.
#pragma once

#include <vector>

#include "simmatch/types.hpp"

namespace simmatch::kernels {

/// Non-owning CSR view: row i's entries are val[row_ptr[i] .. row_ptr[i + 1]), columns in col.
template <typename T>
struct CsrView {
  Index rows = 0;
  Index cols = 0;
  const int* row_ptr = nullptr;
  const int* col = nullptr;
  const T* val = nullptr;
};

template <typename T>
CsrView<T> view_of(const SparseWeights<T>& m) {
  return CsrView<T>{m.rows(), m.cols(), m.outerIndexPtr(), m.innerIndexPtr(), m.valuePtr()};
}

/// Owning CSR matrix; used for W^T (feedback of eq. 15), rebuilt per solve because weights change.
template <typename T>
struct CsrMatrix {
  Index rows = 0;
  Index cols = 0;
  std::vector<int> row_ptr;
  std::vector<int> col;
  std::vector<T> val;
  CsrView<T> view() const { return CsrView<T>{rows, cols, row_ptr.data(), col.data(), val.data()}; }
};

/// out = a^T (storage reused when out already has the capacity).
template <typename T>
void transpose(const CsrView<T>& a, CsrMatrix<T>& out);

/// y (a.rows x batch, row-major) = beta y + alpha a x, x being a.cols x batch row-major.
/// beta is 0 or 1 (0 overwrites without reading y). Rows run serially: callers parallelise
/// over independent sample chunks, which needs no synchronisation per step.
template <typename T>
void csr_times_batch(const CsrView<T>& a, const T* x, T* y, Index batch, T alpha, T beta);

/// acc[0..batch) += alpha * sum_k a(i, k) x[k, 0..batch) for one row i (x row-major, ld = batch).
/// The building block of the fused layer-input kernel.
template <typename T>
void csr_row_accumulate(const CsrView<T>& a, Index i, const T* x, Index batch, T alpha, T* acc);

/// Sampled dense-dense product (SDDMM) for learning (eq. 17 correlations):
/// sums[k] += sum_b post[i, b] pre[j, b] for every entry k = (i, j) of the pattern `s`,
/// with post (s.rows x batch) and pre (s.cols x batch) row-major (samples contiguous).
/// Parallel over rows only when the work is large enough to pay for the threads.
void sddmm_accumulate(const int* row_ptr, const int* col, Index rows, const float* post, const float* pre,
                      Index batch, double* sums);
void sddmm_accumulate(const int* row_ptr, const int* col, Index rows, const double* post, const double* pre,
                      Index batch, double* sums);

/// Per-sample dot products over neuron-major rows x batch arrays:
/// ab[b] += sum_i a[i, b] c[i, b],  ad[b] += sum_i a[i, b] d[i, b]  (Anderson's Gram row and
/// right-hand side). Register-blocked over samples; partial sums in T, totals in double.
template <typename T>
void column_dots2(const T* a, const T* c, const T* d, Index rows, Index batch, double* ac, double* ad);

/// dst (cols x rows row-major, i.e. neuron-major) = transpose of the column-major rows x cols
/// block src (ld = src_ld): turns an N x B column-major batch into the neuron-major layout.
template <typename T>
void to_neuron_major(const T* src, Index rows, Index cols, Index src_ld, T* dst);

}  // namespace simmatch::kernels
