// IDX files (the MNIST / Fashion-MNIST format), plain or gzipped: big-endian header
// 0 0 <type> <ndims>, ndims big-endian uint32 sizes, then the values row-major. What the header
// declares is checked against the file and the memory budget before the data are allocated.
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "simmatch/dataset.hpp"
#include "simmatch/error.hpp"
#include "simmatch/memory_budget.hpp"

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

// Reads a file, inflating it when it starts with the gzip magic; counts the bytes delivered so
// that errors can name the offset. Inflating is done here rather than through gzread, which
// silently ignores bytes after the last gzip member: such bytes are an error.
class ByteStream {
public:
  explicit ByteStream(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw IoError(fmt::format("{}: cannot open: no such file", path));
    if (std::filesystem::is_directory(path, ec)) throw IoError(fmt::format("{}: cannot read: is a directory", path));
    file_size_ = std::filesystem::file_size(path, ec);
    if (ec) throw IoError(fmt::format("{}: cannot read its size: {}", path, ec.message()));
    file_.reset(std::fopen(path.c_str(), "rb"));
    if (!file_) throw IoError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    fill();
    const bool gzip =
        in_.size() >= 2 && static_cast<unsigned char>(in_[0]) == 0x1f && static_cast<unsigned char>(in_[1]) == 0x8b;
    // 16 + MAX_WBITS: a gzip wrapper (header and CRC-32 / length trailer) around deflate data.
    if (gzip && inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) throw InternalError("idx: cannot initialise zlib");
    gzip_ = inflating_ = gzip;
  }
  ~ByteStream() {
    if (gzip_) inflateEnd(&z_);
  }
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  // Reads up to n bytes (fewer only at the end of the data); FormatError on a gzip error.
  std::size_t read(char* out, std::size_t n) {
    const std::size_t done = gzip_ ? inflate_into(out, n) : copy_into(out, n);
    offset_ += done;
    return done;
  }

  // Plain files have a known size, so declared sizes can be checked before reading any data.
  bool compressed() const { return gzip_; }
  std::uint64_t file_size() const { return file_size_; }
  std::uint64_t offset() const { return offset_; }

private:
  static constexpr std::size_t kBuffer = std::size_t{64} << 10;

  // Refills the input buffer when it is used up; false at the end of the file.
  bool fill() {
    if (pos_ < in_.size()) return true;
    in_.resize(kBuffer);
    const std::size_t got = std::fread(in_.data(), 1, kBuffer, file_.get());
    if (got == 0 && std::ferror(file_.get())) throw IoError(fmt::format("{}: read failed: {}", path_, std::strerror(errno)));
    in_.resize(got);
    pos_ = 0;
    consumed_ += got;
    return got > 0;
  }

  std::size_t copy_into(char* out, std::size_t n) {
    std::size_t done = 0;
    while (done < n && fill()) {
      const std::size_t k = std::min(n - done, in_.size() - pos_);
      std::memcpy(out + done, in_.data() + pos_, k);
      pos_ += k;
      done += k;
    }
    return done;
  }

  [[noreturn]] void gzip_error(std::size_t done, const char* why) const {
    throw FormatError(fmt::format("{}: gzip error after {} decompressed bytes: {}", path_, offset_ + done, why));
  }

