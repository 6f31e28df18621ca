// NPY arrays (NumPy's format, versions 1.0, 2.0 and 3.0) parsed and written without NumPy.
#include "simmatch/npy.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

#include <fmt/format.h>

#include "io/npy_parts.hpp"
#include "simmatch/error.hpp"

namespace simmatch {

// Arrays in memory are little-endian byte images; converting them with memcpy is only valid on a
// little-endian host, which every platform simmatch targets is.
static_assert(std::endian::native == std::endian::little, "simmatch assumes a little-endian host");

namespace npy_detail {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
// NumPy itself refuses headers over 10000 bytes by default; 1 MiB leaves room for huge shapes
// while keeping a corrupt length field from allocating gigabytes.
constexpr std::size_t kMaxHeaderBytes = std::size_t{1} << 20;

DtypeInfo parse_dtype(const std::string& dtype, const std::string& what) {
  auto fail = [&]() {
    return FormatError(fmt::format("{}: unsupported dtype '{}' (supported: f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, "
                                   "with byte order '<', '>', '|' or '=')",
                                   what, dtype));
  };
  std::string_view rest = dtype;
  DtypeInfo info;
  if (!rest.empty() && (rest[0] == '<' || rest[0] == '>' || rest[0] == '|' || rest[0] == '=')) {
    info.big_endian = rest[0] == '>';
    rest.remove_prefix(1);
  }
  if (rest.size() != 2) throw fail();
  info.kind = rest[0];
  const char digit = rest[1];
  if (digit < '1' || digit > '9') throw fail();
  info.size = static_cast<std::size_t>(digit - '0');
  const bool ok = (info.kind == 'f' && (info.size == 4 || info.size == 8)) ||
                  ((info.kind == 'i' || info.kind == 'u') &&
                   (info.size == 1 || info.size == 2 || info.size == 4 || info.size == 8)) ||
                  (info.kind == 'b' && info.size == 1);
  if (!ok) throw fail();
  if (info.size == 1) info.big_endian = false;  // byte order is meaningless for one byte
  return info;
}

std::string shape_text(const std::vector<Index>& shape) {
  if (shape.empty()) return "scalar";
  std::string out;
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? " x " : "") + std::to_string(shape[i]);
  return out;
}

// Element count of `shape`. The product of the non-zero dimensions times the item size is
// bounded by 2^62 bytes, more than any machine holds, so that no size computed from a shape can
// overflow an Index: an empty array of shape (0, 2^60, 2^60) holds no bytes, but a reader
// computing the size of one sample (2^60 * 2^60) would overflow (found by fuzz_npy). Whether the
// data fit in memory is the readers' memory budget's question.
Index checked_count(const std::vector<Index>& shape, std::size_t item_size, const std::string& what) {
  constexpr std::uint64_t kMaxBytes = std::uint64_t{1} << 62;
  std::uint64_t count = 1;
  std::uint64_t extent = 1;  // product of the non-zero dimensions
  const std::uint64_t limit = kMaxBytes / item_size;
  for (Index d : shape) {
    if (d < 0) throw FormatError(fmt::format("{}: negative dimension {} in shape", what, d));
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && extent > limit / ud) {
      throw FormatError(fmt::format("{}: shape {} of {}-byte values exceeds 2^62 bytes", what, shape_text(shape),
                                    item_size));
    }
    if (ud != 0) extent *= ud;
    count *= ud;
  }
  return static_cast<Index>(count);
}

// --- The header: a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }

class HeaderParser {
public:
  HeaderParser(std::string_view text, const std::string& what) : text_(text), what_(what) {}

