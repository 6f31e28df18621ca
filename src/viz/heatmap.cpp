// Matrices drawn as images: heatmaps through a colormap, mosaics of per-neuron tiles (grey = 0),
// and side-by-side composition.
#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "simmatch/error.hpp"
#include "simmatch/png.hpp"

namespace simmatch {

namespace {

std::uint8_t to_byte(double v) {  // v in [0, 1]
  return static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0));
}

double largest_abs(const Eigen::MatrixXd& m) {
  double top = 0;
  for (Index i = 0; i < m.size(); ++i)
    if (std::isfinite(m.data()[i])) top = std::max(top, std::abs(m.data()[i]));
  return top;
}

// Colour of `v` (RGB) under `map` with the value range [lo, hi] (signed maps: [-hi, hi]).
void colour(double v, Colormap map, double lo, double hi, std::uint8_t* rgb) {
  if (!std::isfinite(v)) {
    rgb[0] = rgb[1] = rgb[2] = 0;
    return;
  }
  if (map == Colormap::gray) {
    const double s = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    rgb[0] = rgb[1] = rgb[2] = to_byte(s);
    return;
  }
  const double s = hi > 0 ? std::clamp(v / hi, -1.0, 1.0) : 0.0;  // in [-1, 1]
  if (map == Colormap::signed_gray) {
    rgb[0] = rgb[1] = rgb[2] = to_byte(0.5 + 0.5 * s);
    return;
  }
  // diverging: white at 0, towards red (positive) or blue (negative)
  const double a = std::abs(s);
  if (s >= 0) {
    rgb[0] = to_byte(1.0 - 0.3 * a);
    rgb[1] = rgb[2] = to_byte(1.0 - 0.9 * a);
  } else {
    rgb[0] = rgb[1] = to_byte(1.0 - 0.9 * a);
    rgb[2] = to_byte(1.0 - 0.3 * a);
  }
}

}  // namespace

Colormap colormap_from_name(const std::string& name) {
  if (name == "gray") return Colormap::gray;
  if (name == "signed_gray") return Colormap::signed_gray;
  if (name == "diverging") return Colormap::diverging;
  throw ConfigError(fmt::format("unknown colormap '{}' (expected gray, signed_gray or diverging)", name));
}

Image heatmap(const Eigen::MatrixXd& values, const HeatmapOptions& options) {
  if (values.size() == 0) throw ShapeError("heatmap: the matrix is empty");
  if (options.scale < 1) throw ShapeError(fmt::format("heatmap: scale must be >= 1, got {}", options.scale));
  double lo = 0, hi = 0;
  if (options.colormap == Colormap::gray && options.limit <= 0) {
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    for (Index i = 0; i < values.size(); ++i) {
      const double v = values.data()[i];
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    if (!std::isfinite(lo)) lo = hi = 0;
  } else {
    hi = options.limit > 0 ? options.limit : largest_abs(values);
    lo = -hi;
  }
  const Index channels = options.colormap == Colormap::diverging ? 3 : 1;
  const Index s = options.scale;
  Image image(values.cols() * s, values.rows() * s, channels);
  std::uint8_t rgb[3];
  for (Index i = 0; i < values.rows(); ++i) {
    for (Index j = 0; j < values.cols(); ++j) {
      colour(values(i, j), options.colormap, lo, hi, rgb);
      for (Index di = 0; di < s; ++di)
        for (Index dj = 0; dj < s; ++dj)
          for (Index c = 0; c < channels; ++c) image.at(i * s + di, j * s + dj, c) = rgb[c];
    }
  }
  return image;
}

Image mosaic(const Eigen::MatrixXd& tiles, Index tile_height, Index tile_width, const MosaicOptions& options) {
  if (tile_height < 1 || tile_width < 1) {
    throw ShapeError(fmt::format("mosaic: tile size {} x {} must be positive", tile_height, tile_width));
  }
  if (tiles.rows() < 1) throw ShapeError("mosaic: no tiles");
  if (tiles.cols() != tile_height * tile_width) {
    throw ShapeError(fmt::format("mosaic: tiles have {} values, not {} x {}", tiles.cols(), tile_height, tile_width));
  }
  if (options.scale < 1 || options.border < 0 || options.columns < 0) {
    throw ShapeError("mosaic: scale must be >= 1, border and columns >= 0");
  }
  const Index n = tiles.rows();
  const Index cols = options.columns > 0
                         ? std::min(options.columns, n)
                         : static_cast<Index>(std::ceil(std::sqrt(static_cast<double>(n))));
  const Index rows = (n + cols - 1) / cols;
  const Index s = options.scale, b = options.border;
  const Index th = tile_height * s, tw = tile_width * s;
  Image image(cols * tw + (cols + 1) * b, rows * th + (rows + 1) * b, 1, 0);
  const double global = largest_abs(tiles);
  for (Index n_i = 0; n_i < n; ++n_i) {
    double limit = options.per_tile ? largest_abs(tiles.row(n_i)) : global;
    const Index top = b + (n_i / cols) * (th + b);
    const Index left = b + (n_i % cols) * (tw + b);
    for (Index y = 0; y < tile_height; ++y) {
      for (Index x = 0; x < tile_width; ++x) {
        const double v = tiles(n_i, y * tile_width + x);
        const double s01 = limit > 0 && std::isfinite(v) ? 0.5 + 0.5 * std::clamp(v / limit, -1.0, 1.0) : 0.5;
        const std::uint8_t g = to_byte(s01);
        for (Index dy = 0; dy < s; ++dy)
          for (Index dx = 0; dx < s; ++dx) image.at(top + y * s + dy, left + x * s + dx) = g;
      }
    }
  }
  return image;
}

Image hstack(const std::vector<Image>& images, Index gap) {
  if (images.empty()) throw ShapeError("hstack: no images");
  Index width = 0, height = 0, channels = 1;
  for (const Image& im : images) {
    width += im.width;
    height = std::max(height, im.height);
    channels = std::max(channels, im.channels);
  }
  width += gap * static_cast<Index>(images.size() - 1);
  Image out(width, height, channels, 255);
  Index left = 0;
  for (const Image& im : images) {
    for (Index y = 0; y < im.height; ++y)
      for (Index x = 0; x < im.width; ++x)
        for (Index c = 0; c < channels; ++c) out.at(y, left + x, c) = im.at(y, x, im.channels == 1 ? 0 : c);
    left += im.width + gap;
  }
  return out;
}

}  // namespace simmatch
