// NPY and NPZ arrays (NumPy's own formats), read and written without NumPy; NPZ through libzip.
// Writers are atomic: a temporary file in the same folder is written, flushed and renamed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "simmatch/files.hpp"  // read_file and write_file_atomically lived here; callers still find them
#include "simmatch/memory_budget.hpp"
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

/// Bytes per element of a supported dtype ("<f4" -> 4); FormatError naming `what` otherwise.
/// Supported: f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, little- or big-endian ('>' is converted to
/// '<' when parsed, so an NpyArray in memory is always little-endian).
std::size_t dtype_size(const std::string& dtype, const std::string& what = "array");

/// Parses NPY bytes (format versions 1.0, 2.0 and 3.0 only, as NumPy); `what` names the source
/// in error messages (FormatError: magic, version, header, dtype, byte order, shape vs data length).
/// The data are already in memory, so no budget applies.
NpyArray parse_npy(const std::string& bytes, const std::string& what);
std::string serialize_npy(const NpyArray& array);

/// Reads an NPY file. The shape its header declares is checked against the file size and the
/// budget (FormatError naming the file) before the data are allocated.
NpyArray read_npy(const std::string& path, const MemoryBudget& budget = MemoryBudget::from_environment());
/// Only the header of an NPY file: dtype, shape and order, with `bytes` left empty; checked like
/// read_npy but for the budget. Lets a reader size what it will build before reading any data.
NpyArray read_npy_header(const std::string& path);
void write_npy(const std::string& path, const NpyArray& array);
/// Writes `data` (C order, the product of `shape` floats) as a "<f4" NPY file, atomically as
/// write_npy, straight from the caller's memory: no copy of the values, which for the encoder's
/// feature matrices are gigabytes.
void write_npy_floats(const std::string& path, const float* data, const std::vector<Index>& shape);

/// NPZ: a zip archive of "<name>.npy" entries; keys are the names without ".npy". Entries are
/// written uncompressed (numpy.savez's layout). FormatError names the file and the entry.
/// read_npz decompresses every entry, their declared sizes summed against the budget.
std::map<std::string, NpyArray> read_npz(const std::string& path,
                                         const MemoryBudget& budget = MemoryBudget::from_environment());
void write_npz(const std::string& path, const std::map<std::string, NpyArray>& arrays);
/// One array of an NPZ, without decompressing the others; FormatError when `key` is missing.
NpyArray read_npz_array(const std::string& path, const std::string& key,
                        const MemoryBudget& budget = MemoryBudget::from_environment());

/// An NPZ archive open for reading single arrays: only the entries asked for are decompressed.
/// Opening checks the zip directory and that every entry is a unique "<key>.npy"; each read
/// checks the entry's declared size against what its compressed bytes can hold and, with the
/// sizes of every array read through this reader before, against the budget, before allocating,
/// and never inflates beyond the declared size.
class NpzReader {
public:
  NpzReader(const std::string& path, const MemoryBudget& budget = MemoryBudget::from_environment());
  ~NpzReader();
  NpzReader(const NpzReader&) = delete;
  NpzReader& operator=(const NpzReader&) = delete;

  const std::string& path() const;
  /// Keys in archive order.
  const std::vector<std::string>& keys() const;
  bool contains(const std::string& key) const;
  /// FormatError naming the file when `key` is missing.
  NpyArray read(const std::string& key);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace simmatch
