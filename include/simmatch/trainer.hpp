// The training loop: epochs of (mini-)batches, each solved to its fixed points with the weights at
// the start of the batch and followed by one local update (eq. 17); schedules, metrics, callbacks.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "simmatch/communicator.hpp"
#include "simmatch/contrastive.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/encode.hpp"
#include "simmatch/learning.hpp"
#include "simmatch/network.hpp"

namespace simmatch {

/// What to do with samples whose dynamics produce NaN/Inf, or do not meet the tolerance.
enum class FailurePolicy {
  stop,  // throw NumericalError naming the epoch and sample
  skip,  // leave the sample out of the update and count it
  keep,  // use it anyway (only for non-convergence: the reference keeps the last state)
};
FailurePolicy failure_policy_from_name(const std::string& name);
std::string failure_policy_name(FailurePolicy policy);

/// The smallest number of epochs a run may ask for (train.epochs): none.
inline constexpr int kMinEpochs = 0;

/// The options of the training loop that a config's [train] table sets as they are: declared
/// here once, with the defaults the parameter table (src/config/params.cpp) states, and held by
/// Config::train. Bounds: epochs >= kMinEpochs, batch_size >= kMinBatchSize, the counts >= 0.
struct TrainLoopOptions {
  int epochs = 10;
  /// Samples per epoch; 0 = the whole data set. Epochs walk a stream of seeded permutations of
  /// the data set (a new permutation each time the data are exhausted).
  Index samples_per_epoch = 0;
  /// Global batch size; 1 is the exact online rule of eq. 17.
  Index batch_size = 1;
  bool shuffle = true;
  /// Size of the fixed, seeded random subset of the data set on which the cost (eq. 11) is
  /// evaluated after each epoch (the whole set when larger); 0 disables it.
  Index cost_samples = 1000;
  /// Samples with NaN/Inf activities: stop or skip (keep is not allowed: it would poison W, L).
  FailurePolicy on_nan = FailurePolicy::stop;
  /// Samples whose dynamics hit max_steps without meeting the tolerance.
  FailurePolicy on_nonconvergence = FailurePolicy::keep;
  /// Call TrainCallbacks::on_checkpoint every this many batches (0 = only at epoch ends).
  Index checkpoint_every = 0;
  /// Share of the labelled samples a TrainingRun holds out of training (stratified_split, seeded
  /// by the run's seed) and scores by the network's own output after each epoch
  /// (EpochMetrics::validation_accuracy); 0 = none. The supervised and contrastive modes only.
  /// The Trainer itself ignores it: it trains on whatever data it is given.
  double validation = 0;
};

/// Everything the Trainer needs: the loop options, and what a config spells elsewhere (the
/// schedule as train.eta/schedule/decay/floor, the top-level seed, each layer's eta_scale), which
/// train_options(config) assembles.
struct TrainOptions : TrainLoopOptions {
  LearningRateSchedule schedule = LearningRateSchedule::inverse_decay(5e-3, 0.5, 1e-4);
  std::uint64_t seed = 0;
  /// Per-layer multipliers of the learning rate (layer p learns at eta * scale[p] * gamma^(p-P));
  /// empty = 1 for every layer, else one entry > 0 per layer (see apply_learning).
  std::vector<double> layer_eta_scales;
  /// Per-layer multipliers of L's step alone (layers.lateral_rate); empty = 1 for every layer.
  std::vector<double> layer_lateral_rates;
  /// train.mode: eq. 17 on the free fixed points; eq. 17 with the labels as a further input of
  /// the top layer (supervised.hpp; the label synapses are created at zero by fit when the
  /// network has none); or the contrastive step of a free and a nudged phase (contrastive.hpp;
  /// the data set's labels are the targets, one class per top-layer neuron).
  TrainMode mode = TrainMode::unsupervised;
  /// beta and the nudge (contrastive), label_scale (supervised and contrastive).
  ContrastiveOptions contrastive;
};

/// ConfigError naming train.epochs, train.samples_per_epoch and train.batch_size when the sample
/// positions of a run, (epochs + 1) x per_epoch + batch_size, overflow Index. Trainer::fit checks
/// this before its first batch.
void check_sample_positions(const TrainOptions& options, Index per_epoch);

/// ConfigError unless `data` can train `network` in options.mode: the contrastive mode needs one
/// label per sample, each in [0, N_P) (the top layer's neurons); the supervised mode one label per
/// sample, each >= 0 and within the network's label synapses when it has them; `what` names the
/// labels' source in the message. Trainer::fit checks this before its first batch; callers that write files first
/// (the CLI's run) check it earlier.
template <typename T>
void check_training_data(const Network<T>& network, const TrainOptions& options, const Dataset& data,
                         const std::string& what);

/// What the current epoch has counted before a mid-epoch position, summed over all ranks, so that
/// a run resumed there reports the whole epoch's metrics (not only the batches after the resume).
struct EpochTally {
  double iterations = 0;  // solver steps, summed over samples
  double converged = 0;   // samples whose dynamics met the tolerance
  double samples = 0;
  double skipped = 0;
  double seconds = 0;     // wall time spent in the epoch
  double continued = 0;   // samples solved along the trajectory (SolverPath::continued)
  double followed = 0;    // samples solved by Euler steps to the tolerance (SolverPath::followed)
};

/// Where training stands: enough to resume a run exactly (the permutations derive from the seed).
struct TrainPosition {
  int epoch = 0;           // epochs completed
  Index batch = 0;         // batches completed within the current epoch
  EpochTally tally;        // zero when batch = 0
};

struct EpochMetrics {
  int epoch = 0;  // 1-based
  double learning_rate = 0;
  double cost = 0;               // NaN when cost_samples = 0
  double mean_iterations = 0;    // solver steps per sample during the epoch
  double converged_fraction = 0; // samples whose dynamics met the tolerance
  /// How the solver reached the fixed points (dynamics.hpp, SolverPath): the rest went directly.
  double continued_fraction = 0;  // Euler from rest, then implicit steps along the trajectory
  double followed_fraction = 0;   // Euler steps all the way (every sample of the euler method)
  Index samples = 0;
  Index skipped = 0;  // samples left out by the failure policies
  double seconds = 0;
  double samples_per_second = 0;
  /// Accuracy of the network's own output on the run's held-out samples after the epoch
  /// (TrainLoopOptions::validation); NaN when the run holds none out.
  double validation_accuracy = std::numeric_limits<double>::quiet_NaN();
};

/// The solves of `epochs` as a SolveReport, from each epoch's metrics: samples, those that did not
/// reach their fixed point (the learning used the last state reached) and those solved along the
/// Euler schedule (continued or followed), for unconverged_warning and schedule_warning.
SolveReport training_report(const std::vector<EpochMetrics>& epochs);

struct BatchProgress {
  int epoch = 0;  // 1-based
  Index samples_done = 0;
  Index samples_in_epoch = 0;
};

struct TrainCallbacks {
  std::function<void(const BatchProgress&)> on_batch;
  /// Called after each epoch's metrics are known (and before the next epoch starts).
  std::function<void(const EpochMetrics&, const TrainPosition&)> on_epoch;
  /// Called once per batch, after its samples are solved and before its update; returning true
  /// stops training cleanly after that batch (throws Interrupted). With N ranks it must be set on
  /// all of them or none: a request on any rank stops every rank after the same batch (the
  /// request travels in the batch's reduction).
  std::function<bool()> should_stop;
  /// Called on every rank with the position reached, every options.checkpoint_every batches and
  /// after each epoch, whenever the weights are finite; the network then holds exactly the state
  /// that resuming from that position needs.
  std::function<void(const TrainPosition&)> on_checkpoint;
};

template <typename T>
class Trainer {
public:
  Trainer(Network<T>& network, const DynamicsSolver<T>& solver, TrainOptions options,
          const Communicator& communicator = default_communicator());

