// Geometry of a convolutional layer (docs/theory.md, "Convolution: shared weights"): a
// locally connected layer whose sites all use one filter bank and one lateral bank. The
// structures are ordinary C^W, C^L (every solver works on them unchanged); the sharing says
// which synapses are one parameter.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "simmatch/structure.hpp"
#include "simmatch/weight_sharing.hpp"

namespace simmatch {

enum class Padding { valid, same };

/// "valid" / "same"; ConfigError for any other name.
Padding padding_from_name(const std::string& name);
const char* padding_name(Padding padding);

/// A kernel x kernel convolution with `channels` neurons (filters) per site over an input grid.
/// Output sites: "valid" floor((H - kernel) / stride) + 1 per dimension (the kernel inside the
/// input); "same" ceil(H / stride), the input padded by (out - 1) stride + kernel - H pixels,
/// half (rounded down) before, the rest after (TensorFlow's rule). Site (i, j) covers input
/// rows i stride - pad_top + (0..kernel-1), likewise columns; a synapse joins each neuron of the
/// site to every channel of each covered pixel inside the input (padding adds no synapse).
/// Lateral connections: Structure::lateral2d(output, lateral_radius).
struct Conv2d {
  Grid input;
  Index kernel = 0;
  Index stride = 1;
  Padding padding = Padding::same;
  Index channels = 0;
  double lateral_radius = 0.0;

  /// ConfigError for kernel, stride or channels < 1, a radius < 0 or not finite, a "valid"
  /// kernel larger than the input; ShapeError for an empty input.
  void check() const;
  /// Output grid {out_h, out_w, channels} (checks first).
  Grid output() const;
  /// Padding before the first row / column.
  Index pad_top() const;
  Index pad_left() const;

  /// C^W with every constant `constant` (> 0; a layer's cw_scale), in the CSR order of any
  /// structure: row = (i out_w + j) channels + n, column = (y W + x) C_in + c.
  Structure cw(double constant = 1.0) const;
  /// C^L = Structure::lateral2d(output(), lateral_radius).
  Structure cl() const;
  /// Synapses of cw() without building it.
  Index w_synapses() const;

  /// W's bank: shape {channels, kernel, kernel, C_in}; synapse (site, n) -> (y, x, c) is entry
  /// ((n kernel + dy) kernel + dx) C_in + c with (dy, dx) its position in the kernel.
  std::vector<Index> w_bank_shape() const;
  WeightSharing w_sharing(const Structure& cw) const;

  /// Site offsets (di, dj) within lateral_radius (di^2 + dj^2 <= r^2, |di| < out_h, |dj| < out_w),
  /// row-major from (-R, -R); offset d and D - 1 - d are opposite.
  std::vector<std::array<Index, 2>> lateral_offsets() const;
  /// L's bank: shape {D, channels, channels}, entry (d, a, b) = L between neuron a of a site and
  /// neuron b of the site at offset d from it; symmetry ties (d, a, b) to (D - 1 - d, b, a).
  std::vector<Index> l_bank_shape() const;
  WeightSharing l_sharing(const Structure& cl) const;

  bool operator==(const Conv2d&) const = default;
};

}  // namespace simmatch
