// Internal: the steps of reading an NPY array (preamble, header, layout, data), shared by the NPY
// file reader and the NPZ reader, which streams an archive entry through the same steps.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "simmatch/npy.hpp"

namespace simmatch::npy_detail {

/// The most bytes a preamble takes (magic, version, 4-byte header length of versions 2 and 3).
inline constexpr std::size_t kPreambleBytes = 12;

/// A dtype split into its parts: kind 'f', 'i', 'u' or 'b'; size in bytes; whether stored big-endian.
struct DtypeInfo {
  char kind = 0;
  std::size_t size = 0;
  bool big_endian = false;
  /// The little-endian spelling NumPy uses ("|u1" for one-byte types).
  std::string canonical() const { return fmt::format("{}{}{}", size == 1 ? '|' : '<', kind, size); }
};

struct Header {
  std::string dtype;
  bool fortran_order = false;
  std::vector<Index> shape;
};

/// Where the header sits: after the magic, the version and the little-endian length field.
struct Preamble {
  std::size_t header_start = 0;
  std::size_t header_len = 0;
};

/// The validated description of the data that follows the header.
struct Layout {
  Header header;
  DtypeInfo dtype;
  std::size_t data_start = 0;
  std::uint64_t data_bytes = 0;
};

/// Reads the fixed part at the start of an NPY file; `prefix` holds its first bytes (at least
/// kPreambleBytes when the file has them). FormatError for the magic, a version other than 1.0,
/// 2.0 or 3.0, or a header length over 1 MiB.
Preamble parse_preamble(std::string_view prefix, const std::string& what);
/// Parses the header dict and sizes the data (FormatError naming `what`).
Layout parse_layout(const Preamble& p, std::string_view header_text, const std::string& what);
/// FormatError unless exactly `layout.data_bytes` bytes follow the header.
void check_data_length(const Layout& layout, std::uint64_t available, const std::string& what);
/// The array from its validated layout and raw data (big-endian data converted to little-endian).
NpyArray make_array(const Layout& layout, std::vector<char> data);

}  // namespace simmatch::npy_detail
