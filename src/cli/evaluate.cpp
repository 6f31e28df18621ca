// `simmatch evaluate`: linear SVM read-out of a model's representations, of precomputed
// representation NPYs (memory-mapped, not copied), or of the raw pixels (--raw, the baseline).
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <type_traits>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/eval_common.hpp"
#include "cli/output_scoring.hpp"
#include "simmatch/error.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/pooling.hpp"
#include "simmatch/precision.hpp"
#include "simmatch/readout.hpp"

namespace simmatch::cli {
namespace {

struct EvaluateArgs {
  std::string model_path;
  bool raw = false;
  std::string train_features;
  std::string test_features;
  DataArgs train;
  DataArgs test;
  int layer = -1;
  std::string pool = "none";
  std::string c_values = "0.01,0.1,1,10";
  double validation = 0.2;
  bool balanced = false;
  double tolerance = 1e-4;
  std::string solver = "dense";
  std::uint64_t seed = 0;
  Index batch_size = 256;
  std::string json_path;
  std::string readout = "auto";
  std::vector<std::string> overrides;
};

std::vector<double> parse_c_values(const std::string& text) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      const double c = std::stod(item, &used);
      if (used != item.size() || !(c > 0)) throw std::invalid_argument(item);
      out.push_back(c);
    } catch (const std::exception&) {
      throw ConfigError(fmt::format("--c: '{}' is not a positive number (expected e.g. 0.1,1,10)", item));
    }
  }
  if (out.empty()) throw ConfigError("--c: no value given");
  return out;
}

// The test set: --test-data when given (in the training data's format unless --test-format says
// otherwise), otherwise the training data's mnist-json test split.
DataArgs test_args(const EvaluateArgs& args, const Config& base) {
  DataArgs test = args.test;
  const std::string format = args.train.format.empty() ? base.data.format : args.train.format;
  if (!test.path.empty() && test.format.empty()) test.format = format;
  if (test.path.empty()) {
    if (format != "mnist-json") {
      throw ConfigError("no test data: give --test-data (and --test-labels), or use mnist-json data whose test split "
                        "is taken by default");
    }
    test.path = args.train.path.empty() ? base.data.path : args.train.path;
    test.format = format;
    if (test.split.empty()) test.split = "test";
  }
  return test;
}

void require_labels(const Dataset& data, const std::string& what) {
  if (!data.has_labels()) {
    throw ConfigError(fmt::format("the {} samples have no labels (give --{}labels)", what, what == "test" ? "test-" : ""));
  }
}

// The layer's fixed points as float32, pooled batch by batch; a float32 model's output is moved,
// not copied (at 60,000 x 19,600 features a copy would be another 4.7 GB).
template <typename T>
FeatureMatrix representation(const Network<T>& network, const Config& config, const Dataset& data, int layer,
                             const Pooling& pooling, Index batch_size, const std::string& what) {
  if (data.dim() != network.input_size()) {
    throw ShapeError(fmt::format("the {} samples have {} values but the model expects {}", what, data.dim(),
                                 network.input_size()));
  }
  const auto solver = make_solver<T>(config.solver);
  SolveReport report;
  Matrix<T> kept = encode_layer(network, *solver, data, layer, pooling, batch_size, &report);
  warn_solves(network, report, solver->options(), "of the " + what + " set");
  if constexpr (std::is_same_v<T, float>) {
    return FeatureMatrix(std::move(kept));
  } else {
    return FeatureMatrix(kept.template cast<float>());
  }
}

struct Features {
  FeatureMatrix train, test;
  std::vector<int> train_labels, test_labels;
  nlohmann::json source;
};

template <typename T>
Features model_features(const EvaluateArgs& args) {
  LoadedModel<T> model = load_model<T>(args.model_path);
  const Config base = base_config(args.model_path, model.config_json, args.overrides);
  const Index layers = model.network.num_layers();
  if (args.layer >= layers) {
    throw ConfigError(fmt::format("--layer {}: the model '{}' has {} layer(s), numbered 0 to {}", args.layer,
                                  args.model_path, layers, layers - 1));
  }
  const int layer = args.layer >= 0 ? args.layer : static_cast<int>(layers - 1);
  const Pooling pooling = Pooling::from_text(args.pool);
  try {
    pooling.output(model.network.layer(layer).grid());  // refused before any solving
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("--pool: layer {}: {}", layer, e.what()));
  }
  Features f;
  {
    const Dataset train = load_data_args(base, args.train);
    require_labels(train, "training");
    f.train = representation(model.network, base, train, layer, pooling, args.batch_size, "training");
    f.train_labels = train.labels;
  }
  {
    const Dataset test = load_data_args(base, test_args(args, base));
    require_labels(test, "test");
    f.test = representation(model.network, base, test, layer, pooling, args.batch_size, "test");
    f.test_labels = test.labels;
  }
  f.source = {{"mode", "model"}, {"model", args.model_path}, {"layer", layer}, {"pool", pooling.text()}};
  return f;
}