  std::size_t inflate_into(char* out, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      if (!inflating_) {
        // After a member's trailer: another gzip member (as `cat a.gz b.gz` makes) or nothing.
        if (!fill()) return done;
        const std::size_t avail = in_.size() - pos_;
        const bool magic = static_cast<unsigned char>(in_[pos_]) == 0x1f &&
                           (avail < 2 || static_cast<unsigned char>(in_[pos_ + 1]) == 0x8b);
        if (!magic) {
          throw FormatError(fmt::format("{}: unexpected bytes after the gzip stream, at offset {} of the file", path_,
                                        consumed_ - avail));
        }
        if (inflateReset(&z_) != Z_OK) gzip_error(done, "cannot restart for the next member");
        inflating_ = true;
      }
      if (pos_ == in_.size() && !fill()) gzip_error(done, "unexpected end of file");
      z_.next_in = reinterpret_cast<Bytef*>(in_.data() + pos_);
      z_.avail_in = static_cast<uInt>(in_.size() - pos_);
      z_.next_out = reinterpret_cast<Bytef*>(out + done);
      z_.avail_out = static_cast<uInt>(std::min<std::size_t>(n - done, std::size_t{1} << 30));
      const uInt before = z_.avail_out;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      pos_ = in_.size() - z_.avail_in;
      done += before - z_.avail_out;
      if (rc == Z_STREAM_END) {
        inflating_ = false;
      } else if (rc == Z_BUF_ERROR) {
        // No progress possible: more input is needed, which the next round reads (or reports the end).
        if (z_.avail_in != 0) gzip_error(done, "no progress");
      } else if (rc != Z_OK) {
        gzip_error(done, z_.msg ? z_.msg : "corrupt data");
      }
    }
    return done;
  }

  std::string path_;
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> file_;
  std::uint64_t file_size_ = 0;
  std::uint64_t offset_ = 0;    // decompressed bytes delivered
  std::uint64_t consumed_ = 0;  // file bytes read into the buffer so far
  std::vector<char> in_;
  std::size_t pos_ = 0;
  bool gzip_ = false;
  bool inflating_ = false;
  z_stream z_{};
};

std::uint32_t big_endian_u32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

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

// One IDX file: its header read and checked on construction, its values decoded on demand chunk
// by chunk into the caller's floats, so that no more than one chunk of raw bytes is ever held.
class IdxFile {
public:
  explicit IdxFile(const std::string& path) : path_(path), in_(path) {
    unsigned char magic[4];
    if (in_.read(reinterpret_cast<char*>(magic), 4) != 4) {
      throw FormatError(fmt::format("{}: truncated: the 4-byte IDX magic is missing ({} bytes)", path, in_.offset()));
    }
    if (magic[0] != 0 || magic[1] != 0) {
      throw FormatError(fmt::format("{}: not an IDX file: magic {:02X} {:02X} {:02X} {:02X} at offset 0 does not "
                                    "start with 00 00",
                                    path, magic[0], magic[1], magic[2], magic[3]));
    }
    type_ = idx_type(magic[2], path);
    code_ = magic[2];
    const unsigned ndims = magic[3];
    if (ndims < 1 || ndims > 4) {
      throw FormatError(fmt::format("{}: IDX file declares {} dimensions at offset 3 (1 to 4 supported)", path, ndims));
    }
    std::vector<unsigned char> raw_dims(4 * ndims);
    if (in_.read(reinterpret_cast<char*>(raw_dims.data()), raw_dims.size()) != raw_dims.size()) {
      throw FormatError(fmt::format("{}: truncated: header declares {} dimensions but the file ends at offset {}",
                                    path, ndims, in_.offset()));
    }
    for (unsigned k = 0; k < ndims; ++k) {
      const std::uint32_t d = big_endian_u32(&raw_dims[4 * k]);
      if (d == 0) throw FormatError(fmt::format("{}: dimension {} (offset {}) is zero", path, k, 4 + 4 * k));
      dims_.push_back(d);
      count_ = saturating_mul(count_, d);  // up to (2^32 - 1)^4: saturates rather than wraps
    }
    header_bytes_ = 4 + 4 * std::uint64_t{ndims};
    data_bytes_ = saturating_mul(count_, type_.size);
  }

  unsigned type_code() const { return code_; }
  const std::vector<Index>& dims() const { return dims_; }
  std::uint64_t count() const { return count_; }

  // Before the caller allocates: what it keeps per value plus one chunk of raw bytes against the
  // budget, then (a plain file's size is known) the declared data against the file.
  void check(const MemoryBudget& budget, std::uint64_t bytes_per_value) const {
    budget.require<FormatError>(saturating_add(saturating_mul(count_, bytes_per_value), chunk_bytes()),
                                fmt::format("{}: an array of {} {} values (declared by its header)", path_,
                                            dims_text(dims_), type_.name));
    if (!in_.compressed() && in_.file_size() - header_bytes_ < data_bytes_) {
      throw truncated(in_.file_size() - header_bytes_);
    }
  }

