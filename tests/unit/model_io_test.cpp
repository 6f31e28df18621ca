// Model files: bit-exact save/load of a 2-layer structured network in both precisions, the CSR
// layout as scipy reads it, and a FormatError naming the file and array for each broken part.
#include <gtest/gtest.h>
#include <unistd.h>

#include <zip.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "test_files.hpp"
#include "simmatch/error.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"

namespace simmatch {
namespace {

namespace fs = std::filesystem;
using test_support::expect_error;
using test_support::test_dir;
using test_support::write_bytes;

// 8x8 input -> locally connected 4x4 sites x 2 neurons (tanh) -> 10 dense neurons (clipped ReLU),
// with non-trivial symmetric lateral weights so that every stored value matters.
template <typename T>
Network<T> two_layer_network() {
  const Grid input{8, 8, 1};
  const Grid hidden = Structure::local2d_output(input, 2, 2);
  std::vector<Layer<T>> layers;
  layers.emplace_back(Structure::local2d(input, 2, 1.5, 2), Structure::lateral2d(hidden, 1.0), Activation::tanh(2.0),
                      hidden);
  layers.emplace_back(Structure::dense(10, hidden.size(), 0.5), Structure::dense(10, 10), Activation::clipped_relu(0.75),
                      Grid{1, 10, 1});
  Network<T> network(input.size(), std::move(layers), 0.3);
  network.initialise(42);
  for (Index p = 0; p < network.num_layers(); ++p) {
    Layer<T>& layer = network.layer(p);
    const Structure& cl = layer.cl();
    for (Index r = 0; r < cl.rows(); ++r) {
      for (int k = cl.row_ptr()[static_cast<std::size_t>(r)]; k < cl.row_ptr()[static_cast<std::size_t>(r) + 1]; ++k) {
        const Index c = cl.col_index()[static_cast<std::size_t>(k)];
        layer.L().valuePtr()[k] = static_cast<T>(1.0 / (1.0 + static_cast<double>(r + c)) + (r == c ? 0.1 : 0.0));
      }
    }
  }
  return network;
}

template <typename T>
bool same_bytes(const SparseWeights<T>& a, const SparseWeights<T>& b) {
  return a.nonZeros() == b.nonZeros() &&
         std::memcmp(a.valuePtr(), b.valuePtr(), static_cast<std::size_t>(a.nonZeros()) * sizeof(T)) == 0;
}

template <typename T>
void expect_same_network(const Network<T>& a, const Network<T>& b) {
  EXPECT_EQ(a.input_size(), b.input_size());
  EXPECT_EQ(a.gamma(), b.gamma());
  ASSERT_EQ(a.num_layers(), b.num_layers());
  for (Index p = 0; p < a.num_layers(); ++p) {
    EXPECT_EQ(a.layer(p).cw(), b.layer(p).cw()) << p;
    EXPECT_EQ(a.layer(p).cl(), b.layer(p).cl()) << p;
    EXPECT_EQ(a.layer(p).activation(), b.layer(p).activation()) << p;
    EXPECT_EQ(a.layer(p).grid(), b.layer(p).grid()) << p;
    EXPECT_TRUE(same_bytes(a.layer(p).W(), b.layer(p).W())) << p;
    EXPECT_TRUE(same_bytes(a.layer(p).L(), b.layer(p).L())) << p;
  }
}

const std::string kConfig = R"({"training": {"eta": 0.01, "epochs": 3}, "note": "x"})";

TEST(ModelIoTest, SaveLoadIsBitExactInFloat32) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "model.npz").string();
  const Network<float> network = two_layer_network<float>();
  save_model(path, network, kConfig);
  EXPECT_EQ(model_precision(path), "float32");
  const LoadedModel<float> loaded = load_model<float>(path);
  expect_same_network(network, loaded.network);
  EXPECT_EQ(loaded.config_json, kConfig);
}

