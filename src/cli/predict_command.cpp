// `simmatch predict MODEL [data] --out predictions.npy`: the classes a network trained with labels
// assigns with its own output (output_scoring.hpp), no external classifier; with labels it also
// reports the accuracy.
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/eval_common.hpp"
#include "cli/output_scoring.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/precision.hpp"
#include "simmatch/readout.hpp"

namespace simmatch::cli {
namespace {

struct PredictArgs {
  std::string model_path;
  DataArgs data;
  std::string out_path;
  std::string scores_path;
  Index batch_size = 256;
  std::vector<std::string> overrides;
};

template <typename T>
void predict_with(const PredictArgs& args) {
  LoadedModel<T> model = load_model<T>(args.model_path);
  const Config base = base_config(args.model_path, model.config_json, args.overrides);
  require_own_output(base, args.model_path, "predict");
  const Dataset data = load_data_args(base, args.data);
  const OwnOutput out = own_output(model.network, base, data, args.batch_size, "input");
  std::vector<std::int64_t> classes(out.predicted.begin(), out.predicted.end());
  write_npy(args.out_path, NpyArray::from_int64s(classes.data(), {static_cast<Index>(classes.size())}));
  if (!args.scores_path.empty()) {
    // T x classes, row-major: the scores of sample t are row t (scikit-learn's decision_function).
    write_columns_npy(args.scores_path, out.scores);
  }
  std::cout << fmt::format("predicted {} samples into {}", classes.size(), args.out_path);
  if (data.has_labels()) {
    const double acc = accuracy(data.labels, out.predicted);
    std::cout << fmt::format(": accuracy {:.2f} % ({:.2f} % error)", 100 * acc, 100 * (1 - acc));
  }
  std::cout << "\n" << std::flush;
}

}  // namespace

void register_predict(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  CLI::App* cmd = app.add_subcommand(
      "predict", "Classes assigned by a model's own output (train.mode = \"supervised\" or \"contrastive\")");
  cmd->add_option("model", args->model_path, "Model file (NPZ) written by `simmatch train`")->required();
  add_data_options(cmd, args->data, "", "Input");
  cmd->add_option("--out", args->out_path, "Predicted classes, one int64 per sample (NPY)")->required();
  cmd->add_option("--scores", args->scores_path,
                  "Also write the class scores, samples x classes float32 (NPY): the decision function (contrastive: the top "
                  "layer's activities; supervised: V^T r)");
  cmd->add_option("--batch-size", args->batch_size, "Samples solved together")->check(CLI::PositiveNumber);
  cmd->add_option("--set", args->overrides, "Config override key=value (repeatable), e.g. --set solver.method=euler");
  cmd->footer("Data default to the model's config (data.path etc.). With labels (IDX/NPY --labels, or mnist-json) the "
              "accuracy is printed too.");
  cmd->callback([args] {
    with_precision(run_precision(args->model_path, args->overrides),
                   [&](auto type) { predict_with<typename decltype(type)::type>(*args); });
  });
}

}  // namespace simmatch::cli
