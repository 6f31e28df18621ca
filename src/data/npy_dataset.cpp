// Data sets stored as NPY: samples along the first axis, features (or image rows, columns and
// channels) along the others, with an optional 1-D integer labels NPY.
#include <algorithm>
#include <climits>
#include <cmath>

#include <fmt/format.h>

#include "simmatch/dataset.hpp"
#include "simmatch/error.hpp"
#include "simmatch/npy.hpp"

namespace simmatch {
namespace {

std::string shape_text(const std::vector<Index>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + ")";
}

}  // namespace

std::vector<int> read_npy_labels(const std::string& path, Index samples, const std::string& images_path,
                                 const MemoryBudget& budget) {
  // The raw values, their doubles and the ints kept.
  const NpyArray header = read_npy_header(path);
  const auto count = static_cast<std::uint64_t>(header.num_elements());
  budget.require<FormatError>(saturating_add(saturating_mul(count, dtype_size(header.dtype, path)),
                                             saturating_mul(count, sizeof(double) + sizeof(int))),
                              fmt::format("{}: {} labels read as numbers", path, count));
  const NpyArray array = read_npy(path, budget);
  const char kind = array.dtype.size() == 3 ? array.dtype[1] : '?';
  if (kind != 'i' && kind != 'u') {
    throw FormatError(fmt::format("{}: labels must have an integer dtype, not {}", path, array.dtype));
  }
  if (array.shape.size() != 1) {
    throw ShapeError(fmt::format("{}: labels must be 1-D, got shape {}", path, shape_text(array.shape)));
  }
  if (array.shape[0] != samples) {
    throw ShapeError(fmt::format("{} holds {} labels but {} holds {} samples", path, array.shape[0], images_path, samples));
  }
  // Doubles hold every int label exactly; anything outside int's range is not a class label.
  const std::vector<double> values = array.to_doubles();
  std::vector<int> labels(values.size());
  for (std::size_t t = 0; t < values.size(); ++t) {
    if (values[t] < INT_MIN || values[t] > INT_MAX) {
      throw FormatError(fmt::format("{}: label {} of sample {} is outside the int range", path, values[t], t));
    }
    labels[t] = static_cast<int>(values[t]);
  }
  return labels;
}

Dataset read_npy_dataset(const std::string& path, const std::string& labels_path, const MemoryBudget& budget) {
  const NpyArray header = read_npy_header(path);
  const auto& s = header.shape;
  Dataset data;
  switch (s.size()) {
    case 2: data.shape = Grid{1, s[1], 1}; break;
    case 3: data.shape = Grid{s[1], s[2], 1}; break;
    case 4: data.shape = Grid{s[1], s[2], s[3]}; break;
    default:
      throw ShapeError(fmt::format("{}: a data set needs shape (T, K), (T, H, W) or (T, H, W, C), got {}", path,
                                   shape_text(s)));
  }
  const Index samples = s[0];
  if (data.shape.size() == 0) throw ShapeError(fmt::format("{}: samples of shape {} hold no values", path, shape_text(s)));
  // Before reading any data: the raw values, their float32 conversion and the matrix it is
  // copied into (one sample at least, so that an empty array of huge samples is refused too).
  const auto values_held = saturating_mul(static_cast<std::uint64_t>(std::max<Index>(samples, 1)),
                                          static_cast<std::uint64_t>(data.shape.size()));
  const std::uint64_t need = saturating_add(saturating_mul(values_held, dtype_size(header.dtype, path)),
                                            saturating_mul(values_held, 2 * sizeof(float)));
  budget.require<FormatError>(need, fmt::format("{}: {} values of shape {} read as float32", path, values_held,
                                                shape_text(s)));
  {
    const NpyArray array = read_npy(path, budget);
    // to_floats returns C order: the row-major T x K values are the column-major K x T matrix.
    const std::vector<float> values = array.to_floats();
    data.x = Eigen::Map<const Eigen::MatrixXf>(values.data(), data.shape.size(), samples);
  }
  if (!labels_path.empty()) {
    const auto held = saturating_mul(static_cast<std::uint64_t>(data.x.size()), sizeof(float));
    data.labels = read_npy_labels(labels_path, samples, path, budget.minus(held));
  }
  return data;
}

}  // namespace simmatch