TEST(ModelIoTest, SaveLoadIsBitExactInFloat64) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "model.npz").string();
  const Network<double> network = two_layer_network<double>();
  save_model(path, network);
  EXPECT_EQ(model_precision(path), "float64");
  const LoadedModel<double> loaded = load_model<double>(path);
  expect_same_network(network, loaded.network);
  EXPECT_EQ(loaded.config_json, "{}");
}

TEST(ModelIoTest, LoadConvertsTheOtherPrecision) {
  const fs::path dir = test_dir();
  const Network<double> network = two_layer_network<double>();
  save_model((dir / "d.npz").string(), network);
  const LoadedModel<float> as_float = load_model<float>((dir / "d.npz").string());
  for (Index p = 0; p < 2; ++p) {
    const auto& w = network.layer(p).W();
    for (Index k = 0; k < w.nonZeros(); ++k) {
      EXPECT_EQ(as_float.network.layer(p).W().valuePtr()[k], static_cast<float>(w.valuePtr()[k]));
    }
  }
  const Network<float> single = two_layer_network<float>();
  save_model((dir / "f.npz").string(), single);
  const LoadedModel<double> as_double = load_model<double>((dir / "f.npz").string());
  const auto& l = single.layer(1).L();
  for (Index k = 0; k < l.nonZeros(); ++k) {
    EXPECT_EQ(as_double.network.layer(1).L().valuePtr()[k], static_cast<double>(l.valuePtr()[k]));
  }
}

TEST(ModelIoTest, LayoutIsDocumentedCsr) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "model.npz").string();
  const Network<float> network = two_layer_network<float>();
  save_model(path, network, kConfig);
  const auto arrays = read_npz(path);
  for (const char* key : {"W1_data", "W1_indices", "W1_indptr", "W1_shape", "CW1_data", "L1_data", "L1_indices",
                          "L1_indptr", "L1_shape", "CL1_data", "W2_data", "CL2_data", "network", "config"}) {
    EXPECT_TRUE(arrays.count(key)) << key;
  }
  EXPECT_EQ(arrays.at("W1_data").dtype, "<f4");
  EXPECT_EQ(arrays.at("W1_indices").dtype, "<i4");
  EXPECT_EQ(arrays.at("W1_indptr").shape, std::vector<Index>{33});
  EXPECT_EQ(arrays.at("W1_shape").to_doubles(), (std::vector<double>{32, 64}));
  EXPECT_EQ(arrays.at("CW2_data").to_doubles(), std::vector<double>(320, 0.5));
  const auto net = nlohmann::json::parse(arrays.at("network").as_text());
  EXPECT_EQ(net["format"], "simmatch-model");
  EXPECT_EQ(net["version"], 1);
  EXPECT_EQ(net["precision"], "float32");
  EXPECT_EQ(net["input_size"], 64);
  EXPECT_EQ(net["gamma"], 0.3);
  EXPECT_EQ(net["layers"][0]["grid"], nlohmann::json({4, 4, 2}));
  EXPECT_EQ(net["layers"][0]["activation"], "tanh");
  EXPECT_EQ(net["layers"][0]["gain"], 2.0);
  EXPECT_EQ(net["layers"][1]["activation"], "clipped_relu");
  EXPECT_EQ(net["layers"][1]["clip"], 0.75);
  EXPECT_EQ(arrays.at("config").as_text(), kConfig);
}

