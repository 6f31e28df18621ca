// Contrastive similarity matching (docs/theory.md, "Contrastive similarity matching"): the free
// phase is eq. 15 as it is; the nudged phase adds beta (z - r^(P)) to the top layer's input, i.e.
// descends E^beta(r) = E(r) + beta ||r^(P) - z||^2, starting from the free fixed point. Learning
// contrasts the two phases' correlations (learning.hpp, apply_contrastive_learning).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "simmatch/dynamics.hpp"
#include "simmatch/network.hpp"

namespace simmatch {

/// What training optimises (train.mode): the similarity-matching cost alone (eq. 17); the same cost
/// with the labels as a further input of the top layer (supervised.hpp); or the contrastive
/// function of a free and a nudged phase, labels giving the nudged phase's target.
enum class TrainMode { unsupervised, supervised, contrastive };
/// "unsupervised", "supervised" or "contrastive"; ConfigError naming train.mode otherwise.
TrainMode train_mode_from_name(const std::string& name);
std::string train_mode_name(TrainMode mode);

/// train.nudge: the nudged phase at +beta alone (the paper's rule, a one-sided difference in
/// beta), or a phase at +beta and one at -beta, both from the free fixed point, whose difference
/// is a central one (docs/theory.md, "Symmetric nudging").
enum class Nudge { one_sided, symmetric };
/// "one_sided" or "symmetric"; ConfigError naming train.nudge otherwise.
Nudge nudge_from_name(const std::string& name);
std::string nudge_name(Nudge nudge);

/// Settings of the contrastive mode. z_t = label_scale e_{y_t} (the one-hot code of the label,
/// scaled), N_P = the number of classes; beta > 0 is the nudge strength.
struct ContrastiveOptions {
  double beta = 0.5;
  double label_scale = 1.0;
  Nudge nudge = Nudge::one_sided;
};
/// The signed nudge strengths of the phases after the free one: {beta}, or {beta, -beta}.
std::vector<double> nudge_strengths(const ContrastiveOptions& options);
/// ConfigError naming train.beta unless the nudge strength is finite and > 0.
void check_beta(double beta);
/// ConfigError naming train.beta / train.label_scale for a value that is not finite and > 0.
void check_contrastive_options(const ContrastiveOptions& options);
/// ConfigError naming train.label_scale unless it is finite and > 0 (the contrastive targets' and
/// the supervised label input's height).
void check_label_scale(double label_scale);

/// ConfigError unless every label lies in [0, classes) (naming the first that does not, its
/// position and `what`, e.g. the data file) and there is at least one label. `classes_are` says
/// where the class count comes from in the message.
void check_labels(std::span<const int> labels, Index classes, const std::string& what,
                  const std::string& classes_are = "the top layer's neurons, one per class");

/// The targets z (classes x B): label_scale in row y_b of column b, 0 elsewhere. Labels must lie in
/// [0, classes) (ConfigError otherwise); none gives a classes x 0 matrix.
template <typename T>
Matrix<T> one_hot_targets(std::span<const int> labels, Index classes, double label_scale);

/// The network whose eq. 15 is the nudged phase's: `network` with beta added to the diagonal of
/// its top layer's L (the -beta r^(P) of the nudge) and top_drive_rows() = N_P, so that a solver
/// given the inputs [x; beta z] adds beta z to the top layer's input. Every solver then applies
/// unchanged, with its guarantees: the nudged energy is E^beta, and its Hessian is E's plus
/// 2 beta on the top layer's diagonal. beta may be negative (the -beta phase of symmetric
/// nudging): the Hessian then loses 2 |beta| on that diagonal, the fixed point need not be
/// unique, and the fast solver, which tests uniqueness on the network it is given, follows the
/// trajectory. ConfigError when beta is not finite and non-zero or the top
/// layer's lateral structure lacks a self-synapse (every layer type simmatch builds has them).
template <typename T>
Network<T> nudged_network(const Network<T>& network, double beta);
/// Copies `network`'s weights into `nudged` (made by nudged_network from a network of the same
/// structure and the same beta), so that a trainer keeps one nudged network across batches.
template <typename T>
void refresh_nudged_network(const Network<T>& network, double beta, Network<T>& nudged);

/// Solves the nudged phase for inputs x (K x B) and targets z (N_P x B) on `nudged`
/// (nudged_network(network, beta)). `state` enters holding the free phase's fixed points (the
/// starting point, as in the papers) and leaves holding the fixed point that the nudged dynamics
/// reach from there. ShapeError for inputs or targets of the wrong shape.
template <typename T>
void solve_nudged(const DynamicsSolver<T>& solver, const Network<T>& nudged, ConstMatrixRef<T> x,
                  ConstMatrixRef<T> targets, double beta, FixedPoints<T>& state);

/// Index of the largest top-layer activity per column of `top` (N_P x B): the network's own
/// prediction of the class (ties go to the lower index).
template <typename T>
std::vector<int> predicted_classes(ConstMatrixRef<T> top);

extern template Matrix<float> one_hot_targets<float>(std::span<const int>, Index, double);
extern template Matrix<double> one_hot_targets<double>(std::span<const int>, Index, double);

}  // namespace simmatch
