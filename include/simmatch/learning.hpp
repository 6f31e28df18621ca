// Local learning (eq. 17): Hebbian updates of W and anti-Hebbian updates of L from the
// correlations of the two neurons each synapse joins, and learning-rate schedules.
#pragma once

#include <span>
#include <vector>

#include "simmatch/dynamics.hpp"
#include "simmatch/network.hpp"

namespace simmatch {

/// Per-layer sums over samples, stored on the structures' non-zeros (same order as W, L):
/// hebbian[p][k]  = sum_t r^(p)_{t,i} r^(p-1)_{t,j} for synapse k = (i, j) of C^W,(p)
/// lateral[p][k]  = sum_t r^(p)_{t,i} r^(p)_{t,j}   for synapse k = (i, j) of C^L,(p)
/// regulariser[p] = sum_t sum_i F(r^(p)_{t,i}).
/// Dividing by `samples` gives A^(p), B^(p) of docs/theory.md ("Computing the cost"). Sums, not means,
/// so that shards (batches, MPI ranks) combine by addition.
/// Where tied[p] is set (a conv2d layer, zeros_like with per_tied_group), layer p's sums are
/// kept per tied parameter instead: hebbian[p][g] = the sum of the synapse sums above over the
/// members of group g of the layer's w_sharing(), likewise lateral[p] over l_sharing(). That is
/// all eq. 17 needs for a tied layer (docs/theory.md, "Convolution: shared weights"), and it is
/// computed by dense products; the cost (eq. 11) needs the per-synapse sums.
struct Correlations {
  std::vector<Vector<double>> hebbian;
  std::vector<Vector<double>> lateral;
  std::vector<double> regulariser;
  std::vector<unsigned char> tied;
  double samples = 0;

  /// Zeroed sums shaped for `network`; with per_tied_group, every conv2d layer whose synapses
  /// are all its geometry's is kept per tied parameter (the layout learning uses in training).
  template <typename T>
  static Correlations zeros_like(const Network<T>& network, bool per_tied_group = false);
  /// Whether these sums have the shape zeros_like(network, per_tied_group) gives.
  template <typename T>
  bool shaped_for(const Network<T>& network, bool per_tied_group) const;
  /// Zeroes every sum, keeping the shape (and the memory).
  void set_zero();
  /// Adds `other` (same shape) to this.
  void add(const Correlations& other);
  /// Flat view for reductions: every sum in one contiguous vector, and back.
  std::vector<double> pack() const;
  void unpack(const std::vector<double>& flat);
};

/// Adds the batch's correlations (x: K x B inputs, fixed: their fixed points) to `sums`.
template <typename T>
void accumulate_correlations(const Network<T>& network, NonDeduced<ConstMatrixRef<T>> x, const FixedPoints<T>& fixed,
                             Correlations& sums, bool with_regulariser = true);

/// eq. 17 with the batch means A = hebbian / samples, B = lateral / samples:
///   W_ij += eta s_p gamma^{p-P} (A_ij - W_ij / C^W_ij)
///   L_ij += eta/2 tau_p s_p gamma^{p-P} (B_ij - L_ij / (k_p C^L_ij))
/// where s_p = layer_scales[p] and tau_p = lateral_rates[p] (1 for every layer when empty; eq. 17
/// itself). In a convolutional layer every tied parameter moves by the mean of its synapses'
/// steps (docs/theory.md, "Convolution: shared weights"). Either rescales a gradient step without moving its zero, so the fixed points of
/// learning (W = C^W o A, L = k_p C^L o B) stay those of eq. 17 (docs/theory.md, "Learning
/// rates" under the learning rule). With one sample this is the exact online rule. ShapeError when a list is neither
/// empty nor one entry per layer, ConfigError for an entry that is not > 0.
template <typename T>
void apply_learning(Network<T>& network, const Correlations& sums, double eta,
                    std::span<const double> layer_scales = {}, std::span<const double> lateral_rates = {});

/// The contrastive step (docs/theory.md, "Contrastive similarity matching") from the two
/// phases' sums over the same batch (`nudged`, `free`, T samples each):
///   W_ij += eta s_p gamma^{p-P} / beta (A^nudged_ij - A^free_ij)
///   L_ij += eta/2 tau_p s_p gamma^{p-P} / beta (B^nudged_ij - L_ij / (k_p C^L_ij))
/// W descends the contrastive function (E^beta at the nudged fixed point minus E at the free one,
/// over beta); L takes eq. 17's anti-Hebbian step at the nudged fixed point, over beta (the
/// authors' choice). Tied layers move each parameter by its synapses' mean step. ConfigError for
/// beta not finite and > 0, ShapeError for sums of different shapes or sample counts.
template <typename T>
void apply_contrastive_learning(Network<T>& network, const Correlations& nudged, const Correlations& free, double eta,
                                double beta, std::span<const double> layer_scales = {},
                                std::span<const double> lateral_rates = {});

/// The contrastive step with symmetric nudging (docs/theory.md, "Symmetric nudging") from the sums
/// of the +beta phase (`nudged`) and of the -beta phase (`anti_nudged`) over the same batch:
///   W_ij += eta s_p gamma^{p-P} / (2 beta) (A^+_ij - A^-_ij)
/// and L as in apply_contrastive_learning, from the +beta phase. Errors as there.
template <typename T>
void apply_symmetric_contrastive_learning(Network<T>& network, const Correlations& nudged,
                                          const Correlations& anti_nudged, double eta, double beta,
                                          std::span<const double> layer_scales = {},
                                          std::span<const double> lateral_rates = {});

/// Learning rate at a (fractional) epoch: constant, or the reference
/// max(eta / (1 + decay epoch), floor).
class LearningRateSchedule {
public:
  static LearningRateSchedule constant(double eta);
  static LearningRateSchedule inverse_decay(double eta, double decay, double floor);
  double at(double epoch) const;
  double initial() const { return eta_; }
  double decay() const { return decay_; }
  double floor() const { return floor_; }
  bool is_constant() const { return constant_; }

private:
  LearningRateSchedule(double eta, double decay, double floor, bool constant)
      : eta_(eta), decay_(decay), floor_(floor), constant_(constant) {}
  double eta_;
  double decay_;
  double floor_;
  bool constant_;
};

}  // namespace simmatch