  Header parse() {
    Header header;
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') {
        ++pos_;
        break;
      }
      const std::string key = parse_string();
      expect(':');
      if (key == "descr") {
        skip_space();
        if (peek() == '[') fail("structured dtypes are not supported");
        header.dtype = parse_string();
        has_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = parse_bool();
        has_order = true;
      } else if (key == "shape") {
        header.shape = parse_shape();
        has_shape = true;
      } else {
        fail(fmt::format("unexpected key '{}'", key));
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != '}') {
        fail("expected ',' or '}'");
      }
    }
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the dictionary");
    if (!has_descr || !has_order || !has_shape) fail("'descr', 'fortran_order' and 'shape' are all required");
    return header;
  }

private:
  [[noreturn]] void fail(const std::string& why) const {
    throw FormatError(fmt::format("{}: malformed NPY header at character {}: {} (header: {})", what_, pos_, why,
                                  std::string(text_.substr(0, 200))));
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(fmt::format("expected '{}'", c));
    ++pos_;
  }
  std::string parse_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    skip_space();
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  std::vector<Index> parse_shape() {
    expect('(');
    std::vector<Index> shape;
    while (true) {
      skip_space();
      if (peek() == ')') {
        ++pos_;
        return shape;
      }
      if (peek() < '0' || peek() > '9') fail("expected a non-negative integer dimension");
      std::uint64_t value = 0;
      while (peek() >= '0' && peek() <= '9') {
        value = value * 10 + static_cast<std::uint64_t>(peek() - '0');
        if (value > (std::uint64_t{1} << 62)) fail("dimension too large");
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2 long suffix in old files
      shape.push_back(static_cast<Index>(value));
      if (shape.size() > 32) fail("more than 32 dimensions");
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        fail("expected ',' or ')' in shape");
      }
    }
  }

  std::string_view text_;
  const std::string& what_;
  std::size_t pos_ = 0;
};

}  // namespace

Preamble parse_preamble(std::string_view prefix, const std::string& what) {
  if (prefix.size() < 6 || prefix.substr(0, 6) != kMagic) {
    throw FormatError(fmt::format("{}: not an NPY file (missing the \\x93NUMPY magic at offset 0)", what));
  }
  if (prefix.size() < 10) {
    throw FormatError(fmt::format("{}: truncated NPY preamble ({} bytes)", what, prefix.size()));
  }
  const auto major = static_cast<unsigned char>(prefix[6]);
  const auto u8 = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<unsigned char>(prefix[i])); };
  const auto minor = static_cast<unsigned char>(prefix[7]);
  // NumPy writes and reads only x.0; a minor version it does not know is not a file it made.
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    throw FormatError(fmt::format("{}: unsupported NPY format version {}.{} at offset 6 (1.0, 2.0 and 3.0 are read)",
                                  what, major, minor));
  }
  Preamble p;
  if (major == 1) {
    p.header_start = 10;
    p.header_len = u8(8) | (u8(9) << 8);
  } else if (major == 2 || major == 3) {
    if (prefix.size() < kPreambleBytes) throw FormatError(fmt::format("{}: truncated NPY preamble ({} bytes)", what, prefix.size()));
    p.header_start = 12;
    p.header_len = u8(8) | (u8(9) << 8) | (u8(10) << 16) | (u8(11) << 24);
  }
  if (p.header_len > kMaxHeaderBytes) {
    throw FormatError(fmt::format("{}: NPY header length {} exceeds the 1 MiB limit", what, p.header_len));
  }
  return p;
}

Layout parse_layout(const Preamble& p, std::string_view header_text, const std::string& what) {
  Layout layout;
  layout.header = HeaderParser(header_text, what).parse();
  layout.dtype = parse_dtype(layout.header.dtype, what);
  layout.data_start = p.header_start + p.header_len;
  layout.data_bytes =
      static_cast<std::uint64_t>(checked_count(layout.header.shape, layout.dtype.size, what)) * layout.dtype.size;
  return layout;
}

