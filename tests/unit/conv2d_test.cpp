// conv2d geometry and weight sharing: output sizes, the synapses of a direct convolution, banks
// that store each tied value once, and the config and model-file paths of a conv2d layer.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "simmatch/config.hpp"
#include "simmatch/conv2d.hpp"
#include "simmatch/encode.hpp"
#include "simmatch/error.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/weights.hpp"
#include "test_files.hpp"
#include "test_networks.hpp"

using namespace simmatch;
using simmatch::test_support::symmetric_lateral_bank;

namespace {

std::vector<double> random_bank(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> bank(n);
  for (double& v : bank) v = normal(rng);
  return bank;
}

Network<double> one_conv_layer(std::uint64_t seed) {
  const Conv2d conv{Grid{6, 5, 2}, 3, 2, Padding::same, 3, 1.0};
  std::vector<Layer<double>> layers;
  layers.emplace_back(conv.cw(), conv.cl(), Activation::tanh(), conv.output(), conv);
  Network<double> net(conv.input.size(), std::move(layers), 0.0);
  net.initialise(seed);
  return net;
}

}  // namespace

TEST(Conv2dTest, OutputSizesFollowValidAndSamePadding) {
  EXPECT_EQ((Conv2d{Grid{28, 28, 1}, 5, 1, Padding::same, 16, 0}.output()), (Grid{28, 28, 16}));
  EXPECT_EQ((Conv2d{Grid{28, 28, 1}, 5, 1, Padding::valid, 16, 0}.output()), (Grid{24, 24, 16}));
  EXPECT_EQ((Conv2d{Grid{28, 28, 1}, 5, 2, Padding::same, 8, 0}.output()), (Grid{14, 14, 8}));
  EXPECT_EQ((Conv2d{Grid{28, 27, 1}, 5, 2, Padding::valid, 8, 0}.output()), (Grid{12, 12, 8}));
  const Conv2d even{Grid{28, 28, 1}, 4, 2, Padding::same, 1, 0};
  EXPECT_EQ(even.pad_top(), 1);  // (14 - 1) 2 + 4 - 28 = 2 pixels, one before
  EXPECT_EQ((Conv2d{Grid{28, 28, 1}, 5, 1, Padding::same, 1, 0}.pad_left()), 2);
}

TEST(Conv2dTest, BadGeometryIsRefusedWithItsParameter) {
  EXPECT_THROW((Conv2d{Grid{4, 4, 1}, 5, 1, Padding::valid, 1, 0}.output()), ConfigError);
  EXPECT_THROW((Conv2d{Grid{4, 4, 1}, 0, 1, Padding::same, 1, 0}.output()), ConfigError);
  EXPECT_THROW((Conv2d{Grid{4, 4, 1}, 3, 0, Padding::same, 1, 0}.output()), ConfigError);
  EXPECT_THROW((Conv2d{Grid{4, 4, 1}, 3, 1, Padding::same, 0, 0}.output()), ConfigError);
  EXPECT_THROW((Conv2d{Grid{4, 4, 1}, 3, 1, Padding::same, 1, -1}.output()), ConfigError);
  EXPECT_THROW((Conv2d{Grid{0, 4, 1}, 3, 1, Padding::same, 1, 0}.output()), ShapeError);
  EXPECT_THROW(padding_from_name("full"), ConfigError);
  try {
    Conv2d{Grid{4, 4, 1}, 5, 1, Padding::valid, 1, 0}.check();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("kernel 5"), std::string::npos) << e.what();
  }
}

