// Image files read through stb_image (compiled here, with internal linkage, and nowhere else),
// downsampled and cut into seeded random patches.
#include "simmatch/image_folder.hpp"

#include <algorithm>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "simmatch/error.hpp"
#include "simmatch/files.hpp"

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace simmatch {

namespace {

bool is_image_name(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".pgm" || ext == ".ppm";
}

// An upper bound of what decoding holds per image: stb_image's decompressed rows (up to 16 bits
// per channel), its image, the grayscale conversion, and our float32 copy.
std::uint64_t decoded_bytes(int w, int h, int channels) {
  const auto pixels = saturating_mul(static_cast<std::uint64_t>(std::max(w, 0)), static_cast<std::uint64_t>(std::max(h, 0)));
  return saturating_mul(pixels, 4 * static_cast<std::uint64_t>(std::max(channels, 1)) + 1 + sizeof(float));
}

}  // namespace

GrayImage read_gray_image(const std::string& path, const MemoryBudget& budget) {
  const std::string bytes = read_file(path, budget.bytes(), budget.describe());
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw FormatError(fmt::format("{}: image file too large", path));
  }
  // The size the image declares, before stb_image allocates for it: a 100-byte PNG may claim
  // 16384 x 16384 pixels.
  int w = 0, h = 0, channels = 0;
  if (stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), &w, &h,
                            &channels) == 0) {
    throw FormatError(fmt::format("{}: not a readable image ({})", path, stbi_failure_reason()));
  }
  budget.minus(bytes.size()).require<FormatError>(decoded_bytes(w, h, channels),
                                                  fmt::format("{}: a {} x {} image of {} channel(s) decoded", path, w,
                                                              h, channels));
  unsigned char* data = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                              &w, &h, &channels, 1);
  if (data == nullptr) throw FormatError(fmt::format("{}: not a readable image ({})", path, stbi_failure_reason()));
  GrayImage image;
  image.pixels.resize(h, w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) image.pixels(y, x) = static_cast<float>(data[static_cast<std::size_t>(y) * w + x]) / 255.0f;
  stbi_image_free(data);
  return image;
}

std::vector<std::string> list_images(const std::string& folder) {
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) throw IoError(fmt::format("{}: not a folder", folder));
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    if (entry.is_regular_file() && is_image_name(entry.path())) files.push_back(entry.path().string());
  }
  if (ec) throw IoError(fmt::format("{}: cannot list the folder ({})", folder, ec.message()));
  if (files.empty()) throw IoError(fmt::format("{}: holds no PNG/JPEG/BMP/PNM image", folder));
  std::sort(files.begin(), files.end());
  return files;
}

GrayImage downsample(const GrayImage& image, Index factor) {
  if (factor < 1) throw ConfigError(fmt::format("downsample factor must be >= 1, got {}", factor));
  if (factor == 1) return image;
  const Index h = image.height() / factor, w = image.width() / factor;
  if (h < 1 || w < 1) {
    throw ConfigError(fmt::format("downsample factor {} is larger than a {} x {} image", factor, image.height(), image.width()));
  }
  GrayImage out;
  out.pixels.resize(h, w);
  for (Index y = 0; y < h; ++y)
    for (Index x = 0; x < w; ++x) out.pixels(y, x) = image.pixels.block(y * factor, x * factor, factor, factor).mean();
  return out;
}

Dataset image_patches(const std::vector<std::string>& files, const PatchOptions& options,
                      std::vector<std::string>* skipped, const MemoryBudget& budget) {
  if (options.height < 1 || options.width < 1 || options.count < 1) {
    throw ConfigError(fmt::format("patches: size {} x {} and count {} must be positive", options.height, options.width,
                                  options.count));
  }
  // The patches matrix, known before any image is read.
  const std::uint64_t patch_bytes = saturating_mul(
      saturating_mul(static_cast<std::uint64_t>(options.height), static_cast<std::uint64_t>(options.width)),
      saturating_mul(static_cast<std::uint64_t>(options.count), sizeof(float)));
  budget.require<ConfigError>(saturating_add(patch_bytes, saturating_mul(static_cast<std::uint64_t>(options.count),
                                                                        sizeof(int))),
                              fmt::format("patches: {} patches of {} x {} pixels", options.count, options.height,
                                          options.width));
  std::uint64_t held = patch_bytes;  // the images kept so far, and the patches to come
  std::vector<GrayImage> images;
  std::vector<int> source;
  std::vector<double> positions;
  for (std::size_t f = 0; f < files.size(); ++f) {
    GrayImage image;
    try {
      image = downsample(read_gray_image(files[f], budget.minus(held)), options.downsample);
    } catch (const FormatError&) {
      if (!options.skip_unreadable) throw;
      if (skipped != nullptr) skipped->push_back(files[f]);
      continue;
    }
    if (image.height() < options.height || image.width() < options.width) continue;
    positions.push_back(static_cast<double>((image.height() - options.height + 1) * (image.width() - options.width + 1)));
    held = saturating_add(held, static_cast<std::uint64_t>(image.pixels.size()) * sizeof(float));
    images.push_back(std::move(image));
    source.push_back(static_cast<int>(f));
  }
  if (images.empty()) {
    throw ConfigError(fmt::format("patches: no image is at least {} x {} pixels (after downsampling by {})",
                                  options.height, options.width, options.downsample));
  }
  std::mt19937_64 rng(options.seed);
  std::discrete_distribution<std::size_t> pick(positions.begin(), positions.end());
  Dataset data;
  data.shape = Grid{options.height, options.width, 1};
  data.x.resize(options.height * options.width, options.count);
  data.labels.resize(static_cast<std::size_t>(options.count));
  for (Index t = 0; t < options.count; ++t) {
    const std::size_t i = pick(rng);
    const GrayImage& im = images[i];
    std::uniform_int_distribution<Index> ys(0, im.height() - options.height), xs(0, im.width() - options.width);
    const Index y0 = ys(rng), x0 = xs(rng);
    for (Index y = 0; y < options.height; ++y)
      for (Index x = 0; x < options.width; ++x) data.x(y * options.width + x, t) = im.pixels(y0 + y, x0 + x);
    data.labels[static_cast<std::size_t>(t)] = source[i];
  }
  return data;
}

}  // namespace simmatch
