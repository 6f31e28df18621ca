// Data-set options and model configs shared by the evaluation subcommands.
#include "cli/eval_common.hpp"

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "simmatch/error.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/schedule_stability.hpp"

namespace simmatch::cli {

template <typename T>
void warn_solves(const Network<T>& network, const SolveReport& report, const SolverOptions& options,
                 const std::string& what) {
  for (const std::string& text : solve_warnings(network, report, options, what)) {
    std::cerr << "simmatch: warning: " << text << std::endl;
  }
}
template void warn_solves<float>(const Network<float>&, const SolveReport&, const SolverOptions&, const std::string&);
template void warn_solves<double>(const Network<double>&, const SolveReport&, const SolverOptions&,
                                  const std::string&);

void add_data_options(CLI::App* cmd, DataArgs& args, const std::string& prefix, const std::string& what) {
  cmd->add_option("--" + prefix + "data", args.path, what + " data file or folder (default: the model's data.path)");
  cmd->add_option("--" + prefix + "format", args.format, what + " data format: mnist-json, idx or npy");
  cmd->add_option("--" + prefix + "split", args.split, what + " mnist-json split: train, test or all");
  cmd->add_option("--" + prefix + "labels", args.labels, what + " labels file (IDX or NPY)");
  cmd->add_option("--" + prefix + "limit", args.limit, what + ": use only the first N samples (0 = all)")
      ->check(CLI::NonNegativeNumber);
}

Precision run_precision(const std::string& model_path, const std::vector<std::string>& overrides) {
  // The last override that names the key wins, as in apply_overrides.
  for (auto it = overrides.rbegin(); it != overrides.rend(); ++it) {
    const auto eq = it->find('=');
    if (eq == std::string::npos) continue;
    std::string key = it->substr(0, eq);
    key.erase(0, key.find_first_not_of(" \t"));
    key.erase(key.find_last_not_of(" \t") + 1);
    if (key != "network.precision") continue;
    Config checked;
    apply_override(checked, *it);  // ConfigError naming the key for a value other than float32/float64
    return checked.network.precision;
  }
  return precision_from_name(model_precision(model_path));
}

Config base_config(const std::string& model_path, const std::string& config_json,
                   const std::vector<std::string>& overrides) {
  Config config;
  if (!model_path.empty()) {
    nlohmann::json tree;
    try {
      tree = nlohmann::json::parse(config_json.empty() ? std::string("{}") : config_json);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(model_path + ": the embedded config is not valid JSON: " + e.what());
    }
    config = config_from_json(tree, model_path + " (embedded config)");
  }
  config.source = "command line";
  apply_overrides(config, overrides);
  return config;
}

Dataset load_data_args(Config config, const DataArgs& args) {
  if (!args.path.empty()) {
    set_parameter(config, "data.path", args.path);
    set_parameter(config, "data.labels", args.labels);  // a new data file never keeps old labels
  } else if (!args.labels.empty()) {
    set_parameter(config, "data.labels", args.labels);
  }
  if (!args.format.empty()) set_parameter(config, "data.format", args.format);
  if (!args.split.empty()) set_parameter(config, "data.split", args.split);
  set_parameter(config, "data.limit", args.limit);
  validate_config(config);
  return load_data(config);
}

Dataset load_features(const std::string& path, const std::string& labels_path) {
  Dataset data = read_npy_dataset(path, labels_path);
  if (data.size() == 0) throw FormatError(path + ": no samples");
  check_finite(data, path);
  return data;
}

LabelledFeatures load_mapped_features(const std::string& path, const std::string& labels_path) {
  LabelledFeatures out;
  out.x = FeatureMatrix::from_npy(path);
  out.labels = read_npy_labels(labels_path, out.x.samples(), path);
  return out;
}

void write_columns_npy(const std::string& path, const Eigen::MatrixXf& x) {
  write_npy(path, NpyArray::from_floats(x.data(), {x.cols(), x.rows()}));
}

void make_folder(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError(fmt::format("cannot create output folder '{}': {}", dir, ec.message()));
}

}  // namespace simmatch::cli
