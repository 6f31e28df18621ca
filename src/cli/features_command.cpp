// `simmatch features`: receptive fields of a model's neurons by reverse correlation on a data set,
// masked to the input region that drives each neuron, as PNG mosaics (one tile per neuron,
// grey = 0) for every layer, and optionally as NPY.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/eval_common.hpp"
#include "simmatch/encode.hpp"
#include "simmatch/error.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/png.hpp"
#include "simmatch/pooling.hpp"
#include "simmatch/precision.hpp"
#include "simmatch/receptive_fields.hpp"

namespace simmatch::cli {
namespace {

struct FeaturesArgs {
  std::string model_path;
  DataArgs data;
  std::string out_dir;
  int layer = -1;
  Index max_neurons = 256;
  Index scale = 3;
  Index columns = 0;
  bool crop = true;
  bool npy = false;
  bool center = true;
  Index batch_size = 256;
  std::vector<std::string> overrides;
};

// Tiles of the chosen neurons: cropped to their supports, or whole input images.
FieldTiles tiles_of(const FeaturesArgs& args, const Eigen::MatrixXd& fields, const Structure& support, const Grid& input,
                    const std::vector<Index>& chosen) {
  Eigen::MatrixXd rows(static_cast<Index>(chosen.size()), fields.cols());
  std::vector<int> row_ptr{0}, cols;
  std::vector<double> ones;
  for (std::size_t c = 0; c < chosen.size(); ++c) {
    const Index i = chosen[c];
    rows.row(static_cast<Index>(c)) = fields.row(i);
    for (int s = support.row_ptr()[static_cast<std::size_t>(i)]; s < support.row_ptr()[static_cast<std::size_t>(i + 1)]; ++s)
      cols.push_back(support.col_index()[static_cast<std::size_t>(s)]), ones.push_back(1.0);
    row_ptr.push_back(static_cast<int>(cols.size()));
  }
  if (input.channels == 1 && args.crop) {
    const Structure sub = Structure::from_csr(static_cast<Index>(chosen.size()), support.cols(), row_ptr, cols, ones);
    return crop_to_support(rows, sub, input);
  }
  if (input.channels == 1) return {rows, input.height, input.width};
  return {rows, 1, fields.cols()};
}

// A conv2d layer's filters as they are stored (one tile per filter, kernel x kernel; the input
// channels side by side), next to the reverse-correlation fields of its neurons.
template <typename T>
void write_filter_bank(const FeaturesArgs& args, const Layer<T>& layer, const Conv2d& conv, Index p) {
  const std::vector<double> bank = layer.w_sharing().bank_from_weights(layer.W().valuePtr());
  const auto shape = conv.w_bank_shape();  // filters, kernel, kernel, input channels
  const Index k = shape[0], kh = shape[1], kw = shape[2], cin = shape[3];
  Eigen::MatrixXd tiles(k, kh * kw * cin);
  for (Index n = 0; n < k; ++n)
    for (Index dy = 0; dy < kh; ++dy)
      for (Index c = 0; c < cin; ++c)
        for (Index dx = 0; dx < kw; ++dx)
          tiles(n, (dy * cin + c) * kw + dx) = bank[static_cast<std::size_t>(((n * kh + dy) * kw + dx) * cin + c)];
  MosaicOptions mo;
  mo.columns = args.columns;
  mo.scale = std::max<Index>(args.scale, 4);
  const std::filesystem::path path = std::filesystem::path(args.out_dir) / ("filters_layer" + std::to_string(p) + ".png");
  write_png(path.string(), mosaic(tiles, kh, kw * cin, mo));
  std::cout << fmt::format("layer {}: conv2d, {} filters of {}x{}x{} -> {}\n", p, k, kh, kw, cin, path.string());
}

template <typename T>
void run_with(const FeaturesArgs& args) {
  LoadedModel<T> model = load_model<T>(args.model_path);
  const Network<T>& network = model.network;
  const Config config = base_config(args.model_path, model.config_json, args.overrides);
  if (args.layer >= network.num_layers()) {
    throw ConfigError(fmt::format("--layer {}: the model '{}' has {} layer(s), numbered 0 to {}", args.layer,
                                  args.model_path, network.num_layers(), network.num_layers() - 1));
  }
  const Dataset data = load_data_args(config, args.data);
  if (data.dim() != network.input_size()) {
    throw ShapeError(fmt::format("the samples have {} values but the model expects {}", data.dim(), network.input_size()));
  }
  const auto solver = make_solver<T>(config.solver);
  SolveReport report;
  // With --layer, that layer's fixed points alone are kept (a 64-filter conv2d layer is 200 KB a sample).
  std::vector<Index> wanted;
  std::vector<Matrix<T>> r;
  if (args.layer >= 0) {
    wanted.push_back(args.layer);
    r.push_back(encode_layer(network, *solver, data, args.layer, Pooling{}, args.batch_size, &report));
  } else {
    for (Index p = 0; p < network.num_layers(); ++p) wanted.push_back(p);
    r = encode(network, *solver, data, args.batch_size, &report);
  }
  warn_solves(network, report, solver->options(), "encoded");
  const std::vector<Structure> supports = input_supports(network);
  make_folder(args.out_dir);
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    const Index p = wanted[i];
    const Structure& support = supports[static_cast<std::size_t>(p)];
    const Eigen::MatrixXd fields = reverse_correlation(data.x, r[i], support, args.center);
    const std::vector<Index> chosen = spread_indices(fields.rows(), args.max_neurons);
    const FieldTiles tiles = tiles_of(args, fields, support, data.shape, chosen);
    MosaicOptions mo;
    mo.columns = args.columns;
    mo.scale = args.scale;
    const std::filesystem::path base = std::filesystem::path(args.out_dir) / ("features_layer" + std::to_string(p));
    write_png(base.string() + ".png", mosaic(tiles.tiles, tiles.height, tiles.width, mo));
    if (args.npy) {
      const Eigen::MatrixXf rm = fields.cast<float>().transpose();  // row-major N x K
      write_npy(base.string() + ".npy", NpyArray::from_floats(rm.data(), {fields.rows(), fields.cols()}));
    }
    if (const Conv2d* conv = network.layer(p).conv()) write_filter_bank(args, network.layer(p), *conv, p);
    Index support_sum = 0;
    for (Index i = 0; i < support.rows(); ++i) support_sum += support.row_ptr()[static_cast<std::size_t>(i + 1)] - support.row_ptr()[static_cast<std::size_t>(i)];
    std::cout << fmt::format("layer {}: {} neurons, {} shown as {}x{} tiles, mean receptive field {:.1f} input values -> {}.png\n",
                             p, fields.rows(), chosen.size(), tiles.height, tiles.width,
                             static_cast<double>(support_sum) / static_cast<double>(support.rows()), base.string());
  }
}

void run_features(const FeaturesArgs& args) {
  with_precision(run_precision(args.model_path, args.overrides),
                 [&](auto type) { run_with<typename decltype(type)::type>(args); });
}

}  // namespace

