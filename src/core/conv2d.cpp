// Convolutional geometry: the structures of a conv2d layer and which synapses share a value.
#include "simmatch/conv2d.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {

Padding padding_from_name(const std::string& name) {
  if (name == "valid") return Padding::valid;
  if (name == "same") return Padding::same;
  throw ConfigError(fmt::format("conv2d: padding must be \"valid\" or \"same\", got \"{}\"", name));
}

const char* padding_name(Padding padding) { return padding == Padding::valid ? "valid" : "same"; }

namespace {

// Output sites along one dimension of `size` input pixels.
Index output_size(Index size, Index kernel, Index stride, Padding padding) {
  if (padding == Padding::valid) return (size - kernel) / stride + 1;
  return (size + stride - 1) / stride;
}

// Padding before the first pixel along one dimension: half of the total, rounded down.
Index padding_before(Index size, Index kernel, Index stride, Padding padding) {
  if (padding == Padding::valid) return 0;
  const Index out = output_size(size, kernel, stride, padding);
  return std::max<Index>((out - 1) * stride + kernel - size, 0) / 2;
}

// The kernel positions 0..kernel-1 of output index `o` that fall inside the input: [lo, hi).
std::pair<Index, Index> inside(Index o, Index stride, Index pad, Index kernel, Index size) {
  const Index start = o * stride - pad;
  return {std::max<Index>(0, -start), std::min<Index>(kernel, size - start)};
}

}  // namespace

void Conv2d::check() const {
  if (input.height < 1 || input.width < 1 || input.channels < 1) {
    throw ShapeError(fmt::format("conv2d: input grid {}x{}x{} is empty", input.height, input.width, input.channels));
  }
  if (kernel < 1) throw ConfigError(fmt::format("conv2d: kernel must be >= 1, got {}", kernel));
  if (stride < 1) throw ConfigError(fmt::format("conv2d: stride must be >= 1, got {}", stride));
  if (channels < 1) throw ConfigError(fmt::format("conv2d: neurons_per_site must be >= 1, got {}", channels));
  if (!(lateral_radius >= 0) || !std::isfinite(lateral_radius)) {
    throw ConfigError(fmt::format("conv2d: lateral_radius must be finite and >= 0, got {}", lateral_radius));
  }
  if (padding == Padding::valid && (kernel > input.height || kernel > input.width)) {
    throw ConfigError(fmt::format("conv2d: kernel {} is larger than the {}x{} input (padding \"valid\")", kernel,
                                  input.height, input.width));
  }
  // A bank entry per (filter, position, channel) must be indexable by int, as synapses are.
  const double bank = static_cast<double>(channels) * static_cast<double>(kernel) * static_cast<double>(kernel) *
                      static_cast<double>(input.channels);
  if (bank > static_cast<double>(std::numeric_limits<int>::max())) {
    throw ShapeError(fmt::format("conv2d: a bank of {} filters of {}x{}x{} has more than 2^31 - 1 entries", channels,
                                 kernel, kernel, input.channels));
  }
}

Grid Conv2d::output() const {
  check();
  return Grid{output_size(input.height, kernel, stride, padding), output_size(input.width, kernel, stride, padding),
              channels};
}

Index Conv2d::pad_top() const { return padding_before(input.height, kernel, stride, padding); }
Index Conv2d::pad_left() const { return padding_before(input.width, kernel, stride, padding); }

Index Conv2d::w_synapses() const {
  const Grid out = output();
  // Separable: the covered pixels of a site are (rows inside) x (columns inside).
  double rows = 0, cols = 0;
  for (Index i = 0; i < out.height; ++i) {
    const auto [lo, hi] = inside(i, stride, pad_top(), kernel, input.height);
    rows += static_cast<double>(std::max<Index>(hi - lo, 0));
  }
  for (Index j = 0; j < out.width; ++j) {
    const auto [lo, hi] = inside(j, stride, pad_left(), kernel, input.width);
    cols += static_cast<double>(std::max<Index>(hi - lo, 0));
  }
  const double total = rows * cols * static_cast<double>(channels) * static_cast<double>(input.channels);
  return total >= 9.2e18 ? std::numeric_limits<Index>::max() : static_cast<Index>(total);
}

Structure Conv2d::cw(double constant) const {
  const Grid out = output();
  const Index synapses = w_synapses();
  if (synapses > std::numeric_limits<int>::max()) {
    throw ShapeError(fmt::format("conv2d: {} synapses in C^W do not fit CSR's int offsets", synapses));
  }
  if (out.size() > std::numeric_limits<int>::max() || input.size() > std::numeric_limits<int>::max()) {
    throw ShapeError("conv2d: more than 2^31 - 1 neurons in a layer");
  }
  std::vector<int> row_ptr{0};
  std::vector<int> cols;
  row_ptr.reserve(static_cast<std::size_t>(out.size()) + 1);
  cols.reserve(static_cast<std::size_t>(synapses));
  const Index top = pad_top(), left = pad_left();
  for (Index i = 0; i < out.height; ++i) {
    const auto [ylo, yhi] = inside(i, stride, top, kernel, input.height);
    for (Index j = 0; j < out.width; ++j) {
      const auto [xlo, xhi] = inside(j, stride, left, kernel, input.width);
      for (Index n = 0; n < channels; ++n) {
        for (Index dy = ylo; dy < yhi; ++dy) {
          const Index y = i * stride - top + dy;
          for (Index dx = xlo; dx < xhi; ++dx) {
            const Index x = j * stride - left + dx;
            for (Index c = 0; c < input.channels; ++c) cols.push_back(static_cast<int>((y * input.width + x) * input.channels + c));
          }
        }
        row_ptr.push_back(static_cast<int>(cols.size()));
      }
    }
  }
  std::vector<double> values(cols.size(), constant);
  return Structure::from_csr(out.size(), input.size(), std::move(row_ptr), std::move(cols), std::move(values));
}

