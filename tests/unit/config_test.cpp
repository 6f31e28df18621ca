// The parameter table and everything generated from it: TOML reading and its checks, key=value
// overrides, JSON round trip, docs/parameters.md freshness, and assembling networks from configs.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "simmatch/config.hpp"
#include "simmatch/error.hpp"
#include "simmatch/npy.hpp"
#include "test_files.hpp"

namespace simmatch {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The message of the ConfigError thrown by `f`, or a failure.
// Sets SIMMATCH_MEMORY_BUDGET for one scope.
class BudgetVariable {
public:
  explicit BudgetVariable(const char* value) { ::setenv("SIMMATCH_MEMORY_BUDGET", value, 1); }
  ~BudgetVariable() { ::unsetenv("SIMMATCH_MEMORY_BUDGET"); }
  BudgetVariable(const BudgetVariable&) = delete;
  BudgetVariable& operator=(const BudgetVariable&) = delete;
};

template <typename F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception: ") + e.what();
  }
  return "no exception";
}

std::string parse_error(const std::string& toml) {
  return config_error([&] { parse_config(toml, "x.toml"); });
}

TEST(Config, DefaultsAreTheReferenceAndTheCoreDefaults) {
  const Config c;
  ASSERT_EQ(c.layers.size(), 1u);
  EXPECT_EQ(c.layers[0].type, "local2d");
  EXPECT_EQ(c.layers[0].stride, 2);
  EXPECT_EQ(c.layers[0].radius, 4.0);
  EXPECT_EQ(c.layers[0].neurons_per_site, 4);
  EXPECT_EQ(c.layers[0].lateral_radius, 0.0);
  EXPECT_EQ(c.network.activation, "tanh");
  EXPECT_EQ(c.network.precision, Precision::float32);
  const SolverOptions solver{};
  EXPECT_EQ(c.solver.tolerance, solver.tolerance);
  EXPECT_EQ(c.solver.max_steps, solver.max_steps);
  EXPECT_EQ(c.solver.step_initial, solver.step_initial);
  const TrainOptions train{};
  EXPECT_EQ(c.train.eta, train.schedule.initial());
  EXPECT_EQ(c.train.epochs, train.epochs);
  EXPECT_EQ(c.train.batch_size, train.batch_size);
  EXPECT_NO_THROW(validate_config(c));
}

TEST(Config, TheReferenceNetworkIsTheOneTheDefaultsBuild) {
  // bench/kernels_bench.cpp and `simmatch bench` measure reference_network(); it must be the
  // network the parameter table's defaults describe (docs/theory.md, "Reference defaults"), weight
  // for weight, at any number of neurons per site.
  for (const Index nps : {Index{1}, Index{4}, Index{16}}) {
    Config config;
    config.layers.at(0).neurons_per_site = nps;
    config.seed = 7;
    const Network<float> from_defaults = build_network<float>(config, Grid{28, 28, 1});
    const Network<float> reference = reference_network<float>(nps, 7);
    ASSERT_EQ(reference.num_layers(), from_defaults.num_layers());
    const Layer<float>& a = reference.layer(0);
    const Layer<float>& b = from_defaults.layer(0);
    EXPECT_EQ(reference.gamma(), from_defaults.gamma());
    EXPECT_EQ(reference.input_size(), from_defaults.input_size());
    EXPECT_EQ(a.activation(), b.activation());
    EXPECT_EQ(a.grid().height, b.grid().height);
    EXPECT_EQ(a.grid().width, b.grid().width);
    EXPECT_EQ(a.grid().channels, b.grid().channels);
    EXPECT_EQ(Eigen::MatrixXf(a.W()), Eigen::MatrixXf(b.W()));
    EXPECT_EQ(Eigen::MatrixXf(a.L()), Eigen::MatrixXf(b.L()));
  }
}

TEST(Config, ParsesEveryKindOfValue) {
  const Config c = parse_config(R"(
seed = 12
[data]
format = "npy"
path = "x.npy"
limit = 50
[network]
gamma = 1        # an integer is fine where a real is expected
precision = "float64"
[[layers]]
type = "dense"
neurons = 10
[[layers]]
type = "local2d"
stride = 1
activation = "relu"
[solver]
method = "fast"
tolerance = 1e-6
[train]
shuffle = false
schedule = "constant"
)",
                                "x.toml");
  EXPECT_EQ(c.seed, 12u);
  EXPECT_EQ(c.data.format, "npy");
  EXPECT_EQ(c.data.limit, 50);
  EXPECT_EQ(c.network.gamma, 1.0);
  EXPECT_EQ(c.network.precision, Precision::float64);
  ASSERT_EQ(c.layers.size(), 2u);
  EXPECT_EQ(c.layers[0].neurons, 10);
  EXPECT_EQ(c.layers[1].stride, 1);
  EXPECT_EQ(c.layers[1].radius, 4.0);  // per-layer default
  EXPECT_EQ(c.layers[1].activation, "relu");
  EXPECT_EQ(c.solver.method, SolverMethod::fast);
  EXPECT_EQ(c.solver.tolerance, 1e-6);
  EXPECT_FALSE(c.train.shuffle);
  EXPECT_TRUE(train_options(c).schedule.is_constant());
  EXPECT_EQ(c.source, "x.toml");
}