void check_data_length(const Layout& layout, std::uint64_t available, const std::string& what) {
  if (available < layout.data_bytes) {
    throw FormatError(fmt::format("{}: truncated: header declares {} values of dtype {} ({} bytes) but only {} "
                                  "remain after offset {}",
                                  what, shape_text(layout.header.shape), layout.header.dtype, layout.data_bytes,
                                  available, layout.data_start));
  }
  if (available > layout.data_bytes) {
    throw FormatError(fmt::format("{}: {} unexpected bytes after the {} data bytes that end at offset {}", what,
                                  available - layout.data_bytes, layout.data_bytes,
                                  layout.data_start + layout.data_bytes));
  }
}

NpyArray make_array(const Layout& layout, std::vector<char> data) {
  NpyArray array;
  array.dtype = layout.dtype.canonical();
  array.shape = layout.header.shape;
  array.fortran_order = layout.header.fortran_order;
  if (layout.dtype.big_endian) {
    const std::size_t w = layout.dtype.size;
    for (std::size_t i = 0; i + w <= data.size(); i += w) std::reverse(data.begin() + i, data.begin() + i + w);
  }
  array.bytes = std::move(data);
  return array;
}

}  // namespace npy_detail

namespace {

using npy_detail::checked_count;
using npy_detail::DtypeInfo;
using npy_detail::Layout;
using npy_detail::parse_dtype;
using npy_detail::Preamble;
using npy_detail::shape_text;

// One element of a little-endian array as Out.
template <typename Out>
Out element(const char* p, const DtypeInfo& d) {
  auto load = [p]<typename S>(S) {
    S s;
    std::memcpy(&s, p, sizeof(S));
    return static_cast<Out>(s);
  };
  switch (d.kind) {
    case 'f': return d.size == 4 ? load(float{}) : load(double{});
    case 'b': return static_cast<Out>(*p != 0);
    case 'i':
      switch (d.size) {
        case 1: return load(std::int8_t{});
        case 2: return load(std::int16_t{});
        case 4: return load(std::int32_t{});
        default: return load(std::int64_t{});
      }
    default:
      switch (d.size) {
        case 1: return load(std::uint8_t{});
        case 2: return load(std::uint16_t{});
        case 4: return load(std::uint32_t{});
        default: return load(std::uint64_t{});
      }
  }
}

template <typename Out>
std::vector<Out> convert(const NpyArray& array) {
  const DtypeInfo d = parse_dtype(array.dtype, "array");
  const Index n = array.num_elements();
  if (static_cast<std::uint64_t>(array.bytes.size()) != static_cast<std::uint64_t>(n) * d.size) {
    throw ShapeError(fmt::format("array of shape {} and dtype {} holds {} bytes instead of {}", shape_text(array.shape),
                                 array.dtype, array.bytes.size(), static_cast<std::uint64_t>(n) * d.size));
  }
  std::vector<Out> out(static_cast<std::size_t>(n));
  const char* src = array.bytes.data();
  const std::size_t nd = array.shape.size();
  if (!array.fortran_order || nd < 2) {
    for (Index i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = element<Out>(src + i * d.size, d);
    return out;
  }
  // Fortran order: walk the C-order multi-index (last axis fastest) and keep the matching
  // Fortran offset (first axis fastest) up to date incrementally.
  std::vector<Index> stride(nd), idx(nd, 0);
  Index s = 1;
  for (std::size_t k = 0; k < nd; ++k) {
    stride[k] = s;
    s *= array.shape[k];
  }
  Index f = 0;
  for (Index c = 0; c < n; ++c) {
    out[static_cast<std::size_t>(c)] = element<Out>(src + f * d.size, d);
    for (std::size_t k = nd; k-- > 0;) {
      f += stride[k];
      if (++idx[k] < array.shape[k]) break;
      f -= stride[k] * array.shape[k];
      idx[k] = 0;
    }
  }
  return out;
}

template <typename T>
NpyArray from_values(const T* data, std::vector<Index> shape, const char* dtype) {
  NpyArray array;
  array.dtype = dtype;
  array.shape = std::move(shape);
  const auto bytes = static_cast<std::size_t>(array.num_elements()) * sizeof(T);
  array.bytes.resize(bytes);
  if (bytes) std::memcpy(array.bytes.data(), data, bytes);
  return array;
}

std::string errno_text() { return std::strerror(errno); }

// An NPY file opened for reading: its size and layout, checked against each other; the data not read.
struct OpenedNpy {
  std::ifstream in;
  Layout layout;
};

OpenedNpy open_npy(const std::string& path) {
  // Read the header first and compare what it declares with the file size, so that a corrupt
  // header never makes us allocate before the data are known to be there.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw IoError(fmt::format("{}: cannot read: is a directory", path));
  OpenedNpy file{std::ifstream(path, std::ios::binary), {}};
  if (!file.in) throw IoError(fmt::format("{}: cannot open: {}", path, errno_text()));
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw IoError(fmt::format("{}: cannot read its size: {}", path, ec.message()));
  std::string prefix(static_cast<std::size_t>(std::min<std::uint64_t>(size, npy_detail::kPreambleBytes)), '\0');
  file.in.read(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  if (!file.in) throw IoError(fmt::format("{}: read failed at offset 0", path));
  const Preamble p = npy_detail::parse_preamble(prefix, path);
  if (size < p.header_start + p.header_len) {
    throw FormatError(fmt::format("{}: truncated: NPY header declares {} bytes but only {} remain after offset {}",
                                  path, p.header_len, size - p.header_start, p.header_start));
  }
  std::string header(p.header_len, '\0');
  file.in.seekg(static_cast<std::streamoff>(p.header_start));
  file.in.read(header.data(), static_cast<std::streamsize>(header.size()));
  if (!file.in) throw IoError(fmt::format("{}: read failed at offset {}", path, p.header_start));
  file.layout = npy_detail::parse_layout(p, header, path);
  npy_detail::check_data_length(file.layout, size - file.layout.data_start, path);
  return file;
}

}  // namespace

std::size_t dtype_size(const std::string& dtype, const std::string& what) { return parse_dtype(dtype, what).size; }

Index NpyArray::num_elements() const {
  Index n = 1;
  for (Index d : shape) n *= d;
  return n;
}

std::vector<double> NpyArray::to_doubles() const { return convert<double>(*this); }
std::vector<float> NpyArray::to_floats() const { return convert<float>(*this); }

NpyArray NpyArray::from_floats(const float* data, std::vector<Index> shape) {
  return from_values(data, std::move(shape), "<f4");
}
NpyArray NpyArray::from_doubles(const double* data, std::vector<Index> shape) {
  return from_values(data, std::move(shape), "<f8");
}
NpyArray NpyArray::from_ints(const int* data, std::vector<Index> shape) {
  static_assert(sizeof(int) == 4);
  return from_values(data, std::move(shape), "<i4");
}
NpyArray NpyArray::from_int64s(const std::int64_t* data, std::vector<Index> shape) {
  return from_values(data, std::move(shape), "<i8");
}
NpyArray NpyArray::from_bytes(const std::string& text) {
  return from_values(text.data(), {static_cast<Index>(text.size())}, "|u1");
}

std::string NpyArray::as_text() const {
  if ((dtype != "|u1" && dtype != "|i1") || shape.size() != 1 ||
      static_cast<Index>(bytes.size()) != num_elements()) {
    throw FormatError(fmt::format("expected a 1-D byte array (|u1) holding text, got dtype {} and shape {}", dtype,
                                  shape_text(shape)));
  }
  return std::string(bytes.begin(), bytes.end());
}

NpyArray parse_npy(const std::string& bytes, const std::string& what) {
  const std::string_view all = bytes;
  const Preamble p = npy_detail::parse_preamble(all.substr(0, npy_detail::kPreambleBytes), what);
  if (all.size() < p.header_start + p.header_len) {
    throw FormatError(fmt::format("{}: truncated: NPY header declares {} bytes but only {} remain after offset {}",
                                  what, p.header_len, all.size() - p.header_start, p.header_start));
  }
  const Layout layout = npy_detail::parse_layout(p, all.substr(p.header_start, p.header_len), what);
  npy_detail::check_data_length(layout, all.size() - layout.data_start, what);
  return npy_detail::make_array(
      layout, std::vector<char>(bytes.begin() + static_cast<std::ptrdiff_t>(layout.data_start), bytes.end()));
}

namespace {

// Magic, version, header length and the header dict of an array of `shape` and `dtype`, padded so
// that the data start 64-byte aligned, as NumPy writes them. `data_bytes` is what the caller
// holds, checked against the shape.
std::string npy_preamble(const std::string& dtype, const std::vector<Index>& shape, bool fortran_order,
                         std::uint64_t data_bytes) {
  const DtypeInfo d = parse_dtype(dtype, "array to write");
  if (d.big_endian) {
    throw FormatError(fmt::format("array to write: dtype {} is big-endian; arrays in memory are little-endian", dtype));
  }
  const std::uint64_t expected = static_cast<std::uint64_t>(checked_count(shape, d.size, "array to write")) * d.size;
  if (data_bytes != expected) {
    throw ShapeError(fmt::format("array to write: shape {} of dtype {} needs {} bytes but holds {}", shape_text(shape),
                                 dtype, expected, data_bytes));
  }
  std::string shape_tuple = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) shape_tuple += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) shape_tuple += ",";  // a Python 1-tuple needs its comma
  shape_tuple += ")";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}", d.canonical(),
                                   fortran_order ? "True" : "False", shape_tuple);
  // Version 1.0 has a 16-bit length field; fall back to 2.0 only for enormous shapes.
  const bool v2 = header.size() + 1 + 10 > 65535;
  const std::size_t preamble = v2 ? 12 : 10;
  // Pad with spaces and end with '\n' so that the data starts 64-byte aligned, as NumPy does.
  const std::size_t total = (preamble + header.size() + 1 + 63) / 64 * 64;
  header.append(total - preamble - header.size() - 1, ' ');
  header += '\n';
  std::string out;
  out.reserve(total);
  out += npy_detail::kMagic;
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  const std::size_t len = header.size();
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  if (v2) {
    out += static_cast<char>((len >> 16) & 0xff);
    out += static_cast<char>((len >> 24) & 0xff);
  }
  out += header;
  return out;
}

}  // namespace