// W x from the bank through the sharing equals a convolution written out directly (zero padding,
// TensorFlow's split), for odd and even kernels, strides 1-2, both paddings, several channels.
TEST(Conv2dTest, SharedWeightsComputeTheDirectConvolution) {
  for (const Conv2d& conv : {Conv2d{Grid{6, 5, 2}, 3, 1, Padding::same, 3, 0}, Conv2d{Grid{7, 6, 2}, 4, 2, Padding::same, 2, 0},
                             Conv2d{Grid{7, 8, 1}, 3, 2, Padding::valid, 2, 0}, Conv2d{Grid{5, 5, 3}, 5, 3, Padding::same, 1, 0}}) {
    const Structure cw = conv.cw();
    EXPECT_EQ(cw.nnz(), conv.w_synapses());
    const WeightSharing sharing = conv.w_sharing(cw);
    const auto shape = conv.w_bank_shape();
    const std::vector<double> bank = random_bank(sharing.bank_group.size(), 3);
    std::vector<double> values(static_cast<std::size_t>(cw.nnz()));
    sharing.weights_from_bank(bank, values.data(), "test");
    Eigen::Map<const SparseWeights<double>> w(cw.rows(), cw.cols(), cw.nnz(), cw.row_ptr().data(), cw.col_index().data(),
                                              values.data());
    const Vector<double> x = Vector<double>::Random(conv.input.size());
    const Vector<double> y = w * x;
    const Grid out = conv.output();
    const Index k = shape[1], cin = shape[3];
    for (Index i = 0; i < out.height; ++i)
      for (Index j = 0; j < out.width; ++j)
        for (Index n = 0; n < out.channels; ++n) {
          double expected = 0;
          for (Index dy = 0; dy < k; ++dy)
            for (Index dx = 0; dx < k; ++dx) {
              const Index yy = i * conv.stride - conv.pad_top() + dy, xx = j * conv.stride - conv.pad_left() + dx;
              if (yy < 0 || yy >= conv.input.height || xx < 0 || xx >= conv.input.width) continue;
              for (Index c = 0; c < cin; ++c) {
                expected += bank[static_cast<std::size_t>(((n * k + dy) * k + dx) * cin + c)] *
                            x[(yy * conv.input.width + xx) * cin + c];
              }
            }
          EXPECT_NEAR(y[(i * out.width + j) * out.channels + n], expected, 1e-12) << i << " " << j << " " << n;
        }
  }
}

TEST(Conv2dTest, LateralBankIsSymmetricAndAnAsymmetricOneIsRefused) {
  const Conv2d conv{Grid{6, 6, 1}, 3, 1, Padding::same, 3, 1.5};
  const Structure cl = conv.cl();
  const WeightSharing sharing = conv.l_sharing(cl);
  EXPECT_EQ(conv.l_bank_shape()[0], 9);  // offsets within 1.5 site units: the 3 x 3 neighbourhood
  std::vector<double> values(static_cast<std::size_t>(cl.nnz()));
  sharing.weights_from_bank(symmetric_lateral_bank(conv, 5), values.data(), "L");
  check_symmetric(cl, values, "L");  // throws when L is not symmetric
  std::vector<double> asymmetric = random_bank(sharing.bank_group.size(), 6);
  EXPECT_THROW(sharing.weights_from_bank(asymmetric, values.data(), "L"), ConfigError);
  // A bank of the wrong size is a shape error.
  EXPECT_THROW(sharing.weights_from_bank(std::vector<double>(3), values.data(), "L"), ShapeError);
}

TEST(Conv2dTest, InitialisationTiesEverySite) {
  const Network<double> net = one_conv_layer(7);
  const Layer<double>& layer = net.layer(0);
  EXPECT_NO_THROW(layer.w_sharing().check_tied(layer.W().valuePtr(), "W"));
  EXPECT_NO_THROW(layer.l_sharing().check_tied(layer.L().valuePtr(), "L"));
  // Not all one value: the filters are random, L the identity.
  const auto bank = layer.w_sharing().bank_from_weights(layer.W().valuePtr());
  EXPECT_NE(bank[0], bank[1]);
  const auto lbank = layer.l_sharing().bank_from_weights(layer.L().valuePtr());
  const Index d0 = net.layer(0).conv()->l_bank_shape()[0] / 2;  // offset (0, 0)
  EXPECT_EQ(lbank[static_cast<std::size_t>(d0 * 9)], 1.0);
  EXPECT_EQ(lbank[static_cast<std::size_t>(d0 * 9 + 1)], 0.0);
}

