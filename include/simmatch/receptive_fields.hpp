// Receptive fields by reverse correlation: each neuron's activity-weighted mean input over a data
// set, masked to the input region that can drive the neuron through the feedforward structures
// (layer 1: its row of C^W; deeper layers: the union of their inputs' regions).
#pragma once

#include <vector>

#include "simmatch/network.hpp"
#include "simmatch/structure.hpp"
#include "simmatch/types.hpp"

namespace simmatch {

/// Binary supports (N_p x K, constants 1) of every layer on the input: support[0] is the pattern
/// of feedforward[0]; support[p] row i is the union of support[p-1] rows j over the synapses (i, j)
/// of feedforward[p]. Throws ShapeError when consecutive structures do not chain.
std::vector<Structure> input_supports(const std::vector<Structure>& feedforward);

/// input_supports of the network's C^W structures.
template <typename T>
std::vector<Structure> input_supports(const Network<T>& network);

/// Reverse correlation of T samples: fields(i, k) = (1/T) sum_t (r(i, t) - c_i) x(k, t) where
/// support (N x K) has a synapse (i, k), 0 elsewhere; c_i = 0, or the mean activity of neuron i
/// when `center` (the covariance of activity and input: the mean input itself drops out).
/// x is K x T, r is N x T. ShapeError on any mismatch.
/// r may be any real Eigen matrix or expression (converted to double).
Eigen::MatrixXd reverse_correlation_of(const Eigen::MatrixXf& x, Eigen::MatrixXd r, const Structure& support, bool center);
template <typename Derived>
Eigen::MatrixXd reverse_correlation(const Eigen::MatrixXf& x, const Eigen::MatrixBase<Derived>& r, const Structure& support,
                                    bool center = false) {
  return reverse_correlation_of(x, r.template cast<double>().eval(), support, center);
}

/// Fields cropped for display: each neuron's field cut to the bounding box of its support on the
/// single-channel input grid and centred in tiles the size of the largest box (the rest 0).
struct FieldTiles {
  Eigen::MatrixXd tiles;  // N x (height * width), row-major tiles
  Index height = 0;
  Index width = 0;
};
/// Throws ShapeError when fields or support are not N x input.size() or input.channels != 1.
FieldTiles crop_to_support(const Eigen::MatrixXd& fields, const Structure& support, const Grid& input);

/// `count` neuron indices evenly spaced over 0..n-1 (all of them when count <= 0 or >= n).
std::vector<Index> spread_indices(Index n, Index count);

}  // namespace simmatch
