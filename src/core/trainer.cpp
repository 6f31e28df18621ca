// The training loop: mini-batches of eq. 15 fixed points, each followed by one eq. 17 update, with
// each rank solving its share of every batch; epoch metrics and the cost on a fixed subset.
#include "simmatch/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <iterator>
#include <fmt/format.h>
#include <limits>
#include <numeric>
#include <optional>
#include <random>

#include "simmatch/distributed.hpp"
#include "simmatch/saturating.hpp"
#include "simmatch/supervised.hpp"
#include "simmatch/error.hpp"
#include "simmatch/objective.hpp"
#include "simmatch/weights.hpp"

namespace simmatch {

namespace {

// Permutation number `pass` of 0..n-1; a pure function of (seed, pass) so a resumed run sees the
// same stream of samples without saving generator state.
std::vector<Index> pass_permutation(Index n, std::uint64_t seed, Index pass, bool shuffle) {
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index{0});
  if (shuffle) {
    std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                      static_cast<std::uint32_t>(pass), static_cast<std::uint32_t>(static_cast<std::uint64_t>(pass) >> 32),
                      0x5eedu};
    std::mt19937_64 rng(seq);
    std::shuffle(order.begin(), order.end(), rng);
  }
  return order;
}

// Indices [begin, end) of the endless stream of permutations, with a one-pass cache.
class SampleStream {
public:
  SampleStream(Index n, std::uint64_t seed, bool shuffle) : n_(n), seed_(seed), shuffle_(shuffle) {}
  std::vector<Index> range(Index begin, Index end) {
    std::vector<Index> out;
    out.reserve(static_cast<std::size_t>(end - begin));
    for (Index s = begin; s < end; ++s) {
      const Index pass = s / n_;
      if (pass != cached_pass_) {
        order_ = pass_permutation(n_, seed_, pass, shuffle_);
        cached_pass_ = pass;
      }
      out.push_back(order_[static_cast<std::size_t>(s % n_)]);
    }
    return out;
  }

private:
  Index n_;
  std::uint64_t seed_;
  bool shuffle_;
  Index cached_pass_ = -1;
  std::vector<Index> order_;
};

// The part of a global batch this rank solves: a contiguous slice, as even as possible.
std::vector<Index> rank_share(const std::vector<Index>& global, int rank, int size) {
  const auto [begin, end] = rank_range(static_cast<Index>(global.size()), rank, size);
  return {global.begin() + begin, global.begin() + end};
}

// Columns of the batch that enter the update, after the NaN and non-convergence policies;
// throws NumericalError under the `stop` policies, naming the epoch and the data-set index.
template <typename T>
std::vector<Index> screen_samples(const Matrix<T>& x, const FixedPoints<T>& fixed, const std::vector<Index>& indices,
                                  int epoch, const TrainOptions& o) {
  std::vector<Index> kept;
  for (Index b = 0; b < fixed.batch_size(); ++b) {
    bool finite = x.col(b).allFinite();
    for (std::size_t p = 0; p < fixed.r.size(); ++p) {
      finite = finite && fixed.r[p].col(b).allFinite() && fixed.u[p].col(b).allFinite();
    }
    const bool converged = fixed.converged[static_cast<std::size_t>(b)] != 0;
    const Index sample = indices[static_cast<std::size_t>(b)];
    if (!finite) {
      if (o.on_nan == FailurePolicy::stop) {
        throw NumericalError(fmt::format("epoch {}, sample {}: NaN/Inf in the input or the neural activities", epoch, sample));
      }
      continue;
    }
    if (!converged && o.on_nonconvergence != FailurePolicy::keep) {
      if (o.on_nonconvergence == FailurePolicy::stop) {
        throw NumericalError(fmt::format("epoch {}, sample {}: dynamics did not converge in {} steps", epoch, sample,
                                         fixed.iterations[static_cast<std::size_t>(b)]));
      }
      continue;
    }
    kept.push_back(b);
  }
  return kept;
}

template <typename T>
FixedPoints<T> select_columns(const FixedPoints<T>& fixed, const std::vector<Index>& columns) {
  FixedPoints<T> out;
  for (std::size_t p = 0; p < fixed.r.size(); ++p) {
    out.u.push_back(fixed.u[p](Eigen::all, columns));
    out.r.push_back(fixed.r[p](Eigen::all, columns));
  }
  for (Index c : columns) {
    out.iterations.push_back(fixed.iterations[static_cast<std::size_t>(c)]);
    out.converged.push_back(fixed.converged[static_cast<std::size_t>(c)]);
  }
  return out;
}

