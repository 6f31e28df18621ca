// `simmatch encode MODEL DATA OUT.npy`: fixed points of a trained model on a data set, written as
// a T x N_p float32 NPY (top layer, a chosen layer, or every layer), optionally pooled over sites.
#include <filesystem>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/eval_common.hpp"
#include "simmatch/config.hpp"
#include "simmatch/distributed.hpp"
#include "simmatch/error.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/pooling.hpp"
#include "simmatch/precision.hpp"

namespace simmatch::cli {
namespace {

struct EncodeArgs {
  std::string model_path;
  std::string data_path;
  std::string out_path;
  int layer = -1;
  bool all = false;
  std::string format;
  std::string split;
  std::string labels;
  Index limit = 0;
  Index batch_size = 256;
  std::string pool = "none";
  std::vector<std::string> overrides;
};

// The model's own config (preprocessing, solver) with the data settings of this command.
Config encoding_config(const EncodeArgs& args, const std::string& config_json) {
  nlohmann::json tree;
  try {
    tree = nlohmann::json::parse(config_json.empty() ? std::string("{}") : config_json);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(args.model_path + ": the embedded config is not valid JSON: " + e.what());
  }
  Config config = config_from_json(tree, args.model_path + " (embedded config)");
  config.source = "command line";
  set_parameter(config, "data.path", args.data_path);
  set_parameter(config, "data.labels", args.labels);
  set_parameter(config, "data.limit", args.limit);
  if (!args.format.empty()) set_parameter(config, "data.format", args.format);
  if (!args.split.empty()) set_parameter(config, "data.split", args.split);
  apply_overrides(config, args.overrides);
  return config;
}

std::string layer_path(const std::string& out, Index p) {
  std::filesystem::path path(out);
  const std::string ext = path.has_extension() ? path.extension().string() : std::string(".npy");
  path.replace_extension();
  return path.string() + ".layer" + std::to_string(p) + ext;
}

void write_layer(const std::string& path, const Matrix<float>& r) {
  // r is N_p x T column-major: the same bytes as a row-major T x N_p array, written from r itself
  // (60,000 x 19,600 features are 4.7 GB; every copy would add as much to the peak).
  write_npy_floats(path, r.data(), {r.cols(), r.rows()});
}

template <typename T>
void encode_with(const EncodeArgs& args, const Communicator& comm) {
  LoadedModel<T> model = agree(comm, "reading the model", [&] { return load_model<T>(args.model_path); });
  const Network<T>& network = model.network;
  const Config config = encoding_config(args, model.config_json);
  const Index layers = network.num_layers();
  if (!args.all && args.layer >= layers)
    throw ConfigError(fmt::format("--layer {}: the model '{}' has {} layer(s), numbered 0 to {}", args.layer,
                                  args.model_path, layers, layers - 1));

  const Pooling pooling = Pooling::from_text(args.pool);
  std::vector<Index> wanted;
  for (Index p = 0; p < layers; ++p) {
    if (args.all || p == (args.layer >= 0 ? args.layer : layers - 1)) wanted.push_back(p);
  }
  for (Index p : wanted) {
    try {
      pooling.output(network.layer(p).grid());  // refused before any solving
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("--pool: layer {}: {}", p, e.what()));
    }
  }

  // Every rank reads the data itself; under mpirun each solves its share and rank 0 writes.
  const Dataset data = agree(comm, "reading the data", [&] { return load_data(config); });
  if (data.dim() != network.input_size())
    throw ShapeError(fmt::format("{}: samples have {} values but the model '{}' expects {}", args.data_path,
                                 data.dim(), args.model_path, network.input_size()));
  const auto solver = make_solver<T>(config.solver);
  SolveReport report;
  // Only the wanted layers, pooled batch by batch: a 64-filter conv2d layer on 60,000 images is
  // 12 GB unpooled, 0.75 GB pooled at max:4.
  const std::vector<Matrix<float>> r =
      encode_distributed(network, *solver, data, wanted, pooling, args.batch_size, comm, &report);
  if (comm.is_root()) warn_solves(network, report, solver->options(), "encoded");

  agree(comm, "writing the representations", [&] {
    if (!comm.is_root()) return;
    if (args.all) {
      for (std::size_t i = 0; i < wanted.size(); ++i) write_layer(layer_path(args.out_path, wanted[i]), r[i]);
    } else {
      write_layer(args.out_path, r.front());
    }
  });
}

void run_encode(const EncodeArgs& args) {
  // MPI under mpirun/srun (samples split across ranks, one NPY in the original order), else one process.
  const auto comm = make_communicator();
  const Precision precision =
      agree(*comm, "reading the model", [&] { return run_precision(args.model_path, args.overrides); });
  with_precision(precision, [&](auto type) { encode_with<typename decltype(type)::type>(args, *comm); });
}

}  // namespace

void register_encode(CLI::App& app) {
  auto args = std::make_shared<EncodeArgs>();
  CLI::App* cmd = app.add_subcommand("encode", "Write a trained model's fixed-point representations of a data set as NPY");
  cmd->add_option("model", args->model_path, "Model file (NPZ) written by `simmatch train`")->required();
  cmd->add_option("data", args->data_path, "Data file or folder (format as in the model's config unless --format)")
      ->required();
  cmd->add_option("out", args->out_path, "Output NPY: T x N_p float32 (sample t in row t)")->required();
  auto* layer = cmd->add_option("--layer", args->layer, "Layer to write, 0 = first (default: the top layer)")
                    ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--all", args->all, "Write every layer, to OUT with .layer<p> before the extension")->excludes(layer);
  cmd->add_option("--format", args->format, "Data format: mnist-json, idx or npy (default: the model's)");
  cmd->add_option("--split", args->split, "mnist-json split: train, test or all (default: the model's)");
  cmd->add_option("--labels", args->labels, "Labels file (not needed for encoding)");
  cmd->add_option("--limit", args->limit, "Encode only the first N samples (default: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch-size", args->batch_size, "Samples solved together")->check(CLI::PositiveNumber);
  cmd->add_option("--pool", args->pool,
                  "Pool each written layer over windows of sites, channel by channel: avg:W, max:W (W x W windows, "
                  "stride W), avg:W:S, max:W:S (stride S) or none")
      ->capture_default_str();
  cmd->add_option("overrides", args->overrides,
                  "Further config overrides key=value (e.g. preprocess.subtract_mean=false, solver.tolerance=1e-5)");
  cmd->footer(
      "Preprocessing and solver settings are those recorded in the model's config unless overridden; "
      "data.limit and data.labels are reset.");
  cmd->callback([args] { run_encode(*args); });
}

}  // namespace simmatch::cli
