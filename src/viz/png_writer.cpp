// PNG encoding with libpng into memory, then an atomic write. libpng reports errors by longjmp,
// so the setjmp frame below holds only plain pointers and no object with a destructor.
#include <png.h>

#include <csetjmp>
#include <string>

#include <fmt/format.h>

#include "simmatch/error.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/png.hpp"

namespace simmatch {

namespace {

void append_bytes(png_structp png, png_bytep data, png_size_t length) {
  auto* out = static_cast<std::string*>(png_get_io_ptr(png));
  out->append(reinterpret_cast<const char*>(data), length);
}

void flush_nothing(png_structp) {}

// Returns false when libpng failed (its message is lost: it can only be a memory failure here).
bool encode_into(const Image* image, std::string* out, png_bytep* rows) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, out, append_bytes, flush_nothing);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image->width), static_cast<png_uint_32>(image->height), 8,
               image->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_rows(png, info, rows);
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

Image::Image(Index w, Index h, Index c, std::uint8_t fill)
    : width(w), height(h), channels(c), pixels(static_cast<std::size_t>(w * h * c), fill) {
  if (w < 0 || h < 0 || (c != 1 && c != 3)) {
    throw ShapeError(fmt::format("image: invalid size {} x {} x {}", w, h, c));
  }
}

std::uint8_t& Image::at(Index row, Index col, Index channel) {
  return pixels[static_cast<std::size_t>((row * width + col) * channels + channel)];
}

std::uint8_t Image::at(Index row, Index col, Index channel) const {
  return pixels[static_cast<std::size_t>((row * width + col) * channels + channel)];
}

std::string encode_png(const Image& image) {
  if (image.width <= 0 || image.height <= 0) {
    throw ShapeError(fmt::format("png: cannot encode an empty {} x {} image", image.width, image.height));
  }
  if (image.channels != 1 && image.channels != 3) {
    throw ShapeError(fmt::format("png: images have 1 or 3 channels, not {}", image.channels));
  }
  if (image.pixels.size() != static_cast<std::size_t>(image.width * image.height * image.channels)) {
    throw ShapeError(fmt::format("png: {} pixel values for a {} x {} x {} image", image.pixels.size(), image.width,
                                 image.height, image.channels));
  }
  std::vector<png_bytep> rows(static_cast<std::size_t>(image.height));
  for (Index r = 0; r < image.height; ++r) {
    rows[static_cast<std::size_t>(r)] =
        const_cast<png_bytep>(image.pixels.data() + static_cast<std::size_t>(r * image.width * image.channels));
  }
  std::string out;
  if (!encode_into(&image, &out, rows.data())) throw InternalError("png: libpng failed to encode an image");
  return out;
}

void write_png(const std::string& path, const Image& image) { write_file_atomically(path, encode_png(image)); }

}  // namespace simmatch