TEST(Config, UnknownKeysNameFileAndKey) {
  EXPECT_EQ(parse_error("[train]\netaa = 1\n"),
            "x.toml: key 'train.etaa': unknown key (did you mean 'train.eta'?); `simmatch params` lists every key");
  EXPECT_THAT(parse_error("[trian]\neta = 1\n"), HasSubstr("key 'trian'"));
  EXPECT_THAT(parse_error("eta = 1\n"), HasSubstr("did you mean 'train.eta'"));
  EXPECT_THAT(parse_error("[[layers]]\nstrid = 2\n"), HasSubstr("key 'layers.0.strid': unknown key (did you mean 'layers.0.stride'"));
  EXPECT_THAT(parse_error("[train.sub]\nx = 1\n"), HasSubstr("key 'train.sub'"));
  EXPECT_THAT(parse_error("[layers]\nstride = 2\n"), HasSubstr("expected an array of tables"));
}

TEST(Config, WrongTypes) {
  EXPECT_EQ(parse_error("[train]\nepochs = \"three\"\n"), "x.toml: key 'train.epochs': expected an integer, got string \"three\"");
  EXPECT_THAT(parse_error("[train]\nepochs = 2.5\n"), HasSubstr("expected an integer, got the floating-point number 2.5"));
  // TOML's 4.0 and 1e5 are floats; the message used to print them as 4 and 100000.
  EXPECT_EQ(parse_error("[train]\nepochs = 4.0\n"),
            "x.toml: key 'train.epochs': expected an integer, got the floating-point number 4.0 (write 4 for an integer)");
  EXPECT_THAT(parse_error("[train]\nsamples_per_epoch = 1e5\n"),
              HasSubstr("got the floating-point number 100000.0 (write 100000 for an integer)"));
  EXPECT_THAT(parse_error("[train]\neta = true\n"), HasSubstr("key 'train.eta': expected a number"));
  EXPECT_THAT(parse_error("[train]\nshuffle = 1\n"), HasSubstr("expected a boolean"));
  EXPECT_THAT(parse_error("[data]\npath = 3\n"), HasSubstr("key 'data.path': expected a string"));
  EXPECT_THAT(parse_error("[data]\npath = 1979-05-27\n"), HasSubstr("dates and times are not supported"));
  EXPECT_THAT(parse_error("train = 3\n"), HasSubstr("key 'train': expected a table"));
}

TEST(Config, OutOfRangeValues) {
  EXPECT_EQ(parse_error("[train]\neta = -1\n"), "x.toml: key 'train.eta': must be > 0, got -1");
  EXPECT_THAT(parse_error("[train]\neta = nan\n"), HasSubstr("must be finite"));
  EXPECT_THAT(parse_error("[train]\nbatch_size = 0\n"), HasSubstr("key 'train.batch_size': must be >= 1, got 0"));
  EXPECT_THAT(parse_error("[network]\ngamma = -0.5\n"), HasSubstr("must be >= 0, got -0.5"));
  EXPECT_THAT(parse_error("[train]\nepochs = 10000000000\n"), HasSubstr("must be <= 1000000000"));
  EXPECT_THAT(parse_error("[[layers]]\nneurons_per_site = 0\n"), HasSubstr("key 'layers.0.neurons_per_site': must be >= 1"));
  EXPECT_THAT(parse_error("[[layers]]\n[[layers]]\nradius = -1\n"), HasSubstr("key 'layers.1.radius'"));
  EXPECT_EQ(parse_error("[network]\nactivation = \"sigmoid\"\n"),
            "x.toml: key 'network.activation': must be one of \"linear\", \"tanh\", \"relu\", \"clipped_relu\", got "
            "\"sigmoid\"");
  EXPECT_THAT(parse_error("[output]\nmodel = \"\"\n"), HasSubstr("must not be empty"));
}

