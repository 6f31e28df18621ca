// The structured deep cost (eq. 11) through A and B, and the dual objective l_t (eq. 14).
#include "simmatch/objective.hpp"

#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {

template <typename T>
std::vector<double> structured_cost_per_layer(const Network<T>& network, const Correlations& sums) {
  const Index layers = network.num_layers();
  if (static_cast<Index>(sums.hebbian.size()) != layers || static_cast<Index>(sums.lateral.size()) != layers) {
    throw ShapeError("cost: correlations were not accumulated for this network");
  }
  if (!(sums.samples > 0)) throw ShapeError("cost: no samples were accumulated");
  const double inv_t = 1.0 / sums.samples;
  std::vector<double> terms;
  for (Index p = 0; p < layers; ++p) {
    const auto sp = static_cast<std::size_t>(p);
    const auto& layer = network.layer(p);
    if (sp < sums.tied.size() && sums.tied[sp]) {
      throw ShapeError(fmt::format("cost: layer {} correlations were summed per tied parameter; the cost needs them per "
                                   "synapse (Correlations::zeros_like without per_tied_group)", p + 1));
    }
    if (sums.hebbian[sp].size() != layer.cw().nnz() || sums.lateral[sp].size() != layer.cl().nnz()) {
      throw ShapeError(fmt::format("cost: layer {} correlations do not match its structure", p + 1));
    }
    double feedforward = 0;
    const auto& cw = layer.cw().values();
    for (Index s = 0; s < layer.cw().nnz(); ++s) {
      const double a = sums.hebbian[sp][s] * inv_t;
      feedforward += cw[static_cast<std::size_t>(s)] * a * a;
    }
    double lateral = 0;
    const auto& cl = layer.cl().values();
    for (Index s = 0; s < layer.cl().nnz(); ++s) {
      const double b = sums.lateral[sp][s] * inv_t;
      lateral += cl[static_cast<std::size_t>(s)] * b * b;
    }
    const double term = -feedforward + 0.5 * network.k(p) * lateral + 2.0 * sums.regulariser[sp] * inv_t;
    terms.push_back(network.layer_weight(p) * term);
  }
  return terms;
}

template <typename T>
double structured_cost(const Network<T>& network, const Correlations& sums) {
  double total = 0;
  for (double term : structured_cost_per_layer(network, sums)) total += term;
  return total;
}

template <typename T>
double lyapunov_energy(const Network<T>& network, const Vector<T>& x, const std::vector<Vector<T>>& r) {
  if (static_cast<Index>(r.size()) != network.num_layers() || x.size() != network.input_size()) {
    throw ShapeError("energy: activities do not match the network");
  }
  double energy = 0;
  for (Index p = 0; p < network.num_layers(); ++p) {
    const auto sp = static_cast<std::size_t>(p);
    const auto& layer = network.layer(p);
    const Vector<T>& rp = r[sp];
    if (rp.size() != layer.size()) throw ShapeError(fmt::format("energy: layer {} activities have the wrong size", p + 1));
    const Vector<T>& below = p == 0 ? x : r[sp - 1];
    const Vector<double> rd = rp.template cast<double>();
    const Vector<double> wr = (layer.W() * below).template cast<double>();
    const Vector<double> lr = (layer.L() * rp).template cast<double>();
    double regulariser = 0;
    for (Index i = 0; i < rd.size(); ++i) regulariser += layer.activation().regulariser(rd[i]);
    energy += network.layer_weight(p) * (-2.0 * rd.dot(wr) + rd.dot(lr) + 2.0 * regulariser);
  }
  return energy;
}

template <typename T>
double dual_weight_term(const Network<T>& network) {
  double total = 0;
  for (Index p = 0; p < network.num_layers(); ++p) {
    const auto& layer = network.layer(p);
    double w_term = 0;
    for (Index s = 0; s < layer.cw().nnz(); ++s) {
      const double w = static_cast<double>(layer.W().valuePtr()[s]);
      w_term += w * w / layer.cw().values()[static_cast<std::size_t>(s)];
    }
    double l_term = 0;
    for (Index s = 0; s < layer.cl().nnz(); ++s) {
      const double l = static_cast<double>(layer.L().valuePtr()[s]);
      l_term += l * l / (2.0 * network.k(p) * layer.cl().values()[static_cast<std::size_t>(s)]);
    }
    total += network.layer_weight(p) * (w_term - l_term);
  }
  return total;
}

template <typename T>
double dual_objective(const Network<T>& network, const Vector<T>& x, const std::vector<Vector<T>>& r) {
  return dual_weight_term(network) + lyapunov_energy(network, x, r);
}

#define SIMMATCH_INSTANTIATE_OBJECTIVE(T)                                                                   \
  template std::vector<double> structured_cost_per_layer<T>(const Network<T>&, const Correlations&);     \
  template double structured_cost<T>(const Network<T>&, const Correlations&);                            \
  template double lyapunov_energy<T>(const Network<T>&, const Vector<T>&, const std::vector<Vector<T>>&); \
  template double dual_weight_term<T>(const Network<T>&);                                                \
  template double dual_objective<T>(const Network<T>&, const Vector<T>&, const std::vector<Vector<T>>&);
SIMMATCH_INSTANTIATE_OBJECTIVE(float)
SIMMATCH_INSTANTIATE_OBJECTIVE(double)
#undef SIMMATCH_INSTANTIATE_OBJECTIVE

}  // namespace simmatch
