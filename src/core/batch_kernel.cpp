// Sparse x batch kernels in the neuron-major layout (see batch_kernel.hpp).
// No fused multiply-add contraction here: the compiler contracts vector bodies and scalar
// remainders differently, which would make a sample's result depend on its position in the
// batch; sharded runs must reproduce a single process bit for bit.
#if defined(__clang__)
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif
#include "core/batch_kernel.hpp"

#include "simmatch/error.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

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

// Dense site blocks. Vectors via the compiler's generic vector extension (GCC and clang), as
// wide as the target's registers (so that no vector crosses a function boundary in two halves).
#if defined(__AVX512F__)
constexpr Index kVecBytes = 64;
#elif defined(__AVX__)
constexpr Index kVecBytes = 32;
#else
constexpr Index kVecBytes = 16;
#endif
template <typename T>
struct Simd;
template <>
struct Simd<float> {
  typedef float V __attribute__((vector_size(kVecBytes)));
};
template <>
struct Simd<double> {
  typedef double V __attribute__((vector_size(kVecBytes)));
};
template <typename T>
constexpr Index kLanes = kVecBytes / static_cast<Index>(sizeof(T));

template <typename V, typename T>
inline V vload(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename V, typename T>
inline void vstore(T* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

// Batch-vectorised tile: R rows of the block times NV vectors of samples. b points at the
// tile's first row of the block (row length k), x and y at the site's rows, column c0. The
// vectors sit at n * lanes except the last, at `last` (w - lanes for a tile w samples wide), so
// a width that is not a whole number of vectors overlaps its neighbour instead of reading past
// the batch: overlapping lanes compute the same operations on the same data, and every row's
// outputs are all read before any is written, so they store the same values twice.
// Per accumulator: acc = 0, acc += b(i, j) x(j, .) for j = 0 .. k-1, y += alpha acc, the
// operations of csr_row_accumulate (separate multiply and add: fp-contract is off).
// With Indexed, entry j of every row multiplies x's row cols[j] instead of row j (rows that share
// one column list: a conv2d site's filters all read the same patch).
template <typename T, int R, int NV, bool Indexed>
inline void sample_tile(const T* b, Index k, const int* cols, const T* x, Index ld, Index last, T alpha, T* y) {
  using V = typename Simd<T>::V;
  constexpr Index L = kLanes<T>;
  Index off[NV];
  for (int n = 0; n < NV; ++n) off[n] = n + 1 < NV ? n * L : last;
  V acc[R][NV];
  for (int r = 0; r < R; ++r) {
    for (int n = 0; n < NV; ++n) acc[r][n] = V{};
  }
  for (Index j = 0; j < k; ++j) {
    const T* xj = x + (Indexed ? static_cast<Index>(cols[j]) : j) * ld;
    V xv[NV];
    for (int n = 0; n < NV; ++n) xv[n] = vload<V>(xj + off[n]);
    for (int r = 0; r < R; ++r) {
      const T v = b[r * k + j];
      for (int n = 0; n < NV; ++n) acc[r][n] += v * xv[n];
    }
  }
  for (int r = 0; r < R; ++r) {
    T* yr = y + r * ld;
    V yv[NV];
    for (int n = 0; n < NV; ++n) yv[n] = vload<V>(yr + off[n]);
    for (int n = 0; n < NV; ++n) yv[n] += alpha * acc[r][n];
    for (int n = 0; n < NV; ++n) vstore(yr + off[n], yv[n]);
  }
}

template <typename T, int R, bool Indexed>
inline void sample_tile_nv(int nv, const T* b, Index k, const int* cols, const T* x, Index ld, Index last, T alpha,
                           T* y) {
  switch (nv) {
    case 1: sample_tile<T, R, 1, Indexed>(b, k, cols, x, ld, last, alpha, y); break;
    case 2: sample_tile<T, R, 2, Indexed>(b, k, cols, x, ld, last, alpha, y); break;
    case 3: sample_tile<T, R, 3, Indexed>(b, k, cols, x, ld, last, alpha, y); break;
    default: sample_tile<T, R, 4, Indexed>(b, k, cols, x, ld, last, alpha, y); break;
  }
}

// y (rows x batch) += alpha b x for a dense rows x n block b (row-major), batch >= one vector:
// tiles of 4 rows x up to 4 vectors of samples, the x tile (n x 4 vectors) staying in L1 while
// the rows go by. Row j of x is cols[j] with Indexed, else j.
template <typename T, bool Indexed>
void tiled_block_product(const T* b, Index rows, Index n, const int* cols, const T* x, Index batch, T alpha, T* y) {
  constexpr Index L = kLanes<T>;
  constexpr Index R = 4;
  for (Index c0 = 0; c0 < batch;) {
    Index w = std::min(4 * L, batch - c0);
    const Index left = batch - c0 - w;
    if (left > 0 && left < L) w = batch - c0 - L;  // leave the last tile a whole vector
    const int nv = static_cast<int>((w + L - 1) / L);
    Index i = 0;
    for (; i + R <= rows; i += R) {
      sample_tile_nv<T, R, Indexed>(nv, b + i * n, n, cols, x + c0, batch, w - L, alpha, y + i * batch + c0);
    }
    const T* bi = b + i * n;
    T* yi = y + i * batch + c0;
    switch (rows - i) {
      case 1: sample_tile_nv<T, 1, Indexed>(nv, bi, n, cols, x + c0, batch, w - L, alpha, yi); break;
      case 2: sample_tile_nv<T, 2, Indexed>(nv, bi, n, cols, x + c0, batch, w - L, alpha, yi); break;
      case 3: sample_tile_nv<T, 3, Indexed>(nv, bi, n, cols, x + c0, batch, w - L, alpha, yi); break;
      default: break;
    }
    c0 += w;
  }
}

// Row-vectorised tile for batches narrower than a vector: NR vectors of rows (from the
// transposed, zero-padded block bt, row length kp) times NS samples. The lanes are rows, the
// arithmetic per row and sample the same as sample_tile's; `rows` valid rows from the tile's
// first, the padding lanes are dropped.
template <typename T, int NR, int NS>
inline void row_tile(const T* bt, Index k, Index kp, const T* x, Index ld, Index rows, T alpha, T* y) {
  using V = typename Simd<T>::V;
  constexpr Index L = kLanes<T>;
  V acc[NR][NS];
  for (int n = 0; n < NR; ++n) {
    for (int m = 0; m < NS; ++m) acc[n][m] = V{};
  }
  for (Index j = 0; j < k; ++j) {
    V bv[NR];
    for (int n = 0; n < NR; ++n) bv[n] = vload<V>(bt + j * kp + n * L);
    for (int m = 0; m < NS; ++m) {
      const T xs = x[j * ld + m];
      for (int n = 0; n < NR; ++n) acc[n][m] += bv[n] * xs;
    }
  }
  for (int n = 0; n < NR; ++n) {
    const Index valid = std::min(L, rows - n * L);
    for (int m = 0; m < NS; ++m) {
      T a[L];
      vstore(a, acc[n][m]);
      for (Index l = 0; l < valid; ++l) y[(n * L + l) * ld + m] += alpha * a[l];
    }
  }
}

template <typename T, int NR>
inline void row_tile_ns(int ns, const T* bt, Index k, Index kp, const T* x, Index ld, Index rows, T alpha, T* y) {
  switch (ns) {
    case 1: row_tile<T, NR, 1>(bt, k, kp, x, ld, rows, alpha, y); break;
    case 2: row_tile<T, NR, 2>(bt, k, kp, x, ld, rows, alpha, y); break;
    case 3: row_tile<T, NR, 3>(bt, k, kp, x, ld, rows, alpha, y); break;
    default: row_tile<T, NR, 4>(bt, k, kp, x, ld, rows, alpha, y); break;
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
bool full_site_blocks(const CsrView<T>& a, Index k) {
  if (k < 1 || a.rows < 1 || a.rows != a.cols || a.rows % k != 0 || a.row_ptr[0] != 0) return false;
  // k distinct ascending columns (CsrView) from lo to lo + k - 1 are exactly the block's: a check
  // per row, not per synapse.
  for (Index i = 0; i < a.rows; ++i) {
    if (a.row_ptr[i + 1] - a.row_ptr[i] != k) return false;
    const int* c = a.col + a.row_ptr[i];
    const Index lo = i - i % k;
    if (c[0] != lo || c[k - 1] != lo + k - 1) return false;
  }
  return true;
}

template <typename T>
bool dense_site_blocks(const CsrView<T>& a, Index min_k, DenseSiteBlocks<T>& out) {
  if (a.rows < 1 || a.row_ptr[0] != 0) return false;
  const Index k = a.row_ptr[1];
  if (k < std::max<Index>(min_k, 1) || !full_site_blocks(a, k)) return false;
  view_site_blocks(a, k, out);
  return true;
}

template <typename T>
void view_site_blocks(const CsrView<T>& a, Index k, DenseSiteBlocks<T>& out) {
  // Runs before every solve: one pass over the stored values, on all threads (a verdict, so the
  // same on any number of them).
  const auto bytes = static_cast<std::size_t>(k * k) * sizeof(T);
  const Index sites = a.rows / k;
  bool shared = true;
#pragma omp parallel for schedule(static) reduction(&& : shared) if (sites * k * k >= kParallelBlockValues)
  for (Index s = 1; s < sites; ++s) shared = shared && std::memcmp(a.val, a.val + s * k * k, bytes) == 0;
  view_site_blocks(a, k, shared, out);
}

template <typename T>
void view_site_blocks(const CsrView<T>& a, Index k, bool shared, DenseSiteBlocks<T>& out) {
  constexpr Index L = kLanes<T>;
  out.k = k;
  out.sites = a.rows / k;
  out.kp = (k + L - 1) / L * L;
  out.val = a.val;
  out.shared = shared;
  transpose_site_blocks(out);
}

template <typename T>
void transpose_site_blocks(DenseSiteBlocks<T>& out) {
  const Index k = out.k;
  const Index stored = out.shared ? 1 : out.sites;
  out.tval.assign(static_cast<std::size_t>(stored * k * out.kp), T(0));
  for (Index s = 0; s < stored; ++s) {
    const T* b = out.val + s * k * k;
    T* bt = out.tval.data() + s * k * out.kp;
    for (Index i = 0; i < k; ++i) {
      for (Index j = 0; j < k; ++j) bt[j * out.kp + i] = b[i * k + j];
    }
  }
}

template <typename T>
void dense_site_accumulate(const DenseSiteBlocks<T>& d, Index s, const T* x, Index batch, T alpha, T* y) {
  constexpr Index L = kLanes<T>;
  constexpr Index R = 4;  // rows per sample tile, vectors of rows per row tile
  const Index k = d.k;
  if (batch >= L) {
    tiled_block_product<T, false>(d.block(s), k, k, nullptr, x, batch, alpha, y);
    return;
  }
  // Narrow batch: vectors over rows, from the transposed blocks; tiles of R row vectors x up to
  // 4 samples, the block's R vectors of rows (k x R lanes) staying in L1 while samples go by.
  const Index kp = d.kp;
  const T* bt = d.transposed_block(s);
  const Index groups = kp / L;
  for (Index g = 0; g < groups; g += R) {
    const Index nr = std::min(R, groups - g);
    for (Index c = 0; c < batch; c += 4) {
      const int ns = static_cast<int>(std::min<Index>(4, batch - c));
      const T* btg = bt + g * L;
      T* yg = y + g * L * batch + c;
      switch (nr) {
        case 1: row_tile_ns<T, 1>(ns, btg, k, kp, x + c, batch, k - g * L, alpha, yg); break;
        case 2: row_tile_ns<T, 2>(ns, btg, k, kp, x + c, batch, k - g * L, alpha, yg); break;
        case 3: row_tile_ns<T, 3>(ns, btg, k, kp, x + c, batch, k - g * L, alpha, yg); break;
        default: row_tile_ns<T, 4>(ns, btg, k, kp, x + c, batch, k - g * L, alpha, yg); break;
      }
    }
  }
}

template <typename T>
bool rows_share_columns(const CsrView<T>& a, Index i0, Index rows) {
  if (rows < 1 || i0 < 0 || i0 + rows > a.rows) return false;
  const int* rp = a.row_ptr;
  const Index n = rp[i0 + 1] - rp[i0];
  for (Index i = i0 + 1; i < i0 + rows; ++i) {
    if (rp[i + 1] - rp[i] != n || std::memcmp(a.col + rp[i], a.col + rp[i0], static_cast<std::size_t>(n) * sizeof(int)) != 0) {
      return false;
    }
  }
  return true;
}

namespace {

// One sample (online learning) through rows that share their columns: each row's sum in CSR order
// as csr_row_accumulate forms it, R rows at a time so that their chains of adds overlap (a row at a
// time, every add waited for the one before: a seventh of a 64-filter layer's online training).
// Not vectorised: GCC turns each row's sum into vector products added lane by lane in order,
// slower than the R scalar chains.
template <typename T>
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-vectorize")))
#endif
void one_sample_shared_column_rows(const CsrView<T>& a, Index i0, Index rows, const T* x, T alpha, T* y) {
  constexpr Index R = 8;
  const Index n = a.row_ptr[i0 + 1] - a.row_ptr[i0];
  const int* col = a.col + a.row_ptr[i0];
  const T* v = a.val + a.row_ptr[i0];  // rows x n, row-major
  Index i = 0;
  for (; i + R <= rows; i += R) {
    T s[R] = {};
    for (Index q = 0; q < n; ++q) {
      const T xq = x[col[q]];
      for (Index r = 0; r < R; ++r) s[r] += v[(i + r) * n + q] * xq;
    }
    for (Index r = 0; r < R; ++r) y[i + r] += alpha * s[r];
  }
  for (; i < rows; ++i) csr_row_accumulate(a, i0 + i, x, 1, alpha, y + i);
}

}  // namespace

template <typename T>
void shared_column_rows_accumulate(const CsrView<T>& a, Index i0, Index rows, const T* x, Index batch, T alpha, T* y) {
  if (batch == 1) {
    one_sample_shared_column_rows(a, i0, rows, x, alpha, y);
    return;
  }
  if (batch < kLanes<T>) {
    for (Index i = 0; i < rows; ++i) csr_row_accumulate(a, i0 + i, x, batch, alpha, y + i * batch);
    return;
  }
  // The rows' values are consecutive in the CSR arrays: a dense rows x n block, row-major.
  const Index n = a.row_ptr[i0 + 1] - a.row_ptr[i0];
  tiled_block_product<T, true>(a.val + a.row_ptr[i0], rows, n, a.col + a.row_ptr[i0], x, batch, alpha, y);
}

template <typename T>
void csr_times_batch(const CsrView<T>& a, const T* x, T* y, Index batch, T alpha, T beta) {
  for (Index i = 0; i < a.rows; ++i) {
    T* yi = y + i * batch;
    if (beta == T(0)) std::fill(yi, yi + batch, T(0));
    csr_row_accumulate(a, i, x, batch, alpha, yi);
  }
}

namespace {

// column_dots of one column: the 2 x Slots sums in registers (in the blocked loop below, a column
// of one made every add wait for the store of the one before, row after row).
template <typename T, Index Slots>
void single_column_dots(const T* const* a, const T* c, const T* d, Index rows, double* ac, double* ad) {
  T s1[Slots > 0 ? Slots : 1] = {};
  T s2[Slots > 0 ? Slots : 1] = {};
  for (Index i = 0; i < rows; ++i) {
    const T ci = c[i];
    const T di = d[i];
    for (Index j = 0; j < Slots; ++j) {
      s1[j] += a[j][i] * ci;
      s2[j] += a[j][i] * di;
    }
  }
  for (Index j = 0; j < Slots; ++j) {
    ac[j] += static_cast<double>(s1[j]);
    ad[j] += static_cast<double>(s2[j]);
  }
}

template <typename T, Index... Slots>
void single_column_dots(std::integer_sequence<Index, Slots...>, const T* const* a, Index slots, const T* c, const T* d,
                        Index rows, double* ac, double* ad) {
  ((slots == Slots ? single_column_dots<T, Slots>(a, c, d, rows, ac, ad) : void()), ...);
}

}  // namespace

template <typename T>
void column_dots(const T* const* a, Index slots, const T* c, const T* d, Index rows, Index batch, double* ac,
                 double* ad) {
  if (slots < 0 || slots > kMaxDotSlots) throw InternalError("column_dots: too many slots");
  if (batch == 1) {
    single_column_dots(std::make_integer_sequence<Index, kMaxDotSlots + 1>{}, a, slots, c, d, rows, ac, ad);
    return;
  }
  // Columns in blocks whose partial sums (2 x slots x 64 values) stay in L1 while the rows stream
  // by contiguously; earlier, one strided pass per slot and per block of columns re-read c and d
  // once per slot, a fifth of an Anderson iteration on a 64-filter conv2d layer.
  constexpr Index kCols = 64;
  T s1[kMaxDotSlots][kCols];
  T s2[kMaxDotSlots][kCols];
  for (Index c0 = 0; c0 < batch; c0 += kCols) {
    const Index w = std::min(kCols, batch - c0);
    for (Index j = 0; j < slots; ++j) {
      std::fill(s1[j], s1[j] + w, T(0));
      std::fill(s2[j], s2[j] + w, T(0));
    }
    for (Index i = 0; i < rows; ++i) {
      const Index o = i * batch + c0;
      const T* __restrict ci = c + o;
      const T* __restrict di = d + o;
      for (Index j = 0; j < slots; ++j) {
        const T* __restrict aj = a[j] + o;
        T* __restrict p1 = s1[j];
        T* __restrict p2 = s2[j];
#pragma omp simd
        for (Index b = 0; b < w; ++b) {
          p1[b] += aj[b] * ci[b];
          p2[b] += aj[b] * di[b];
        }
      }
    }
    for (Index j = 0; j < slots; ++j) {
      for (Index b = 0; b < w; ++b) {
        ac[j * batch + c0 + b] += static_cast<double>(s1[j][b]);
        ad[j * batch + c0 + b] += static_cast<double>(s2[j][b]);
      }
    }
  }
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
template bool dense_site_blocks<float>(const CsrView<float>&, Index, DenseSiteBlocks<float>&);
template bool dense_site_blocks<double>(const CsrView<double>&, Index, DenseSiteBlocks<double>&);
template bool full_site_blocks<float>(const CsrView<float>&, Index);
template bool full_site_blocks<double>(const CsrView<double>&, Index);
template void view_site_blocks<float>(const CsrView<float>&, Index, DenseSiteBlocks<float>&);
template void view_site_blocks<double>(const CsrView<double>&, Index, DenseSiteBlocks<double>&);
template void view_site_blocks<float>(const CsrView<float>&, Index, bool, DenseSiteBlocks<float>&);
template void view_site_blocks<double>(const CsrView<double>&, Index, bool, DenseSiteBlocks<double>&);
template void transpose_site_blocks<float>(DenseSiteBlocks<float>&);
template void transpose_site_blocks<double>(DenseSiteBlocks<double>&);
template bool rows_share_columns<float>(const CsrView<float>&, Index, Index);
template bool rows_share_columns<double>(const CsrView<double>&, Index, Index);
template void shared_column_rows_accumulate<float>(const CsrView<float>&, Index, Index, const float*, Index, float,
                                                   float*);
template void shared_column_rows_accumulate<double>(const CsrView<double>&, Index, Index, const double*, Index,
                                                    double, double*);
template void dense_site_accumulate<float>(const DenseSiteBlocks<float>&, Index, const float*, Index, float, float*);
template void dense_site_accumulate<double>(const DenseSiteBlocks<double>&, Index, const double*, Index, double,
                                            double*);
template void column_dots<float>(const float* const*, Index, const float*, const float*, Index, Index, double*, double*);
template void column_dots<double>(const double* const*, Index, const double*, const double*, Index, Index, double*,
                                  double*);
template void to_neuron_major<float>(const float*, Index, Index, Index, float*);
template void to_neuron_major<double>(const double*, Index, Index, Index, double*);

}  // namespace simmatch::kernels
