// Supports through the feedforward structures, reverse correlation and cropping for display.
#include "simmatch/receptive_fields.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {

std::vector<Structure> input_supports(const std::vector<Structure>& feedforward) {
  std::vector<Structure> out;
  if (feedforward.empty()) return out;
  const Index k = feedforward.front().cols();
  std::vector<char> mark(static_cast<std::size_t>(k), 0);
  std::vector<int> members;
  for (std::size_t p = 0; p < feedforward.size(); ++p) {
    const Structure& cw = feedforward[p];
    if (p == 0) {
      std::vector<double> ones(cw.col_index().size(), 1.0);
      out.push_back(Structure::from_csr(cw.rows(), cw.cols(), cw.row_ptr(), cw.col_index(), ones));
      continue;
    }
    const Structure& below = out.back();
    if (cw.cols() != below.rows()) {
      throw ShapeError(fmt::format("receptive fields: layer {} has {} inputs but layer {} has {} neurons", p + 1,
                                   cw.cols(), p, below.rows()));
    }
    std::vector<int> row_ptr{0}, cols;
    for (Index i = 0; i < cw.rows(); ++i) {
      members.clear();
      for (int s = cw.row_ptr()[static_cast<std::size_t>(i)]; s < cw.row_ptr()[static_cast<std::size_t>(i + 1)]; ++s) {
        const int j = cw.col_index()[static_cast<std::size_t>(s)];
        for (int q = below.row_ptr()[static_cast<std::size_t>(j)]; q < below.row_ptr()[static_cast<std::size_t>(j + 1)]; ++q) {
          const int c = below.col_index()[static_cast<std::size_t>(q)];
          if (!mark[static_cast<std::size_t>(c)]) mark[static_cast<std::size_t>(c)] = 1, members.push_back(c);
        }
      }
      std::sort(members.begin(), members.end());
      for (int c : members) mark[static_cast<std::size_t>(c)] = 0;
      cols.insert(cols.end(), members.begin(), members.end());
      row_ptr.push_back(static_cast<int>(cols.size()));
    }
    std::vector<double> ones(cols.size(), 1.0);
    out.push_back(Structure::from_csr(cw.rows(), k, std::move(row_ptr), std::move(cols), std::move(ones)));
  }
  return out;
}

template <typename T>
std::vector<Structure> input_supports(const Network<T>& network) {
  std::vector<Structure> cw;
  for (const Layer<T>& layer : network.layers()) cw.push_back(layer.cw());
  return input_supports(cw);
}

template std::vector<Structure> input_supports(const Network<float>&);
template std::vector<Structure> input_supports(const Network<double>&);

Eigen::MatrixXd reverse_correlation_of(const Eigen::MatrixXf& x, Eigen::MatrixXd r, const Structure& support, bool center) {
  if (x.cols() != r.cols()) {
    throw ShapeError(fmt::format("reverse correlation: {} input samples but {} activity samples", x.cols(), r.cols()));
  }
  if (x.cols() == 0) throw ShapeError("reverse correlation: no samples");
  if (support.rows() != r.rows() || support.cols() != x.rows()) {
    throw ShapeError(fmt::format("reverse correlation: support is {} x {}, activities have {} neurons and inputs {} values",
                                 support.rows(), support.cols(), r.rows(), x.rows()));
  }
  if (center) r.colwise() -= r.rowwise().mean();
  const Eigen::MatrixXd full = r * x.cast<double>().transpose() / static_cast<double>(x.cols());
  Eigen::MatrixXd fields = Eigen::MatrixXd::Zero(full.rows(), full.cols());
  for (Index i = 0; i < support.rows(); ++i)
    for (int s = support.row_ptr()[static_cast<std::size_t>(i)]; s < support.row_ptr()[static_cast<std::size_t>(i + 1)]; ++s) {
      const int k = support.col_index()[static_cast<std::size_t>(s)];
      fields(i, k) = full(i, k);
    }
  return fields;
}

FieldTiles crop_to_support(const Eigen::MatrixXd& fields, const Structure& support, const Grid& input) {
  if (input.channels != 1) throw ShapeError("receptive fields: tiles need a single-channel input grid");
  if (fields.cols() != input.size() || support.cols() != input.size() || support.rows() != fields.rows()) {
    throw ShapeError(fmt::format("receptive fields: {} x {} fields, {} x {} support, input grid of {} values",
                                 fields.rows(), fields.cols(), support.rows(), support.cols(), input.size()));
  }
  struct Box { Index top, left, bottom, right; };
  std::vector<Box> boxes;
  Index height = 1, width = 1;
  for (Index i = 0; i < fields.rows(); ++i) {
    Box b{input.height, input.width, -1, -1};
    for (int s = support.row_ptr()[static_cast<std::size_t>(i)]; s < support.row_ptr()[static_cast<std::size_t>(i + 1)]; ++s) {
      const Index k = support.col_index()[static_cast<std::size_t>(s)];
      const Index y = k / input.width, x = k % input.width;
      b.top = std::min(b.top, y), b.bottom = std::max(b.bottom, y);
      b.left = std::min(b.left, x), b.right = std::max(b.right, x);
    }
    if (b.bottom < 0) b = {0, 0, 0, 0};
    height = std::max(height, b.bottom - b.top + 1);
    width = std::max(width, b.right - b.left + 1);
    boxes.push_back(b);
  }
  FieldTiles out;
  out.height = height;
  out.width = width;
  out.tiles = Eigen::MatrixXd::Zero(fields.rows(), height * width);
  for (Index i = 0; i < fields.rows(); ++i) {
    const Box& b = boxes[static_cast<std::size_t>(i)];
    const Index oy = (height - (b.bottom - b.top + 1)) / 2, ox = (width - (b.right - b.left + 1)) / 2;
    for (Index y = b.top; y <= b.bottom; ++y)
      for (Index x = b.left; x <= b.right; ++x) out.tiles(i, (y - b.top + oy) * width + (x - b.left + ox)) = fields(i, y * input.width + x);
  }
  return out;
}

std::vector<Index> spread_indices(Index n, Index count) {
  std::vector<Index> out;
  if (count <= 0 || count >= n) {
    for (Index i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  for (Index c = 0; c < count; ++c) out.push_back(c * n / count);
  return out;
}

}  // namespace simmatch
