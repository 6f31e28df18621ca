// Average and max pooling over windows of sites.
#include "simmatch/pooling.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {
namespace {

// A positive integer, or -1.
Index positive(const std::string& s) {
  Index v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size() && v >= 1 ? v : -1;
}

}  // namespace

Pooling Pooling::from_text(const std::string& text) {
  if (text == "none") return Pooling{PoolKind::average, 1, 1};
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  Pooling p;
  const bool kind_ok = parts[0] == "avg" || parts[0] == "max";
  p.kind = parts[0] == "max" ? PoolKind::max : PoolKind::average;
  if (kind_ok && (parts.size() == 2 || parts.size() == 3)) {
    p.window = positive(parts[1]);
    p.stride = parts.size() == 3 ? positive(parts[2]) : 0;
    if (p.window > 0 && p.stride >= 0) return p;
  }
  throw ConfigError(fmt::format("pooling \"{}\": expected avg:W, avg:W:S, max:W, max:W:S (W, S >= 1) or none", text));
}

std::string Pooling::text() const {
  if (is_identity()) return "none";
  return fmt::format("{}:{}:{}", kind == PoolKind::max ? "max" : "avg", window, step());
}

Grid Pooling::output(const Grid& grid) const {
  if (window > grid.height || window > grid.width) {
    throw ConfigError(fmt::format("pooling {}: the window is larger than the layer's {}x{} grid of sites", text(),
                                  grid.height, grid.width));
  }
  return Grid{(grid.height - window) / step() + 1, (grid.width - window) / step() + 1, grid.channels};
}

template <typename T>
Matrix<T> Pooling::apply(const Matrix<T>& r, const Grid& grid) const {
  if (r.rows() != grid.size()) {
    throw ShapeError(fmt::format("pooling: {} activities per sample, the {}x{}x{} grid holds {}", r.rows(), grid.height,
                                 grid.width, grid.channels, grid.size()));
  }
  if (is_identity()) return r;
  const Grid out = output(grid);
  const Index c = grid.channels, s = step();
  Matrix<T> pooled(out.size(), r.cols());
#pragma omp parallel for schedule(static)
  for (Index b = 0; b < r.cols(); ++b) {
    const T* in = r.col(b).data();
    T* o = pooled.col(b).data();
    for (Index i = 0; i < out.height; ++i)
      for (Index j = 0; j < out.width; ++j)
        for (Index ch = 0; ch < c; ++ch) {
          double acc = kind == PoolKind::max ? -std::numeric_limits<double>::infinity() : 0.0;
          for (Index di = 0; di < window; ++di)
            for (Index dj = 0; dj < window; ++dj) {
              const double v = static_cast<double>(in[((i * s + di) * grid.width + j * s + dj) * c + ch]);
              acc = kind == PoolKind::max ? std::max(acc, v) : acc + v;
            }
          if (kind == PoolKind::average) acc /= static_cast<double>(window * window);
          o[(i * out.width + j) * c + ch] = static_cast<T>(acc);
        }
  }
  return pooled;
}

template Matrix<float> Pooling::apply<float>(const Matrix<float>&, const Grid&) const;
template Matrix<double> Pooling::apply<double>(const Matrix<double>&, const Grid&) const;

}  // namespace simmatch