TEST(Config, CrossKeyChecks) {
  EXPECT_THAT(parse_error("layers = []\n"), HasSubstr("at least one [[layers]] entry"));
  EXPECT_THAT(parse_error("[[layers]]\ntype = \"dense\"\n"), HasSubstr("key 'layers.0.neurons': a dense layer needs"));
  EXPECT_THAT(parse_error("[[layers]]\ntype = \"file\"\n"), HasSubstr("key 'layers.0.cw_file'"));
  EXPECT_THAT(parse_error("[train]\neta = 1e-3\nfloor = 1e-2\n"), HasSubstr("key 'train.floor': must be <= train.eta"));
  // Held-out samples are scored by the network's own output, which the unsupervised mode lacks.
  EXPECT_THAT(parse_error("[[layers]]\n[train]\nvalidation = 0.2\n"),
              HasSubstr("key 'train.validation': holds out samples to score the network's own output"));
  EXPECT_THAT(parse_error("[[layers]]\n[train]\nmode = \"contrastive\"\nvalidation = 0.95\n"),
              HasSubstr("key 'train.validation': must be <= 0.9, got 0.95"));
  EXPECT_THAT(parse_error("[[layers]]\n[train]\nmode = \"contrastive\"\nvalidation = -0.1\n"),
              HasSubstr("key 'train.validation': must be >= 0"));
}

TEST(Config, TomlSyntaxErrorsNameFileAndLine) {
  const std::string message = parse_error("[train]\neta = = 1\n");
  EXPECT_THAT(message, HasSubstr("x.toml:2:"));
  EXPECT_THAT(message, HasSubstr("TOML syntax error"));
}

TEST(Config, Overrides) {
  Config c = parse_config("[[layers]]\n[[layers]]\ntype = \"dense\"\nneurons = 5\n", "x.toml");
  apply_overrides(c, {"train.eta=1e-3", "train.shuffle=false", "data.path=some/dir", "data.format=\"idx\"",
                      "seed=9", "network.gamma=2", "layers.1.neurons=7"});
  EXPECT_EQ(c.train.eta, 1e-3);
  EXPECT_FALSE(c.train.shuffle);
  EXPECT_EQ(c.data.path, "some/dir");
  EXPECT_EQ(c.data.format, "idx");
  EXPECT_EQ(c.seed, 9u);
  EXPECT_EQ(c.network.gamma, 2.0);
  EXPECT_EQ(c.layers[1].neurons, 7);
  EXPECT_EQ(c.source, "x.toml");

  apply_override(c, "layers.radius=3");  // every layer
  EXPECT_EQ(c.layers[0].radius, 3.0);
  EXPECT_EQ(c.layers[1].radius, 3.0);
  apply_override(c, "layers.0.neurons_per_site=8");
  EXPECT_EQ(c.layers[0].neurons_per_site, 8);
  apply_overrides(c, {"layers.2.type=dense", "layers.2.neurons=3"});  // append
  ASSERT_EQ(c.layers.size(), 3u);
  EXPECT_EQ(c.layers[2].neurons, 3);
  EXPECT_EQ(get_parameter(c, "layers.2.neurons"), 3);
  EXPECT_EQ(get_parameter(c, "train.eta"), 1e-3);
}

TEST(Config, BadOverrides) {
  Config c = parse_config("", "x.toml");
  const auto error = [&](const std::string& o) { return config_error([&] { apply_override(c, o); }); };
  EXPECT_EQ(error("train.eta=-1"), "command line: key 'train.eta': must be > 0, got -1");
  EXPECT_THAT(error("train.eta"), HasSubstr("is not of the form key=value"));
  EXPECT_THAT(error("=3"), HasSubstr("is not of the form key=value"));
  EXPECT_THAT(error("train.etta=1"), HasSubstr("unknown key (did you mean 'train.eta'?)"));
  EXPECT_THAT(error("train.epochs=abc"), HasSubstr("expected an integer, got string \"abc\""));
  EXPECT_THAT(error("train.epochs=1.5"), HasSubstr("expected an integer, got the floating-point number 1.5"));
  EXPECT_THAT(error("train.epochs=1e9"), HasSubstr("got the floating-point number 1000000000.0 (write 1000000000"));
  EXPECT_THAT(error("train.shuffle=yes"), HasSubstr("expected a boolean"));
  EXPECT_THAT(error("train.eta=fast"), HasSubstr("expected a number"));
  EXPECT_THAT(error("layers.5.stride=2"), HasSubstr("layer index 5 is out of range"));
  EXPECT_THAT(error("layers.0=2"), HasSubstr("expected layers.<index>.<name>"));
  EXPECT_THAT(error("layers.0.bogus=2"), HasSubstr("key 'layers.0.bogus': unknown key"));
  EXPECT_THAT(error("network.precision=float16"), HasSubstr("must be one of \"float32\", \"float64\""));
  // A failed override leaves the config usable and its source unchanged.
  EXPECT_EQ(c.source, "x.toml");
  EXPECT_EQ(c.train.eta, Config{}.train.eta);
}

