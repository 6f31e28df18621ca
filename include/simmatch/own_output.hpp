// The network's own output as a classifier: for the contrastive mode (docs/theory.md,
// "Contrastive similarity matching") the top layer's free fixed point, one neuron per class; for
// the supervised mode ("Supervised similarity matching: labels as an input") the label synapses'
// reading of it, V^T r. The largest score is the predicted class. `simmatch predict` and
// `evaluate` score models with it, and a training run its held-out samples (train.validation).
#pragma once

#include <vector>

#include "simmatch/contrastive.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/encode.hpp"
#include "simmatch/network.hpp"

namespace simmatch {

/// Class scores (classes x T) of `data` at the free fixed points, reached from rest by `solver`
/// without any label input, in batches of `batch_size`. ConfigError for the unsupervised mode
/// (no output of its own); ShapeError when the samples do not fit the network. `report`, when
/// given, counts the solves (encode.hpp).
template <typename T>
Matrix<T> own_output_scores(const Network<T>& network, const DynamicsSolver<T>& solver, TrainMode mode,
                            const Dataset& data, Index batch_size = kDefaultEncodeBatch, SolveReport* report = nullptr);

/// The share of `data`'s samples whose largest own-output score is their label (NaN for no
/// samples). ShapeError unless data has one label per sample.
template <typename T>
double own_output_accuracy(const Network<T>& network, const DynamicsSolver<T>& solver, TrainMode mode,
                           const Dataset& data, Index batch_size = kDefaultEncodeBatch);

extern template Matrix<float> own_output_scores<float>(const Network<float>&, const DynamicsSolver<float>&, TrainMode,
                                                       const Dataset&, Index, SolveReport*);
extern template Matrix<double> own_output_scores<double>(const Network<double>&, const DynamicsSolver<double>&,
                                                         TrainMode, const Dataset&, Index, SolveReport*);
extern template double own_output_accuracy<float>(const Network<float>&, const DynamicsSolver<float>&, TrainMode,
                                                  const Dataset&, Index);
extern template double own_output_accuracy<double>(const Network<double>&, const DynamicsSolver<double>&, TrainMode,
                                                   const Dataset&, Index);

}  // namespace simmatch