Features raw_features(const EvaluateArgs& args) {
  const Config base = base_config(args.model_path, "", args.overrides);
  if (args.train.path.empty() && base.data.path.empty()) throw ConfigError("--raw needs --data (the training data)");
  Dataset train = load_data_args(base, args.train);
  Dataset test = load_data_args(base, test_args(args, base));
  require_labels(train, "training");
  require_labels(test, "test");
  return {FeatureMatrix(std::move(train.x)), FeatureMatrix(std::move(test.x)), std::move(train.labels),
          std::move(test.labels), {{"mode", "raw"}}};
}

Features file_features(const EvaluateArgs& args) {
  if (args.test_features.empty()) throw ConfigError("--train-features needs --test-features");
  if (args.train.labels.empty() || args.test.labels.empty()) {
    throw ConfigError("--train-features/--test-features need --labels and --test-labels (NPY)");
  }
  LabelledFeatures train = load_mapped_features(args.train_features, args.train.labels);
  LabelledFeatures test = load_mapped_features(args.test_features, args.test.labels);
  return {std::move(train.x), std::move(test.x), std::move(train.labels), std::move(test.labels),
          {{"mode", "features"}, {"train_features", args.train_features}, {"test_features", args.test_features}}};
}

// A model trained with labels scored by its own output: no classifier is fitted, so no C, no
// validation.
template <typename T>
void evaluate_own_output(const EvaluateArgs& args) {
  LoadedModel<T> model = load_model<T>(args.model_path);
  const Config base = base_config(args.model_path, model.config_json, args.overrides);
  require_own_output(base, args.model_path, "evaluate --readout output");
  const Dataset train = load_data_args(base, args.train);
  require_labels(train, "training");
  const Dataset test = load_data_args(base, test_args(args, base));
  require_labels(test, "test");
  const OwnOutput train_out = own_output(model.network, base, train, args.batch_size, "training");
  const OwnOutput test_out = own_output(model.network, base, test, args.batch_size, "test");
  const auto classes = static_cast<Index>(test_out.scores.rows());
  std::vector<int> class_ids(static_cast<std::size_t>(classes));
  for (Index c = 0; c < classes; ++c) class_ids[static_cast<std::size_t>(c)] = static_cast<int>(c);
  const double train_acc = accuracy(train.labels, train_out.predicted);
  const double test_acc = accuracy(test.labels, test_out.predicted);
  const Eigen::MatrixXi confusion = confusion_matrix(test.labels, test_out.predicted, class_ids);
  std::cout << fmt::format("network output ({} classes, no external classifier): train accuracy {:.2f} %, test "
                           "accuracy {:.2f} % ({:.2f} % error) on {} test samples\n",
                           classes, 100 * train_acc, 100 * test_acc, 100 * (1 - test_acc), test.labels.size());
  std::cout << "confusion (rows: true class, columns: predicted)\n" << confusion << "\n" << std::flush;
  if (!args.json_path.empty()) {
    nlohmann::json j;
    j["readout"] = "output";
    j["classes"] = classes;
    j["train_accuracy"] = train_acc;
    j["test_accuracy"] = test_acc;
    j["test_error"] = 1 - test_acc;
    j["train_samples"] = train.labels.size();
    j["test_samples"] = test.labels.size();
    std::vector<std::vector<int>> rows;
    for (Index i = 0; i < confusion.rows(); ++i) {
      rows.emplace_back();
      for (Index c = 0; c < confusion.cols(); ++c) rows.back().push_back(confusion(i, c));
    }
    j["confusion"] = rows;
    j["source"] = {{"mode", "model"}, {"model", args.model_path}, {"layer", model.network.num_layers() - 1}};
    write_file_atomically(args.json_path, j.dump(2) + "\n");
  }
}

// Which read-out --readout auto means for this model: its own output when it was trained with
// labels (supervised or contrastive), the SVM otherwise.
bool use_own_output(const EvaluateArgs& args) {
  if (args.readout == "svm") return false;
  if (args.model_path.empty() || args.raw) {
    if (args.readout == "output") throw ConfigError("--readout output needs a MODEL file");
    return false;
  }
  if (args.readout == "output") return true;
  // Only the config entry is read here; the weights are loaded once the read-out is chosen.
  const std::string config_json = read_npz_array(args.model_path, "config").as_text();
  return classifies_itself(base_config(args.model_path, config_json, args.overrides));
}