TEST(Config, JsonRoundTrip) {
  Config c = parse_config("seed = 3\n[[layers]]\ntype = \"dense\"\nneurons = 4\nactivation = \"linear\"\n"
                          "[[layers]]\n[solver]\nmethod = \"fast\"\n",
                          "x.toml");
  const nlohmann::json j = config_to_json(c);
  EXPECT_EQ(j["seed"], 3);
  EXPECT_EQ(j["layers"].size(), 2u);
  EXPECT_EQ(j["layers"][0]["neurons"], 4);
  EXPECT_EQ(j["solver"]["method"], "fast");
  EXPECT_EQ(j["train"]["eta"], 5e-3);
  const Config back = config_from_json(j, "model.npz");
  EXPECT_EQ(config_to_json(back), j);
  EXPECT_EQ(back.source, "model.npz");
  // Every table key appears exactly once in the JSON.
  std::size_t keys = j["layers"][0].size();
  for (const auto& [name, value] : j.items())
    if (name != "layers") keys += value.is_object() ? value.size() : 1;
  EXPECT_EQ(keys, parameters().size());
  EXPECT_THAT(config_error([] { config_from_json(nlohmann::json{{"train", {{"eta", "x"}}}}, "m.npz"); }),
              HasSubstr("m.npz: key 'train.eta'"));
  EXPECT_EQ(config_to_json(config_from_json(nlohmann::json::object(), "m")), config_to_json(Config{}));
}

TEST(Config, Precision) {
  EXPECT_EQ(parse_config("[network]\nprecision = \"float64\"\n", "x").network.precision, Precision::float64);
  EXPECT_THAT(parse_error("[network]\nprecision = \"double\"\n"), HasSubstr("key 'network.precision'"));
}

TEST(Config, LoadConfigFromFile) {
  const auto dir = test_support::test_dir();
  const std::string path = (dir / "c.toml").string();
  std::ofstream(path) << "[train]\nepochs = 2\n";
  const Config c = load_config(path, {"train.epochs=5"});
  EXPECT_EQ(c.train.epochs, 5);
  EXPECT_EQ(c.source, path);
  std::ofstream(path) << "[train]\nepochs = -2\n";
  EXPECT_EQ(config_error([&] { load_config(path); }), path + ": key 'train.epochs': must be >= 0, got -2");
  EXPECT_THROW(load_config((dir / "missing.toml").string()), IoError);
  EXPECT_THROW(load_config(dir.string()), IoError);
}

TEST(Config, DocsTableIsUpToDate) {
  std::ifstream in(std::string(SIMMATCH_SOURCE_DIR) + "/docs/parameters.md");
  ASSERT_TRUE(in) << "docs/parameters.md is missing: run `simmatch params --markdown > docs/parameters.md`";
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), parameters_markdown())
      << "docs/parameters.md is stale: run `simmatch params --markdown > docs/parameters.md`";
  for (const ParamInfo& p : parameters()) {
    EXPECT_FALSE(p.doc.empty()) << p.key;
    EXPECT_NE(parameters_markdown().find("`" + p.key + "`"), std::string::npos) << p.key;
  }
}

TEST(Config, ExperimentConfigsParse) {
  for (const char* name : {"mnist_local.toml", "tiny.toml"}) {
    const Config c = load_config((std::filesystem::path(SIMMATCH_SOURCE_DIR) / "experiments" / name).string());
    EXPECT_EQ(c.layers.size(), 1u) << name;
    EXPECT_EQ(c.data.format, "mnist-json") << name;
  }
}

// ---- build_network ------------------------------------------------------------------------

TEST(BuildNetwork, ReferenceLayer) {
  const Config c;
  const Network<float> net = build_network<float>(c, Grid{28, 28, 1});
  ASSERT_EQ(net.num_layers(), 1);
  EXPECT_EQ(net.input_size(), 784);
  EXPECT_EQ(net.layer(0).grid(), (Grid{14, 14, 4}));
  EXPECT_EQ(net.layer(0).size(), 784);
  // Lateral radius 0: each neuron connects to the 4 neurons of its site (itself included).
  EXPECT_EQ(net.layer(0).cl().nnz(), 784 * 4);
  EXPECT_EQ(net.layer(0).activation(), Activation::tanh(1.0));
  EXPECT_EQ(net.gamma(), 0.0);
}

TEST(BuildNetwork, CwScaleMultipliesTheFeedforwardConstantsOnly) {
  Config c;
  const Network<double> plain = build_network<double>(c, Grid{28, 28, 1});
  apply_override(c, "layers.0.cw_scale=0.05");
  const Network<double> scaled = build_network<double>(c, Grid{28, 28, 1});
  const Structure& a = plain.layer(0).cw();
  const Structure& b = scaled.layer(0).cw();
  EXPECT_EQ(a.row_ptr(), b.row_ptr());
  EXPECT_EQ(a.col_index(), b.col_index());
  for (Index s = 0; s < a.nnz(); ++s) EXPECT_EQ(b.values()[static_cast<std::size_t>(s)], 0.05);
  EXPECT_EQ(plain.layer(0).cl(), scaled.layer(0).cl());
  // The initial weights do not depend on the constants' values (N(0, 1/fan_in) on the synapses).
  EXPECT_EQ(Eigen::MatrixXd(plain.layer(0).W()), Eigen::MatrixXd(scaled.layer(0).W()));
  EXPECT_THAT(config_error([&] { apply_override(c, "layers.0.cw_scale=-1"); }), HasSubstr("layers.0.cw_scale"));
}

