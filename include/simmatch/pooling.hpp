// Spatial pooling of a layer's fixed points before a linear read-out (the peers' practice for
// convolutional features): average or maximum over windows of sites, channel by channel.
#pragma once

#include <string>

#include "simmatch/structure.hpp"
#include "simmatch/types.hpp"

namespace simmatch {

enum class PoolKind { average, max };

/// Windows of `window` x `window` sites moved by `stride` (0 = window: non-overlapping), only
/// where they fit inside the grid (floor((H - window) / stride) + 1 per dimension).
struct Pooling {
  PoolKind kind = PoolKind::average;
  Index window = 1;
  Index stride = 0;

  /// "avg:W", "avg:W:S", "max:W", "max:W:S", or "none" (window 1); ConfigError naming `text`
  /// otherwise.
  static Pooling from_text(const std::string& text);
  /// "avg:2:2" style, as from_text reads it.
  std::string text() const;
  /// True when pooling leaves the features as they are (window 1, stride 1).
  bool is_identity() const { return window == 1 && step() == 1; }
  Index step() const { return stride > 0 ? stride : window; }

  /// The pooled grid {out_h, out_w, channels}. ConfigError naming the grid when the window is
  /// larger than it.
  Grid output(const Grid& grid) const;

  /// Pools the activities `r` (grid.size() x samples, one column per sample, site-major as Grid
  /// says) into output(grid).size() x samples. ShapeError when r's rows are not grid.size().
  template <typename T>
  Matrix<T> apply(const Matrix<T>& r, const Grid& grid) const;
};

extern template Matrix<float> Pooling::apply<float>(const Matrix<float>&, const Grid&) const;
extern template Matrix<double> Pooling::apply<double>(const Matrix<double>&, const Grid&) const;

}  // namespace simmatch
