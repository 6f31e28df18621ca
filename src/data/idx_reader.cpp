// IDX files (the MNIST / Fashion-MNIST format), plain or gzipped: big-endian header
// 0 0 <type> <ndims>, ndims big-endian uint32 sizes, then the values row-major.
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "simmatch/dataset.hpp"
#include "simmatch/error.hpp"
#include "simmatch/npy.hpp"

namespace simmatch {
namespace {

// What the IDX type byte says about each value.
struct IdxType {
  const char* name;
  std::size_t size;
};

IdxType idx_type(unsigned code, const std::string& path) {
  switch (code) {
    case 0x08: return {"ubyte", 1};
    case 0x09: return {"sbyte", 1};
    case 0x0B: return {"int16", 2};
    case 0x0C: return {"int32", 4};
    case 0x0D: return {"float32", 4};
    case 0x0E: return {"float64", 8};
    default:
      throw FormatError(fmt::format("{}: unknown IDX value type 0x{:02X} at offset 2 (expected 08, 09, 0B, 0C, 0D "
                                    "or 0E)",
                                    path, code));
  }
}

// Reads a file through zlib, which passes plain files through unchanged, so one code path serves
// both; counts the bytes delivered so that errors can name the offset.
class ByteStream {
public:
  explicit ByteStream(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw IoError(fmt::format("{}: cannot open: no such file", path));
    if (std::filesystem::is_directory(path, ec)) throw IoError(fmt::format("{}: cannot read: is a directory", path));
    file_size_ = std::filesystem::file_size(path, ec);
    if (ec) throw IoError(fmt::format("{}: cannot read its size: {}", path, ec.message()));
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) throw IoError(fmt::format("{}: cannot open", path));
    gzbuffer(file_, 1 << 20);
  }
  ~ByteStream() { gzclose(file_); }
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  // Reads up to n bytes (fewer only at the end of the data); FormatError on a gzip error.
  std::size_t read(char* out, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, std::size_t{1} << 30));
      const int got = gzread(file_, out + done, chunk);
      if (got < 0) {
        int code = 0;
        const char* why = gzerror(file_, &code);
        throw FormatError(fmt::format("{}: gzip error after {} decompressed bytes: {}", path_, offset_ + done,
                                      why ? why : "unknown"));
      }
      if (got == 0) {
        // zlib reports a cut-off stream as end of data plus an error; that is a truncation.
        int code = 0;
        const char* why = gzerror(file_, &code);
        if (code != Z_OK && code != Z_STREAM_END) {
          throw FormatError(fmt::format("{}: gzip error after {} decompressed bytes: {}", path_, offset_ + done,
                                        why ? why : "unknown"));
        }
        break;
      }
      done += static_cast<std::size_t>(got);
    }
    offset_ += done;
    return done;
  }

  // Plain files have a known size, so declared sizes can be checked before reading any data.
  bool compressed() { return gzdirect(file_) == 0; }
  std::uint64_t file_size() const { return file_size_; }
  std::uint64_t offset() const { return offset_; }

private:
  std::string path_;
  gzFile file_ = nullptr;
  std::uint64_t file_size_ = 0;
  std::uint64_t offset_ = 0;
};

std::uint32_t big_endian_u32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

// One IDX file: its sizes and its values as float32, row-major.
struct IdxArray {
  unsigned type_code = 0;
  std::vector<Index> dims;
  std::vector<float> values;
};

std::string dims_text(const std::vector<Index>& dims) {
  std::string out;
  for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? " x " : "") + std::to_string(dims[i]);
  return out;
}

// Decodes big-endian values of one IDX type into floats.
void decode(const char* in, std::size_t count, unsigned code, float* out) {
  auto load = [in]<typename U>(U, std::size_t i) {
    // Assemble the big-endian bytes most significant first (std::byteswap is C++23).
    const auto* p = reinterpret_cast<const unsigned char*>(in + i * sizeof(U));
    U u = 0;
    for (std::size_t b = 0; b < sizeof(U); ++b) u = static_cast<U>((u << 8) | p[b]);
    return u;
  };
  for (std::size_t i = 0; i < count; ++i) {
    switch (code) {
      case 0x08: out[i] = static_cast<unsigned char>(in[i]); break;
      case 0x09: out[i] = static_cast<signed char>(in[i]); break;
      case 0x0B: out[i] = static_cast<std::int16_t>(load(std::uint16_t{}, i)); break;
      case 0x0C: out[i] = static_cast<float>(static_cast<std::int32_t>(load(std::uint32_t{}, i))); break;
      case 0x0D: out[i] = std::bit_cast<float>(load(std::uint32_t{}, i)); break;
      default: out[i] = static_cast<float>(std::bit_cast<double>(load(std::uint64_t{}, i))); break;
    }
  }
}