TEST(BuildNetwork, DenseStackWithPerLayerActivationAndPrecision) {
  Config c = parse_config(R"(
[network]
gamma = 0.5
activation = "tanh"
gain = 2
[[layers]]
type = "dense"
neurons = 6
[[layers]]
type = "dense"
neurons = 3
activation = "clipped_relu"
clip = 2.5
)",
                          "x.toml");
  const Network<double> net = build_network<double>(c, Grid{1, 10, 1});
  ASSERT_EQ(net.num_layers(), 2);
  EXPECT_EQ(net.layer(0).cw().nnz(), 60);
  EXPECT_EQ(net.layer(1).cw().nnz(), 18);
  EXPECT_EQ(net.layer(1).cl().nnz(), 9);
  EXPECT_EQ(net.layer(0).activation(), Activation::tanh(2.0));
  EXPECT_EQ(net.layer(1).activation(), Activation::clipped_relu(2.5));
  EXPECT_EQ(net.gamma(), 0.5);
  // Same seed, same weights; another seed, other weights.
  const Network<double> again = build_network<double>(c, Grid{1, 10, 1});
  EXPECT_TRUE(Eigen::MatrixXd(net.layer(0).W()).isApprox(Eigen::MatrixXd(again.layer(0).W())));
  apply_override(c, "seed=99");
  const Network<double> other = build_network<double>(c, Grid{1, 10, 1});
  EXPECT_FALSE(Eigen::MatrixXd(net.layer(0).W()).isApprox(Eigen::MatrixXd(other.layer(0).W())));
}

TEST(BuildNetwork, LayersThatDoNotFitTheInput) {
  Config c = parse_config("[[layers]]\nstride = 3\n", "x.toml");
  EXPECT_EQ(config_error([&] { build_network<float>(c, Grid{28, 28, 1}); }),
            "x.toml: key 'layers.0.stride': stride 3 does not divide the 28x28 grid of the layer's input (28x28x1)");
  apply_override(c, "layers.stride=2");  // fits now; an override that does not names the command line
  EXPECT_NO_THROW(build_network<float>(c, Grid{28, 28, 1}));
  apply_override(c, "layers.0.stride=5");
  EXPECT_THAT(config_error([&] { build_network<float>(c, Grid{28, 28, 1}); }),
              HasSubstr("command line: key 'layers.0.stride': stride 5"));
  c = parse_config("[[layers]]\n[[layers]]\nstride = 4\n", "x.toml");  // 28 -> 14 -> 14/4
  EXPECT_THAT(config_error([&] { build_network<float>(c, Grid{28, 28, 1}); }), HasSubstr("key 'layers.1.stride'"));
  c = parse_config("[[layers]]\nradius = 0.1\n", "x.toml");
  EXPECT_THAT(config_error([&] { build_network<float>(c, Grid{28, 28, 1}); }),
              HasSubstr("key 'layers.0.radius': radius 0.1 leaves site (0, 0) without input pixels"));
}

TEST(ConfigWarnings, UnboundedLayersJoinedByFeedbackAreNamed) {
  const std::string three = "[[layers]]\nactivation = \"relu\"\n[[layers]]\nactivation = \"relu\"\n"
                            "[[layers]]\nactivation = \"tanh\"\n";
  Config c = parse_config("[network]\ngamma = 0.1\n" + three, "x.toml");
  const auto warnings = config_warnings(c);
  ASSERT_EQ(warnings.size(), 1u);  // layers 2-3 are bounded by tanh
  EXPECT_THAT(warnings[0], HasSubstr("layers 1 and 2 are both unbounded (relu and relu)"));
  EXPECT_THAT(warnings[0], HasSubstr("network.gamma = 0.1"));
  apply_override(c, "layers.2.activation=linear");
  EXPECT_EQ(config_warnings(c).size(), 2u);
  apply_override(c, "network.gamma=0");  // no feedback: no loop
  EXPECT_TRUE(config_warnings(c).empty());
  // A saturating layer between them, or the reference's tanh everywhere, is quiet.
  EXPECT_TRUE(config_warnings(parse_config("[network]\ngamma = 0.5\nactivation = \"tanh\"\n[[layers]]\n[[layers]]\n", "x.toml")).empty());
  EXPECT_TRUE(config_warnings(parse_config("[network]\ngamma = 0.5\n[[layers]]\nactivation = \"relu\"\n[[layers]]\n"
                                           "activation = \"clipped_relu\"\n", "x.toml")).empty());
}

