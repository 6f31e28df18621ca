// Local Hebbian / anti-Hebbian learning (eq. 17) from correlations restricted to the synapses.
#include "simmatch/learning.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "core/batch_kernel.hpp"
#include "core/tied_correlations.hpp"
#include "simmatch/contrastive.hpp"
#include "simmatch/error.hpp"

namespace simmatch {

template <typename T>
Correlations Correlations::zeros_like(const Network<T>& network, bool per_tied_group) {
  Correlations c;
  for (const auto& layer : network.layers()) {
    const bool tied = per_tied_group && detail::tied_sums_apply(layer);
    c.hebbian.push_back(Vector<double>::Zero(tied ? layer.w_sharing().groups : layer.cw().nnz()));
    c.lateral.push_back(Vector<double>::Zero(tied ? layer.l_sharing().groups : layer.cl().nnz()));
    c.regulariser.push_back(0.0);
    c.tied.push_back(tied ? 1 : 0);
  }
  return c;
}

template <typename T>
bool Correlations::shaped_for(const Network<T>& network, bool per_tied_group) const {
  const auto layers = static_cast<std::size_t>(network.num_layers());
  if (hebbian.size() != layers || lateral.size() != layers || regulariser.size() != layers || tied.size() != layers) {
    return false;
  }
  for (std::size_t p = 0; p < layers; ++p) {
    const auto& layer = network.layer(static_cast<Index>(p));
    const bool t = per_tied_group && detail::tied_sums_apply(layer);
    if ((tied[p] != 0) != t || hebbian[p].size() != (t ? layer.w_sharing().groups : layer.cw().nnz()) ||
        lateral[p].size() != (t ? layer.l_sharing().groups : layer.cl().nnz())) {
      return false;
    }
  }
  return true;
}

void Correlations::set_zero() {
  for (auto& h : hebbian) h.setZero();
  for (auto& l : lateral) l.setZero();
  std::fill(regulariser.begin(), regulariser.end(), 0.0);
  samples = 0;
}

void Correlations::add(const Correlations& other) {
  if (other.hebbian.size() != hebbian.size() || other.lateral.size() != lateral.size() || other.tied != tied) {
    throw ShapeError("correlations: cannot add sums of networks with different numbers of layers");
  }
  for (std::size_t p = 0; p < hebbian.size(); ++p) {
    if (other.hebbian[p].size() != hebbian[p].size() || other.lateral[p].size() != lateral[p].size()) {
      throw ShapeError(fmt::format("correlations: layer {} sums have different sizes", p + 1));
    }
    hebbian[p] += other.hebbian[p];
    lateral[p] += other.lateral[p];
    regulariser[p] += other.regulariser[p];
  }
  samples += other.samples;
}

std::vector<double> Correlations::pack() const {
  std::vector<double> flat;
  for (std::size_t p = 0; p < hebbian.size(); ++p) {
    flat.insert(flat.end(), hebbian[p].data(), hebbian[p].data() + hebbian[p].size());
    flat.insert(flat.end(), lateral[p].data(), lateral[p].data() + lateral[p].size());
    flat.push_back(regulariser[p]);
  }
  flat.push_back(samples);
  return flat;
}

void Correlations::unpack(const std::vector<double>& flat) {
  std::size_t expected = 1;
  for (std::size_t p = 0; p < hebbian.size(); ++p) {
    expected += static_cast<std::size_t>(hebbian[p].size() + lateral[p].size()) + 1;
  }
  if (flat.size() != expected) {
    throw ShapeError(fmt::format("correlations: packed size {} but {} expected", flat.size(), expected));
  }
  std::size_t at = 0;
  for (std::size_t p = 0; p < hebbian.size(); ++p) {
    for (Index k = 0; k < hebbian[p].size(); ++k) hebbian[p][k] = flat[at++];
    for (Index k = 0; k < lateral[p].size(); ++k) lateral[p][k] = flat[at++];
    regulariser[p] = flat[at++];
  }
  samples = flat[at];
}

namespace {

// sums[k] += sum_b post(i, b) pre(j, b) for every synapse k = (i, j) of `s` (a sampled product,
// SDDMM: only the structure's entries are computed; eq. 17's correlations). postT/preT are B x N
// column-major, i.e. neuron-major with the samples of one neuron contiguous.
template <typename T>
void add_sampled_products(const Structure& s, const Matrix<T>& postT, const Matrix<T>& preT, Vector<double>& sums) {
  kernels::sddmm_accumulate(s.row_ptr().data(), s.col_index().data(), s.rows(), postT.data(), preT.data(),
                            postT.rows(), sums.data());
}

// `what`: the multipliers' name in messages ("learning-rate scale", "lateral rate").
void check_layer_scales(std::span<const double> scales, Index layers, const char* what) {
  if (scales.empty()) return;
  if (static_cast<Index>(scales.size()) != layers) {
    throw ShapeError(fmt::format("learning: {} per-layer {}s for {} layers", scales.size(), what, layers));
  }
  for (std::size_t p = 0; p < scales.size(); ++p) {
    if (!(scales[p] > 0) || !std::isfinite(scales[p])) {
      throw ConfigError(fmt::format("learning: layer {}'s {} must be > 0, got {}", p + 1, what, scales[p]));
    }
  }
}

// A tied parameter takes the mean of its members' local steps (docs/theory.md, "Convolution:
// shared weights"); every member starts from, and so ends at, the same value. The steps are
// summed per group as they are computed (the arithmetic of WeightSharing::average_within_groups)
// instead of being stored per synapse: a 64-filter layer has millions of synapses and a few
// thousand groups.
template <typename T, typename StepFn>
void apply_shared(const WeightSharing& sharing, T* values, StepFn&& step) {
  const auto groups = static_cast<std::size_t>(sharing.groups);
  std::vector<double> sums(groups, 0.0);
  std::vector<Index> sizes(groups, 0);
  for (std::size_t s = 0; s < sharing.group.size(); ++s) {
    const auto g = static_cast<std::size_t>(sharing.group[s]);
    sums[g] += step(static_cast<Index>(s), static_cast<double>(values[s]));
    ++sizes[g];
  }
  for (std::size_t s = 0; s < sharing.group.size(); ++s) {
    const auto g = static_cast<std::size_t>(sharing.group[s]);
    values[s] = static_cast<T>(static_cast<double>(values[s]) + sums[g] / static_cast<double>(sizes[g]));
  }
}

// The same mean step from sums kept per group (Correlations::tied): member s's step is
// rate (A_s - v / (c C_s)) with A_s its correlation, so the group's mean is
// rate (sum_g / (T n_g) - v mean_g(1 / C_s) / c), c = k_p for L and 1 for W.
template <typename T>
void apply_tied(const WeightSharing& sharing, const GroupStats& stats, T* values, const Vector<double>& group_sums,
                double inv_t, double rate, double c) {
  const auto groups = static_cast<std::size_t>(sharing.groups);
  if (static_cast<std::size_t>(group_sums.size()) != groups || stats.size.size() != groups) {
    throw ShapeError("learning: per-group correlations do not match the layer's tied parameters");
  }
  std::vector<double> value(groups, 0.0);
  for (std::size_t g = 0; g < groups; ++g) {
    if (stats.size[g] == 0) continue;
    const double v = static_cast<double>(values[stats.first[g]]);
    const double n = static_cast<double>(stats.size[g]);
    value[g] = v + rate * (group_sums[static_cast<Eigen::Index>(g)] * inv_t / n - v * stats.mean_inverse_constant[g] / c);
  }
  std::vector<T> cast(groups);
  for (std::size_t g = 0; g < groups; ++g) cast[g] = static_cast<T>(value[g]);
  sharing.write_groups(cast.data(), values);
}

// The batch's activities transposed to neuron-major (B x N column-major), kept per thread: for a
// conv2d layer of 50,000 neurons each is 20 MB per batch of 100, and allocating them afresh for
// every batch cost more in page faults than the products themselves.
template <typename T>
struct TransposeBuffers {
  Matrix<T> input;
  std::vector<Matrix<T>> layer;  // r^(p) transposed
};

template <typename T>
TransposeBuffers<T>& thread_transpose_buffers() {
  thread_local TransposeBuffers<T> buffers;
  return buffers;
}

}  // namespace

template <typename T>
void accumulate_correlations(const Network<T>& network, NonDeduced<ConstMatrixRef<T>> x, const FixedPoints<T>& fixed,
                             Correlations& sums, bool with_regulariser) {
  const Index layers = network.num_layers();
  if (static_cast<Index>(sums.hebbian.size()) != layers || static_cast<Index>(fixed.r.size()) != layers) {
    throw ShapeError("correlations: sums or fixed points do not match the network's layers");
  }
  if (x.rows() != network.input_size()) {
    throw ShapeError(fmt::format("correlations: inputs have {} features, network expects {}", x.rows(),
                                 network.input_size()));
  }
  const auto is_tied = [&](Index p) { return p < static_cast<Index>(sums.tied.size()) && sums.tied[static_cast<std::size_t>(p)]; };
  // The neuron-major copies the per-synapse products read: layer p's activities when layer p or
  // p + 1 sums per synapse, the input when layer 0 does.
  TransposeBuffers<T>& t = thread_transpose_buffers<T>();
  if (!is_tied(0)) t.input = x.transpose();
  t.layer.resize(static_cast<std::size_t>(layers));
  for (Index p = 0; p < layers; ++p) {
    const auto sp = static_cast<std::size_t>(p);
    const auto& layer = network.layer(p);
    const Matrix<T>& r = fixed.r[sp];
    if (r.rows() != layer.size() || r.cols() != x.cols()) {
      throw ShapeError(fmt::format("correlations: layer {} activities are {}x{}, expected {}x{}", p + 1, r.rows(),
                                   r.cols(), layer.size(), x.cols()));
    }
    if (!is_tied(p) || (p + 1 < layers && !is_tied(p + 1))) t.layer[sp] = r.transpose();
    if (is_tied(p)) {
      if (sums.hebbian[sp].size() != layer.w_sharing().groups || sums.lateral[sp].size() != layer.l_sharing().groups) {
        throw ShapeError(fmt::format("correlations: layer {} sums do not match its tied parameters", p + 1));
      }
      const T* pre = p == 0 ? x.data() : fixed.r[sp - 1].data();
      Matrix<T> packed;  // x may be a strided view; the products read it contiguous
      if (p == 0 && x.outerStride() != x.rows()) {
        packed = x;
        pre = packed.data();
      }
      detail::add_tied_correlations(layer, pre, r.data(), x.cols(), sums.hebbian[sp].data(), sums.lateral[sp].data());
    } else {
      if (sums.hebbian[sp].size() != layer.cw().nnz() || sums.lateral[sp].size() != layer.cl().nnz()) {
        throw ShapeError(fmt::format("correlations: layer {} sums do not match its synapses", p + 1));
      }
      const Matrix<T>& preT = p == 0 ? t.input : t.layer[sp - 1];
      add_sampled_products(layer.cw(), t.layer[sp], preT, sums.hebbian[sp]);
      add_sampled_products(layer.cl(), t.layer[sp], t.layer[sp], sums.lateral[sp]);
    }
    if (with_regulariser && layer.activation().kind() == ActivationKind::tanh) {
      double total = 0;
      for (Index e = 0; e < r.size(); ++e) total += layer.activation().regulariser(static_cast<double>(r.data()[e]));
      sums.regulariser[sp] += total;
    }
  }
  sums.samples += static_cast<double>(x.cols());
}

namespace {

// One step of every layer from batch means: W_ij += w_rate (hebbian_ij / T - w_decay W_ij / C^W_ij),
// L_ij += l_rate (lateral_ij / T - L_ij / (k_p C^L_ij)), rates per layer as apply_learning's
// times `rate_factor`. w_decay is 1 (eq. 17) or 0 (the contrastive W step, whose decay terms
// cancel between the phases).
template <typename T>
void apply_steps(Network<T>& network, const Correlations& sums, double eta, double rate_factor, double w_decay,
                 std::span<const double> layer_scales, std::span<const double> lateral_rates) {
  if (static_cast<Index>(sums.hebbian.size()) != network.num_layers()) {
    throw ShapeError("learning: correlations do not match the network's layers");
  }
  check_layer_scales(layer_scales, network.num_layers(), "learning-rate scale");
  check_layer_scales(lateral_rates, network.num_layers(), "lateral rate");
  if (!(sums.samples > 0)) return;
  const double inv_t = 1.0 / sums.samples;
  for (Index p = 0; p < network.num_layers(); ++p) {
    const auto sp = static_cast<std::size_t>(p);
    auto& layer = network.layer(p);
    const double scale = eta * rate_factor * network.layer_weight(p) * (layer_scales.empty() ? 1.0 : layer_scales[sp]);
    const double k = network.k(p);
    const double lateral = 0.5 * scale * (lateral_rates.empty() ? 1.0 : lateral_rates[sp]);
    T* w = layer.W().valuePtr();
    const auto& cw = layer.cw().values();
    const auto hebbian_step = [&](Index s, double wv) {
      return scale * (sums.hebbian[sp][s] * inv_t - w_decay * wv / cw[static_cast<std::size_t>(s)]);
    };
    const bool tied = sp < sums.tied.size() && sums.tied[sp];
    if (tied) {
      // c = 1 / w_decay: infinite (no decay) for the contrastive step.
      const double c = w_decay > 0 ? 1.0 / w_decay : std::numeric_limits<double>::infinity();
      apply_tied(layer.w_sharing(), layer.w_group_stats(), w, sums.hebbian[sp], inv_t, scale, c);
    } else if (layer.w_sharing().empty()) {
      for (Index s = 0; s < layer.cw().nnz(); ++s) {
        const double wv = static_cast<double>(w[s]);
        w[s] = static_cast<T>(wv + hebbian_step(s, wv));
      }
    } else {
      apply_shared(layer.w_sharing(), w, hebbian_step);
    }
    T* l = layer.L().valuePtr();
    const auto& cl = layer.cl().values();
    const auto lateral_step = [&](Index s, double lv) {
      return lateral * (sums.lateral[sp][s] * inv_t - lv / (k * cl[static_cast<std::size_t>(s)]));
    };
    if (tied) {
      apply_tied(layer.l_sharing(), layer.l_group_stats(), l, sums.lateral[sp], inv_t, lateral, k);
    } else if (layer.l_sharing().empty()) {
      for (Index s = 0; s < layer.cl().nnz(); ++s) {
        const double lv = static_cast<double>(l[s]);
        l[s] = static_cast<T>(lv + lateral_step(s, lv));
      }
    } else {
      apply_shared(layer.l_sharing(), l, lateral_step);
    }
  }
}

}  // namespace

template <typename T>
void apply_learning(Network<T>& network, const Correlations& sums, double eta, std::span<const double> layer_scales,
                    std::span<const double> lateral_rates) {
  apply_steps(network, sums, eta, 1.0, 1.0, layer_scales, lateral_rates);
}

namespace {

// W moves by eta s_p w_p / beta times (the `upper` phase's Hebbian sums minus the `lower`'s) /
// spread; L by eq. 17's anti-Hebbian step at the `upper` (+beta) phase, over beta.
template <typename T>
void apply_contrast(Network<T>& network, const Correlations& upper, const Correlations& lower, double spread,
                    double eta, double beta, std::span<const double> layer_scales,
                    std::span<const double> lateral_rates) {
  check_beta(beta);
  if (upper.hebbian.size() != lower.hebbian.size() || upper.tied != lower.tied || upper.samples != lower.samples) {
    throw ShapeError("contrastive learning: the two phases' correlations differ in shape or samples");
  }
  Correlations contrast = upper;
  for (std::size_t p = 0; p < contrast.hebbian.size(); ++p) {
    if (lower.hebbian[p].size() != contrast.hebbian[p].size()) {
      throw ShapeError(fmt::format("contrastive learning: layer {} sums differ in size", p + 1));
    }
    contrast.hebbian[p] -= lower.hebbian[p];
    if (spread != 1.0) contrast.hebbian[p] /= spread;
  }
  apply_steps(network, contrast, eta, 1.0 / beta, 0.0, layer_scales, lateral_rates);
}

}  // namespace

template <typename T>
void apply_contrastive_learning(Network<T>& network, const Correlations& nudged, const Correlations& free, double eta,
                                double beta, std::span<const double> layer_scales,
                                std::span<const double> lateral_rates) {
  apply_contrast(network, nudged, free, 1.0, eta, beta, layer_scales, lateral_rates);
}

template <typename T>
void apply_symmetric_contrastive_learning(Network<T>& network, const Correlations& nudged,
                                          const Correlations& anti_nudged, double eta, double beta,
                                          std::span<const double> layer_scales,
                                          std::span<const double> lateral_rates) {
  // (A(+beta) - A(-beta)) / 2 in place of A(+beta) - A(0): the same step at the same rate, with
  // the difference in beta taken centrally.
  apply_contrast(network, nudged, anti_nudged, 2.0, eta, beta, layer_scales, lateral_rates);
}

LearningRateSchedule LearningRateSchedule::constant(double eta) {
  if (!(eta > 0) || !std::isfinite(eta)) throw ConfigError(fmt::format("learning rate must be > 0, got {}", eta));
  return LearningRateSchedule(eta, 0.0, 0.0, true);
}

LearningRateSchedule LearningRateSchedule::inverse_decay(double eta, double decay, double floor) {
  if (!(eta > 0) || !std::isfinite(eta)) throw ConfigError(fmt::format("learning rate must be > 0, got {}", eta));
  if (!(decay >= 0) || !std::isfinite(decay)) {
    throw ConfigError(fmt::format("learning-rate decay must be >= 0, got {}", decay));
  }
  if (!(floor >= 0) || !std::isfinite(floor)) {
    throw ConfigError(fmt::format("learning-rate floor must be >= 0, got {}", floor));
  }
  return LearningRateSchedule(eta, decay, floor, false);
}

double LearningRateSchedule::at(double epoch) const {
  if (constant_) return eta_;
  return std::max(eta_ / (1.0 + decay_ * epoch), floor_);
}

template Correlations Correlations::zeros_like<float>(const Network<float>&, bool);
template bool Correlations::shaped_for<float>(const Network<float>&, bool) const;
template bool Correlations::shaped_for<double>(const Network<double>&, bool) const;
template Correlations Correlations::zeros_like<double>(const Network<double>&, bool);
template void accumulate_correlations<float>(const Network<float>&, ConstMatrixRef<float>, const FixedPoints<float>&,
                                             Correlations&, bool);
template void accumulate_correlations<double>(const Network<double>&, ConstMatrixRef<double>,
                                              const FixedPoints<double>&, Correlations&, bool);
template void apply_learning<float>(Network<float>&, const Correlations&, double, std::span<const double>,
                                    std::span<const double>);
template void apply_symmetric_contrastive_learning<float>(Network<float>&, const Correlations&, const Correlations&,
                                                         double, double, std::span<const double>,
                                                         std::span<const double>);
template void apply_symmetric_contrastive_learning<double>(Network<double>&, const Correlations&, const Correlations&,
                                                          double, double, std::span<const double>,
                                                          std::span<const double>);
template void apply_learning<double>(Network<double>&, const Correlations&, double, std::span<const double>,
                                     std::span<const double>);
template void apply_contrastive_learning<float>(Network<float>&, const Correlations&, const Correlations&, double,
                                                double, std::span<const double>, std::span<const double>);
template void apply_contrastive_learning<double>(Network<double>&, const Correlations&, const Correlations&, double,
                                                 double, std::span<const double>, std::span<const double>);

}  // namespace simmatch
