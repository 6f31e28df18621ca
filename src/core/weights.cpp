// Checked weights from outside the trainer, in-place copies and snapshots of a network's weights.
#include "simmatch/weights.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {
namespace {

void check_finite(const std::vector<double>& values, const std::string& what) {
  for (std::size_t k = 0; k < values.size(); ++k) {
    if (!std::isfinite(values[k])) throw ConfigError(fmt::format("{}: synapse {} holds {}", what, k, values[k]));
  }
}

// Every weight array of a network in a fixed order (W then L of layer 0, then of layer 1, ...),
// with its sharing and group figures (empty sharing: untied). A tied
// array holds one value per group in every member (weight_sharing.hpp), so its groups' first
// members stand for all of it: checking and saving a 64-filter conv2d layer's 4.4 million copies
// of its 3,680 parameters around every online update took ~16 % of its training (perf).
template <typename Net, typename F>
void for_each_weights(Net& network, F&& f) {
  for (Index p = 0; p < network.num_layers(); ++p) {
    auto& layer = network.layer(p);
    f(layer.W(), layer.w_sharing(), layer.w_group_stats());
    f(layer.L(), layer.l_sharing(), layer.l_group_stats());
  }
}

// The value of each group's first member (0 for an empty group).
template <typename T>
void append_representatives(const T* values, const GroupStats& stats, std::vector<T>& out) {
  for (const Index first : stats.first) out.push_back(first < 0 ? T(0) : values[first]);
}

}  // namespace

std::vector<double> weights_on_structure(const Structure& s, const double* values, Index count,
                                         const std::string& what) {
  if (count != s.nnz()) {
    throw ShapeError(fmt::format("{}: {} values for {} synapses (1-D arrays follow the structure's order, like W_data)",
                                 what, count, s.nnz()));
  }
  std::vector<double> out(values, values + count);
  check_finite(out, what);
  return out;
}

std::vector<double> weights_from_dense(const Structure& s, const double* dense, Index rows, Index cols,
                                       const std::string& what) {
  if (rows != s.rows() || cols != s.cols()) {
    throw ShapeError(fmt::format("{}: shape ({}, {}), expected ({}, {})", what, rows, cols, s.rows(), s.cols()));
  }
  std::vector<double> out(static_cast<std::size_t>(s.nnz()));
  for (Index r = 0; r < rows; ++r) {
    Index k = s.row_ptr()[static_cast<std::size_t>(r)];
    const Index end = s.row_ptr()[static_cast<std::size_t>(r) + 1];
    for (Index c = 0; c < cols; ++c) {
      const double v = dense[r * cols + c];
      if (k < end && s.col_index()[static_cast<std::size_t>(k)] == c) {
        out[static_cast<std::size_t>(k++)] = v;
      } else if (v != 0.0) {
        throw ShapeError(fmt::format("{}: entry ({}, {}) is {} but there is no synapse there (the structure allows "
                                     "only its own entries)",
                                     what, r, c, v));
      }
    }
  }
  check_finite(out, what);
  return out;
}

void check_symmetric(const Structure& cl, const std::vector<double>& values, const std::string& what) {
  if (static_cast<Index>(values.size()) != cl.nnz()) {
    throw ShapeError(fmt::format("{}: {} values for {} synapses", what, values.size(), cl.nnz()));
  }
  for (Index r = 0; r < cl.rows(); ++r) {
    for (Index k = cl.row_ptr()[static_cast<std::size_t>(r)]; k < cl.row_ptr()[static_cast<std::size_t>(r) + 1]; ++k) {
      const Index c = cl.col_index()[static_cast<std::size_t>(k)];
      const Index mirror = cl.find(c, r);
      if (mirror < 0) throw ShapeError(fmt::format("{}: the structure has ({}, {}) but not ({}, {})", what, r, c, c, r));
      const double a = values[static_cast<std::size_t>(k)], b = values[static_cast<std::size_t>(mirror)];
      if (a != b) {
        throw ConfigError(fmt::format("{}: not symmetric: entry ({}, {}) is {} but ({}, {}) is {}", what, r, c, a, c, r, b));
      }
    }
  }
}