void register_features(CLI::App& app) {
  auto args = std::make_shared<FeaturesArgs>();
  CLI::App* cmd = app.add_subcommand(
      "features", "Receptive fields by reverse correlation, masked to each neuron's input region, as PNG mosaics");
  cmd->add_option("model", args->model_path, "Model file (NPZ) written by `simmatch train`")->required();
  add_data_options(cmd, args->data, "", "Input");
  cmd->add_option("--out", args->out_dir, "Output folder (features_layer<p>.png)")->required();
  cmd->add_option("--layer", args->layer, "Only this layer, 0 = first (default: every layer)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-neurons", args->max_neurons, "Tiles per mosaic, evenly spread over the layer (0 = all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--scale", args->scale, "Pixels per input value")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--columns", args->columns, "Tiles per mosaic row (default: square)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("!--no-crop", args->crop, "Show whole input images instead of each field's bounding box");
  cmd->add_flag("!--no-center", args->center, "Weight inputs by the raw activity r_i instead of r_i minus its mean");
  cmd->add_flag("--npy", args->npy, "Also write every neuron's field (N x K float32) as features_layer<p>.npy");
  cmd->add_option("--batch-size", args->batch_size, "Samples solved together")->check(CLI::PositiveNumber);
  cmd->add_option("--set", args->overrides, "Config override key=value (repeatable)");
  cmd->footer(
      "Field of neuron i: mean over the data of (r_i - mean r_i) x (preprocessed as in the model's config), kept on the input "
      "values that reach i through the feedforward structures (layer 0: its C^W row; deeper: the union of its "
      "inputs' regions). Each tile is scaled by its own largest |value|: grey = 0, white positive, black negative.");
  cmd->callback([args] { run_features(*args); });
}

}  // namespace simmatch::cli
