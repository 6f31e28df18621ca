// The network's own output as a classifier (output_scoring.hpp).
#include "cli/output_scoring.hpp"

#include <fmt/format.h>

#include "cli/eval_common.hpp"
#include "simmatch/contrastive.hpp"
#include "simmatch/error.hpp"
#include "simmatch/own_output.hpp"

namespace simmatch::cli {

bool classifies_itself(const Config& config) { return train_mode_from_name(config.train.mode) != TrainMode::unsupervised; }

void require_own_output(const Config& config, const std::string& model_path, const std::string& what) {
  if (!classifies_itself(config)) {
    throw ConfigError(fmt::format("{}: the model '{}' was trained with train.mode = \"{}\": it has no output of "
                                  "its own (train with \"supervised\" or \"contrastive\"; use `simmatch evaluate` "
                                  "for a linear read-out of its representation)",
                                  what, model_path, config.train.mode));
  }
}

template <typename T>
OwnOutput own_output(const Network<T>& network, const Config& config, const Dataset& data, Index batch_size,
                     const std::string& what) {
  if (data.dim() != network.input_size()) {
    throw ShapeError(fmt::format("the {} samples have {} values but the model expects {}", what, data.dim(),
                                 network.input_size()));
  }
  const auto solver = make_solver<T>(config.solver);
  SolveReport report;
  const Matrix<T> scores =
      own_output_scores(network, *solver, train_mode_from_name(config.train.mode), data, batch_size, &report);
  warn_solves(network, report, solver->options(), what == "input" ? "predicted" : "of the " + what + " set");
  OwnOutput out;
  out.scores = scores.template cast<float>();
  out.predicted = predicted_classes<T>(ConstMatrixRef<T>(scores));
  return out;
}

template OwnOutput own_output<float>(const Network<float>&, const Config&, const Dataset&, Index, const std::string&);
template OwnOutput own_output<double>(const Network<double>&, const Config&, const Dataset&, Index, const std::string&);

}  // namespace simmatch::cli