std::string serialize_npy(const NpyArray& array) {
  std::string out = npy_preamble(array.dtype, array.shape, array.fortran_order, array.bytes.size());
  out.append(array.bytes.data(), array.bytes.size());
  return out;
}

NpyArray read_npy(const std::string& path, const MemoryBudget& budget) {
  OpenedNpy file = open_npy(path);
  const Layout& layout = file.layout;
  budget.require<FormatError>(layout.data_bytes, fmt::format("{}: an array of {} values of dtype {} (declared by its header)",
                                                             path, shape_text(layout.header.shape), layout.header.dtype));
  std::vector<char> data(static_cast<std::size_t>(layout.data_bytes));
  file.in.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (!file.in) throw IoError(fmt::format("{}: read failed at offset {}", path, layout.data_start));
  return npy_detail::make_array(layout, std::move(data));
}

NpyArray read_npy_header(const std::string& path) { return npy_detail::make_array(open_npy(path).layout, {}); }

void write_npy(const std::string& path, const NpyArray& array) {
  write_file_atomically(path, serialize_npy(array));
}

void write_npy_floats(const std::string& path, const float* data, const std::vector<Index>& shape) {
  std::uint64_t count = 1;
  for (const Index n : shape) count *= static_cast<std::uint64_t>(std::max<Index>(n, 0));
  const std::string preamble = npy_preamble("<f4", shape, false, count * sizeof(float));
  const std::array<std::string_view, 2> parts{
      std::string_view(preamble), std::string_view(reinterpret_cast<const char*>(data), count * sizeof(float))};
  write_file_atomically(path, parts);
}

}  // namespace simmatch
