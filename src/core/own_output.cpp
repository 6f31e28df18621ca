// The network's own output as a classifier (own_output.hpp).
#include "simmatch/own_output.hpp"

#include <limits>

#include <fmt/format.h>

#include "simmatch/error.hpp"
#include "simmatch/pooling.hpp"
#include "simmatch/readout.hpp"
#include "simmatch/supervised.hpp"

namespace simmatch {

template <typename T>
Matrix<T> own_output_scores(const Network<T>& network, const DynamicsSolver<T>& solver, TrainMode mode,
                            const Dataset& data, Index batch_size, SolveReport* report) {
  if (mode == TrainMode::unsupervised) {
    throw ConfigError("own output: a network trained with train.mode = \"unsupervised\" has no output of its own");
  }
  if (data.dim() != network.input_size()) {
    throw ShapeError(fmt::format("own output: the samples have {} values but the network expects {}", data.dim(),
                                 network.input_size()));
  }
  const Index top = network.num_layers() - 1;
  Matrix<T> r = encode_layer(network, solver, data, top, Pooling::from_text("none"), batch_size, report);
  if (mode == TrainMode::supervised) return label_scores(network, ConstMatrixRef<T>(r));
  return r;
}

template <typename T>
double own_output_accuracy(const Network<T>& network, const DynamicsSolver<T>& solver, TrainMode mode,
                           const Dataset& data, Index batch_size) {
  if (static_cast<Index>(data.labels.size()) != data.size()) {
    throw ShapeError(fmt::format("own output: {} labels for {} samples", data.labels.size(), data.size()));
  }
  if (data.size() == 0) return std::numeric_limits<double>::quiet_NaN();
  const Matrix<T> scores = own_output_scores(network, solver, mode, data, batch_size);
  return accuracy(data.labels, predicted_classes<T>(ConstMatrixRef<T>(scores)));
}

template Matrix<float> own_output_scores<float>(const Network<float>&, const DynamicsSolver<float>&, TrainMode,
                                                const Dataset&, Index, SolveReport*);
template Matrix<double> own_output_scores<double>(const Network<double>&, const DynamicsSolver<double>&, TrainMode,
                                                  const Dataset&, Index, SolveReport*);
template double own_output_accuracy<float>(const Network<float>&, const DynamicsSolver<float>&, TrainMode,
                                           const Dataset&, Index);
template double own_output_accuracy<double>(const Network<double>&, const DynamicsSolver<double>&, TrainMode,
                                            const Dataset&, Index);

}  // namespace simmatch
