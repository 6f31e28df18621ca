// Photographs as data: PNG/JPEG/BMP files read as grayscale (stb_image), optionally downsampled,
// and cut into seeded random square or rectangular patches, e.g. to train on natural images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "simmatch/dataset.hpp"
#include "simmatch/memory_budget.hpp"
#include "simmatch/types.hpp"

namespace simmatch {

/// A grayscale image with values in [0, 1], height x width.
struct GrayImage {
  Eigen::MatrixXf pixels;
  Index height() const { return pixels.rows(); }
  Index width() const { return pixels.cols(); }
};

/// Reads one image (any format stb_image knows: PNG, JPEG, BMP, GIF, PNM, TGA), converted to
/// grayscale luma. IoError when the file cannot be read or is larger than `budget`, FormatError
/// when it is not an image or the size its header declares would take more than `budget` to
/// decode (checked before decoding).
GrayImage read_gray_image(const std::string& path, const MemoryBudget& budget = MemoryBudget::from_environment());

/// Image files (.png, .jpg, .jpeg, .bmp, .pgm, .ppm; any case) directly inside `folder`, sorted
/// by name. IoError when `folder` is not a readable folder or holds no image.
std::vector<std::string> list_images(const std::string& folder);

/// Box-average downsampling by an integer factor (trailing rows/columns that do not fill a box
/// are dropped). ConfigError for factor < 1 or larger than the image.
GrayImage downsample(const GrayImage& image, Index factor);

struct PatchOptions {
  Index height = 16;
  Index width = 16;
  /// Number of patches; each comes from an image chosen with probability proportional to the
  /// number of patch positions it offers, at a uniformly random position.
  Index count = 1000;
  /// Integer box-downsampling applied to every image first.
  Index downsample = 1;
  std::uint64_t seed = 0;
  /// Skip files that are not readable images (listed in `skipped`) instead of throwing.
  bool skip_unreadable = false;
};

/// Patches of the images in `files` as a Dataset (values in [0, 1], shape {height, width, 1},
/// labels = index of the source file). Images smaller than a patch are skipped; ConfigError when
/// none is large enough, a size is not positive or the patches alone exceed `budget`.
/// Unreadable files (and images over what is left of `budget` next to the patches and the images
/// kept) throw FormatError unless options.skip_unreadable, in which case their paths are appended
/// to `skipped` (when given).
Dataset image_patches(const std::vector<std::string>& files, const PatchOptions& options,
                      std::vector<std::string>* skipped = nullptr,
                      const MemoryBudget& budget = MemoryBudget::from_environment());

}  // namespace simmatch