// The fixed, seeded subset of samples the cost is evaluated on after every epoch (sorted), so
// the curve compares like with like and does not depend on how the data set is ordered.
std::vector<Index> cost_sample_indices(Index n, Index wanted, std::uint64_t seed) {
  std::vector<Index> order = pass_permutation(n, seed ^ 0xc05715eedULL, 0, wanted < n);
  order.resize(static_cast<std::size_t>(std::min(wanted, n)));
  std::sort(order.begin(), order.end());
  return order;
}

// Samples in an epoch of a data set of `n`.
Index samples_per_epoch(const TrainOptions& o, Index n) { return o.samples_per_epoch > 0 ? o.samples_per_epoch : n; }

// Positions [begin, end) of batch `batch` of epoch `epoch` in the endless stream of samples (see
// check_sample_positions: they fit in Index).
std::pair<Index, Index> batch_positions(const TrainOptions& o, Index per_epoch, int epoch, Index batch) {
  const Index begin = static_cast<Index>(epoch) * per_epoch + batch * o.batch_size;
  return {begin, std::min(begin + o.batch_size, static_cast<Index>(epoch + 1) * per_epoch)};
}

// A per-layer multiplier list: empty, or one finite entry > 0 per layer; `key` names it.
void check_per_layer(const std::vector<double>& values, Index layers, const char* what, const char* key) {
  if (!values.empty() && static_cast<Index>(values.size()) != layers) {
    throw ConfigError(fmt::format("train: {} per-layer {} ({}) for a network of {} layers", values.size(), what, key, layers));
  }
  for (std::size_t p = 0; p < values.size(); ++p) {
    if (!(values[p] > 0) || !std::isfinite(values[p])) {
      throw ConfigError(fmt::format("train: layers.{}.{} must be > 0, got {}", p, key, values[p]));
    }
  }
}

void check_options(const TrainOptions& o, Index layers) {
  check_per_layer(o.layer_eta_scales, layers, "learning-rate scales", "eta_scale");
  check_per_layer(o.layer_lateral_rates, layers, "lateral rates", "lateral_rate");
  if (o.on_nan == FailurePolicy::keep) {
    throw ConfigError("train: the NaN policy must be 'stop' or 'skip' (keeping NaN would corrupt the weights)");
  }
  if (o.checkpoint_every < 0) {
    throw ConfigError(fmt::format("train: checkpoint_every must be >= 0, got {}", o.checkpoint_every));
  }
  if (o.epochs < kMinEpochs) throw ConfigError(fmt::format("train: epochs must be >= {}, got {}", kMinEpochs, o.epochs));
  if (o.batch_size < kMinBatchSize) {
    throw ConfigError(fmt::format("train: batch_size must be >= {}, got {}", kMinBatchSize, o.batch_size));
  }
  if (o.samples_per_epoch < 0) {
    throw ConfigError(fmt::format("train: samples_per_epoch must be >= 0, got {}", o.samples_per_epoch));
  }
  if (o.cost_samples < 0) throw ConfigError(fmt::format("train: cost_samples must be >= 0, got {}", o.cost_samples));
}

}  // namespace

void check_sample_positions(const TrainOptions& options, Index per_epoch) {
  // The trainer numbers samples epoch * per_epoch + batch * batch_size and adds batch_size to
  // find a batch's end; all of it must stay within Index.
  const auto positions = saturating_add(
      saturating_mul(static_cast<std::uint64_t>(std::max(options.epochs, 0)) + 1,
                     static_cast<std::uint64_t>(std::max<Index>(per_epoch, 0))),
      static_cast<std::uint64_t>(std::max<Index>(options.batch_size, 0)));
  if (positions > static_cast<std::uint64_t>(std::numeric_limits<Index>::max())) {
    throw ConfigError(fmt::format("train: (epochs + 1) x {} samples per epoch + batch_size {} overflows a 64-bit "
                                  "sample count (train.epochs = {}, train.samples_per_epoch, train.batch_size)",
                                  per_epoch, options.batch_size, options.epochs));
  }
}

template <typename T>
void check_training_data(const Network<T>& network, const TrainOptions& options, const Dataset& data,
                         const std::string& what) {
  if (options.mode == TrainMode::unsupervised) return;
  if (!data.has_labels()) {
    throw ConfigError(fmt::format("{}: train.mode = \"{}\" needs labels (data.labels, or a format that "
                                  "carries them)", what, train_mode_name(options.mode)));
  }
  if (options.mode == TrainMode::supervised) {
    supervised_classes(network, data.labels, what);
  } else {
    check_labels(data.labels, network.layer(network.num_layers() - 1).size(), what);
  }
}

