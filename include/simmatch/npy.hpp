// NPY and NPZ arrays (NumPy's own formats), read and written without NumPy; NPZ through libzip.
// Writers are atomic: a temporary file in the same folder is written, flushed and renamed.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "simmatch/types.hpp"

namespace simmatch {

/// One array: NumPy dtype string ("<f4", "<f8", "|u1", "<i4", "<i8", ...), shape, C or Fortran
/// order, and the raw little-endian bytes.
struct NpyArray {
  std::string dtype;
  std::vector<Index> shape;
  bool fortran_order = false;
  std::vector<char> bytes;

  Index num_elements() const;
  /// Every element converted to double (or float), in C order. Throws FormatError for an
  /// unsupported dtype.
  std::vector<double> to_doubles() const;
  std::vector<float> to_floats() const;

  static NpyArray from_floats(const float* data, std::vector<Index> shape);
  static NpyArray from_doubles(const double* data, std::vector<Index> shape);
  static NpyArray from_ints(const int* data, std::vector<Index> shape);
  static NpyArray from_int64s(const std::int64_t* data, std::vector<Index> shape);
  static NpyArray from_bytes(const std::string& text);  // 1-D "|u1" (e.g. JSON text)
  /// The bytes of a 1-D "|u1" array as a string.
  std::string as_text() const;
};

/// Parses NPY bytes; `what` names the source in error messages (FormatError: magic, header,
/// dtype, byte order, shape vs data length).
NpyArray parse_npy(const std::string& bytes, const std::string& what);
std::string serialize_npy(const NpyArray& array);

NpyArray read_npy(const std::string& path);
void write_npy(const std::string& path, const NpyArray& array);

/// NPZ: a zip archive of "<name>.npy" entries; keys are the names without ".npy".
std::map<std::string, NpyArray> read_npz(const std::string& path);
void write_npz(const std::string& path, const std::map<std::string, NpyArray>& arrays);

/// Writes `contents` to `path` atomically (temp file in the same folder, fsync, rename).
void write_file_atomically(const std::string& path, const std::string& contents);
/// Whole file as bytes; IoError naming the path when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace simmatch