TEST(Conv2dTest, UntiedWeightsAreRefused) {
  Network<double> net = one_conv_layer(8);
  std::vector<double> w(net.layer(0).W().valuePtr(), net.layer(0).W().valuePtr() + net.layer(0).W().nonZeros());
  w[0] += 1.0;
  const std::vector<double> before(net.layer(0).W().valuePtr(), net.layer(0).W().valuePtr() + w.size());
  EXPECT_THROW(set_layer_weights(net, 0, &w, nullptr), ConfigError);
  EXPECT_TRUE(std::equal(before.begin(), before.end(), net.layer(0).W().valuePtr()));
}

TEST(Conv2dTest, ModelFileStoresEachBankOnceAndRoundTrips) {
  Network<double> net = one_conv_layer(9);
  const Conv2d conv = *net.layer(0).conv();
  std::vector<double> lvalues(static_cast<std::size_t>(net.layer(0).L().nonZeros()));
  net.layer(0).l_sharing().weights_from_bank(symmetric_lateral_bank(conv, 10), lvalues.data(), "L");
  set_layer_weights(net, 0, nullptr, &lvalues);
  const auto arrays = model_arrays(net);
  EXPECT_EQ(arrays.count("W1_data"), 0u);
  EXPECT_EQ(arrays.at("W1_bank").shape, (std::vector<Index>{3, 3, 3, 2}));
  EXPECT_EQ(arrays.at("L1_bank").shape, (std::vector<Index>{5, 3, 3}));  // offsets within 1: the site and 4 neighbours
  const auto path = test_support::test_dir() / "model.npz";
  save_model(path.string(), net, "{}");
  const LoadedModel<double> loaded = load_model<double>(path.string());
  const Layer<double>& a = net.layer(0);
  const Layer<double>& b = loaded.network.layer(0);
  ASSERT_NE(b.conv(), nullptr);
  EXPECT_EQ(*b.conv(), conv);
  EXPECT_EQ(b.cw(), a.cw());
  EXPECT_EQ(b.cl(), a.cl());
  EXPECT_TRUE(std::equal(a.W().valuePtr(), a.W().valuePtr() + a.W().nonZeros(), b.W().valuePtr()));
  EXPECT_TRUE(std::equal(a.L().valuePtr(), a.L().valuePtr() + a.L().nonZeros(), b.L().valuePtr()));
}

TEST(Conv2dTest, ModelFileWithAnAsymmetricLateralBankIsRefusedNamingTheArray) {
  Network<double> net = one_conv_layer(11);
  auto arrays = model_arrays(net);
  NpyArray& bank = arrays.at("L1_bank");
  std::vector<double> values = bank.to_doubles();
  values[1] += 0.5;  // (offset 0, a 0, b 1) without its mirror (offset D-1, b 1, a 0)
  bank = NpyArray::from_doubles(values.data(), bank.shape);
  try {
    model_from_arrays<double>("m.npz", arrays);
    FAIL() << "an asymmetric lateral bank was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("L1_bank"), std::string::npos) << e.what();
  }
  arrays = model_arrays(net);
  arrays.erase("W1_bank");
  EXPECT_THROW(model_from_arrays<double>("m.npz", arrays), FormatError);
}

TEST(Conv2dTest, ConfigBuildsAConvolutionalLayer) {
  Config config;
  apply_override(config, "layers.0.type=conv2d");
  apply_override(config, "layers.0.kernel=3");
  apply_override(config, "layers.0.stride=1");
  apply_override(config, "layers.0.padding=valid");
  apply_override(config, "layers.0.neurons_per_site=6");
  const Network<float> net = build_network<float>(config, Grid{28, 28, 1});
  ASSERT_NE(net.layer(0).conv(), nullptr);
  EXPECT_EQ(net.layer(0).grid(), (Grid{26, 26, 6}));
  EXPECT_EQ(net.layer(0).cw().nnz(), 26 * 26 * 6 * 9);
  apply_override(config, "layers.0.kernel=40");
  try {
    build_network<float>(config, Grid{28, 28, 1});
    FAIL() << "a kernel larger than the input was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("layers.0.kernel"), std::string::npos) << e.what();
  }
  EXPECT_THROW(apply_override(config, "layers.0.padding=full"), ConfigError);
}

