// The reference preprocessing of data sets (scaling, per-sample mean removal), the finiteness
// check run before training, and sample selection.
#include <cmath>

#include <fmt/format.h>

#include "simmatch/dataset.hpp"
#include "simmatch/error.hpp"

namespace simmatch {

void scale_values(Dataset& data, float max_value) {
  if (!(max_value > 0.0f) || !std::isfinite(max_value)) {
    throw ConfigError(fmt::format("scale: the maximum value must be finite and > 0, got {}", max_value));
  }
  data.x.array() /= max_value;
}

void subtract_sample_mean(Dataset& data) {
  for (Index t = 0; t < data.x.cols(); ++t) {
    auto column = data.x.col(t);
    // Accumulate in double: 784 floats summed in float lose the low bits of the mean.
    const double mean = column.cast<double>().mean();
    column.array() -= static_cast<float>(mean);
  }
}

void check_finite(const Dataset& data, const std::string& what) { check_finite(data.x, what); }

void check_finite(ConstMatrixRef<float> x, const std::string& what) {
  for (Index t = 0; t < x.cols(); ++t) {
    if (x.col(t).allFinite()) continue;
    for (Index k = 0; k < x.rows(); ++k) {
      const float v = x(k, t);
      if (!std::isfinite(v)) {
        throw NumericalError(fmt::format("{}: sample {} holds {} at feature {}", what, t, std::isnan(v) ? "NaN" : "Inf", k));
      }
    }
  }
}

Dataset subset(const Dataset& data, const std::vector<Index>& indices) {
  Dataset out;
  out.shape = data.shape;
  out.x.resize(data.x.rows(), static_cast<Index>(indices.size()));
  if (data.has_labels()) out.labels.reserve(indices.size());
  for (std::size_t j = 0; j < indices.size(); ++j) {
    const Index t = indices[j];
    if (t < 0 || t >= data.size()) {
      throw ShapeError(fmt::format("subset: index {} (position {}) is outside the {} samples", t, j, data.size()));
    }
    out.x.col(static_cast<Index>(j)) = data.x.col(t);
    if (data.has_labels()) out.labels.push_back(data.labels[static_cast<std::size_t>(t)]);
  }
  return out;
}

}  // namespace simmatch
