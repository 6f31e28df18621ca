// Layers and networks of the structured deep similarity-matching model (eqs. 11-17): the only
// owner of the weights W^(p) (feedforward) and L^(p) (lateral), each stored on its Structure.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "simmatch/activation.hpp"
#include "simmatch/conv2d.hpp"
#include "simmatch/structure.hpp"
#include "simmatch/types.hpp"
#include "simmatch/weight_sharing.hpp"

namespace simmatch {

/// How a layer's synapses divide among its sites of k = grid().channels neurons, read from C^W and
/// C^L once, when the layer is built: the synapses never change, only the weights' values do. The
/// fast solver chooses its per-site paths by it before every solve (docs/performance.md,
/// "Structure checks once per layer").
struct SiteLayout {
  /// Every C^L synapse joins two neurons of one site (a lateral neighbourhood of 0).
  bool lateral_block_diagonal = false;
  /// Block diagonal, and every site holds all k x k of its lateral synapses.
  bool lateral_full_blocks = false;
  /// Per site: whether its k rows of C^W read the same inputs in the same order (one patch, as a
  /// conv2d site's filters do); empty when k does not divide N_p.
  std::vector<unsigned char> patch_rows;
};

/// One layer p: N_p neurons arranged on `grid` (flat layers use Grid{1, N_p, 1}), feedforward
/// weights W (N_p x N_{p-1}) on C^W and lateral weights L (N_p x N_p, symmetric) on C^L.
/// W.valuePtr()[k] is the weight of synapse k of cw(), likewise for L and cl().
template <typename T>
class Layer {
public:
  /// Throws ShapeError when C^L is not square N_p x N_p, C^W has not N_p rows, or the grid size
  /// differs from N_p; ConfigError when C^L is not symmetric. With `conv`, the layer is
  /// convolutional: its grid must be conv.output() and every synapse of C^W / C^L must be one of
  /// the geometry's (ShapeError otherwise); the synapses that conv.w_sharing / l_sharing group
  /// hold one value (the weights start at zero, so they do).
  Layer(Structure cw, Structure cl, Activation activation, Grid grid, std::optional<Conv2d> conv = std::nullopt);

  Index size() const { return cw_.rows(); }
  Index input_size() const { return cw_.cols(); }
  const Grid& grid() const { return grid_; }
  const Activation& activation() const { return activation_; }
  const Structure& cw() const { return cw_; }
  const Structure& cl() const { return cl_; }
  /// The convolution's geometry, or null for an unshared (dense, local2d, file) layer.
  const Conv2d* conv() const { return conv_ ? &*conv_ : nullptr; }
  /// Which synapses of W / L are one parameter (empty for an unshared layer).
  const WeightSharing& w_sharing() const { return w_sharing_; }
  const WeightSharing& l_sharing() const { return l_sharing_; }
  /// Their per-group figures for C^W / C^L (empty for an unshared layer).
  const GroupStats& w_group_stats() const { return w_stats_; }
  const GroupStats& l_group_stats() const { return l_stats_; }
  const SiteLayout& site_layout() const { return site_layout_; }

  SparseWeights<T>& W() { return w_; }
  const SparseWeights<T>& W() const { return w_; }
  SparseWeights<T>& L() { return l_; }
  const SparseWeights<T>& L() const { return l_; }

