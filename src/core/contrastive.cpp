// The nudged phase of contrastive similarity matching as an ordinary eq. 15 (contrastive.hpp).
#include "simmatch/contrastive.hpp"

#include <cmath>
#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {
namespace {

// Positions of the diagonal entries of a row-major sparse square matrix; -1 where absent.
template <typename T>
std::vector<Index> diagonal_positions(const SparseWeights<T>& m) {
  std::vector<Index> at(static_cast<std::size_t>(m.rows()), -1);
  for (Index i = 0; i < m.rows(); ++i) {
    for (Index e = m.outerIndexPtr()[i]; e < m.outerIndexPtr()[i + 1]; ++e) {
      if (m.innerIndexPtr()[e] == i) at[static_cast<std::size_t>(i)] = e;
    }
  }
  return at;
}

// A phase's signed strength: +beta, or -beta for the second phase of symmetric nudging.
void check_signed_beta(double beta) {
  if (beta == 0 || !std::isfinite(beta)) {
    throw ConfigError(fmt::format("train.beta: a nudged phase's strength must be finite and non-zero, got {}", beta));
  }
}

}  // namespace

void check_beta(double beta) {
  if (!(beta > 0) || !std::isfinite(beta)) {
    throw ConfigError(fmt::format("train.beta: the nudge strength must be finite and > 0, got {}", beta));
  }
}

TrainMode train_mode_from_name(const std::string& name) {
  if (name == "unsupervised") return TrainMode::unsupervised;
  if (name == "supervised") return TrainMode::supervised;
  if (name == "contrastive") return TrainMode::contrastive;
  throw ConfigError(fmt::format(
      "train.mode: unknown mode \"{}\" (expected \"unsupervised\", \"supervised\" or \"contrastive\")", name));
}

std::string train_mode_name(TrainMode mode) {
  switch (mode) {
    case TrainMode::unsupervised: return "unsupervised";
    case TrainMode::supervised: return "supervised";
    case TrainMode::contrastive: return "contrastive";
  }
  throw InternalError("unknown training mode");
}

Nudge nudge_from_name(const std::string& name) {
  if (name == "one_sided") return Nudge::one_sided;
  if (name == "symmetric") return Nudge::symmetric;
  throw ConfigError(fmt::format("train.nudge: unknown nudge \"{}\" (expected \"one_sided\" or \"symmetric\")", name));
}

std::string nudge_name(Nudge nudge) {
  switch (nudge) {
    case Nudge::one_sided: return "one_sided";
    case Nudge::symmetric: return "symmetric";
  }
  throw InternalError("unknown nudge");
}

std::vector<double> nudge_strengths(const ContrastiveOptions& options) {
  check_beta(options.beta);
  if (options.nudge == Nudge::symmetric) return {options.beta, -options.beta};
  return {options.beta};
}

void check_label_scale(double label_scale) {
  if (!(label_scale > 0) || !std::isfinite(label_scale)) {
    throw ConfigError(fmt::format("train.label_scale: the labels' scale must be finite and > 0, got {}", label_scale));
  }
}

void check_contrastive_options(const ContrastiveOptions& options) {
  check_beta(options.beta);
  check_label_scale(options.label_scale);
}

void check_labels(std::span<const int> labels, Index classes, const std::string& what,
                  const std::string& classes_are) {
  if (labels.empty()) throw ConfigError(fmt::format("{}: no labels (training with labels needs one per sample)", what));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      throw ConfigError(fmt::format("{}: label {} of sample {} is outside [0, {}) ({} classes: {})", what, labels[i], i,
                                    classes, classes, classes_are));
    }
  }
}

template <typename T>
Matrix<T> one_hot_targets(std::span<const int> labels, Index classes, double label_scale) {
  // No emptiness check: a rank's share of a batch may hold no sample.
  if (!labels.empty()) check_labels(labels, classes, "targets");
  Matrix<T> z = Matrix<T>::Zero(classes, static_cast<Index>(labels.size()));
  for (std::size_t b = 0; b < labels.size(); ++b) z(labels[b], static_cast<Index>(b)) = static_cast<T>(label_scale);
  return z;
}