void run_evaluate(const EvaluateArgs& args) {
  const int modes = (args.raw ? 1 : 0) + (!args.train_features.empty() ? 1 : 0) + (!args.model_path.empty() && !args.raw ? 1 : 0);
  if (modes != 1) {
    throw ConfigError("give exactly one of: a MODEL file, --raw (pixels), or --train-features/--test-features");
  }
  if (use_own_output(args)) {
    if (args.layer >= 0 || args.pool != "none") {
      throw ConfigError("--layer and --pool choose what an SVM reads out; the network's own output is its top layer "
                        "(give --readout svm to read out a layer)");
    }
    with_precision(run_precision(args.model_path, args.overrides),
                   [&](auto type) { evaluate_own_output<typename decltype(type)::type>(args); });
    return;
  }
  ReadoutOptions options;
  options.c_grid = parse_c_values(args.c_values);
  options.validation_fraction = args.validation;
  options.balanced = args.balanced;
  options.tolerance = args.tolerance;
  options.solver = parse_readout_solver(args.solver);
  options.seed = args.seed;
  if (options.c_grid.size() > 1 && !(args.validation > 0 && args.validation < 1)) {
    throw ConfigError(fmt::format("--validation must be in (0, 1), got {}", args.validation));
  }

  Features f;
  if (args.raw) {
    f = raw_features(args);
  } else if (!args.train_features.empty()) {
    f = file_features(args);
  } else {
    f = with_precision(run_precision(args.model_path, args.overrides),
                       [&](auto type) { return model_features<typename decltype(type)::type>(args); });
  }
  const ReadoutReport report =
      evaluate_readout(f.train.matrix(), f.train_labels, f.test.matrix(), f.test_labels, options);
  std::cout << readout_summary(report) << std::flush;
  if (!args.json_path.empty()) {
    nlohmann::json j = readout_to_json(report);
    j["source"] = f.source;
    j["balanced"] = args.balanced;
    write_file_atomically(args.json_path, j.dump(2) + "\n");
  }
}

}  // namespace

void register_evaluate(CLI::App& app) {
  auto args = std::make_shared<EvaluateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "evaluate", "Linear SVM read-out of a model's representations, of representation NPYs, or of raw pixels");
  cmd->add_option("model", args->model_path, "Model file (NPZ) written by `simmatch train`");
  cmd->add_flag("--raw", args->raw, "Read out the preprocessed pixels themselves (the baseline)");
  cmd->add_option("--train-features", args->train_features, "Precomputed training representations (NPY, T x N)");
  cmd->add_option("--test-features", args->test_features, "Precomputed test representations (NPY, T x N)");
  add_data_options(cmd, args->train, "", "Training");
  add_data_options(cmd, args->test, "test-", "Test");
  cmd->add_option("--layer", args->layer, "Layer read out, 0 = first (default: the top layer)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--pool", args->pool,
                  "Pool the layer over windows of sites before the read-out: avg:W, max:W (W x W windows, stride W), "
                  "avg:W:S, max:W:S or none")
      ->capture_default_str();
  cmd->add_option("--c", args->c_values, "C values to choose from on the validation split, comma-separated (one value: no split)")
      ->capture_default_str();
  cmd->add_option("--validation", args->validation, "Fraction of the training set held out to choose C")
      ->capture_default_str();
  cmd->add_flag("--balanced", args->balanced, "Class weights inversely proportional to class frequency");
  cmd->add_option("--tolerance", args->tolerance, "Stopping tolerance of the SVM solver")->capture_default_str();
  cmd->add_option("--solver", args->solver,
                  "SVM solver: dense (trust-region Newton on the float32 matrix in place, all classes per pass, "
                  "threads over samples), primal (liblinear's trust-region Newton, classes in parallel threads) or "
                  "dual (liblinear's coordinate descent, LinearSVC's default, one thread); same optimum")
      ->check(CLI::IsMember({"dense", "primal", "dual"}))
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the validation split")->capture_default_str();
  cmd->add_option("--batch-size", args->batch_size, "Samples solved together when encoding")->check(CLI::PositiveNumber);
  cmd->add_option("--json", args->json_path, "Write accuracies, chosen C and the confusion matrix to this JSON file");
  cmd->add_option("--readout", args->readout,
                  "auto: a model trained with train.mode = \"supervised\" or \"contrastive\" is scored by its own "
                  "output (the largest of V^T r or of the top layer's activities, no classifier), any other by the "
                  "linear SVM; svm or output to choose")
      ->check(CLI::IsMember({"auto", "svm", "output"}))
      ->capture_default_str();
  cmd->add_option("--set", args->overrides, "Config override key=value (repeatable), e.g. --set solver.method=fast");
  cmd->footer(
      "Data default to the model's config (data.path etc.); for mnist-json the test set defaults to the same "
      "folder's test split (image i of a digit is test when i % 5 == 4). For IDX/NPY data give --test-data and "
      "--test-labels. Preprocessing and solver settings come from the model's config.");
  cmd->callback([args] { run_evaluate(*args); });
}

}  // namespace simmatch::cli
