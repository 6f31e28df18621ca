// Weights given from outside the trainer (Python arrays, a checkpoint being resumed) checked
// against a layer's structure before anything changes, and snapshots that undo a failed update.
#pragma once

#include <string>
#include <vector>

#include "simmatch/network.hpp"
#include "simmatch/structure.hpp"

namespace simmatch {

/// The synapse values of `s` from `count` values in the structure's order (like the weights'
/// valuePtr()). ShapeError naming `what` when count != s.nnz(); ConfigError for NaN/Inf.
std::vector<double> weights_on_structure(const Structure& s, const double* values, Index count,
                                         const std::string& what);

/// The synapse values of `s` from a dense rows x cols matrix (row-major) that must be zero off the
/// structure. ShapeError naming `what` for a wrong shape or a non-zero entry where no synapse
/// exists; ConfigError for NaN/Inf.
std::vector<double> weights_from_dense(const Structure& s, const double* dense, Index rows, Index cols,
                                       const std::string& what);

/// ConfigError naming `what` and the first asymmetric pair unless values[(r, c)] == values[(c, r)]
/// on every synapse of the symmetric structure `cl`: the dynamics of eq. 15 have a Lyapunov
/// function only for a symmetric L (docs/theory.md).
void check_symmetric(const Structure& cl, const std::vector<double>& values, const std::string& what);

/// Replaces layer `layer`'s W and/or L (null = keep) with checked values (as returned above,
/// one per synapse). ShapeError for a missing layer or a wrong count, ConfigError when a
/// convolutional layer's shared synapses differ (WeightSharing::check_tied); nothing changes then.
template <typename T>
void set_layer_weights(Network<T>& network, Index layer, const std::vector<double>* w, const std::vector<double>* l);

/// True when every weight of every layer, and every label synapse, is finite (a tied matrix is
/// read at one member per parameter: its members hold one value).
template <typename T>
bool all_weights_finite(const Network<T>& network);

/// Copies the weights of `from` into `to` in place (the storage of `to` stays where it is, so
/// views of it remain valid), label synapses included. ShapeError unless both have the same
/// structures.
template <typename T>
void copy_weights(const Network<T>& from, Network<T>& to);

/// Every weight of `network` (W then L of each layer, then the label synapses) into `values`, whose storage is reused from
/// one call to the next: a snapshot that restore_weights puts back, e.g. after an update turned
/// the weights NaN. A tied (conv2d) matrix is saved as one value per tied parameter.
template <typename T>
void save_weights(const Network<T>& network, std::vector<T>& values);
/// Puts a snapshot of save_weights back into the same network (same structures).
template <typename T>
void restore_weights(const std::vector<T>& values, Network<T>& network);

extern template void set_layer_weights<float>(Network<float>&, Index, const std::vector<double>*,
                                              const std::vector<double>*);
extern template void set_layer_weights<double>(Network<double>&, Index, const std::vector<double>*,
                                               const std::vector<double>*);
extern template bool all_weights_finite<float>(const Network<float>&);
extern template bool all_weights_finite<double>(const Network<double>&);
extern template void copy_weights<float>(const Network<float>&, Network<float>&);
extern template void copy_weights<double>(const Network<double>&, Network<double>&);
extern template void save_weights<float>(const Network<float>&, std::vector<float>&);
extern template void save_weights<double>(const Network<double>&, std::vector<double>&);
extern template void restore_weights<float>(const std::vector<float>&, Network<float>&);
extern template void restore_weights<double>(const std::vector<double>&, Network<double>&);

}  // namespace simmatch