template <typename T>
Network<T> nudged_network(const Network<T>& network, double beta) {
  check_signed_beta(beta);
  Network<T> nudged = network;
  const auto& top = nudged.layer(nudged.num_layers() - 1).L();
  const std::vector<Index> at = diagonal_positions(top);
  for (std::size_t i = 0; i < at.size(); ++i) {
    if (at[i] < 0) {
      throw ConfigError(fmt::format("train.mode = \"contrastive\": neuron {} of the top layer has no lateral self-synapse, "
                                    "which the nudge -beta r needs",
                                    i));
    }
  }
  refresh_nudged_network(network, beta, nudged);
  nudged.set_top_drive_rows(nudged.layer(nudged.num_layers() - 1).size());
  return nudged;
}

template <typename T>
void refresh_nudged_network(const Network<T>& network, double beta, Network<T>& nudged) {
  check_signed_beta(beta);
  if (nudged.num_layers() != network.num_layers()) throw ShapeError("nudged network: layers differ from the network's");
  for (Index p = 0; p < network.num_layers(); ++p) {
    const auto& from = network.layer(p);
    auto& to = nudged.layer(p);
    if (from.W().nonZeros() != to.W().nonZeros() || from.L().nonZeros() != to.L().nonZeros()) {
      throw ShapeError(fmt::format("nudged network: layer {} has a different structure", p + 1));
    }
    std::copy_n(from.W().valuePtr(), from.W().nonZeros(), to.W().valuePtr());
    std::copy_n(from.L().valuePtr(), from.L().nonZeros(), to.L().valuePtr());
  }
  // The top layer's L + beta I: with it, -(L + beta I - I) r + W r' + beta z is the nudged input.
  auto& top = nudged.layer(nudged.num_layers() - 1).L();
  for (const Index e : diagonal_positions(top)) {
    top.valuePtr()[e] = static_cast<T>(static_cast<double>(top.valuePtr()[e]) + beta);
  }
}

template <typename T>
void solve_nudged(const DynamicsSolver<T>& solver, const Network<T>& nudged, ConstMatrixRef<T> x,
                  ConstMatrixRef<T> targets, double beta, FixedPoints<T>& state) {
  const Index classes = nudged.layer(nudged.num_layers() - 1).size();
  if (nudged.top_drive_rows() != classes) throw ShapeError("solve_nudged: the network is not a nudged network");
  if (x.rows() != nudged.input_size() || targets.rows() != classes || targets.cols() != x.cols()) {
    throw ShapeError(fmt::format("solve_nudged: inputs {}x{} and targets {}x{} do not fit a network of {} inputs and {} outputs",
                                 x.rows(), x.cols(), targets.rows(), targets.cols(), nudged.input_size(), classes));
  }
  const Matrix<T> drive = static_cast<T>(beta) * targets;
  solver.solve(nudged, ConstMatrixRef<T>(stack_top_drive<T>(x, drive)), state);
}

template <typename T>
std::vector<int> predicted_classes(ConstMatrixRef<T> top) {
  std::vector<int> out(static_cast<std::size_t>(top.cols()), 0);
  for (Index b = 0; b < top.cols(); ++b) {
    Index best = 0;
    for (Index i = 1; i < top.rows(); ++i) {
      if (top(i, b) > top(best, b)) best = i;
    }
    out[static_cast<std::size_t>(b)] = static_cast<int>(best);
  }
  return out;
}

template Matrix<float> one_hot_targets<float>(std::span<const int>, Index, double);
template Matrix<double> one_hot_targets<double>(std::span<const int>, Index, double);
template Network<float> nudged_network<float>(const Network<float>&, double);
template Network<double> nudged_network<double>(const Network<double>&, double);
template void refresh_nudged_network<float>(const Network<float>&, double, Network<float>&);
template void refresh_nudged_network<double>(const Network<double>&, double, Network<double>&);
template void solve_nudged<float>(const DynamicsSolver<float>&, const Network<float>&, ConstMatrixRef<float>,
                                  ConstMatrixRef<float>, double, FixedPoints<float>&);
template void solve_nudged<double>(const DynamicsSolver<double>&, const Network<double>&, ConstMatrixRef<double>,
                                   ConstMatrixRef<double>, double, FixedPoints<double>&);
template std::vector<int> predicted_classes<float>(ConstMatrixRef<float>);
template std::vector<int> predicted_classes<double>(ConstMatrixRef<double>);

}  // namespace simmatch
