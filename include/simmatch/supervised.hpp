// Supervised similarity matching with the labels as an input (docs/theory.md, "Supervised
// similarity matching: labels as an input"): while training, the top layer receives, besides
// W^(P) r^(P-1), the label input s e_y through dense label synapses V (N_P x classes), so the
// similarity its fixed points match is the layers' below plus s^2 times the labels'. The network
// is then the unsupervised one with a wider top-layer input: eq. 15 and eq. 17 apply unchanged,
// V learning by eq. 17's W rule with C^W = 1. At test time the label input is absent (the
// unsupervised dynamics with the learnt W, L) and V^T r^(P) scores the classes.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "simmatch/dataset.hpp"
#include "simmatch/network.hpp"

namespace simmatch {

/// The number of classes a supervised network needs for `labels`: the network's own when it has
/// label synapses (ConfigError naming `what` for a label outside them), else the largest label + 1
/// (ConfigError for a negative label or none).
template <typename T>
Index supervised_classes(const Network<T>& network, std::span<const int> labels, const std::string& what);

/// The label input's drive of the top layer, V (s e_{y_b}) = s V[:, y_b] for every sample
/// (N_P x B): the rows a solver appends to the inputs when network.top_drive_rows() = N_P.
/// ShapeError when the network has no label synapses, ConfigError for a label outside them.
template <typename T>
Matrix<T> label_drive(const Network<T>& network, std::span<const int> labels, double label_scale);

/// Adds sum_b r^(P)_b (s e_{y_b})^T over the batch to `sums` (N_P x classes, float64): the label
/// synapses' Hebbian correlations, the counterpart of Correlations::hebbian for V.
template <typename T>
void accumulate_label_correlations(ConstMatrixRef<T> top, std::span<const int> labels, double label_scale,
                                   Eigen::MatrixXd& sums);

/// eq. 17's W rule for the label synapses, C^W = 1 and gamma^{P-P} = 1:
///   V += eta s_P (A - V),  A = sums / samples,
/// where s_P = layer_scale (the top layer's learning-rate scale). Nothing happens for 0 samples.
template <typename T>
void apply_label_learning(Network<T>& network, const Eigen::MatrixXd& sums, double samples, double eta,
                          double layer_scale = 1.0);

/// Class scores V^T r^(P) (classes x B) of top-layer fixed points `top` (N_P x B) reached without
/// the label input: each class's label synapses read the top layer. ShapeError for a network
/// without label synapses or `top` of the wrong height.
template <typename T>
Matrix<T> label_scores(const Network<T>& network, ConstMatrixRef<T> top);

}  // namespace simmatch