IdxArray read_idx_array(const std::string& path) {
  ByteStream in(path);
  unsigned char magic[4];
  if (in.read(reinterpret_cast<char*>(magic), 4) != 4) {
    throw FormatError(fmt::format("{}: truncated: the 4-byte IDX magic is missing ({} bytes)", path, in.offset()));
  }
  if (magic[0] != 0 || magic[1] != 0) {
    throw FormatError(fmt::format("{}: not an IDX file: magic {:02X} {:02X} {:02X} {:02X} at offset 0 does not start "
                                  "with 00 00",
                                  path, magic[0], magic[1], magic[2], magic[3]));
  }
  const IdxType type = idx_type(magic[2], path);
  const unsigned ndims = magic[3];
  if (ndims < 1 || ndims > 4) {
    throw FormatError(fmt::format("{}: IDX file declares {} dimensions at offset 3 (1 to 4 supported)", path, ndims));
  }
  std::vector<unsigned char> raw_dims(4 * ndims);
  if (in.read(reinterpret_cast<char*>(raw_dims.data()), raw_dims.size()) != raw_dims.size()) {
    throw FormatError(fmt::format("{}: truncated: header declares {} dimensions but the file ends at offset {}", path,
                                  ndims, in.offset()));
  }
  IdxArray array;
  array.type_code = magic[2];
  std::uint64_t count = 1;
  const std::uint64_t limit = kMaxFileBytes / type.size;
  for (unsigned k = 0; k < ndims; ++k) {
    const std::uint32_t d = big_endian_u32(&raw_dims[4 * k]);
    if (d == 0) throw FormatError(fmt::format("{}: dimension {} (offset {}) is zero", path, k, 4 + 4 * k));
    array.dims.push_back(d);
    if (count > limit / d) {
      throw FormatError(fmt::format("{}: header declares {} {} values, over the 16 GiB limit", path,
                                    dims_text(array.dims), type.name));
    }
    count *= d;
  }
  const std::uint64_t header_bytes = 4 + 4 * std::uint64_t{ndims};
  const std::uint64_t data_bytes = count * type.size;
  auto truncated = [&](std::uint64_t remain) {
    const std::string declared = type.size == 1 && magic[2] == 0x08
                                     ? fmt::format("{} bytes", dims_text(array.dims))
                                     : fmt::format("{} {} values ({} bytes)", dims_text(array.dims), type.name, data_bytes);
    return FormatError(fmt::format("{}: truncated: header declares {} but only {} remain after offset {}", path,
                                   declared, remain, header_bytes));
  };
  // A plain file's size is known: compare before allocating anything.
  if (!in.compressed() && in.file_size() - header_bytes < data_bytes) throw truncated(in.file_size() - header_bytes);

  // Gzipped data has no trustworthy size up front, so read in chunks: memory grows only with
  // data that really exists, however large the header claims the array is.
  std::vector<char> raw;
  constexpr std::size_t kChunk = std::size_t{64} << 20;
  while (raw.size() < data_bytes) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, data_bytes - raw.size()));
    const std::size_t old = raw.size();
    raw.resize(old + want);
    const std::size_t got = in.read(raw.data() + old, want);
    if (got < want) throw truncated(old + got);
  }
  char extra;
  if (in.read(&extra, 1) != 0) {
    throw FormatError(fmt::format("{}: unexpected data after the {} declared values, at offset {}", path,
                                  dims_text(array.dims), header_bytes + data_bytes));
  }
  array.values.resize(static_cast<std::size_t>(count));
  decode(raw.data(), array.values.size(), magic[2], array.values.data());
  return array;
}

Grid grid_of(const std::vector<Index>& dims) {
  switch (dims.size()) {
    case 1: return Grid{1, 1, 1};
    case 2: return Grid{1, dims[1], 1};
    case 3: return Grid{dims[1], dims[2], 1};
    default: return Grid{dims[1], dims[2], dims[3]};
  }
}

}  // namespace

Dataset read_idx(const std::string& images_path, const std::string& labels_path) {
  IdxArray images = read_idx_array(images_path);
  Dataset data;
  data.shape = grid_of(images.dims);
  const Index samples = images.dims[0];
  // Row-major T x K values are exactly the bytes of the column-major K x T matrix.
  data.x = Eigen::Map<const Eigen::MatrixXf>(images.values.data(), data.shape.size(), samples);
  if (!labels_path.empty()) {
    IdxArray labels = read_idx_array(labels_path);
    if (labels.dims.size() != 1) {
      throw FormatError(fmt::format("{}: labels must be 1-D, the header declares {}", labels_path, dims_text(labels.dims)));
    }
    if (labels.type_code == 0x0D || labels.type_code == 0x0E) {
      throw FormatError(fmt::format("{}: labels must be integers, the header declares floating-point values",
                                    labels_path));
    }
    if (labels.dims[0] != samples) {
      throw ShapeError(fmt::format("{} holds {} labels but {} holds {} images", labels_path, labels.dims[0], images_path,
                                   samples));
    }
    data.labels.reserve(labels.values.size());
    // Values are decoded to float, which holds every integer of magnitude below 2^24 exactly; a
    // larger int32 label may come back altered (2^24 + 1 reads as 2^24), and 2^31 - 1 rounds to
    // 2^31, which overflows int.
    constexpr float kLabelBound = 16777216.0f;  // 2^24
    for (std::size_t t = 0; t < labels.values.size(); ++t) {
      const float v = labels.values[t];
      if (!(v > -kLabelBound && v < kLabelBound)) {
        throw FormatError(fmt::format("{}: label of sample {} is {}, outside (-2^24, 2^24) (labels are class numbers)",
                                      labels_path, t, static_cast<double>(v)));
      }
      data.labels.push_back(static_cast<int>(v));
    }
  }
  return data;
}

}  // namespace simmatch
