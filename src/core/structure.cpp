// Builders and queries of sparse structure constants (docs/theory.md "Notation").
#include "simmatch/structure.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <utility>

#include "simmatch/error.hpp"
#include "simmatch/saturating.hpp"

namespace simmatch {

namespace {

void require_index_range(Index n, const char* what) {
  if (n < 0 || n > std::numeric_limits<int>::max()) {
    throw ShapeError(fmt::format("structure: {} = {} is out of range [0, {}]", what, n,
                                 std::numeric_limits<int>::max()));
  }
}

constexpr Index kMaxSynapses = std::numeric_limits<int>::max();  // CSR offsets are int

// Refuses a matrix whose synapses do not fit the int offsets of CSR, before anything is built.
void require_synapse_count(Index synapses, Index n_out, Index n_in) {
  if (synapses > kMaxSynapses) {
    throw ShapeError(fmt::format("structure: a {} x {} matrix with more than {} synapses does not fit CSR's int offsets",
                                 n_out, n_in, kMaxSynapses));
  }
}

// Builds CSR arrays row by row: `connect(row, emit)` calls emit(col, value) in increasing col
// order, `synapses` times in all (counted beforehand, so the arrays are allocated once, exactly).
template <typename RowFn>
Structure build_rows(Index n_out, Index n_in, Index synapses, RowFn&& connect) {
  require_index_range(n_out, "rows");
  require_index_range(n_in, "cols");
  require_synapse_count(synapses, n_out, n_in);
  std::vector<int> row_ptr;
  std::vector<int> cols;
  std::vector<double> vals;
  row_ptr.reserve(static_cast<std::size_t>(n_out) + 1);
  cols.reserve(static_cast<std::size_t>(synapses));
  vals.reserve(static_cast<std::size_t>(synapses));
  row_ptr.push_back(0);
  for (Index i = 0; i < n_out; ++i) {
    connect(i, [&](Index j, double v) {
      cols.push_back(static_cast<int>(j));
      vals.push_back(v);
    });
    if (cols.size() > static_cast<std::size_t>(kMaxSynapses)) {
      throw InternalError("structure: more synapses built than counted");
    }
    row_ptr.push_back(static_cast<int>(cols.size()));
  }
  if (static_cast<Index>(cols.size()) != synapses) throw InternalError("structure: synapse count differs from the build");
  return Structure::from_csr(n_out, n_in, std::move(row_ptr), std::move(cols), std::move(vals));
}

// The columns l in [l0, l1] with d2 + (l + offset)^2 <= r2, evaluated exactly as written (the
// test the builders apply); they form one interval, found from its real-valued ends and then
// corrected by the test itself, so counting and building agree to the last synapse.
std::pair<Index, Index> span(double d2, double offset, double r2, Index l0, Index l1) {
  const auto inside = [&](Index l) {
    const double dl = static_cast<double>(l) + offset;
    return d2 + dl * dl <= r2;
  };
  const double half = std::sqrt(std::max(0.0, r2 - d2));
  Index lo = static_cast<Index>(std::ceil(-offset - half));
  Index hi = static_cast<Index>(std::floor(-offset + half));
  while (inside(lo - 1)) --lo;
  while (inside(hi + 1)) ++hi;
  while (lo <= hi && !inside(lo)) ++lo;
  while (hi >= lo && !inside(hi)) --hi;
  return {std::max(lo, l0), std::min(hi, l1)};
}

// The receptive field of one local2d site: pixel rows k0..k1 and, per row, a column span.
struct Local2dSite {
  double ci = 0, cj = 0;  // site centre in pixel units
  Index k0 = 0, k1 = -1, l0 = 0, l1 = -1;
};

Local2dSite local2d_site(const Grid& input, const Grid& out, Index stride, double radius, Index site) {
  const double half = static_cast<double>(stride) / 2.0;
  Local2dSite f;
  f.ci = static_cast<double>(site / out.width) * static_cast<double>(stride) + half;
  f.cj = static_cast<double>(site % out.width) * static_cast<double>(stride) + half;
  // Pixel rows/cols that can lie within the radius; the exact distance test is in span().
  f.k0 = std::max<Index>(0, static_cast<Index>(std::floor(f.ci - radius - 0.5)));
  f.k1 = std::min<Index>(input.height - 1, static_cast<Index>(std::ceil(f.ci + radius - 0.5)));
  f.l0 = std::max<Index>(0, static_cast<Index>(std::floor(f.cj - radius - 0.5)));
  f.l1 = std::min<Index>(input.width - 1, static_cast<Index>(std::ceil(f.cj + radius - 0.5)));
  return f;
}

// Pixel (k, l) centres are (k + 0.5, l + 0.5): the column offset of span() is 0.5 - cj.
template <typename Emit>
void for_each_pixel_row(const Local2dSite& f, double radius, Emit&& emit_row) {
  for (Index k = f.k0; k <= f.k1; ++k) {
    const double dk = static_cast<double>(k) + 0.5 - f.ci;
    const auto [lo, hi] = span(dk * dk, 0.5 - f.cj, radius * radius, f.l0, f.l1);
    if (lo <= hi) emit_row(k, lo, hi);
  }
}

// Sites within `radius` (site units) of site (i, j) on a grid, row by row.
template <typename Emit>
void for_each_neighbour_row(const Grid& sites, Index reach, double radius, Index i, Index j, Emit&& emit_row) {
  for (Index i2 = std::max<Index>(0, i - reach); i2 <= std::min(sites.height - 1, i + reach); ++i2) {
    const double di = static_cast<double>(i2 - i);
    const auto [lo, hi] = span(di * di, -static_cast<double>(j), radius * radius, std::max<Index>(0, j - reach),
                               std::min(sites.width - 1, j + reach));
    if (lo <= hi) emit_row(i2, lo, hi);
  }
}

Index saturating_index(std::uint64_t n) {
  return n > static_cast<std::uint64_t>(std::numeric_limits<Index>::max()) ? std::numeric_limits<Index>::max()
                                                                           : static_cast<Index>(n);
}

std::uint64_t product(Index a, Index b) {
  return saturating_mul(static_cast<std::uint64_t>(std::max<Index>(a, 0)), static_cast<std::uint64_t>(std::max<Index>(b, 0)));
}

// Checks local2d's arguments; returns its output grid and the radius clamped to the input's
// diagonal (every pixel lies within it of every site centre: a larger radius changes nothing,
// and clamping keeps the index arithmetic in range, 1e20 overflowing an Index).
std::pair<Grid, double> check_local2d(const Grid& input, Index stride, double radius, Index neurons_per_site) {
  if (!(radius >= 0) || !std::isfinite(radius)) {
    throw ConfigError(fmt::format("local2d: radius must be finite and >= 0, got {}", radius));
  }
  const Grid out = Structure::local2d_output(input, stride, neurons_per_site);
  // Rows and columns in range first, so that no product below can overflow.
  require_index_range(saturating_index(saturating_mul(product(input.height, input.width), input.channels)), "cols");
  require_index_range(saturating_index(saturating_mul(product(out.height, out.width), neurons_per_site)), "rows");
  return {out, std::min(radius, std::hypot(static_cast<double>(input.height), static_cast<double>(input.width)))};
}

// Checks lateral2d's arguments; returns the radius clamped to the grid's diagonal (as in local2d:
// beyond it every site is reached) and the whole sites it reaches along an axis.
std::pair<double, Index> check_lateral2d(const Grid& sites, double radius) {
  if (!(radius >= 0) || !std::isfinite(radius)) {
    throw ConfigError(fmt::format("lateral2d: radius must be finite and >= 0, got {}", radius));
  }
  if (sites.height < 1 || sites.width < 1 || sites.channels < 1) {
    throw ConfigError(fmt::format("lateral2d: grid {}x{}x{} is empty (neurons per site must be >= 1)",
                                  sites.height, sites.width, sites.channels));
  }
  require_index_range(saturating_index(saturating_mul(product(sites.height, sites.width), sites.channels)), "rows");
  radius = std::min(radius, std::hypot(static_cast<double>(sites.height), static_cast<double>(sites.width)));
  return {radius, static_cast<Index>(std::floor(radius))};
}

}  // namespace

Index Structure::dense_synapses(Index n_out, Index n_in) { return saturating_index(product(n_out, n_in)); }

Index Structure::local2d_synapses(const Grid& input, Index stride, double radius_given, Index neurons_per_site,
                                  Index limit) {
  // Named variables, not a structured binding: lambdas below capture them (clang 14 cannot).
  const std::pair<Grid, double> checked = check_local2d(input, stride, radius_given, neurons_per_site);
  const Grid out = checked.first;
  const double radius = checked.second;
  const std::uint64_t per_pixel = product(input.channels, neurons_per_site);
  std::uint64_t total = 0;
  const Index sites = out.height * out.width;
  for (Index site = 0; site < sites && total <= static_cast<std::uint64_t>(limit); ++site) {
    std::uint64_t pixels = 0;
    for_each_pixel_row(local2d_site(input, out, stride, radius, site), radius,
                       [&](Index, Index lo, Index hi) { pixels += static_cast<std::uint64_t>(hi - lo + 1); });
    total = saturating_add(total, saturating_mul(pixels, per_pixel));
  }
  return saturating_index(total);
}

Index Structure::lateral2d_synapses(const Grid& sites, double radius_given, Index limit) {
  const std::pair<double, Index> checked = check_lateral2d(sites, radius_given);
  const double radius = checked.first;
  const Index reach = checked.second;
  const std::uint64_t per_site_pair = product(sites.channels, sites.channels);
  std::uint64_t total = 0;
  for (Index i = 0; i < sites.height && total <= static_cast<std::uint64_t>(limit); ++i) {
    for (Index j = 0; j < sites.width && total <= static_cast<std::uint64_t>(limit); ++j) {
      std::uint64_t neighbours = 0;
      for_each_neighbour_row(sites, reach, radius, i, j,
                             [&](Index, Index lo, Index hi) { neighbours += static_cast<std::uint64_t>(hi - lo + 1); });
      total = saturating_add(total, saturating_mul(neighbours, per_site_pair));
    }
  }
  return saturating_index(total);
}

Structure Structure::dense(Index n_out, Index n_in, double value) {
  if (!(value > 0) || !std::isfinite(value)) {
    throw ConfigError(fmt::format("structure: dense constant must be finite and > 0, got {}", value));
  }
  require_index_range(n_out, "rows");
  require_index_range(n_in, "cols");
  return build_rows(n_out, n_in, dense_synapses(n_out, n_in), [&](Index, auto emit) {
    for (Index j = 0; j < n_in; ++j) emit(j, value);
  });
}

Grid Structure::local2d_output(const Grid& input, Index stride, Index neurons_per_site) {
  if (stride < 1) throw ConfigError(fmt::format("local2d: stride must be >= 1, got {}", stride));
  if (neurons_per_site < 1) {
    throw ConfigError(fmt::format("local2d: neurons_per_site must be >= 1, got {}", neurons_per_site));
  }
  if (input.height < 1 || input.width < 1 || input.channels < 1) {
    throw ShapeError(fmt::format("local2d: input grid {}x{}x{} is empty", input.height, input.width, input.channels));
  }
  if (input.height % stride != 0 || input.width % stride != 0) {
    throw ConfigError(fmt::format("local2d: stride {} does not divide the input grid {}x{}", stride,
                                  input.height, input.width));
  }
  return Grid{input.height / stride, input.width / stride, neurons_per_site};
}

Structure Structure::local2d(const Grid& input, Index stride, double radius_given, Index neurons_per_site) {
  const std::pair<Grid, double> checked = check_local2d(input, stride, radius_given, neurons_per_site);
  const Grid out = checked.first;
  const double radius = checked.second;
  const Index synapses = local2d_synapses(input, stride, radius, neurons_per_site, kMaxSynapses);
  return build_rows(out.size(), input.size(), synapses, [&](Index row, auto emit) {
    const Index site = row / neurons_per_site;
    for_each_pixel_row(local2d_site(input, out, stride, radius, site), radius, [&](Index k, Index lo, Index hi) {
      for (Index l = lo; l <= hi; ++l) {
        for (Index c = 0; c < input.channels; ++c) emit((k * input.width + l) * input.channels + c, 1.0);
      }
    });
  });
}

Structure Structure::lateral2d(const Grid& sites, double radius_given) {
  const std::pair<double, Index> checked = check_lateral2d(sites, radius_given);
  const double radius = checked.first;
  const Index reach = checked.second;
  const Index nps = sites.channels;
  const Index synapses = lateral2d_synapses(sites, radius, kMaxSynapses);
  return build_rows(sites.size(), sites.size(), synapses, [&](Index row, auto emit) {
    const Index site = row / nps;
    for_each_neighbour_row(sites, reach, radius, site / sites.width, site % sites.width,
                           [&](Index i2, Index lo, Index hi) {
                             for (Index j2 = lo; j2 <= hi; ++j2) {
                               for (Index n = 0; n < nps; ++n) emit((i2 * sites.width + j2) * nps + n, 1.0);
                             }
                           });
  });
}

Structure Structure::from_dense(const Eigen::MatrixXd& constants, const std::string& what) {
  for (Index i = 0; i < constants.rows(); ++i) {
    for (Index j = 0; j < constants.cols(); ++j) {
      const double v = constants(i, j);
      if (!std::isfinite(v) || v < 0) {
        throw ConfigError(fmt::format("{}: structure constant at ({}, {}) must be finite and >= 0, got {}", what,
                                      i, j, v));
      }
    }
  }
  const Index synapses = static_cast<Index>((constants.array() != 0.0).count());
  return build_rows(constants.rows(), constants.cols(), synapses, [&](Index i, auto emit) {
    for (Index j = 0; j < constants.cols(); ++j) {
      if (constants(i, j) != 0.0) emit(j, constants(i, j));
    }
  });
}

Structure Structure::from_csr(Index n_out, Index n_in, std::vector<int> row_ptr, std::vector<int> col_index,
                              std::vector<double> values) {
  require_index_range(n_out, "rows");
  require_index_range(n_in, "cols");
  if (row_ptr.size() != static_cast<std::size_t>(n_out) + 1 || row_ptr.front() != 0) {
    throw ShapeError(fmt::format("structure: row pointer must have {} entries starting at 0, got {}", n_out + 1,
                                 row_ptr.size()));
  }
  if (col_index.size() != values.size() || static_cast<std::size_t>(row_ptr.back()) != col_index.size()) {
    throw ShapeError(fmt::format("structure: {} column indices, {} values and a row pointer ending at {} disagree",
                                 col_index.size(), values.size(), row_ptr.back()));
  }
  for (Index i = 0; i < n_out; ++i) {
    const int begin = row_ptr[static_cast<std::size_t>(i)];
    const int end = row_ptr[static_cast<std::size_t>(i) + 1];
    if (end < begin) throw ShapeError(fmt::format("structure: row pointer decreases at row {}", i));
    for (int k = begin; k < end; ++k) {
      const int j = col_index[static_cast<std::size_t>(k)];
      if (j < 0 || j >= n_in) {
        throw ShapeError(fmt::format("structure: column index {} of row {} outside [0, {})", j, i, n_in));
      }
      if (k > begin && j <= col_index[static_cast<std::size_t>(k) - 1]) {
        throw ShapeError(fmt::format("structure: column indices of row {} are not strictly increasing", i));
      }
      const double v = values[static_cast<std::size_t>(k)];
      if (!(v > 0) || !std::isfinite(v)) {
        throw ConfigError(fmt::format("structure: constant at ({}, {}) must be finite and > 0, got {}", i, j, v));
      }
    }
  }
  Structure s;
  s.rows_ = n_out;
  s.cols_ = n_in;
  s.row_ptr_ = std::move(row_ptr);
  s.col_index_ = std::move(col_index);
  s.values_ = std::move(values);
  return s;
}

Index Structure::find(Index row, Index col) const {
  if (row < 0 || row >= rows_) return -1;
  const auto begin = col_index_.begin() + row_ptr_[static_cast<std::size_t>(row)];
  const auto end = col_index_.begin() + row_ptr_[static_cast<std::size_t>(row) + 1];
  const auto it = std::lower_bound(begin, end, static_cast<int>(col));
  return (it != end && *it == col) ? static_cast<Index>(it - col_index_.begin()) : -1;
}

bool Structure::is_symmetric() const {
  if (rows_ != cols_) return false;
  for (Index i = 0; i < rows_; ++i) {
    for (int k = row_ptr_[static_cast<std::size_t>(i)]; k < row_ptr_[static_cast<std::size_t>(i) + 1]; ++k) {
      const Index t = find(col_index_[static_cast<std::size_t>(k)], i);
      if (t < 0 || values_[static_cast<std::size_t>(t)] != values_[static_cast<std::size_t>(k)]) return false;
    }
  }
  return true;
}

bool Structure::is_binary() const {
  return std::all_of(values_.begin(), values_.end(), [](double v) { return v == 1.0; });
}

Eigen::MatrixXd Structure::to_dense() const {
  Eigen::MatrixXd d = Eigen::MatrixXd::Zero(rows_, cols_);
  for (Index i = 0; i < rows_; ++i) {
    for (int k = row_ptr_[static_cast<std::size_t>(i)]; k < row_ptr_[static_cast<std::size_t>(i) + 1]; ++k) {
      d(i, col_index_[static_cast<std::size_t>(k)]) = values_[static_cast<std::size_t>(k)];
    }
  }
  return d;
}

std::size_t Structure::memory_bytes() const {
  return row_ptr_.size() * sizeof(int) + col_index_.size() * sizeof(int) + values_.size() * sizeof(double);
}

}  // namespace simmatch
