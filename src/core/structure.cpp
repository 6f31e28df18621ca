// Builders and queries of sparse structure constants (THEORY.md "Notation").
#include "simmatch/structure.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "simmatch/error.hpp"

namespace simmatch {

namespace {

void require_index_range(Index n, const char* what) {
  if (n < 0 || n > std::numeric_limits<int>::max()) {
    throw ShapeError(fmt::format("structure: {} = {} is out of range [0, {}]", what, n,
                                 std::numeric_limits<int>::max()));
  }
}

// Builds CSR arrays row by row: `connect(row, emit)` calls emit(col, value) in increasing col order.
template <typename RowFn>
Structure build_rows(Index n_out, Index n_in, RowFn&& connect) {
  require_index_range(n_out, "rows");
  require_index_range(n_in, "cols");
  std::vector<int> row_ptr;
  std::vector<int> cols;
  std::vector<double> vals;
  row_ptr.reserve(static_cast<std::size_t>(n_out) + 1);
  row_ptr.push_back(0);
  for (Index i = 0; i < n_out; ++i) {
    connect(i, [&](Index j, double v) {
      cols.push_back(static_cast<int>(j));
      vals.push_back(v);
    });
    if (cols.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
      throw ShapeError("structure: more than 2^31 synapses in one matrix");
    }
    row_ptr.push_back(static_cast<int>(cols.size()));
  }
  return Structure::from_csr(n_out, n_in, std::move(row_ptr), std::move(cols), std::move(vals));
}

}  // namespace

Structure Structure::dense(Index n_out, Index n_in, double value) {
  if (!(value > 0) || !std::isfinite(value)) {
    throw ConfigError(fmt::format("structure: dense constant must be finite and > 0, got {}", value));
  }
  return build_rows(n_out, n_in, [&](Index, auto emit) {
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

Structure Structure::local2d(const Grid& input, Index stride, double radius, Index neurons_per_site) {
  if (!(radius >= 0) || !std::isfinite(radius)) {
    throw ConfigError(fmt::format("local2d: radius must be finite and >= 0, got {}", radius));
  }
  const Grid out = local2d_output(input, stride, neurons_per_site);
  const double half = static_cast<double>(stride) / 2.0;
  // Every pixel lies within the grid's diagonal of every site centre: a larger radius changes
  // nothing, and clamping keeps the index arithmetic below in range (1e20 overflows an Index).
  radius = std::min(radius, std::hypot(static_cast<double>(input.height), static_cast<double>(input.width)));
  return build_rows(out.size(), input.size(), [&](Index row, auto emit) {
    const Index site = row / neurons_per_site;
    const double ci = static_cast<double>(site / out.width) * static_cast<double>(stride) + half;
    const double cj = static_cast<double>(site % out.width) * static_cast<double>(stride) + half;
    // Pixel rows/cols that can lie within the radius, then the exact distance test.
    const Index k0 = std::max<Index>(0, static_cast<Index>(std::floor(ci - radius - 0.5)));
    const Index k1 = std::min<Index>(input.height - 1, static_cast<Index>(std::ceil(ci + radius - 0.5)));
    const Index l0 = std::max<Index>(0, static_cast<Index>(std::floor(cj - radius - 0.5)));
    const Index l1 = std::min<Index>(input.width - 1, static_cast<Index>(std::ceil(cj + radius - 0.5)));
    for (Index k = k0; k <= k1; ++k) {
      for (Index l = l0; l <= l1; ++l) {
        const double dk = static_cast<double>(k) + 0.5 - ci;
        const double dl = static_cast<double>(l) + 0.5 - cj;
        if (dk * dk + dl * dl <= radius * radius) {
          for (Index c = 0; c < input.channels; ++c) emit((k * input.width + l) * input.channels + c, 1.0);
        }
      }
    }
  });
}

Structure Structure::lateral2d(const Grid& sites, double radius) {
  if (!(radius >= 0) || !std::isfinite(radius)) {
    throw ConfigError(fmt::format("lateral2d: radius must be finite and >= 0, got {}", radius));
  }
  if (sites.height < 1 || sites.width < 1 || sites.channels < 1) {
    throw ConfigError(fmt::format("lateral2d: grid {}x{}x{} is empty (neurons per site must be >= 1)",
                                  sites.height, sites.width, sites.channels));
  }
  const Index nps = sites.channels;
  // As in local2d: beyond the diagonal every site is reached, and the cast below stays in range.
  radius = std::min(radius, std::hypot(static_cast<double>(sites.height), static_cast<double>(sites.width)));
  const Index reach = static_cast<Index>(std::floor(radius));
  return build_rows(sites.size(), sites.size(), [&](Index row, auto emit) {
    const Index site = row / nps;
    const Index i = site / sites.width;
    const Index j = site % sites.width;
    for (Index i2 = std::max<Index>(0, i - reach); i2 <= std::min(sites.height - 1, i + reach); ++i2) {
      for (Index j2 = std::max<Index>(0, j - reach); j2 <= std::min(sites.width - 1, j + reach); ++j2) {
        const double di = static_cast<double>(i2 - i);
        const double dj = static_cast<double>(j2 - j);
        if (di * di + dj * dj <= radius * radius) {
          for (Index n = 0; n < nps; ++n) emit((i2 * sites.width + j2) * nps + n, 1.0);
        }
      }
    }
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
  return build_rows(constants.rows(), constants.cols(), [&](Index i, auto emit) {
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