// conv2d, local2d and dense layers stack in one network with feedback; learning keeps the conv
// layer tied and the model file round-trips every layer.
TEST(Conv2dTest, MixesWithLocalAndDenseLayers) {
  Config config;
  for (const char* kv : {"network.gamma=0.2", "network.precision=float64", "layers.0.type=conv2d", "layers.0.kernel=3",
                         "layers.0.stride=1", "layers.0.neurons_per_site=3", "layers.1.type=local2d",
                         "layers.1.stride=2", "layers.1.radius=1.5", "layers.1.neurons_per_site=2", "layers.2.neurons=5",
                         "layers.2.type=dense"}) {
    apply_override(config, kv);
  }
  Network<double> net = build_network<double>(config, Grid{8, 8, 1});
  ASSERT_EQ(net.num_layers(), 3);
  EXPECT_NE(net.layer(0).conv(), nullptr);
  EXPECT_EQ(net.layer(1).conv(), nullptr);
  EXPECT_EQ(net.layer(1).grid(), (Grid{4, 4, 2}));
  const Matrix<double> x = test_support::random_inputs<double>(64, 6, 3);
  FixedPoints<double> fp;
  EulerSolver<double>(test_support::tight_euler(1e-8)).solve(net, x, fp);
  EXPECT_EQ(fp.converged_fraction(), 1.0);
  Correlations sums = Correlations::zeros_like(net);
  accumulate_correlations(net, x, fp, sums);
  apply_learning(net, sums, 0.05);
  EXPECT_NO_THROW(net.layer(0).w_sharing().check_tied(net.layer(0).W().valuePtr(), "W"));
  EXPECT_NO_THROW(net.layer(0).l_sharing().check_tied(net.layer(0).L().valuePtr(), "L"));
  const auto loaded = model_from_arrays<double>("m.npz", model_arrays(net));
  for (Index p = 0; p < 3; ++p) {
    const auto& a = net.layer(p);
    const auto& b = loaded.network.layer(p);
    EXPECT_TRUE(std::equal(a.W().valuePtr(), a.W().valuePtr() + a.W().nonZeros(), b.W().valuePtr())) << p;
    EXPECT_TRUE(std::equal(a.L().valuePtr(), a.L().valuePtr() + a.L().nonZeros(), b.L().valuePtr())) << p;
  }
}

// A model file stores each bank once, so its geometry alone could describe billions of synapses:
// such a file is refused by the memory budget, naming the file, before anything is built.
TEST(Conv2dTest, ModelFileDescribingAHugeLayerIsRefusedBeforeBuilding) {
  Network<double> net = one_conv_layer(12);
  auto arrays = model_arrays(net);
  nlohmann::json description = nlohmann::json::parse(arrays.at("network").as_text());
  auto& layer = description["layers"][0];
  layer["grid"] = {40000, 40000, 1};
  layer["conv2d"]["input"] = {40000, 40000, 1};
  layer["conv2d"]["kernel"] = 1;
  layer["conv2d"]["stride"] = 1;
  layer["conv2d"]["lateral_radius"] = 1e300;
  description["input_size"] = 1600000000;
  arrays["network"] = NpyArray::from_bytes(description.dump());
  try {
    model_from_arrays<double>("huge.npz", arrays);
    FAIL() << "a layer of 1.6e9 neurons was built";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("huge.npz"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("conv2d layer 1"), std::string::npos) << e.what();
  }
}

// The read-out's encoding pools batch by batch and keeps one layer: the same values as pooling
// the whole encoded layer, for any batch size.
TEST(Conv2dTest, EncodeLayerPoolsBatchByBatch) {
  const Network<double> net = one_conv_layer(13);
  const Dataset data = test_support::random_dataset(net.input_size(), 7, 14);
  const auto solver = make_solver<double>(SolverOptions{});
  const Pooling pooling = Pooling::from_text("max:2:1");
  const Matrix<double> whole = pooling.apply(encode(net, *solver, data, 256)[0], net.layer(0).grid());
  for (Index batch : {1, 3, 7}) {
    const Matrix<double> pooled = encode_layer(net, *solver, data, 0, pooling, batch);
    EXPECT_EQ(pooled, whole) << "batch " << batch;
  }
  EXPECT_EQ(whole.rows(), 2 * 2 * 3);
  EXPECT_THROW(encode_layer(net, *solver, data, 1, pooling), ShapeError);
}