TEST(ModelIoTest, ScipyRebuildsTheWeights) {
  if (!fs::exists("/usr/bin/python3") ||
      std::system("/usr/bin/python3 -c 'import numpy, scipy.sparse' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 with numpy and scipy is not available";
  }
  const fs::path dir = test_dir();
  const Network<double> network = two_layer_network<double>();
  save_model((dir / "model.npz").string(), network, kConfig);
  const std::string script =
      "import numpy as np, scipy.sparse as sp, json, sys\n"
      "d = sys.argv[1]\n"
      "m = np.load(d + '/model.npz')\n"
      "assert json.loads(m['config'].tobytes())['training']['epochs'] == 3\n"
      "net = json.loads(m['network'].tobytes())\n"
      "for p in range(1, len(net['layers']) + 1):\n"
      "    for n in ('W', 'L'):\n"
      "        k = n + str(p)\n"
      "        w = sp.csr_matrix((m[k + '_data'], m[k + '_indices'], m[k + '_indptr']), shape=tuple(m[k + '_shape']))\n"
      "        c = sp.csr_matrix((m['C' + k + '_data'], m[k + '_indices'], m[k + '_indptr']), shape=tuple(m[k + '_shape']))\n"
      "        assert w.has_sorted_indices and c.nnz == w.nnz\n"
      "        np.save(d + '/' + k + '.npy', w.toarray())\n";
  std::ofstream(dir / "check.py") << script;
  ASSERT_EQ(std::system(("/usr/bin/python3 " + (dir / "check.py").string() + " " + dir.string()).c_str()), 0);
  for (Index p = 0; p < 2; ++p) {
    for (const char* name : {"W", "L"}) {
      const auto& sparse = name[0] == 'W' ? network.layer(p).W() : network.layer(p).L();
      const Matrix<double> expected = Matrix<double>(sparse);
      const NpyArray dense = read_npy((dir / (name + std::to_string(p + 1) + ".npy")).string());
      ASSERT_EQ(dense.shape, (std::vector<Index>{expected.rows(), expected.cols()}));
      const std::vector<double> values = dense.to_doubles();
      // C order: row r, column c at r * cols + c.
      const Matrix<double> got =
          Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
              values.data(), expected.rows(), expected.cols());
      EXPECT_EQ(got, expected) << name << p + 1;
    }
  }
}

TEST(ModelIoTest, SavingRejectsConfigThatIsNotJson) {
  const fs::path dir = test_dir();
  EXPECT_THROW(save_model((dir / "m.npz").string(), two_layer_network<float>(), "{not json"), ConfigError);
  EXPECT_FALSE(fs::exists(dir / "m.npz"));
}

// Saves a good model, lets `damage` edit its arrays, writes them to "bad.npz" and expects a
// FormatError naming that file and each of `parts`.
void expect_broken(const std::function<void(std::map<std::string, NpyArray>&)>& damage,
                   std::initializer_list<std::string> parts) {
  const fs::path dir = test_dir();
  save_model((dir / "good.npz").string(), two_layer_network<float>(), kConfig);
  auto arrays = read_npz((dir / "good.npz").string());
  damage(arrays);
  const std::string bad = (dir / "bad.npz").string();
  write_npz(bad, arrays);
  try {
    load_model<float>(bad);
    ADD_FAILURE() << "no exception thrown";
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(bad), std::string::npos) << what;
    for (const auto& part : parts) EXPECT_NE(what.find(part), std::string::npos) << what;
  }
}

void edit_network(std::map<std::string, NpyArray>& arrays, const std::function<void(nlohmann::json&)>& edit) {
  auto net = nlohmann::json::parse(arrays.at("network").as_text());
  edit(net);
  arrays["network"] = NpyArray::from_bytes(net.dump());
}

TEST(ModelIoTest, MissingArrayIsNamed) {
  expect_broken([](auto& a) { a.erase("W1_indptr"); }, {"'W1_indptr'", "missing"});
  expect_broken([](auto& a) { a.erase("CL2_data"); }, {"'CL2_data'", "missing"});
  expect_broken([](auto& a) { a.erase("config"); }, {"'config'", "missing"});
  expect_broken([](auto& a) { a.erase("network"); }, {"'network'", "missing"});
}