namespace {

// Labels of the samples `indices` of `data`.
std::vector<int> labels_of(const Dataset& data, const std::vector<Index>& indices) {
  std::vector<int> labels(indices.size());
  for (std::size_t b = 0; b < indices.size(); ++b) labels[b] = data.labels[static_cast<std::size_t>(indices[b])];
  return labels;
}

// The network's top layer takes extra input rows while it lives (the label drive of the
// supervised mode), and none again afterwards, also when the solve throws.
template <typename T>
class TopDriveScope {
public:
  explicit TopDriveScope(Network<T>& network) : network_(network) {
    network_.set_top_drive_rows(network_.layer(network_.num_layers() - 1).size());
  }
  ~TopDriveScope() { network_.set_top_drive_rows(0); }
  TopDriveScope(const TopDriveScope&) = delete;
  TopDriveScope& operator=(const TopDriveScope&) = delete;

private:
  Network<T>& network_;
};

}  // namespace

template void check_training_data<float>(const Network<float>&, const TrainOptions&, const Dataset&, const std::string&);
template void check_training_data<double>(const Network<double>&, const TrainOptions&, const Dataset&,
                                          const std::string&);

FailurePolicy failure_policy_from_name(const std::string& name) {
  if (name == "stop") return FailurePolicy::stop;
  if (name == "skip") return FailurePolicy::skip;
  if (name == "keep") return FailurePolicy::keep;
  throw ConfigError(fmt::format("unknown failure policy '{}' (expected stop, skip or keep)", name));
}

std::string failure_policy_name(FailurePolicy policy) {
  switch (policy) {
    case FailurePolicy::stop: return "stop";
    case FailurePolicy::skip: return "skip";
    case FailurePolicy::keep: return "keep";
  }
  throw InternalError("unknown failure policy");
}

template <typename T>
Trainer<T>::Trainer(Network<T>& network, const DynamicsSolver<T>& solver, TrainOptions options,
                    const Communicator& communicator)
    : network_(network), solver_(solver), options_(std::move(options)), communicator_(communicator) {
  check_options(options_, network.num_layers());
  if (options_.mode == TrainMode::contrastive) check_contrastive_options(options_.contrastive);
  if (options_.mode == TrainMode::supervised) check_label_scale(options_.contrastive.label_scale);
}

template <typename T>
const Communicator& Trainer<T>::default_communicator() {
  static const LocalCommunicator local;  // stateless, so sharing it is safe
  return local;
}

template <typename T>
Index Trainer<T>::batches_per_epoch(Index dataset_size) const {
  return batch_count(samples_per_epoch(options_, dataset_size), options_.batch_size);
}

template <typename T>
std::vector<Index> Trainer<T>::batch_indices(Index dataset_size, int epoch, Index batch) const {
  const Index per_epoch = samples_per_epoch(options_, dataset_size);
  check_sample_positions(options_, per_epoch);
  const auto [begin, end] = batch_positions(options_, per_epoch, epoch, batch);
  SampleStream stream(dataset_size, options_.seed, options_.shuffle);
  return stream.range(begin, end);
}