TEST(ConfigWarnings, ALearningStepBeyondTheConstantsIsNamed) {
  // Three layers, gamma 0.1: layer 1 learns at 100 eta. eta 5e-3 -> 0.5 <= C^W = 1: quiet.
  const std::string three = "[network]\ngamma = 0.1\n[train]\neta = 5e-3\n[[layers]]\n[[layers]]\nstride = 1\n"
                            "[[layers]]\nstride = 1\n";
  Config c = parse_config(three, "x.toml");
  EXPECT_TRUE(config_warnings(c).empty());
  apply_override(c, "layers.0.cw_scale=0.1");  // 0.5 / 0.1 = 5: measured to end in NaN
  auto warnings = config_warnings(c);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("layer 1 starts learning with step eta * eta_scale * gamma^(p-P) = 0.5"));
  EXPECT_THAT(warnings[0], HasSubstr("layers.0.cw_scale = 0.1"));
  EXPECT_THAT(warnings[0], HasSubstr("step / C^W = 5 > 1"));
  apply_override(c, "layers.0.eta_scale=0.1");  // 0.05 / 0.1: quiet again
  EXPECT_TRUE(config_warnings(c).empty());
  apply_override(c, "network.gamma=0");  // no feedback: every layer at eta
  apply_override(c, "train.eta=2");
  EXPECT_EQ(config_warnings(c).size(), 3u);
}

TEST(BuildNetwork, ConstantsFromFiles) {
  const auto dir = test_support::test_dir();
  const std::string cw_path = (dir / "cw.npy").string();
  const std::string cl_path = (dir / "cl.npy").string();
  const double cw[3 * 4] = {1, 0, 2, 0, 0, 1, 0, 0, 0.5, 0.5, 0.5, 0.5};
  const double cl[3 * 3] = {1, 0, 0, 0, 1, 0.5, 0, 0.5, 1};
  write_npy(cw_path, NpyArray::from_doubles(cw, {3, 4}));
  write_npy(cl_path, NpyArray::from_doubles(cl, {3, 3}));
  Config c;
  apply_overrides(c, {"layers.0.type=file", "layers.0.cw_file=" + cw_path, "layers.0.cl_file=" + cl_path});
  const Network<double> net = build_network<double>(c, Grid{1, 4, 1});
  EXPECT_EQ(net.layer(0).size(), 3);
  EXPECT_EQ(net.layer(0).cw().nnz(), 7);
  EXPECT_EQ(net.layer(0).cw().values()[1], 2.0);  // non-binary constants are kept
  EXPECT_EQ(net.layer(0).cl().nnz(), 5);
  // Wrong shape for this input, asymmetric C^L, missing file: errors naming the key.
  EXPECT_THAT(config_error([&] { build_network<double>(c, Grid{1, 5, 1}); }),
              HasSubstr("key 'layers.0.cw_file': '" + cw_path + "' has shape (3, 4), expected (N, 5)"));
  const double asym[9] = {1, 1, 0, 0, 1, 0, 0, 0, 1};
  write_npy(cl_path, NpyArray::from_doubles(asym, {3, 3}));
  EXPECT_THAT(config_error([&] { build_network<double>(c, Grid{1, 4, 1}); }), HasSubstr("key 'layers.0.cl_file'"));
  apply_override(c, "layers.0.cw_file=" + (dir / "missing.npy").string());
  EXPECT_THAT(config_error([&] { build_network<double>(c, Grid{1, 4, 1}); }), HasSubstr("key 'layers.0.cw_file'"));
}

// ---- load_data and train_options ----------------------------------------------------------

TEST(LoadData, NpyWithScalingMeanAndLimit) {
  const auto dir = test_support::test_dir();
  const std::string path = (dir / "x.npy").string();
  const float bytes[3 * 4] = {0, 255, 0, 255, 10, 20, 30, 40, 1, 2, 3, 4};
  write_npy(path, NpyArray::from_floats(bytes, {3, 4}));
  Config c;
  apply_overrides(c, {"data.format=npy", "data.path=" + path, "data.limit=2"});
  Dataset d = load_data(c);
  ASSERT_EQ(d.size(), 2);
  ASSERT_EQ(d.dim(), 4);
  EXPECT_NEAR(d.x(1, 0), 0.5f, 1e-6);  // 255/255 - mean 0.5
  EXPECT_NEAR(d.x.col(1).sum(), 0.0f, 1e-6);
  apply_overrides(c, {"preprocess.subtract_mean=false", "preprocess.scale=none"});
  d = load_data(c);
  EXPECT_EQ(d.x(1, 0), 255.0f);
  const float unit[2 * 2] = {0.5f, 0.25f, 1.0f, 0.0f};  // already in [0, 1]: auto keeps it
  write_npy(path, NpyArray::from_floats(unit, {2, 2}));
  apply_overrides(c, {"preprocess.scale=auto"});
  EXPECT_EQ(load_data(c).x(0, 0), 0.5f);
  apply_overrides(c, {"data.path="});
  EXPECT_THAT(config_error([&] { load_data(c); }), HasSubstr("key 'data.path'"));
}