  // Decodes the count() values into out[0, count()), then checks that nothing follows them. A
  // gzip stream is inflated chunk by chunk, never past the declared size, and the caller's
  // pages are written only as data arrive.
  void decode_into(float* out) {
    std::vector<char> chunk(static_cast<std::size_t>(chunk_bytes()));
    std::uint64_t done = 0;
    while (done < data_bytes_) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), data_bytes_ - done));
      const std::size_t got = in_.read(chunk.data(), want);
      if (got < want) throw truncated(done + got);
      decode(chunk.data(), want / type_.size, code_, out + done / type_.size);
      done += want;
    }
    char extra;
    if (in_.read(&extra, 1) != 0) {
      throw FormatError(fmt::format("{}: unexpected data after the {} declared values, at offset {}", path_,
                                    dims_text(dims_), header_bytes_ + data_bytes_));
    }
  }

private:
  // A whole number of values, 16 MiB at most.
  std::uint64_t chunk_bytes() const {
    return std::min<std::uint64_t>(data_bytes_, (std::uint64_t{16} << 20) / type_.size * type_.size);
  }

  FormatError truncated(std::uint64_t remain) const {
    const std::string declared = code_ == 0x08 ? fmt::format("{} bytes", dims_text(dims_))
                                               : fmt::format("{} {} values ({} bytes)", dims_text(dims_), type_.name,
                                                             data_bytes_);
    return FormatError(fmt::format("{}: truncated: header declares {} but only {} remain after offset {}", path_,
                                   declared, remain, header_bytes_));
  }

  std::string path_;
  ByteStream in_;
  unsigned code_ = 0;
  IdxType type_{};
  std::vector<Index> dims_;
  std::uint64_t count_ = 1;
  std::uint64_t header_bytes_ = 0;
  std::uint64_t data_bytes_ = 0;
};

Grid grid_of(const std::vector<Index>& dims) {
  switch (dims.size()) {
    case 1: return Grid{1, 1, 1};
    case 2: return Grid{1, dims[1], 1};
    case 3: return Grid{dims[1], dims[2], 1};
    default: return Grid{dims[1], dims[2], dims[3]};
  }
}

}  // namespace

Dataset read_idx(const std::string& images_path, const std::string& labels_path, const MemoryBudget& budget) {
  Dataset data;
  {
    IdxFile images(images_path);
    images.check(budget, sizeof(float));
    data.shape = grid_of(images.dims());
    // Row-major T x K values are exactly the bytes of the column-major K x T matrix.
    data.x.resize(data.shape.size(), images.dims()[0]);
    images.decode_into(data.x.data());
  }
  const Index samples = data.size();
  if (!labels_path.empty()) {
    IdxFile labels(labels_path);
    if (labels.dims().size() != 1) {
      throw FormatError(fmt::format("{}: labels must be 1-D, the header declares {}", labels_path,
                                    dims_text(labels.dims())));
    }
    if (labels.type_code() == 0x0D || labels.type_code() == 0x0E) {
      throw FormatError(fmt::format("{}: labels must be integers, the header declares floating-point values",
                                    labels_path));
    }
    if (labels.dims()[0] != samples) {
      throw ShapeError(fmt::format("{} holds {} labels but {} holds {} images", labels_path, labels.dims()[0],
                                   images_path, samples));
    }
    // Floats and ints, next to the images already held.
    labels.check(budget.minus(saturating_mul(static_cast<std::uint64_t>(data.x.size()), sizeof(float))),
                 sizeof(float) + sizeof(int));
    std::vector<float> values(static_cast<std::size_t>(labels.count()));
    labels.decode_into(values.data());
    data.labels.reserve(values.size());
    // Values are decoded to float, which holds every integer of magnitude below 2^24 exactly; a
    // larger int32 label may come back altered (2^24 + 1 reads as 2^24), and 2^31 - 1 rounds to
    // 2^31, which overflows int.
    constexpr float kLabelBound = 16777216.0f;  // 2^24
    for (std::size_t t = 0; t < values.size(); ++t) {
      const float v = values[t];
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
