// `simmatch rsm`: representational similarity matrices of the input and of every layer of a model
// on a data set (or of given representation NPYs), as NPY and PNG heatmaps, with cluster
// separation indices when labels are known and the agreement of consecutive RSMs.
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/eval_common.hpp"
#include "simmatch/error.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/png.hpp"
#include "simmatch/precision.hpp"
#include "simmatch/rsm.hpp"

namespace simmatch::cli {
namespace {

struct RsmArgs {
  std::string model_path;
  std::vector<std::string> feature_files;
  DataArgs data;
  std::string out_dir;
  bool sort = true;
  Index scale = 0;
  std::string colormap = "diverging";
  Index batch_size = 256;
  std::vector<std::string> overrides;
};

struct Level {
  std::string name;
  Eigen::MatrixXf x;  // N x T
};

void write_levels(const RsmArgs& args, const std::vector<Level>& levels, const std::vector<int>& labels) {
  make_folder(args.out_dir);
  const Index t = levels.front().x.cols();
  std::vector<Index> order(static_cast<std::size_t>(t));
  for (Index i = 0; i < t; ++i) order[static_cast<std::size_t>(i)] = i;
  if (args.sort && !labels.empty()) order = order_by_label(labels);
  HeatmapOptions hm;
  hm.colormap = colormap_from_name(args.colormap);
  hm.limit = 1.0;
  hm.scale = args.scale > 0 ? args.scale : std::max<Index>(1, 400 / std::max<Index>(t, 1));

  nlohmann::json summary = {{"samples", t}, {"levels", nlohmann::json::array()}};
  std::vector<Image> panels;
  Eigen::MatrixXd previous;
  for (const Level& level : levels) {
    if (level.x.cols() != t) {
      throw ShapeError(fmt::format("rsm: '{}' has {} samples, the first representation {}", level.name, level.x.cols(), t));
    }
    const Eigen::MatrixXd s = reorder(similarity_matrix(level.x), order);
    const std::filesystem::path base = std::filesystem::path(args.out_dir) / ("rsm_" + level.name);
    Eigen::MatrixXd row_major = s.transpose();  // symmetric anyway; keeps the NPY row-major
    write_npy(base.string() + ".npy", NpyArray::from_doubles(row_major.data(), {t, t}));
    const Image image = heatmap(s, hm);
    write_png(base.string() + ".png", image);
    panels.push_back(image);
    nlohmann::json entry = {{"name", level.name}, {"dimension", level.x.rows()}};
    std::string line = fmt::format("{:<10} dim {:>6}", level.name, level.x.rows());
    if (!labels.empty()) {
      std::vector<int> sorted_labels;
      for (Index i : order) sorted_labels.push_back(labels[static_cast<std::size_t>(i)]);
      const ClusterSeparation sep = cluster_separation(s, sorted_labels);
      entry["within"] = sep.within;
      entry["between"] = sep.between;
      entry["separation_index"] = sep.index;
      line += fmt::format("  within {:+.3f}  between {:+.3f}  separation index {:.3f}", sep.within, sep.between, sep.index);
    }
    if (previous.size() > 0 && t >= 3) {
      const double c = rsm_correlation(previous, s);
      entry["correlation_with_previous"] = c;
      line += fmt::format("  corr. with previous {:.3f}", c);
    }
    summary["levels"].push_back(entry);
    std::cout << line << '\n';
    previous = s;
  }
  write_png((std::filesystem::path(args.out_dir) / "rsm_all.png").string(), hstack(panels, 8));
  write_file_atomically((std::filesystem::path(args.out_dir) / "rsm_summary.json").string(), summary.dump(2) + "\n");
  std::cout << "wrote " << levels.size() << " RSMs (NPY, PNG), rsm_all.png and rsm_summary.json to " << args.out_dir
            << '\n';
}

template <typename T>
void run_model(const RsmArgs& args) {
  LoadedModel<T> model = load_model<T>(args.model_path);
  const Config config = base_config(args.model_path, model.config_json, args.overrides);
  const Dataset data = load_data_args(config, args.data);
  if (data.dim() != model.network.input_size()) {
    throw ShapeError(fmt::format("the samples have {} values but the model expects {}", data.dim(), model.network.input_size()));
  }
  const auto solver = make_solver<T>(config.solver);
  SolveReport report;
  const std::vector<Matrix<T>> r = encode(model.network, *solver, data, args.batch_size, &report);
  warn_solves(model.network, report, solver->options(), "encoded");
  std::vector<Level> levels{{"input", data.x}};
  for (std::size_t p = 0; p < r.size(); ++p) levels.push_back({"layer" + std::to_string(p), r[p].template cast<float>()});
  write_levels(args, levels, data.labels);
}

void run_rsm(const RsmArgs& args) {
  if (args.model_path.empty() == args.feature_files.empty()) {
    throw ConfigError("give either a MODEL file or --features FILE.npy ... (not both)");
  }
  if (!args.model_path.empty()) {
    with_precision(run_precision(args.model_path, args.overrides),
                   [&](auto type) { run_model<typename decltype(type)::type>(args); });
    return;
  }
  std::vector<Level> levels;
  std::vector<int> labels;
  for (std::size_t i = 0; i < args.feature_files.size(); ++i) {
    const Dataset d = load_features(args.feature_files[i], i == 0 ? args.data.labels : "");
    if (i == 0) labels = d.labels;
    levels.push_back({std::filesystem::path(args.feature_files[i]).stem().string(), d.x});
  }
  write_levels(args, levels, labels);
}

}  // namespace

void register_rsm(CLI::App& app) {
  auto args = std::make_shared<RsmArgs>();
  args->data.limit = 200;
  CLI::App* cmd = app.add_subcommand(
      "rsm", "Representational similarity matrices (dot products, largest |value| = 1) of the input and every layer");
  cmd->add_option("model", args->model_path, "Model file (NPZ) written by `simmatch train`");
  cmd->add_option("--features", args->feature_files, "Representation NPYs (T x N each) instead of a model")
      ->expected(1, -1);
  add_data_options(cmd, args->data, "", "Input");
  cmd->add_option("--out", args->out_dir, "Output folder")->required();
  cmd->add_flag("!--no-sort", args->sort, "Keep the data order (default: samples grouped by label)");
  cmd->add_option("--scale", args->scale, "Pixels per matrix entry (default: about 400 pixels in all)");
  cmd->add_option("--colormap", args->colormap, "diverging, signed_gray or gray")->capture_default_str();
  cmd->add_option("--batch-size", args->batch_size, "Samples solved together")->check(CLI::PositiveNumber);
  cmd->add_option("--set", args->overrides, "Config override key=value (repeatable)");
  cmd->footer(
      "--limit defaults to 200 samples (an RSM is T x T). With labels, samples are grouped by label and each RSM's "
      "cluster separation index ((within - between) / mean |S|) is printed; 'corr. with previous' is the Pearson "
      "correlation of the off-diagonal entries of consecutive RSMs. --labels names the labels of the first "
      "--features file.");
  cmd->callback([args] { run_rsm(*args); });
}

}  // namespace simmatch::cli
