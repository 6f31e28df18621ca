// A read-only features x samples float32 matrix that is either owned or a memory-mapped NPY file,
// so that a read-out of 60,000 x 19,600 features (4.7 GB) needs no second copy of them.
#pragma once

#include <memory>
#include <string>

#include "simmatch/memory_budget.hpp"
#include "simmatch/types.hpp"

namespace simmatch {

class FeatureMatrix {
public:
  FeatureMatrix() = default;
  /// Takes ownership of `values` (features x samples), e.g. an encoder's output.
  explicit FeatureMatrix(Eigen::MatrixXf values);

  /// The rows of a T x N NPY array (2-D, or more dimensions flattened per sample) as the N x T
  /// column-major matrix they already are in C order. Little-endian float32 in C order (what
  /// `simmatch encode` and numpy.save of a float32 array write) is mapped read-only: no memory is
  /// allocated and pages are read on first use, shared with the page cache. Any other dtype, byte
  /// order or Fortran order is read and converted once (checked against `budget`, like
  /// read_npy_dataset). FormatError/IoError naming the file for a malformed or unreadable one
  /// (the header and the file size are checked before anything is mapped), FormatError for an
  /// array without samples or features, NumericalError naming the file, sample and feature for
  /// NaN or Inf (every value is read once to check).
  static FeatureMatrix from_npy(const std::string& path, const MemoryBudget& budget = MemoryBudget::from_environment());

  /// The values, features x samples (column t = sample t).
  Eigen::Map<const Eigen::MatrixXf> matrix() const { return {data_, rows_, cols_}; }
  Index features() const { return rows_; }
  Index samples() const { return cols_; }
  /// True when the values are a mapping of a file rather than memory of their own.
  bool mapped() const { return mapped_; }

private:
  std::shared_ptr<const void> storage_;  // the owned matrix or the mapping; keeps `data_` valid
  const float* data_ = nullptr;
  Index rows_ = 0;
  Index cols_ = 0;
  bool mapped_ = false;
};

}  // namespace simmatch
