// Layers and networks: shape checks, k_p and gamma^{p-P}, the reference initialisation.
#include "simmatch/network.hpp"

#include <cmath>
#include <fmt/format.h>
#include <random>

#include "core/batch_kernel.hpp"
#include "core/block_newton.hpp"
#include "simmatch/error.hpp"

namespace simmatch {

namespace {

// Zero weights on exactly the synapses of `s`, in its CSR order.
template <typename T>
SparseWeights<T> weights_on(const Structure& s) {
  std::vector<T> zeros(static_cast<std::size_t>(s.nnz()), T(0));
  Eigen::Map<const SparseWeights<T>> view(s.rows(), s.cols(), s.nnz(), s.row_ptr().data(), s.col_index().data(),
                                          zeros.data());
  SparseWeights<T> w = view;
  w.makeCompressed();
  return w;
}

template <typename T>
Vector<T> values_of(const Structure& s) {
  Vector<T> v(s.nnz());
  for (Index k = 0; k < s.nnz(); ++k) v[k] = static_cast<T>(s.values()[static_cast<std::size_t>(k)]);
  return v;
}

template <typename T>
SiteLayout site_layout_of(const SparseWeights<T>& w, const SparseWeights<T>& l, Index k) {
  SiteLayout out;
  out.lateral_block_diagonal = detail::lateral_block_diagonal(l, k, l.rows());
  out.lateral_full_blocks = out.lateral_block_diagonal && kernels::full_site_blocks(kernels::view_of(l), k);
  if (k >= 1 && w.rows() % k == 0) {
    const auto view = kernels::view_of(w);
    out.patch_rows.resize(static_cast<std::size_t>(w.rows() / k));
    for (Index s = 0; s < w.rows() / k; ++s) out.patch_rows[static_cast<std::size_t>(s)] = kernels::rows_share_columns(view, s * k, k) ? 1 : 0;
  }
  return out;
}

}  // namespace

template <typename T>
Layer<T>::Layer(Structure cw, Structure cl, Activation activation, Grid grid, std::optional<Conv2d> conv)
    : cw_(std::move(cw)), cl_(std::move(cl)), activation_(activation), grid_(grid), conv_(std::move(conv)) {
  if (cl_.rows() != cl_.cols() || cl_.rows() != cw_.rows()) {
    throw ShapeError(fmt::format("layer: C^L is {}x{} but C^W has {} rows; C^L must be {}x{}", cl_.rows(),
                                 cl_.cols(), cw_.rows(), cw_.rows(), cw_.rows()));
  }
  if (grid_.size() != cw_.rows()) {
    throw ShapeError(fmt::format("layer: grid {}x{}x{} holds {} neurons but C^W has {} rows", grid_.height,
                                 grid_.width, grid_.channels, grid_.size(), cw_.rows()));
  }
  if (!cl_.is_symmetric()) throw ConfigError("layer: lateral structure C^L must be symmetric");
  if (conv_) {
    if (!(conv_->output() == grid_)) {
      throw ShapeError(fmt::format("layer: grid {}x{}x{} is not the convolution's output {}x{}x{}", grid_.height,
                                   grid_.width, grid_.channels, conv_->output().height, conv_->output().width,
                                   conv_->output().channels));
    }
    if (conv_->input.size() != cw_.cols()) {
      throw ShapeError(fmt::format("layer: C^W has {} columns but the convolution's input holds {} values", cw_.cols(),
                                   conv_->input.size()));
    }
    w_sharing_ = conv_->w_sharing(cw_);
    l_sharing_ = conv_->l_sharing(cl_);
    w_sharing_.plan_row_copies(cw_.row_ptr());
    l_sharing_.plan_row_copies(cl_.row_ptr());
    w_stats_ = w_sharing_.stats(cw_.values());
    l_stats_ = l_sharing_.stats(cl_.values());
  }
  w_ = weights_on<T>(cw_);
  l_ = weights_on<T>(cl_);
  site_layout_ = site_layout_of(w_, l_, grid_.channels);
  cw_values_ = values_of<T>(cw_);
  cl_values_ = values_of<T>(cl_);
}

template <typename T>
Network<T>::Network(Index input_size, std::vector<Layer<T>> layers, double gamma)
    : input_size_(input_size), layers_(std::move(layers)), gamma_(gamma) {
  if (layers_.empty()) throw ConfigError("network: at least one layer is needed");
  if (!(gamma >= 0) || !std::isfinite(gamma)) {
    throw ConfigError(fmt::format("network: gamma must be finite and >= 0, got {}", gamma));
  }
  Index previous = input_size;
  for (std::size_t p = 0; p < layers_.size(); ++p) {
    if (layers_[p].input_size() != previous) {
      throw ShapeError(fmt::format("network: layer {} expects {} inputs but the layer below has {}", p + 1,
                                   layers_[p].input_size(), previous));
    }
    previous = layers_[p].size();
  }
}

double feedback_layer_weight(double gamma, Index p, Index num_layers) {
  if (gamma == 0.0) return 1.0;
  return std::pow(gamma, static_cast<double>(p - (num_layers - 1)));
}

template <typename T>
void Network<T>::set_top_drive_rows(Index rows) {
  if (rows != 0 && rows != layers_.back().size()) {
    throw ShapeError(fmt::format("network: the top layer's drive must have 0 or {} rows, got {}", layers_.back().size(), rows));
  }
  top_drive_rows_ = rows;
}

template <typename T>
void Network<T>::set_label_weights(Matrix<T> v) {
  if (v.size() == 0) {
    label_weights_ = Matrix<T>();
    return;
  }
  if (v.rows() != layers_.back().size()) {
    throw ShapeError(fmt::format("network: the label synapses must have {} rows (the top layer's neurons), got {}x{}",
                                 layers_.back().size(), v.rows(), v.cols()));
  }
  if (!v.allFinite()) throw ConfigError("network: a label synapse is not finite");
  label_weights_ = std::move(v);
}

template <typename T>
double Network<T>::k(Index p) const {
  return p + 1 < num_layers() ? 1.0 + gamma_ : 1.0;
}

template <typename T>
double Network<T>::layer_weight(Index p) const {
  return feedback_layer_weight(gamma_, p, num_layers());
}

template <typename T>
void Network<T>::initialise(std::uint64_t seed) {
  // Label synapses start at zero (docs/theory.md, "Supervised similarity matching"), as fit creates them.
  label_weights_.setZero();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (auto& layer : layers_) {
    auto& w = layer.W();
    if (layer.conv()) {
      const auto shape = layer.conv()->w_bank_shape();
      const double scale = 1.0 / std::sqrt(static_cast<double>(shape[1] * shape[2] * shape[3]));
      std::vector<double> bank(layer.w_sharing().bank_group.size());
      for (double& v : bank) v = scale * normal(rng);
      layer.w_sharing().weights_from_bank(bank, w.valuePtr(), "initialise");
    } else {
      for (Index i = 0; i < w.outerSize(); ++i) {
        const int begin = w.outerIndexPtr()[i];
        const int end = w.outerIndexPtr()[i + 1];
        const double scale = end > begin ? 1.0 / std::sqrt(static_cast<double>(end - begin)) : 0.0;
        for (int k = begin; k < end; ++k) w.valuePtr()[k] = static_cast<T>(scale * normal(rng));
      }
    }
    auto& l = layer.L();
    for (Index i = 0; i < l.outerSize(); ++i) {
      for (int k = l.outerIndexPtr()[i]; k < l.outerIndexPtr()[i + 1]; ++k) {
        l.valuePtr()[k] = l.innerIndexPtr()[k] == i ? T(1) : T(0);
      }
    }
  }
}

template <typename T>
Index Network<T>::num_synapses() const {
  Index n = 0;
  for (const auto& layer : layers_) n += layer.cw().nnz() + layer.cl().nnz();
  return n;
}

template <typename T>
template <typename U>
Network<U> Network<T>::cast() const {
  std::vector<Layer<U>> out;
  out.reserve(layers_.size());
  for (const auto& layer : layers_) {
    Layer<U> copy(layer.cw(), layer.cl(), layer.activation(), layer.grid(),
                  layer.conv() ? std::optional<Conv2d>(*layer.conv()) : std::nullopt);
    for (Index k = 0; k < layer.cw().nnz(); ++k) copy.W().valuePtr()[k] = static_cast<U>(layer.W().valuePtr()[k]);
    for (Index k = 0; k < layer.cl().nnz(); ++k) copy.L().valuePtr()[k] = static_cast<U>(layer.L().valuePtr()[k]);
    out.push_back(std::move(copy));
  }
  Network<U> network(input_size_, std::move(out), gamma_);
  if (classes() > 0) network.set_label_weights(label_weights_.template cast<U>());
  return network;
}

template class Layer<float>;
template class Layer<double>;
template class Network<float>;
template class Network<double>;
template Network<double> Network<float>::cast<double>() const;
template Network<float> Network<double>::cast<float>() const;
template Network<float> Network<float>::cast<float>() const;
template Network<double> Network<double>::cast<double>() const;

}  // namespace simmatch
