// Small random networks and data for the tests: seeded, in double or float precision.
#pragma once

#include <cmath>
#include <random>
#include <vector>

#include "simmatch/dataset.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/learning.hpp"
#include "simmatch/network.hpp"
#include "simmatch/conv2d.hpp"

namespace simmatch::test_support {

/// Random constants in [0.5, 2] with about `zero_fraction` of them zero (never a whole row).
inline Structure random_constants(Index rows, Index cols, std::mt19937_64& rng, double zero_fraction, bool symmetric) {
  std::uniform_real_distribution<double> value(0.5, 2.0);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  Eigen::MatrixXd c(rows, cols);
  for (Index i = 0; i < rows; ++i) {
    for (Index j = 0; j < cols; ++j) c(i, j) = coin(rng) < zero_fraction ? 0.0 : value(rng);
  }
  if (symmetric) {
    c = (0.5 * (c + c.transpose())).eval();
    for (Index i = 0; i < rows; ++i) c(i, i) = value(rng);  // every neuron keeps its self-synapse
  }
  for (Index i = 0; i < rows; ++i) {
    if (c.row(i).maxCoeff() == 0.0) c(i, 0) = 1.0;
  }
  return Structure::from_dense(c);
}

/// A P-layer network with sizes `sizes` (sizes[0] = input), non-binary sparse constants,
/// reference initialisation plus a random symmetric perturbation of L that keeps it positive
/// definite, so every activation has a unique, stable fixed point.
template <typename T>
Network<T> random_network(const std::vector<Index>& sizes, double gamma, Activation activation, std::uint64_t seed,
                          double zero_fraction = 0.3, double w_scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::vector<Layer<T>> layers;
  for (std::size_t p = 1; p < sizes.size(); ++p) {
    Structure cw = random_constants(sizes[p], sizes[p - 1], rng, zero_fraction, false);
    Structure cl = random_constants(sizes[p], sizes[p], rng, zero_fraction, true);
    layers.emplace_back(std::move(cw), std::move(cl), activation, Grid{1, sizes[p], 1});
  }
  Network<T> net(sizes[0], std::move(layers), gamma);
  net.initialise(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (Index p = 0; p < net.num_layers(); ++p) {
    net.layer(p).W() *= static_cast<T>(w_scale);
    auto& l = net.layer(p).L();
    // Symmetric off-diagonal perturbation of size 0.1, diagonal raised to 1.5: diagonally dominant.
    for (Index i = 0; i < l.outerSize(); ++i) {
      for (typename SparseWeights<T>::InnerIterator it(l, i); it; ++it) {
        if (it.col() > i) {
          const T v = static_cast<T>(0.1 * normal(rng) / std::sqrt(static_cast<double>(l.rows())));
          it.valueRef() = v;
          l.coeffRef(it.col(), i) = v;
        } else if (it.col() == i) {
          it.valueRef() = T(1.5);
        }
      }
    }
  }
  return net;
}

/// K x B inputs with entries N(0, 1).
template <typename T>
Matrix<T> random_inputs(Index k, Index b, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix<T> x(k, b);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(normal(rng));
  return x;
}

/// A data set of T samples of dimension K with entries N(0, 1), flat shape, no labels.
inline Dataset random_dataset(Index k, Index t, std::uint64_t seed) {
  Dataset d;
  d.x = random_inputs<float>(k, t, seed);
  d.shape = Grid{1, k, 1};
  return d;
}

/// n labelled samples of dimension k around `classes` random centres (N(0, 1) entries), sample t of
/// class t mod classes, plus N(0, noise^2) per entry: separable classes for the supervised tests.
inline Dataset clustered_dataset(Index k, Index n, Index classes, double noise, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> jitter(0.0, noise);
  const Matrix<double> centres = random_inputs<double>(k, classes, seed + 1);
  Dataset data;
  data.x.resize(k, n);
  data.shape = Grid{1, k, 1};
  for (Index t = 0; t < n; ++t) {
    const int y = static_cast<int>(t % classes);
    data.labels.push_back(y);
    for (Index i = 0; i < k; ++i) data.x(i, t) = static_cast<float>(centres(i, y) + jitter(rng));
  }
  return data;
}

/// Sample b of every layer's activities (one column of each N_p x B matrix).
inline std::vector<Vector<double>> column(const std::vector<Matrix<double>>& r, Index b) {
  std::vector<Vector<double>> out;
  for (const auto& m : r) out.push_back(m.col(b));
  return out;
}

/// Euler run to a tight tolerance: the reference fixed point for comparisons.
inline SolverOptions tight_euler(double tolerance = 1e-10) {
  SolverOptions o;
  o.tolerance = tolerance;
  o.max_steps = 200000;
  return o;
}

/// Every weight of a network, layer by layer (W then L), for comparisons.
template <typename T>
std::vector<T> all_weights(const Network<T>& net) {
  std::vector<T> out;
  for (const auto& layer : net.layers()) {
    out.insert(out.end(), layer.W().valuePtr(), layer.W().valuePtr() + layer.W().nonZeros());
    out.insert(out.end(), layer.L().valuePtr(), layer.L().valuePtr() + layer.L().nonZeros());
  }
  return out;
}

/// A lateral bank of `conv` (shape l_bank_shape()) holding a symmetric L: `diagonal` on each
/// neuron's self-synapse, N(0, scale^2) elsewhere with entry (d, a, b) = entry (D - 1 - d, b, a).
inline std::vector<double> symmetric_lateral_bank(const Conv2d& conv, std::uint64_t seed, double scale = 1.0,
                                                  double diagonal = 1.0) {
  const auto shape = conv.l_bank_shape();
  const Index d_count = shape[0], k = shape[1];
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<double> bank(static_cast<std::size_t>(d_count * k * k));
  for (Index d = 0; d < d_count; ++d)
    for (Index a = 0; a < k; ++a)
      for (Index b = 0; b < k; ++b) {
        const Index e = (d * k + a) * k + b, mirror = ((d_count - 1 - d) * k + b) * k + a;
        double& v = bank[static_cast<std::size_t>(e)];
        v = mirror < e ? bank[static_cast<std::size_t>(mirror)] : (e == mirror ? diagonal : normal(rng));
      }
  return bank;
}

/// A network of conv2d layers over `input` (seeded reference initialisation), each layer's W
/// scaled by `w_scale` and its L set from symmetric_lateral_bank(conv, seed + p, l_scale).
template <typename T>
Network<T> conv_network(const Grid& input, const std::vector<Conv2d>& convs, double gamma, Activation activation,
                        std::uint64_t seed, double w_scale = 1.0, double l_scale = 0.05) {
  std::vector<Layer<T>> layers;
  Grid below = input;
  for (Conv2d conv : convs) {
    conv.input = below;
    layers.emplace_back(conv.cw(), conv.cl(), activation, conv.output(), conv);
    below = conv.output();
  }
  Network<T> net(input.size(), std::move(layers), gamma);
  net.initialise(seed);
  for (Index p = 0; p < net.num_layers(); ++p) {
    Layer<T>& layer = net.layer(p);
    layer.W() *= static_cast<T>(w_scale);
    layer.l_sharing().weights_from_bank(symmetric_lateral_bank(*layer.conv(), seed + static_cast<std::uint64_t>(p), l_scale),
                                        layer.L().valuePtr(), "test lateral bank");
  }
  return net;
}

/// The starting point of a solver's internal stage: u = r = 0, no steps taken.
template <typename T>
FixedPoints<T> at_rest(const Network<T>& net, Index batch) {
  FixedPoints<T> s;
  for (Index p = 0; p < net.num_layers(); ++p) {
    s.u.push_back(Matrix<T>::Zero(net.layer(p).size(), batch));
    s.r.push_back(Matrix<T>::Zero(net.layer(p).size(), batch));
  }
  s.iterations.assign(static_cast<std::size_t>(batch), 0);
  s.converged.assign(static_cast<std::size_t>(batch), 0);
  s.path.assign(static_cast<std::size_t>(batch), SolverPath::direct);
  return s;
}

}  // namespace simmatch::test_support