TEST(TrainOptionsFromConfig, MapsEveryKey) {
  Config c;
  apply_overrides(c, {"train.epochs=7", "train.samples_per_epoch=30", "train.batch_size=4", "train.eta=0.1",
                      "train.decay=2", "train.floor=0.01", "train.cost_samples=11", "train.shuffle=false", "seed=5"});
  const TrainOptions o = train_options(c);
  EXPECT_EQ(o.epochs, 7);
  EXPECT_EQ(o.samples_per_epoch, 30);
  EXPECT_EQ(o.batch_size, 4);
  EXPECT_EQ(o.cost_samples, 11);
  EXPECT_FALSE(o.shuffle);
  EXPECT_EQ(o.seed, 5u);
  EXPECT_FALSE(o.schedule.is_constant());
  EXPECT_DOUBLE_EQ(o.schedule.at(1.0), std::max(0.1 / 3.0, 0.01));
  EXPECT_TRUE(o.layer_eta_scales.empty());  // eq. 17 as written unless a layer sets a scale
  c = parse_config("[[layers]]\n[[layers]]\ntype = \"dense\"\nneurons = 3\neta_scale = 0.1\n", "x.toml");
  EXPECT_EQ(train_options(c).layer_eta_scales, (std::vector<double>{1.0, 0.1}));
  EXPECT_THAT(config_error([&] { apply_override(c, "layers.0.eta_scale=0"); }), HasSubstr("layers.0.eta_scale"));
  EXPECT_TRUE(train_options(c).layer_lateral_rates.empty());
  apply_override(c, "layers.1.lateral_rate=4");
  EXPECT_EQ(train_options(c).layer_lateral_rates, (std::vector<double>{1.0, 4.0}));
  EXPECT_THAT(config_error([&] { apply_override(c, "layers.1.lateral_rate=-1"); }), HasSubstr("layers.1.lateral_rate"));
  apply_overrides(c, {"train.mode=supervised", "train.validation=0.25"});
  EXPECT_EQ(train_options(c).validation, 0.25);
  EXPECT_EQ(train_options(c).contrastive.nudge, Nudge::one_sided);  // the paper's rule unless asked
  apply_overrides(c, {"train.mode=contrastive", "train.nudge=symmetric"});
  EXPECT_EQ(train_options(c).contrastive.nudge, Nudge::symmetric);
  EXPECT_THAT(config_error([&] { apply_override(c, "train.nudge=both"); }), HasSubstr("train.nudge"));
}

// ---- hostile sizes: config files, layers and runs too large for the memory budget ------------

TEST(Config, ConfigFilesOverTheirLimitAreRefusedWhileReading) {
  // `simmatch train /dev/zero` read without limit until the kernel killed it.
  try {
    load_config("/dev/zero");
    ADD_FAILURE() << "no exception";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/dev/zero: larger than the 1.0 MiB limit of config files"));
  }
  const auto dir = test_support::test_dir();
  const std::string path = (dir / "big.toml").string();
  std::ofstream(path) << "# " << std::string((1 << 20) - 3, 'x') << "\n";  // 1 MiB: still read
  EXPECT_NO_THROW(load_config(path));
  std::ofstream(path, std::ios::app) << "#\n";
  EXPECT_THROW(load_config(path), IoError);
}

TEST(Config, MemoryBudgetKey) {
  EXPECT_EQ(Config{}.memory_budget_gib, 0.0);
  EXPECT_EQ(parse_config("memory_budget_gib = 2.5\n", "x.toml").memory_budget_gib, 2.5);
  EXPECT_THAT(parse_error("memory_budget_gib = -1\n"), HasSubstr("key 'memory_budget_gib': must be >= 0"));
}

