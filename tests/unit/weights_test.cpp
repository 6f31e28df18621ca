#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "simmatch/error.hpp"
#include "simmatch/weights.hpp"
#include "test_files.hpp"
#include "test_networks.hpp"

using namespace simmatch;
using test_support::expect_error;

namespace {

// 2 x 3 constants with synapses (0, 0), (0, 2), (1, 1).
Structure sparse_2x3() { return Structure::from_csr(2, 3, {0, 2, 3}, {0, 2, 1}, {1.0, 1.0, 1.0}); }

}  // namespace

TEST(WeightsTest, SynapseValuesAreCheckedForCountAndFiniteness) {
  const Structure s = sparse_2x3();
  const double good[] = {0.5, -1.0, 2.0};
  EXPECT_EQ(weights_on_structure(s, good, 3, "W"), (std::vector<double>{0.5, -1.0, 2.0}));
  expect_error<ShapeError>([&] { weights_on_structure(s, good, 2, "W"); }, {"W: 2 values for 3 synapses"});
  const double bad[] = {0.5, std::numeric_limits<double>::quiet_NaN(), 2.0};
  expect_error<ConfigError>([&] { weights_on_structure(s, bad, 3, "W"); }, {"W: synapse 1 holds nan"});
}

TEST(WeightsTest, DenseMatricesMustBeZeroOffTheStructure) {
  const Structure s = sparse_2x3();
  const double dense[] = {0.5, 0.0, -1.0, 0.0, 2.0, 0.0};
  EXPECT_EQ(weights_from_dense(s, dense, 2, 3, "W"), (std::vector<double>{0.5, -1.0, 2.0}));
  const double off[] = {0.5, 3.0, -1.0, 0.0, 2.0, 0.0};
  expect_error<ShapeError>([&] { weights_from_dense(s, off, 2, 3, "W"); },
                           {"W: entry (0, 1) is 3 but there is no synapse there"});
  expect_error<ShapeError>([&] { weights_from_dense(s, dense, 3, 2, "W"); }, {"W: shape (3, 2), expected (2, 3)"});
}

TEST(WeightsTest, LateralValuesMustBeSymmetric) {
  const Structure cl = Structure::dense(2, 2);
  check_symmetric(cl, {1.0, 0.25, 0.25, 1.0}, "L");
  expect_error<ConfigError>([&] { check_symmetric(cl, {1.0, 0.5, 0.0, 1.0}, "L"); },
                            {"L: not symmetric: entry (0, 1) is 0.5 but (1, 0) is 0"});
}

TEST(WeightsTest, SetLayerWeightsChangesOnlyWhatIsGiven) {
  Network<float> net = test_support::random_network<float>({3, 2}, 0.0, Activation::tanh(), 1, 0.0);
  const std::vector<float> l_before(net.layer(0).L().valuePtr(), net.layer(0).L().valuePtr() + net.layer(0).L().nonZeros());
  const std::vector<double> w(static_cast<std::size_t>(net.layer(0).W().nonZeros()), 0.25);
  set_layer_weights(net, 0, &w, nullptr);
  for (Index k = 0; k < net.layer(0).W().nonZeros(); ++k) EXPECT_EQ(net.layer(0).W().valuePtr()[k], 0.25f);
  EXPECT_EQ(std::vector<float>(net.layer(0).L().valuePtr(), net.layer(0).L().valuePtr() + net.layer(0).L().nonZeros()),
            l_before);
  const std::vector<double> short_l(1, 1.0);
  expect_error<ShapeError>([&] { set_layer_weights(net, 0, nullptr, &short_l); }, {"L: 1 values for"});
  expect_error<ShapeError>([&] { set_layer_weights(net, 3, &w, nullptr); }, {"layer 3 does not exist"});
}

TEST(WeightsTest, SnapshotsRestoreEveryLayerAndCopiesKeepTheStorage) {
  Network<double> a = test_support::random_network<double>({4, 3, 2}, 0.5, Activation::tanh(), 2);
  Network<double> b = test_support::random_network<double>({4, 3, 2}, 0.5, Activation::tanh(), 2);
  b.initialise(99);
  std::vector<double> snapshot;
  save_weights(a, snapshot);
  const double* storage = a.layer(1).L().valuePtr();
  copy_weights(b, a);
  EXPECT_EQ(a.layer(1).L().valuePtr(), storage);
  EXPECT_EQ(a.layer(0).W().valuePtr()[0], b.layer(0).W().valuePtr()[0]);
  a.layer(1).W().valuePtr()[0] = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(all_weights_finite(a));
  restore_weights(snapshot, a);
  EXPECT_TRUE(all_weights_finite(a));
  Network<double> original = test_support::random_network<double>({4, 3, 2}, 0.5, Activation::tanh(), 2);
  for (Index p = 0; p < 2; ++p) {
    for (Index k = 0; k < a.layer(p).W().nonZeros(); ++k) EXPECT_EQ(a.layer(p).W().valuePtr()[k], original.layer(p).W().valuePtr()[k]);
    for (Index k = 0; k < a.layer(p).L().nonZeros(); ++k) EXPECT_EQ(a.layer(p).L().valuePtr()[k], original.layer(p).L().valuePtr()[k]);
  }
  Network<double> other = test_support::random_network<double>({4, 2}, 0.0, Activation::tanh(), 3);
  expect_error<ShapeError>([&] { copy_weights(other, a); }, {"1 layers into 2"});
}

// A tied (conv2d) matrix is snapshotted as one value per parameter and restored into every
// site's copy; a parameter that overflowed in all its copies (as a tied update writes it) is seen.
TEST(WeightsTest, TiedSnapshotsRestoreEverySiteCopy) {
  Network<double> a = test_support::conv_network<double>(
      Grid{6, 6, 2}, {Conv2d{Grid{}, 3, 1, Padding::same, 3, 1.0}, Conv2d{Grid{}, 3, 2, Padding::valid, 2, 0.0}}, 0.3,
      Activation::tanh(), 4);
  const Network<double> original = a;
  std::vector<double> snapshot;
  save_weights(a, snapshot);
  Index parameters = 0;
  for (Index p = 0; p < a.num_layers(); ++p) parameters += a.layer(p).w_sharing().groups + a.layer(p).l_sharing().groups;
  EXPECT_EQ(static_cast<Index>(snapshot.size()), parameters);
  for (Index p = 0; p < a.num_layers(); ++p) {
    for (const bool lateral : {false, true}) {
      SparseWeights<double>& m = lateral ? a.layer(p).L() : a.layer(p).W();
      const WeightSharing& sharing = lateral ? a.layer(p).l_sharing() : a.layer(p).w_sharing();
      const int g = sharing.group.back();
      for (std::size_t k = 0; k < sharing.group.size(); ++k) {
        if (sharing.group[k] == g) m.valuePtr()[k] = std::numeric_limits<double>::infinity();
      }
      EXPECT_FALSE(all_weights_finite(a)) << "layer " << p << (lateral ? " L" : " W");
      for (std::size_t k = 0; k < sharing.group.size(); ++k) m.valuePtr()[k] = -0.5;
      EXPECT_TRUE(all_weights_finite(a));
      restore_weights(snapshot, a);
      const SparseWeights<double>& before = lateral ? original.layer(p).L() : original.layer(p).W();
      for (Index k = 0; k < m.nonZeros(); ++k) ASSERT_EQ(m.valuePtr()[k], before.valuePtr()[k]) << "synapse " << k;
    }
  }
}