  /// Trains from `start` (default: the beginning) to options.epochs. With N ranks, `data` is
  /// this rank's view of the whole data set and each rank solves its share of every global batch.
  /// ShapeError for data that do not fit the network, ConfigError (check_sample_positions) for a
  /// run whose sample positions would overflow.
  std::vector<EpochMetrics> fit(const Dataset& data, const TrainCallbacks& callbacks = {},
                                TrainPosition start = {});

  /// Indices of the samples of global batch `batch` of epoch `epoch` (0-based both).
  std::vector<Index> batch_indices(Index dataset_size, int epoch, Index batch) const;
  Index batches_per_epoch(Index dataset_size) const;

  static const Communicator& default_communicator();

private:
  /// Solver steps, converged samples, samples and skipped samples of an epoch so far (this rank's,
  /// or the resumed tally on rank 0), summed over the ranks at the epoch's end.
  using EpochCounts = std::vector<double>;

  /// One global batch (`global`: its data-set indices): this rank's share solved to its fixed
  /// points (eq. 15), screened by the failure policies, the correlations summed over the ranks
  /// and one update (eq. 17) at rate `eta`. Adds to `counts`; returns whether a stop was requested
  /// on any rank. Throws (every rank together) when a rank failed; when the update makes a weight
  /// NaN/Inf the weights are put back as they were before the batch and NumericalError is thrown.
  bool train_batch(const Dataset& data, const std::vector<Index>& global, int epoch, Index batch, double eta,
                   EpochCounts& counts, const TrainCallbacks& callbacks);

  /// The epoch's metrics from its counts (summed over the ranks here) and wall time; cost NaN.
  EpochMetrics epoch_metrics(int epoch, double eta, EpochCounts counts, double seconds) const;

  /// The cost (eq. 11) on the fixed, seeded subset of options.cost_samples samples, each rank
  /// solving its share.
  double epoch_cost(const Dataset& data) const;

  Network<T>& network_;
  const DynamicsSolver<T>& solver_;
  TrainOptions options_;
  const Communicator& communicator_;
  std::vector<T> before_update_;  // the weights before the current batch's update (save_weights)
  // A batch's fixed points and correlation sums, reset for every batch but kept from one to the
  // next: a conv2d layer's are tens of MB, and fresh allocations cost more in page faults than
  // the arithmetic that fills them.
  FixedPoints<T> batch_fixed_;
  Correlations batch_sums_;
  // A nudged phase of the contrastive mode: its signed strength, its network (the weights
  // refreshed every batch), fixed points and correlation sums.
  struct NudgedPhase {
    double beta = 0;
    Network<T> network;
    FixedPoints<T> state;
    Correlations sums;
  };
  // The +beta phase, and the -beta phase under symmetric nudging.
  std::vector<NudgedPhase> nudged_;
  // The supervised mode's label-synapse correlations of a batch (N_P x classes; empty otherwise).
  Eigen::MatrixXd label_sums_;
  /// A nudged phase of one batch (contrastive mode): from the free fixed points `fixed` of
  /// inputs x (columns = samples), towards the one-hot `targets` (classes x samples); leaves
  /// phase.state solved.
  void solve_nudged_phase(const Matrix<T>& x, const Matrix<T>& targets, const FixedPoints<T>& fixed,
                          NudgedPhase& phase);
};

extern template class Trainer<float>;
extern template class Trainer<double>;

}  // namespace simmatch