TEST(BuildNetwork, LayersTooLargeForTheBudgetNameTheirKeyBeforeAllocating) {
  // Each used to allocate 1-4 GB and end in "out of memory" naming no key.
  Config c;
  apply_overrides(c, {"layers.0.type=dense", "layers.0.neurons=100000"});
  std::string message = config_error([&] { build_network<float>(c, Grid{28, 28, 1}); });
  EXPECT_THAT(message, HasSubstr("command line: key 'layers.0.neurons': layer 1 (dense: 100000 neurons, "
                                  "78400000 synapses in C^W and 10000000000 in C^L) needs 886900800000 bytes"));
  EXPECT_THAT(message, HasSubstr("over the memory budget"));
  for (const char* nps : {"100000", "10000000"}) {
    Config local;
    apply_overrides(local, {std::string("layers.0.neurons_per_site=") + nps});
    message = config_error([&] { build_network<float>(local, Grid{28, 28, 1}); });
    EXPECT_THAT(message, HasSubstr("key 'layers.0.neurons_per_site': layer 1 (local2d, 14 x 14 sites of")) << nps;
    EXPECT_THAT(message, HasSubstr("over the memory budget")) << nps;
  }
  // Past int's range the synapses are not counted; the message said "0 synapses".
  Config huge;
  apply_overrides(huge, {"layers.0.neurons_per_site=100000000"});
  message = config_error([&] { build_network<float>(huge, Grid{28, 28, 1}); });
  EXPECT_THAT(message, HasSubstr("19600000000 neurons, synapses not counted) needs"));
  EXPECT_THAT(message, Not(HasSubstr("0 synapses")));
  // A second layer is counted with the first.
  Config two;
  apply_overrides(two, {"layers.1.type=dense", "layers.1.neurons=60000"});
  EXPECT_THAT(config_error([&] { build_network<float>(two, Grid{28, 28, 1}); }),
              HasSubstr("key 'layers.1.neurons': layer 2 (dense: 60000 neurons"));
}

TEST(BuildNetwork, MemoryBudgetKeyAndVariableSetTheLimit) {
  // The reference layer on 28 x 28: 35,968 + 3,136 synapses and 784 neurons, 3,453,696 bytes in
  // float32 by the builder's count (88 bytes per synapse, 16 per neuron).
  Config c;
  EXPECT_EQ(build_network<float>(c, Grid{28, 28, 1}).num_synapses(), 35968 + 3136);
  {
    const BudgetVariable variable("3453695B");
    const std::string message = config_error([&] { build_network<float>(c, Grid{28, 28, 1}); });
    EXPECT_THAT(message, HasSubstr("key 'layers.0.neurons_per_site'"));
    EXPECT_THAT(message, HasSubstr("784 neurons, 35968 synapses in C^W and 3136 in C^L) needs 3453696 bytes"));
    EXPECT_THAT(message, HasSubstr("SIMMATCH_MEMORY_BUDGET=3453695B"));
  }
  {
    const BudgetVariable variable("3453696B");
    EXPECT_NO_THROW(build_network<float>(c, Grid{28, 28, 1}));
    // The key, when > 0, replaces the variable: 0.001 GiB is 1,073,741 bytes.
    apply_overrides(c, {"memory_budget_gib=0.001"});
    const std::string message = config_error([&] { build_network<float>(c, Grid{28, 28, 1}); });
    EXPECT_THAT(message, HasSubstr("key 'layers.0.neurons_per_site'"));
    EXPECT_THAT(message, HasSubstr("command line: memory_budget_gib = 0.001"));
    apply_overrides(c, {"memory_budget_gib=0.0033"});  // 3,543,348 bytes
    EXPECT_NO_THROW(build_network<float>(c, Grid{28, 28, 1}));
  }
}

TEST(LoadData, DataOverTheBudgetNamesTheFileAndTheBudget) {
  const auto dir = test_support::test_dir();
  const std::string path = (dir / "x.npy").string();
  const std::vector<float> values(100000, 1.0f);
  write_npy(path, NpyArray::from_floats(values.data(), {1000, 100}));
  Config c;
  apply_overrides(c, {"data.format=npy", "data.path=" + path, "memory_budget_gib=0.0005"});
  try {
    load_data(c);
    ADD_FAILURE() << "no exception";
  } catch (const FormatError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path));
    EXPECT_THAT(e.what(), HasSubstr("needs 1200000 bytes"));  // raw, float32 values, matrix
    EXPECT_THAT(e.what(), HasSubstr("command line: memory_budget_gib = 0.0005"));
  }
  apply_overrides(c, {"memory_budget_gib=0.002"});
  EXPECT_EQ(load_data(c).size(), 1000);
}

TEST(TrainOptionsFromConfig, BatchCountsThatWouldOverflowAreRefused) {
  // train.batch_size = 2^63 - 1 made the batch count overflow to 0: a run that trained nothing
  // wrote a model.
  Config c;
  apply_overrides(c, {"train.batch_size=9223372036854775807"});
  EXPECT_THAT(config_error([&] { train_options(c); }), HasSubstr("command line: key 'train.batch_size'"));
  apply_overrides(c, {"train.batch_size=1", "train.samples_per_epoch=4611686018427387904"});
  EXPECT_THAT(config_error([&] { train_options(c); }), HasSubstr("key 'train.samples_per_epoch'"));
  apply_overrides(c, {"train.batch_size=4611686018427387904", "train.samples_per_epoch=0"});
  EXPECT_EQ(train_options(c).batch_size, std::int64_t{1} << 62);  // one batch of everything
}

}  // namespace
}  // namespace simmatch
