// PNG figures: 8-bit grayscale or RGB images, heatmaps of matrices through a colormap, and mosaics
// of many small tiles (one per neuron) where grey means 0. Written atomically with libpng.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "simmatch/types.hpp"

namespace simmatch {

/// An 8-bit image, row-major, `channels` (1 = grey, 3 = RGB) interleaved values per pixel.
struct Image {
  Index width = 0;
  Index height = 0;
  Index channels = 1;
  std::vector<std::uint8_t> pixels;  // height * width * channels

  Image() = default;
  /// A width x height image filled with `fill`.
  Image(Index width, Index height, Index channels, std::uint8_t fill = 0);
  std::uint8_t& at(Index row, Index col, Index channel = 0);
  std::uint8_t at(Index row, Index col, Index channel = 0) const;
};

/// Encodes `image` as PNG bytes. Throws ShapeError for an empty image, channels not 1 or 3, or a
/// pixel buffer of the wrong size.
std::string encode_png(const Image& image);
/// Writes `image` to `path` as PNG, atomically; IoError naming the path when it cannot be written.
void write_png(const std::string& path, const Image& image);

/// gray: black (-limit or the minimum) to white; diverging: blue (-limit), white (0), red (+limit);
/// signed_gray: black (-limit), mid-grey (0), white (+limit).
enum class Colormap { gray, signed_gray, diverging };
/// "gray", "signed_gray" or "diverging"; ConfigError otherwise.
Colormap colormap_from_name(const std::string& name);

struct HeatmapOptions {
  Colormap colormap = Colormap::diverging;
  /// Values are mapped from [-limit, limit] (signed maps) or [min, max] (gray); limit <= 0 means
  /// the largest |value| of the matrix.
  double limit = 0;
  /// Pixels per matrix entry along each side.
  Index scale = 1;
};

/// One pixel block per entry of `values` (rows x cols): entry (i, j) is drawn at row i, column j.
/// RGB for the diverging map, grey otherwise. Non-finite entries are drawn black.
Image heatmap(const Eigen::MatrixXd& values, const HeatmapOptions& options = {});

struct MosaicOptions {
  /// Tiles per row of the mosaic; 0 = about the square root of the number of tiles.
  Index columns = 0;
  /// Pixels per tile value along each side.
  Index scale = 1;
  /// Pixels of border between tiles (drawn black).
  Index border = 1;
  /// When true each tile is scaled by its own largest |value|; otherwise all tiles share the
  /// largest |value| over the mosaic.
  bool per_tile = true;
};

/// A mosaic of tiles, tile n being row n of `tiles` reshaped row-major to tile_height x
/// tile_width. Mid-grey is 0, white the (per-tile or global) largest positive value, black its
/// negative; an all-zero tile is uniform grey. Throws ShapeError when tiles.cols() !=
/// tile_height * tile_width or a size is not positive.
Image mosaic(const Eigen::MatrixXd& tiles, Index tile_height, Index tile_width, const MosaicOptions& options = {});

/// Several images side by side (left to right), tops aligned, separated by `gap` white pixels;
/// grey images are promoted to RGB when any image is RGB.
Image hstack(const std::vector<Image>& images, Index gap = 4);

}  // namespace simmatch