Structure Conv2d::cl() const { return Structure::lateral2d(output(), lateral_radius); }

std::vector<Index> Conv2d::w_bank_shape() const { return {channels, kernel, kernel, input.channels}; }

WeightSharing Conv2d::w_sharing(const Structure& cw) const {
  const Grid out = output();
  if (cw.rows() != out.size() || cw.cols() != input.size()) {
    throw ShapeError(fmt::format("conv2d: C^W is {}x{}, the geometry gives {}x{}", cw.rows(), cw.cols(), out.size(),
                                 input.size()));
  }
  WeightSharing s;
  s.groups = channels * kernel * kernel * input.channels;
  s.bank_group.resize(static_cast<std::size_t>(s.groups));
  for (Index e = 0; e < s.groups; ++e) s.bank_group[static_cast<std::size_t>(e)] = static_cast<int>(e);
  s.group.resize(static_cast<std::size_t>(cw.nnz()));
  const Index top = pad_top(), left = pad_left();
  for (Index row = 0; row < cw.rows(); ++row) {
    const Index site = row / channels, n = row % channels;
    const Index i = site / out.width, j = site % out.width;
    for (int k = cw.row_ptr()[static_cast<std::size_t>(row)]; k < cw.row_ptr()[static_cast<std::size_t>(row) + 1]; ++k) {
      const Index col = cw.col_index()[static_cast<std::size_t>(k)];
      const Index pixel = col / input.channels, c = col % input.channels;
      const Index dy = pixel / input.width - (i * stride - top), dx = pixel % input.width - (j * stride - left);
      if (dy < 0 || dy >= kernel || dx < 0 || dx >= kernel) {
        throw ShapeError(fmt::format("conv2d: synapse ({}, {}) of C^W lies outside its site's kernel", row, col));
      }
      s.group[static_cast<std::size_t>(k)] = static_cast<int>(((n * kernel + dy) * kernel + dx) * input.channels + c);
    }
  }
  return s;
}

std::vector<std::array<Index, 2>> Conv2d::lateral_offsets() const {
  const Grid out = output();
  const double r = std::min(lateral_radius, std::hypot(static_cast<double>(out.height), static_cast<double>(out.width)));
  const auto reach = static_cast<Index>(std::floor(r));
  const double r2 = r * r;
  std::vector<std::array<Index, 2>> offsets;
  for (Index di = -std::min(reach, out.height - 1); di <= std::min(reach, out.height - 1); ++di) {
    for (Index dj = -std::min(reach, out.width - 1); dj <= std::min(reach, out.width - 1); ++dj) {
      const auto a = static_cast<double>(di), b = static_cast<double>(dj);
      if (a * a + b * b <= r2) offsets.push_back({di, dj});
    }
  }
  return offsets;
}

std::vector<Index> Conv2d::l_bank_shape() const {
  return {static_cast<Index>(lateral_offsets().size()), channels, channels};
}

WeightSharing Conv2d::l_sharing(const Structure& cl) const {
  const Grid out = output();
  if (cl.rows() != out.size() || cl.cols() != out.size()) {
    throw ShapeError(fmt::format("conv2d: C^L is {}x{}, the geometry gives {}x{}", cl.rows(), cl.cols(), out.size(),
                                 out.size()));
  }
  const std::vector<std::array<Index, 2>> offsets = lateral_offsets();
  const auto d_count = static_cast<Index>(offsets.size());
  std::map<std::array<Index, 2>, Index> index_of;
  for (Index d = 0; d < d_count; ++d) index_of[offsets[static_cast<std::size_t>(d)]] = d;
  const Index k = channels;
  // Entry (d, a, b) and its mirror (D - 1 - d, b, a) are one parameter: the smaller index names it.
  const auto entry = [&](Index d, Index a, Index b) { return (d * k + a) * k + b; };
  const auto canonical = [&](Index d, Index a, Index b) { return std::min(entry(d, a, b), entry(d_count - 1 - d, b, a)); };
  WeightSharing s;
  s.groups = d_count * k * k;
  s.bank_group.resize(static_cast<std::size_t>(s.groups));
  for (Index d = 0; d < d_count; ++d)
    for (Index a = 0; a < k; ++a)
      for (Index b = 0; b < k; ++b) s.bank_group[static_cast<std::size_t>(entry(d, a, b))] = static_cast<int>(canonical(d, a, b));
  s.group.resize(static_cast<std::size_t>(cl.nnz()));
  for (Index row = 0; row < cl.rows(); ++row) {
    const Index site = row / k, a = row % k;
    for (int q = cl.row_ptr()[static_cast<std::size_t>(row)]; q < cl.row_ptr()[static_cast<std::size_t>(row) + 1]; ++q) {
      const Index col = cl.col_index()[static_cast<std::size_t>(q)];
      const Index other = col / k, b = col % k;
      const std::array<Index, 2> offset{other / out.width - site / out.width, other % out.width - site % out.width};
      const auto it = index_of.find(offset);
      if (it == index_of.end()) {
        throw ShapeError(fmt::format("conv2d: synapse ({}, {}) of C^L joins sites farther apart than lateral_radius {}",
                                     row, col, lateral_radius));
      }
      s.group[static_cast<std::size_t>(q)] = static_cast<int>(canonical(it->second, a, b));
    }
  }
  return s;
}

}  // namespace simmatch
