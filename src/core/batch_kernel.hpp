// Internal kernels of the batched dynamics and learning: sparse (CSR) weights times a batch of
// activities stored "neuron-major" (row i of an N x B row-major block holds neuron i for every
// sample), so the innermost loop runs over contiguous samples and vectorises for any structure.
#pragma once

#include <vector>

#include "simmatch/dynamics.hpp"
#include "simmatch/types.hpp"

namespace simmatch::kernels {

/// Non-owning CSR view: row i's entries are val[row_ptr[i] .. row_ptr[i + 1]), columns in col,
/// distinct and ascending within a row (as Eigen's compressed matrices and transpose() keep them).
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

/// A square matrix that is block diagonal by site with dense site blocks: site s owns rows and
/// columns [s k, (s + 1) k) and every row stores exactly the k entries of its block, columns in
/// order (a local2d lateral matrix of radius 0, k neurons per site). The CSR values are then the
/// blocks row-major, site after site, and `val` views them without a copy; `tval` holds the
/// blocks transposed (tval[s][j][i] = block s (i, j)), rows padded with zeros to whole vectors,
/// for batches narrower than a vector. Built once per solve by dense_site_blocks. When every
/// site holds the same block (a conv2d layer's tied lateral matrix) all sites use the first
/// one, which then stays in cache across sites (same values, so the same results).
template <typename T>
struct DenseSiteBlocks {
  Index k = 0;              // neurons per site
  Index sites = 0;
  Index kp = 0;             // k rounded up to whole vectors: the row length of tval
  bool shared = false;      // every site's block equals site 0's, bit for bit
  const T* val = nullptr;   // sites x k x k, row-major per site (the CSR values)
  std::vector<T> tval;      // sites x k x kp (one block when shared)
  const T* block(Index s) const { return val + (shared ? 0 : s * k * k); }
  const T* transposed_block(Index s) const { return tval.data() + (shared ? 0 : s * k * kp); }
};

/// Whether `a` has the dense site-block structure above with k >= min_k; if so fills `out`
/// (which then views a's values: keep a alive and unchanged while out is used).
template <typename T>
bool dense_site_blocks(const CsrView<T>& a, Index min_k, DenseSiteBlocks<T>& out);

/// From this many stored values on, the per-solve comparisons of a layer's site blocks run on all
/// threads; below, opening a parallel region would cost more than the pass.
inline constexpr Index kParallelBlockValues = Index{1} << 15;

/// Whether `a` has the dense site-block structure above for sites of k neurons: a check of its
/// synapses (row_ptr and columns), not of its values.
template <typename T>
bool full_site_blocks(const CsrView<T>& a, Index k);

/// Fills `out` for `a`, which must pass full_site_blocks(a, k) (a layer's SiteLayout records it),
/// viewing a's values as dense_site_blocks does; compares the stored blocks on all threads.
template <typename T>
void view_site_blocks(const CsrView<T>& a, Index k, DenseSiteBlocks<T>& out);
/// The same with the comparison's verdict already known (`shared`: every stored block equal).
template <typename T>
void view_site_blocks(const CsrView<T>& a, Index k, bool shared, DenseSiteBlocks<T>& out);

/// Fills out.tval from out.val, k, kp, sites and shared (the rest of `out` already set): for
/// blocks that do not come from a CSR matrix, such as the site solver's preconditioner.
template <typename T>
void transpose_site_blocks(DenseSiteBlocks<T>& out);

/// y += alpha B_s x for the block B_s of site s, with x and y the site's k rows (k x batch,
/// row-major, ld = batch). Register-blocked dense kernel with exactly csr_row_accumulate's
/// arithmetic for every row and sample (products summed from zero in column order, then scaled
/// and added to y), so the result is the CSR kernel's bit for bit, for any batch and position.
template <typename T>
void dense_site_accumulate(const DenseSiteBlocks<T>& d, Index s, const T* x, Index batch, T alpha, T* y);

/// Whether rows [i0, i0 + rows) of `a` hold the same columns in the same order (a conv2d site's
/// filters, which all read the site's input patch).
template <typename T>
bool rows_share_columns(const CsrView<T>& a, Index i0, Index rows);

/// y += alpha a x for rows [i0, i0 + rows) that share their columns (rows_share_columns), with y
/// those rows (rows x batch, row-major, ld = batch). The rows' values form a dense block, so the
/// register-blocked kernel of dense_site_accumulate applies with the columns gathered: the same
/// arithmetic as csr_row_accumulate for every row and sample, and its bits, for any batch.
template <typename T>
void shared_column_rows_accumulate(const CsrView<T>& a, Index i0, Index rows, const T* x, Index batch, T alpha, T* y);

/// Sampled dense-dense product (SDDMM) for learning (eq. 17 correlations):
/// sums[k] += sum_b post[i, b] pre[j, b] for every entry k = (i, j) of the pattern `s`,
/// with post (s.rows x batch) and pre (s.cols x batch) row-major (samples contiguous).
/// Parallel over rows only when the work is large enough to pay for the threads.
void sddmm_accumulate(const int* row_ptr, const int* col, Index rows, const float* post, const float* pre,
                      Index batch, double* sums);
void sddmm_accumulate(const int* row_ptr, const int* col, Index rows, const double* post, const double* pre,
                      Index batch, double* sums);

/// Per-sample dot products over neuron-major rows x batch arrays, for `slots` arrays a_j at once:
/// ac[j][b] += sum_i a_j[i, b] c[i, b],  ad[j][b] += sum_i a_j[i, b] d[i, b]  (Anderson's Gram row
/// and right-hand side for every history column; ac and ad are slots x batch, row-major). One
/// pass streams c and d once for all slots, row after row. Each (j, b) sums its products in T from
/// zero in row order and adds the total to the double; slots <= kMaxDotSlots, the deepest
/// Anderson history the solver accepts (so raising that bound raises this one).
inline constexpr Index kMaxDotSlots = kMaxAndersonDepth;
template <typename T>
void column_dots(const T* const* a, Index slots, const T* c, const T* d, Index rows, Index batch, double* ac,
                 double* ad);

/// dst (cols x rows row-major, i.e. neuron-major) = transpose of the column-major rows x cols
/// block src (ld = src_ld): turns an N x B column-major batch into the neuron-major layout.
template <typename T>
void to_neuron_major(const T* src, Index rows, Index cols, Index src_ld, T* dst);

}  // namespace simmatch::kernels
