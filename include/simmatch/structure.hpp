// Structure constants C^W and C^L (docs/theory.md, "Notation"): which synapses exist and their
// non-negative constants, stored sparsely (CSR) so memory grows with the number of synapses.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "simmatch/types.hpp"

namespace simmatch {

/// A grid of sites, `channels` values per site, stored site-major: index (row * width + col) *
/// channels + channel. A 28x28 image is Grid{28, 28, 1}; a locally connected layer with 4
/// neurons per site on a 14x14 site grid is Grid{14, 14, 4}.
struct Grid {
  Index height = 0;
  Index width = 0;
  Index channels = 1;
  Index size() const { return height * width * channels; }
  bool operator==(const Grid&) const = default;
};

/// Sparse non-negative constants of one weight matrix (n_out x n_in), in CSR form with sorted,
/// unique column indices per row. A synapse exists exactly where a constant is stored (> 0).
class Structure {
public:
  Structure() = default;

  /// All-to-all: every constant equals `value` (> 0).
  static Structure dense(Index n_out, Index n_in, double value = 1.0);

  /// 2-D locally connected layer. Output grid (input.height / stride) x (input.width / stride)
  /// sites with `neurons_per_site` neurons each (output index (i * out_w + j) * nps + n).
  /// Site (i, j) has centre (i s + s/2, j s + s/2), input pixel (k, l) centre (k + 0.5, l + 0.5),
  /// both in pixel units; a synapse (constant 1) joins every neuron of the site to every channel
  /// of each pixel within Euclidean distance <= radius. Throws ConfigError when the stride does
  /// not divide the grid, stride or neurons_per_site < 1, or radius < 0.
  static Structure local2d(const Grid& input, Index stride, double radius, Index neurons_per_site);

  /// Output grid of `local2d(input, stride, ...)`.
  static Grid local2d_output(const Grid& input, Index stride, Index neurons_per_site);

  /// Lateral connections on a grid of sites (square matrix of size grid.size()): neurons of
  /// sites (i, j) and (i', j') connect (constant 1) when sqrt((i-i')^2 + (j-j')^2) <= radius,
  /// in site units; radius 0 joins the neurons of the same site only. Self-connections included.
  static Structure lateral2d(const Grid& sites, double radius);

  /// Synapses the builders above create, counted from their parameters alone (nothing is
  /// allocated), so that a size can be refused before building: the exact count when it is at
  /// most `limit`, else some value > `limit` (counting stops early); products saturate at
  /// INT64_MAX instead of overflowing. Same argument checks as the builders (a grid of more than
  /// 2^31 - 1 neurons is a ShapeError). The builders refuse more than 2^31 - 1 synapses in one
  /// matrix with a ShapeError before allocating, and allocate exactly the count.
  static Index dense_synapses(Index n_out, Index n_in);
  static Index local2d_synapses(const Grid& input, Index stride, double radius, Index neurons_per_site,
                                Index limit = std::numeric_limits<Index>::max());
  static Index lateral2d_synapses(const Grid& sites, double radius, Index limit = std::numeric_limits<Index>::max());

  /// Constants from a dense n_out x n_in matrix: zeros are dropped; negative or non-finite
  /// entries throw ConfigError naming `what` (e.g. the file they came from).
  static Structure from_dense(const Eigen::MatrixXd& constants, const std::string& what = "constants");

  /// Constants from CSR arrays; validates sizes, ordering, range and positivity.
  static Structure from_csr(Index n_out, Index n_in, std::vector<int> row_ptr,
                            std::vector<int> col_index, std::vector<double> values);

  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  Index nnz() const { return static_cast<Index>(col_index_.size()); }

  /// CSR arrays: row r's synapses are col_index()[row_ptr()[r] .. row_ptr()[r + 1]).
  const std::vector<int>& row_ptr() const { return row_ptr_; }
  const std::vector<int>& col_index() const { return col_index_; }
  const std::vector<double>& values() const { return values_; }

  /// Position of (row, col) in the CSR arrays, or -1 when there is no synapse.
  Index find(Index row, Index col) const;

  bool is_symmetric() const;
  bool is_binary() const;
  Eigen::MatrixXd to_dense() const;
  /// Bytes held by the CSR arrays.
  std::size_t memory_bytes() const;

  bool operator==(const Structure&) const = default;

private:
  Index rows_ = 0;
  Index cols_ = 0;
  std::vector<int> row_ptr_{0};
  std::vector<int> col_index_;
  std::vector<double> values_;
};

}  // namespace simmatch