template <typename T>
void set_layer_weights(Network<T>& network, Index layer, const std::vector<double>* w, const std::vector<double>* l) {
  if (layer < 0 || layer >= network.num_layers()) {
    throw ShapeError(fmt::format("layer {} does not exist (the network has {} layers)", layer, network.num_layers()));
  }
  Layer<T>& target = network.layer(layer);
  if (w && static_cast<Index>(w->size()) != target.W().nonZeros()) {
    throw ShapeError(fmt::format("W: {} values for {} synapses", w->size(), target.W().nonZeros()));
  }
  if (l && static_cast<Index>(l->size()) != target.L().nonZeros()) {
    throw ShapeError(fmt::format("L: {} values for {} synapses", l->size(), target.L().nonZeros()));
  }
  // A convolutional layer's shared synapses must arrive tied, checked in the layer's precision.
  const auto tied = [](const std::vector<double>& values, const WeightSharing& sharing, const char* what) {
    if (sharing.empty()) return;
    std::vector<T> converted(values.size());
    std::transform(values.begin(), values.end(), converted.begin(), [](double v) { return static_cast<T>(v); });
    sharing.check_tied(converted.data(), what);
  };
  if (w) tied(*w, target.w_sharing(), "W");
  if (l) tied(*l, target.l_sharing(), "L");
  if (w) std::transform(w->begin(), w->end(), target.W().valuePtr(), [](double v) { return static_cast<T>(v); });
  if (l) std::transform(l->begin(), l->end(), target.L().valuePtr(), [](double v) { return static_cast<T>(v); });
}

template <typename T>
bool all_weights_finite(const Network<T>& network) {
  bool finite = true;
  for_each_weights(network, [&](const SparseWeights<T>& m, const WeightSharing& sharing, const GroupStats& stats) {
    if (!finite) return;
    if (sharing.empty()) {
      finite = Eigen::Map<const Vector<T>>(m.valuePtr(), m.nonZeros()).allFinite();
      return;
    }
    for (const Index first : stats.first) {
      if (first >= 0 && !std::isfinite(m.valuePtr()[first])) finite = false;
    }
  });
  return finite && network.label_weights().allFinite();
}

template <typename T>
void copy_weights(const Network<T>& from, Network<T>& to) {
  if (from.num_layers() != to.num_layers()) {
    throw ShapeError(fmt::format("copying weights: {} layers into {}", from.num_layers(), to.num_layers()));
  }
  for (Index p = 0; p < from.num_layers(); ++p) {
    if (from.layer(p).cw() != to.layer(p).cw() || from.layer(p).cl() != to.layer(p).cl()) {
      throw ShapeError(fmt::format("copying weights: layer {} has another structure", p));
    }
  }
  for (Index p = 0; p < from.num_layers(); ++p) {
    const Layer<T>& a = from.layer(p);
    Layer<T>& b = to.layer(p);
    std::copy_n(a.W().valuePtr(), a.W().nonZeros(), b.W().valuePtr());
    std::copy_n(a.L().valuePtr(), a.L().nonZeros(), b.L().valuePtr());
  }
  // Same shape: copied in place, so views of `to`'s label synapses stay valid too.
  if (to.label_weights().rows() == from.label_weights().rows() && to.classes() == from.classes()) {
    to.label_weights() = from.label_weights();
  } else {
    to.set_label_weights(from.label_weights());
  }
}

template <typename T>
void save_weights(const Network<T>& network, std::vector<T>& values) {
  values.clear();
  for_each_weights(network, [&](const SparseWeights<T>& m, const WeightSharing& sharing, const GroupStats& stats) {
    if (sharing.empty()) {
      values.insert(values.end(), m.valuePtr(), m.valuePtr() + m.nonZeros());
    } else {
      append_representatives(m.valuePtr(), stats, values);
    }
  });
  const Matrix<T>& v = network.label_weights();
  values.insert(values.end(), v.data(), v.data() + v.size());
}

template <typename T>
void restore_weights(const std::vector<T>& values, Network<T>& network) {
  std::size_t at = 0;
  for_each_weights(network, [&](SparseWeights<T>& m, const WeightSharing& sharing, const GroupStats& stats) {
    const auto n = static_cast<std::size_t>(sharing.empty() ? m.nonZeros() : stats.first.size());
    if (at + n > values.size()) throw InternalError("weight snapshot restored into another network");
    const T* saved = values.data() + at;
    if (sharing.empty()) {
      std::copy_n(saved, n, m.valuePtr());
    } else {
      sharing.write_groups(saved, m.valuePtr());
    }
    at += n;
  });
  Matrix<T>& v = network.label_weights();
  const auto n = static_cast<std::size_t>(v.size());
  if (at + n != values.size()) throw InternalError("weight snapshot restored into another network");
  std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(at), n, v.data());
}

template void set_layer_weights<float>(Network<float>&, Index, const std::vector<double>*, const std::vector<double>*);
template void set_layer_weights<double>(Network<double>&, Index, const std::vector<double>*,
                                        const std::vector<double>*);
template bool all_weights_finite<float>(const Network<float>&);
template bool all_weights_finite<double>(const Network<double>&);
template void copy_weights<float>(const Network<float>&, Network<float>&);
template void copy_weights<double>(const Network<double>&, Network<double>&);
template void save_weights<float>(const Network<float>&, std::vector<float>&);
template void save_weights<double>(const Network<double>&, std::vector<double>&);
template void restore_weights<float>(const std::vector<float>&, Network<float>&);
template void restore_weights<double>(const std::vector<double>&, Network<double>&);

}  // namespace simmatch