  /// C^W and C^L values in the weights' storage type (same order as the non-zeros).
  const Vector<T>& cw_values() const { return cw_values_; }
  const Vector<T>& cl_values() const { return cl_values_; }

private:
  Structure cw_;
  Structure cl_;
  Activation activation_;
  Grid grid_;
  std::optional<Conv2d> conv_;
  WeightSharing w_sharing_;
  WeightSharing l_sharing_;
  GroupStats w_stats_;
  GroupStats l_stats_;
  SiteLayout site_layout_;
  SparseWeights<T> w_;
  SparseWeights<T> l_;
  Vector<T> cw_values_;
  Vector<T> cl_values_;
};

/// P >= 1 layers and the feedback strength gamma >= 0. Layers are indexed p = 0..P-1 here
/// (layer p here is layer p+1 of docs/theory.md); the input is clamped and is not a layer.
/// gamma^{p-P} in docs/theory.md's numbering for layer p (0-based) of `num_layers`, i.e.
/// gamma^(p - (num_layers-1)); 1 for gamma = 0, where the layers decouple (check 7).
double feedback_layer_weight(double gamma, Index p, Index num_layers);

template <typename T>
class Network {
public:
  /// Throws ShapeError when consecutive sizes do not chain (layer 0's input must be
  /// `input_size`), ConfigError when there are no layers or gamma < 0 / not finite.
  Network(Index input_size, std::vector<Layer<T>> layers, double gamma);

  Index input_size() const { return input_size_; }
  Index num_layers() const { return static_cast<Index>(layers_.size()); }
  double gamma() const { return gamma_; }
  Layer<T>& layer(Index p) { return layers_.at(static_cast<std::size_t>(p)); }
  const Layer<T>& layer(Index p) const { return layers_.at(static_cast<std::size_t>(p)); }
  const std::vector<Layer<T>>& layers() const { return layers_; }

  /// Rows after the first input_size() of a solver's input that drive the top layer one to one:
  /// 0 for every network but the nudged phase of contrastive learning (contrastive.hpp,
  /// nudged_network), whose inputs are [x; beta z] and whose top layer's total input gains
  /// beta z (docs/theory.md, "Contrastive similarity matching").
  Index top_drive_rows() const { return top_drive_rows_; }
  /// The number of rows a solver's input must have: input_size() + top_drive_rows().
  Index solver_input_rows() const { return input_size_ + top_drive_rows_; }
  /// Sets top_drive_rows(): 0, or the top layer's size (ShapeError otherwise).
  void set_top_drive_rows(Index rows);

  /// The label synapses V (N_P x classes) of the supervised mode (docs/theory.md, "Supervised
  /// similarity matching: labels as an input"): the top layer's dense feedforward weights from a
  /// clamped label input s e_y, present while training and absent (zero) at test time, where
  /// V^T r^(P) scores the classes. Empty (N_P x 0) for every other network.
  const Matrix<T>& label_weights() const { return label_weights_; }
  Matrix<T>& label_weights() { return label_weights_; }
  /// The number of label inputs: label_weights().cols(), 0 for a network without them.
  Index classes() const { return label_weights_.cols(); }
  /// Gives the network `v` as its label synapses (N_P x classes, classes >= 1, finite), or removes
  /// them (an empty matrix). ShapeError for another row count, ConfigError for a value that is
  /// not finite.
  void set_label_weights(Matrix<T> v);

  /// k_p = 1 + gamma for every layer but the last, 1 for the last.
  double k(Index p) const;
  /// feedback_layer_weight(gamma, p, num_layers()): gamma^{p-P}, 1 for gamma = 0.
  double layer_weight(Index p) const;

  /// Reference initialisation, seeded: W ~ N(0, 1/fan_in) on its structure (fan_in = synapses
  /// of the receiving neuron), L = identity on its structure (off-diagonal synapses 0). A
  /// convolutional layer draws one value per filter-bank entry (fan_in = the filter's size,
  /// kernel^2 x input channels) and shares it. Label synapses, if any, are set to zero.
  void initialise(std::uint64_t seed);

  /// Total synapses (W and L) over all layers.
  Index num_synapses() const;

  /// Network of the same shape with weights converted to U (for float32 <-> float64).
  template <typename U>
  Network<U> cast() const;

private:
  Index input_size_ = 0;
  Index top_drive_rows_ = 0;
  std::vector<Layer<T>> layers_;
  double gamma_ = 0.0;
  Matrix<T> label_weights_;
};

extern template class Layer<float>;
extern template class Layer<double>;
extern template class Network<float>;
extern template class Network<double>;

}  // namespace simmatch