TEST(ModelIoTest, WrongDtypeOrLengthIsNamed) {
  expect_broken(
      [](auto& a) {
        const std::vector<double> v = a.at("W1_data").to_doubles();
        a["W1_data"] = NpyArray::from_doubles(v.data(), {static_cast<Index>(v.size())});
      },
      {"'W1_data'", "dtype is <f8, expected <f4"});
  expect_broken(
      [](auto& a) {
        const std::vector<double> v = a.at("CW2_data").to_doubles();
        a["CW2_data"] = NpyArray::from_doubles(v.data(), {static_cast<Index>(v.size()) - 1});
      },
      {"'CW2_data'", "entries"});
  expect_broken(
      [](auto& a) {
        const int shape[2] = {32, 64};
        a["W1_shape"] = NpyArray::from_ints(shape, {2});
      },
      {"'W1_shape'", "dtype"});
  expect_broken([](auto& a) { a.at("L2_data").shape = {10, 10}; a.at("L2_data").bytes.resize(400); },
                {"'L2_data'", "1-D"});
}

TEST(ModelIoTest, InvalidCsrIsNamed) {
  expect_broken(
      [](auto& a) {
        std::vector<int> indptr(11);
        std::memcpy(indptr.data(), a.at("L2_indptr").bytes.data(), 11 * sizeof(int));
        std::swap(indptr[3], indptr[4]);
        a["L2_indptr"] = NpyArray::from_ints(indptr.data(), {11});
      },
      {"L2_indptr", "not a valid structure"});
  expect_broken(
      [](auto& a) {
        int* indices = reinterpret_cast<int*>(a.at("W2_indices").bytes.data());
        indices[0] = 1000;  // column out of range
      },
      {"W2_indices", "not a valid structure"});
}

TEST(ModelIoTest, BadNetworkDescriptionIsNamed) {
  expect_broken([](auto& a) { a["network"] = NpyArray::from_bytes("{oops"); }, {"'network'", "invalid JSON"});
  expect_broken([](auto& a) { edit_network(a, [](auto& n) { n["version"] = 2; }); }, {"'network'", "version 2"});
  expect_broken([](auto& a) { edit_network(a, [](auto& n) { n["format"] = "other"; }); }, {"'network'", "format"});
  expect_broken([](auto& a) { edit_network(a, [](auto& n) { n["precision"] = "float16"; }); },
                {"'network'", "precision"});
  expect_broken([](auto& a) { edit_network(a, [](auto& n) { n.erase("gamma"); }); }, {"'network'", "gamma"});
  expect_broken([](auto& a) { edit_network(a, [](auto& n) { n["layers"].push_back(n["layers"][1]); }); },
                {"'W3_shape'", "missing"});
  expect_broken([](auto& a) { edit_network(a, [](auto& n) { n["input_size"] = 65; }); },
                {"'network'", "do not form a network"});
  expect_broken([](auto& a) { edit_network(a, [](auto& n) { n["layers"][0]["activation"] = "sigmoid"; }); },
                {"layer 1", "sigmoid"});
  expect_broken([](auto& a) { edit_network(a, [](auto& n) { n["layers"][1]["grid"] = {2, 2, 1}; }); },
                {"layer 2", "inconsistent"});
  expect_broken([](auto& a) { a["config"] = NpyArray::from_bytes("[1, 2"); }, {"'config'", "invalid JSON"});
}