template <typename T>
std::vector<EpochMetrics> Trainer<T>::fit(const Dataset& data, const TrainCallbacks& callbacks, TrainPosition start) {
  if (data.dim() != network_.input_size()) {
    throw ShapeError(fmt::format("train: samples have {} features but the network expects {}", data.dim(),
                                 network_.input_size()));
  }
  if (data.size() == 0) throw ShapeError("train: the data set is empty");
  if (options_.mode != TrainMode::unsupervised) check_training_data(network_, options_, data, "train: the data set's labels");
  if (options_.mode == TrainMode::supervised && network_.classes() == 0) {
    // The label synapses start at zero: the labels' influence on the dynamics is then learnt
    // entirely by eq. 17 (V -> s E[r^(P) e_y^T]), with nothing random about which class is which.
    const Index classes = supervised_classes(network_, data.labels, "train: the data set's labels");
    network_.set_label_weights(Matrix<T>::Zero(network_.layer(network_.num_layers() - 1).size(), classes));
  }
  if (options_.mode == TrainMode::contrastive) {
    const std::vector<double> strengths = nudge_strengths(options_.contrastive);
    if (nudged_.size() != strengths.size() || nudged_.front().network.num_layers() != network_.num_layers()) {
      nudged_.clear();
      for (const double beta : strengths) nudged_.push_back(NudgedPhase{beta, nudged_network(network_, beta), {}, {}});
    }
  }
  const Index n = data.size();
  const Index per_epoch = samples_per_epoch(options_, n);
  check_sample_positions(options_, per_epoch);
  const Index batches = batches_per_epoch(n);
  SampleStream stream(n, options_.seed, options_.shuffle);
  std::vector<EpochMetrics> history;

  for (int epoch = start.epoch; epoch < options_.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const double eta = options_.schedule.at(static_cast<double>(epoch));
    // A resumed epoch starts from the tally of the batches before the checkpoint (held once, by rank 0).
    EpochCounts counts(6, 0.0);
    double seconds_before = 0;
    if (epoch == start.epoch && start.batch > 0) {
      if (communicator_.is_root()) {
        counts = {start.tally.iterations, start.tally.converged, start.tally.samples,
                  start.tally.skipped,    start.tally.continued, start.tally.followed};
      }
      seconds_before = start.tally.seconds;
    }
    const auto seconds_so_far = [&] {
      return seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    const Index first_batch = epoch == start.epoch ? start.batch : 0;
    for (Index b = first_batch; b < batches; ++b) {
      const auto [begin, end] = batch_positions(options_, per_epoch, epoch, b);
      const bool stop = train_batch(data, stream.range(begin, end), epoch, b, eta, counts, callbacks);
      if (callbacks.on_batch) callbacks.on_batch(BatchProgress{epoch + 1, end - static_cast<Index>(epoch) * per_epoch, per_epoch});
      if (stop) {
        // Every rank stops here together; any() records that agreement (an MPI rank then finalises
        // on its way out instead of leaving as if it had failed alone).
        communicator_.any(true);
        throw Interrupted(fmt::format("training interrupted in epoch {} after batch {}", epoch + 1, b + 1));
      }
      if (callbacks.on_checkpoint && options_.checkpoint_every > 0 && (b + 1) % options_.checkpoint_every == 0 &&
          b + 1 < batches) {
        std::vector<double> tally = counts;
        communicator_.allreduce_sum(std::span<double>(tally));
        callbacks.on_checkpoint(
            TrainPosition{epoch, b + 1, EpochTally{tally[0], tally[1], tally[2], tally[3], seconds_so_far(), tally[4], tally[5]}});
      }
    }
    communicator_.allreduce_sum(std::span<double>(counts));
    EpochMetrics m = epoch_metrics(epoch, eta, counts, seconds_so_far());
    if (options_.cost_samples > 0) m.cost = epoch_cost(data);
    history.push_back(m);
    if (callbacks.on_epoch) callbacks.on_epoch(m, TrainPosition{epoch + 1, 0, {}});
    if (callbacks.on_checkpoint) callbacks.on_checkpoint(TrainPosition{epoch + 1, 0, {}});
  }
  return history;
}

template <typename T>
bool Trainer<T>::train_batch(const Dataset& data, const std::vector<Index>& global, int epoch, Index batch,
                             double eta, EpochCounts& counts, const TrainCallbacks& callbacks) {
  const std::vector<Index> mine = rank_share(global, communicator_.rank(), communicator_.size());
  // One collective per batch: the correlations travel with two flags (this rank failed, a stop
  // was requested here), so every rank learns of a failure or a Ctrl-C in the same reduction
  // and none waits forever in a later one.
  std::exception_ptr failure;
  // Tied (conv2d) layers sum per tied parameter: all their update needs, by dense products.
  if (!batch_sums_.shaped_for(network_, true)) batch_sums_ = Correlations::zeros_like(network_, true);
  batch_sums_.set_zero();
  Correlations& sums = batch_sums_;
  FixedPoints<T>& fixed = batch_fixed_;
  for (Matrix<T>& u : fixed.u) u.setZero();  // every sample starts from u = 0, as the reference does
  const bool contrastive = options_.mode == TrainMode::contrastive;
  const bool supervised = options_.mode == TrainMode::supervised;
  // nudged_ is filled in the contrastive mode only.
  for (NudgedPhase& phase : nudged_) {
    if (!phase.sums.shaped_for(network_, true)) phase.sums = Correlations::zeros_like(network_, true);
    phase.sums.set_zero();
  }
  if (supervised) label_sums_.setZero(network_.label_weights().rows(), network_.classes());  // kept across batches
  try {
    const Matrix<T> x = gather_batch<T>(data, mine);
    std::vector<int> labels;
    if (supervised) {
      // The label input drives the top layer through V: the solver's inputs are [x; s V e_y].
      labels = labels_of(data, mine);
      const Matrix<T> stacked =
          stack_top_drive<T>(x, label_drive(network_, labels, options_.contrastive.label_scale));
      const TopDriveScope<T> driven(network_);
      solver_.solve(network_, ConstMatrixRef<T>(stacked), fixed);
    } else {
      solver_.solve(network_, x, fixed);
    }
    std::vector<Index> kept = screen_samples(x, fixed, mine, epoch + 1, options_);
    Matrix<T> targets;
    if (contrastive) {
      targets = one_hot_targets<T>(labels_of(data, mine), network_.layer(network_.num_layers() - 1).size(),
                                   options_.contrastive.label_scale);
    }
    for (NudgedPhase& phase : nudged_) {
      solve_nudged_phase(x, targets, fixed, phase);
      // A sample enters the update only when all of its phases pass the failure policies.
      const std::vector<Index> nudged_kept = screen_samples(x, phase.state, mine, epoch + 1, options_);
      std::vector<Index> both;
      std::set_intersection(kept.begin(), kept.end(), nudged_kept.begin(), nudged_kept.end(), std::back_inserter(both));
      kept = std::move(both);
    }
    counts[3] += static_cast<double>(mine.size() - kept.size());
    const auto add_phase = [&](const FixedPoints<T>& phase, Correlations& into) {
      if (kept.size() == mine.size()) {
        accumulate_correlations(network_, x, phase, into, false);
      } else if (!kept.empty()) {
        const FixedPoints<T> part = select_columns(phase, kept);
        accumulate_correlations(network_, Matrix<T>(x(Eigen::all, kept)), part, into, false);
      }
    };
    add_phase(fixed, sums);
    for (NudgedPhase& phase : nudged_) add_phase(phase.state, phase.sums);
    if (supervised) {
      const Matrix<T>& top = fixed.r.back();
      std::vector<int> kept_labels;
      for (const Index b : kept) kept_labels.push_back(labels[static_cast<std::size_t>(b)]);
      accumulate_label_correlations<T>(ConstMatrixRef<T>(top(Eigen::all, kept)), kept_labels,
                                       options_.contrastive.label_scale, label_sums_);
    }
  } catch (const Error&) {
    failure = std::current_exception();
  }
  // A launcher delivers Ctrl-C to the ranks at different moments; agreeing on it in the batch's
  // reduction makes every rank stop after the same batch.
  bool flags[2] = {failure != nullptr, callbacks.should_stop && callbacks.should_stop()};  // failed, stop
  if (communicator_.size() > 1) {
    // The free phase's sums, each nudged phase's (contrastive) and the label sums, end to end.
    std::vector<double> flat = sums.pack();
    std::vector<std::size_t> ends{flat.size()};
    for (const NudgedPhase& phase : nudged_) {
      const std::vector<double> more = phase.sums.pack();
      flat.insert(flat.end(), more.begin(), more.end());
      ends.push_back(flat.size());
    }
    flat.insert(flat.end(), label_sums_.data(), label_sums_.data() + label_sums_.size());
    allreduce_sum_and_any(communicator_, flat, flags);
    if (!flags[0]) {
      const auto at = [&](std::size_t i) { return flat.begin() + static_cast<std::ptrdiff_t>(i); };
      sums.unpack(std::vector<double>(flat.begin(), at(ends[0])));
      for (std::size_t k = 1; k < ends.size(); ++k) {
        nudged_[k - 1].sums.unpack(std::vector<double>(at(ends[k - 1]), at(ends[k])));
      }
      std::copy(at(ends.back()), flat.end(), label_sums_.data());
    }
  }
  const bool failed = flags[0];
  const bool stop = flags[1];
  if (failed) {  // every rank is here together, so the message exchange below is safe
    const std::optional<RankFailure> first = first_failure(communicator_, failure);
    if (failure) std::rethrow_exception(failure);
    if (!first) throw InternalError("train: the reduction reported a failure that no rank holds");
    throw Error(fmt::format("training stopped in epoch {}: rank {} of {} failed: {}", epoch + 1, first->rank,
                            communicator_.size(), first->message));
  }
  // Every rank applies the same update to the same weights, so every rank sees the same verdict.
  save_weights(network_, before_update_);
  if (contrastive && nudged_.size() == 2) {
    apply_symmetric_contrastive_learning(network_, nudged_[0].sums, nudged_[1].sums, eta, options_.contrastive.beta,
                                         options_.layer_eta_scales, options_.layer_lateral_rates);
  } else if (contrastive) {
    apply_contrastive_learning(network_, nudged_[0].sums, sums, eta, options_.contrastive.beta, options_.layer_eta_scales,
                               options_.layer_lateral_rates);
  } else {
    apply_learning(network_, sums, eta, options_.layer_eta_scales, options_.layer_lateral_rates);
  }
  if (supervised) {
    const double top_scale = options_.layer_eta_scales.empty() ? 1.0 : options_.layer_eta_scales.back();
    apply_label_learning(network_, label_sums_, sums.samples, eta, top_scale);
  }
  if (!all_weights_finite(network_)) {
    restore_weights(before_update_, network_);
    throw NumericalError(fmt::format(
        "epoch {}, batch {}: weights became NaN/Inf after the update (learning rate {} too large?); the weights are "
        "left as they were before this batch",
        epoch + 1, batch + 1, eta));
  }
  counts[0] += fixed.mean_iterations() * static_cast<double>(fixed.batch_size());
  // The nudged phases' steps count too: mean_iterations is then the steps of all phases.
  for (const NudgedPhase& phase : nudged_) {
    counts[0] += phase.state.mean_iterations() * static_cast<double>(phase.state.batch_size());
  }
  counts[1] += fixed.converged_fraction() * static_cast<double>(fixed.batch_size());
  counts[2] += static_cast<double>(fixed.batch_size());
  counts[4] += static_cast<double>(fixed.path_count(SolverPath::continued));
  counts[5] += static_cast<double>(fixed.path_count(SolverPath::followed));
  return stop;
}

template <typename T>
void Trainer<T>::solve_nudged_phase(const Matrix<T>& x, const Matrix<T>& targets, const FixedPoints<T>& fixed,
                                    NudgedPhase& phase) {
  refresh_nudged_network(network_, phase.beta, phase.network);
  // The nudged dynamics start from the free fixed point (u and r), as in the papers.
  phase.state.u = fixed.u;
  phase.state.r = fixed.r;
  solve_nudged(solver_, phase.network, ConstMatrixRef<T>(x), ConstMatrixRef<T>(targets), phase.beta, phase.state);
}

template <typename T>
EpochMetrics Trainer<T>::epoch_metrics(int epoch, double eta, EpochCounts counts, double seconds) const {
  EpochMetrics m;
  m.epoch = epoch + 1;
  m.learning_rate = eta;
  m.samples = static_cast<Index>(counts[2]);
  m.skipped = static_cast<Index>(counts[3]);
  m.mean_iterations = counts[2] > 0 ? counts[0] / counts[2] : 0.0;
  m.converged_fraction = counts[2] > 0 ? counts[1] / counts[2] : 0.0;
  m.continued_fraction = counts[2] > 0 ? counts[4] / counts[2] : 0.0;
  m.followed_fraction = counts[2] > 0 ? counts[5] / counts[2] : 0.0;
  m.seconds = seconds;
  m.samples_per_second = m.seconds > 0 ? static_cast<double>(m.samples) / m.seconds : 0.0;
  m.cost = std::numeric_limits<double>::quiet_NaN();
  return m;
}

template <typename T>
double Trainer<T>::epoch_cost(const Dataset& data) const {
  const std::vector<Index> all = cost_sample_indices(data.size(), options_.cost_samples, options_.seed);
  const Dataset shard = subset(data, rank_share(all, communicator_.rank(), communicator_.size()));
  Correlations sums =
      shard.size() > 0 ? dataset_correlations(network_, solver_, shard) : Correlations::zeros_like(network_);
  if (communicator_.size() > 1) {
    std::vector<double> flat = sums.pack();
    communicator_.allreduce_sum(std::span<double>(flat));
    sums.unpack(flat);
  }
  return structured_cost(network_, sums);
}

template class Trainer<float>;
template class Trainer<double>;

SolveReport training_report(const std::vector<EpochMetrics>& epochs) {
  SolveReport report;
  for (const EpochMetrics& e : epochs) {
    const auto n = static_cast<double>(e.samples);
    report.samples += e.samples;
    report.unconverged += static_cast<Index>(std::llround((1.0 - e.converged_fraction) * n));
    report.scheduled += static_cast<Index>(std::llround((e.continued_fraction + e.followed_fraction) * n));
  }
  return report;
}

}  // namespace simmatch