TEST(ModelIoTest, NonFiniteWeightsAndConstantsAreNamedWithTheFirstEntry) {
  // Such a model used to load, and encode wrote NaN activities with exit status 0.
  const auto set = [](std::map<std::string, NpyArray>& a, const std::string& key, std::size_t k, double v) {
    NpyArray& array = a.at(key);
    if (array.dtype == "<f4") {
      const float f = static_cast<float>(v);
      std::memcpy(array.bytes.data() + k * sizeof(float), &f, sizeof(float));
    } else {
      std::memcpy(array.bytes.data() + k * sizeof(double), &v, sizeof(double));
    }
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  expect_broken([&](auto& a) {
                  set(a, "W1_data", 5, nan);
                  set(a, "W1_data", 7, nan);
                },
                {"'W1_data'", "entry 5 is nan", "weights must be finite"});
  expect_broken([&](auto& a) { set(a, "L2_data", 3, -inf); }, {"'L2_data'", "entry 3 is -inf"});
  expect_broken([&](auto& a) { set(a, "CW1_data", 2, inf); }, {"'CW1_data'", "entry 2 is inf", "constants must be finite"});
  expect_broken([&](auto& a) { set(a, "CL1_data", 0, nan); }, {"'CL1_data'", "entry 0 is nan"});
}

TEST(ModelIoTest, Float64WeightsBeyondFloat32AreRefusedWhenLoadedAsFloat32) {
  const fs::path dir = test_dir();
  Network<double> network = two_layer_network<double>();
  network.layer(1).W().valuePtr()[4] = 1e300;
  const std::string path = (dir / "big.npz").string();
  save_model(path, network, kConfig);
  EXPECT_EQ(load_model<double>(path).network.layer(1).W().valuePtr()[4], 1e300);
  expect_error<FormatError>([&] { load_model<float>(path); }, {path, "'W2_data'", "entry 4", "not finite in float32"});
}

TEST(ModelIoTest, GridProductsAreCheckedInsteadOfWrapping) {
  // [2^62 + 8, 4, 1] holds 2^64 + 32 neurons, which wrapped to layer 1's 32 and loaded.
  expect_broken(
      [](auto& a) {
        edit_network(a, [](auto& n) { n["layers"][0]["grid"] = {(std::uint64_t{1} << 62) + 8, 4, 1}; });
      },
      {"'network'", "layer 1", "\"grid\" [4611686018427387912, 4, 1]", "more than 2147483647 neurons"});
}

TEST(ModelIoTest, EntriesOtherThanTheModelsAreNotDecompressed) {
  // A deflate bomb of 32 MiB (32 KiB on disk) beside the model's arrays, never used: loading the
  // model under a 4 MiB budget succeeds only if the bomb is left alone.
  const fs::path dir = test_dir();
  const std::string path = (dir / "m.npz").string();
  save_model(path, two_layer_network<float>(), kConfig);
  const std::vector<float> zeros(std::size_t{8} << 20, 0.0f);
  const std::string bomb = serialize_npy(NpyArray::from_floats(zeros.data(), {static_cast<Index>(zeros.size())}));
  int code = 0;
  zip_t* za = zip_open(path.c_str(), 0, &code);
  ASSERT_NE(za, nullptr);
  const zip_int64_t index = zip_file_add(za, "junk.npy", zip_source_buffer(za, bomb.data(), bomb.size(), 0), 0);
  ASSERT_GE(index, 0);
  ASSERT_EQ(zip_set_file_compression(za, static_cast<zip_uint64_t>(index), ZIP_CM_DEFLATE, 9), 0);
  ASSERT_EQ(zip_close(za), 0);
  ASSERT_LT(fs::file_size(path), std::uintmax_t{1} << 20);
  const MemoryBudget budget(std::uint64_t{4} << 20, "a test budget");
  const LoadedModel<float> model = load_model<float>(path, budget);
  EXPECT_TRUE(same_bytes(model.network.layer(0).W(), two_layer_network<float>().layer(0).W()));
  EXPECT_EQ(model_precision(path, budget), "float32");
  expect_error<FormatError>([&] { read_npz(path, budget); }, {path, "'junk.npy'", "memory budget"});
}

TEST(ModelIoTest, FilesThatAreNotModels) {
  const fs::path dir = test_dir();
  std::ofstream(dir / "text.npz") << "hello";
  expect_error<FormatError>([&] { load_model<float>((dir / "text.npz").string()); }, {"text.npz"});
  expect_error<FormatError>([&] { model_precision((dir / "text.npz").string()); }, {"text.npz"});
  expect_error<IoError>([&] { load_model<double>((dir / "none.npz").string()); }, {"none.npz"});
  const float v = 1;
  write_npz((dir / "other.npz").string(), {{"x", NpyArray::from_floats(&v, {1})}});
  expect_error<FormatError>([&] { model_precision((dir / "other.npz").string()); }, {"other.npz", "'network'"});
}

}  // namespace
}  // namespace simmatch
