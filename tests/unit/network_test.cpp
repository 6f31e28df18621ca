#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "simmatch/error.hpp"
#include "simmatch/learning.hpp"
#include "simmatch/network.hpp"

using namespace simmatch;

namespace {
Network<double> reference_layer(std::uint64_t seed) {
  const Grid input{28, 28, 1};
  const Grid sites = Structure::local2d_output(input, 2, 4);
  std::vector<Layer<double>> layers;
  layers.emplace_back(Structure::local2d(input, 2, 4.0, 4), Structure::lateral2d(sites, 0.0), Activation::tanh(), sites);
  Network<double> net(input.size(), std::move(layers), 0.0);
  net.initialise(seed);
  return net;
}
}  // namespace

TEST(NetworkTest, InitialisationFollowsTheReference) {
  const Network<double> net = reference_layer(7);
  const auto& w = net.layer(0).W();
  const auto& l = net.layer(0).L();
  EXPECT_EQ(w.nonZeros(), 35968);
  EXPECT_EQ(l.nonZeros(), 3136);
  // L = identity on its structure.
  for (Index i = 0; i < l.outerSize(); ++i) {
    for (SparseWeights<double>::InnerIterator it(l, i); it; ++it) EXPECT_EQ(it.value(), it.col() == i ? 1.0 : 0.0);
  }
  // W ~ N(0, 1/fan_in): fan_in * W^2 averages to 1 and the mean is ~0.
  double scaled = 0, mean = 0;
  for (Index i = 0; i < w.outerSize(); ++i) {
    const double fan_in = w.outerIndexPtr()[i + 1] - w.outerIndexPtr()[i];
    for (SparseWeights<double>::InnerIterator it(w, i); it; ++it) {
      scaled += fan_in * it.value() * it.value();
      mean += it.value();
    }
  }
  EXPECT_NEAR(scaled / 35968.0, 1.0, 0.03);
  EXPECT_NEAR(mean / 35968.0, 0.0, 0.01);
}

TEST(NetworkTest, InitialisationIsSeeded) {
  const Network<double> a = reference_layer(3), b = reference_layer(3), c = reference_layer(4);
  EXPECT_TRUE(Eigen::MatrixXd(a.layer(0).W()).isApprox(Eigen::MatrixXd(b.layer(0).W()), 0.0));
  EXPECT_FALSE(Eigen::MatrixXd(a.layer(0).W()).isApprox(Eigen::MatrixXd(c.layer(0).W())));
}

TEST(NetworkTest, WeightsLiveOnlyOnTheStructure) {
  const Network<double> net = reference_layer(1);
  const auto& cw = net.layer(0).cw();
  const auto& w = net.layer(0).W();
  for (Index i = 0; i < cw.rows(); ++i) {
    ASSERT_EQ(w.outerIndexPtr()[i], cw.row_ptr()[static_cast<std::size_t>(i)]);
  }
  for (Index k = 0; k < cw.nnz(); ++k) ASSERT_EQ(w.innerIndexPtr()[k], cw.col_index()[static_cast<std::size_t>(k)]);
}

TEST(NetworkTest, SiteLayoutRecordsHowTheSynapsesSplitBySite) {
  const Grid input{6, 5, 1};
  // conv2d of lateral neighbourhood 0, "same" padding: full site blocks, and every site's filters
  // read one patch (the border sites' patches are smaller).
  const Conv2d conv{input, 3, 1, Padding::same, 4, 0.0};
  const Layer<float> tied(conv.cw(), conv.cl(), Activation::tanh(), conv.output(), conv);
  EXPECT_TRUE(tied.site_layout().lateral_block_diagonal);
  EXPECT_TRUE(tied.site_layout().lateral_full_blocks);
  EXPECT_EQ(tied.site_layout().patch_rows, std::vector<unsigned char>(30, 1));
  // Neighbouring sites connected laterally: neither.
  const Conv2d coupled_conv{input, 3, 1, Padding::same, 4, 1.0};
  const Layer<float> coupled(coupled_conv.cw(), coupled_conv.cl(), Activation::tanh(), coupled_conv.output(), coupled_conv);
  EXPECT_FALSE(coupled.site_layout().lateral_block_diagonal);
  EXPECT_FALSE(coupled.site_layout().lateral_full_blocks);
  // Constants from a file: C^L diagonal (block diagonal, sparse blocks), and the two neurons of
  // site 1 read different inputs.
  const Index k = 2, sites = 3;
  Eigen::MatrixXd cw = Eigen::MatrixXd::Ones(k * sites, 4);
  cw(3, 0) = 0.0;
  const Layer<double> sparse(Structure::from_dense(cw), Structure::from_dense(Eigen::MatrixXd::Identity(k * sites, k * sites)),
                             Activation::tanh(), Grid{1, sites, k});
  EXPECT_TRUE(sparse.site_layout().lateral_block_diagonal);
  EXPECT_FALSE(sparse.site_layout().lateral_full_blocks);
  EXPECT_EQ(sparse.site_layout().patch_rows, (std::vector<unsigned char>{1, 0, 1}));
  // A dense layer (one neuron per site, all-to-all L): not block diagonal.
  const Layer<double> dense(Structure::dense(5, 4), Structure::dense(5, 5), Activation::tanh(), Grid{1, 5, 1});
  EXPECT_FALSE(dense.site_layout().lateral_block_diagonal);
  EXPECT_EQ(dense.site_layout().patch_rows, std::vector<unsigned char>(5, 1));
}

TEST(NetworkTest, FeedbackConstantsFollowTheTheory) {
  std::vector<Layer<double>> layers;
  layers.emplace_back(Structure::dense(4, 3), Structure::dense(4, 4), Activation::tanh(), Grid{1, 4, 1});
  layers.emplace_back(Structure::dense(2, 4), Structure::dense(2, 2), Activation::tanh(), Grid{1, 2, 1});
  layers.emplace_back(Structure::dense(2, 2), Structure::dense(2, 2), Activation::tanh(), Grid{1, 2, 1});
  Network<double> net(3, std::move(layers), 0.5);
  EXPECT_DOUBLE_EQ(net.k(0), 1.5);
  EXPECT_DOUBLE_EQ(net.k(1), 1.5);
  EXPECT_DOUBLE_EQ(net.k(2), 1.0);
  EXPECT_DOUBLE_EQ(net.layer_weight(0), 4.0);  // gamma^{1-3}
  EXPECT_DOUBLE_EQ(net.layer_weight(1), 2.0);
  EXPECT_DOUBLE_EQ(net.layer_weight(2), 1.0);
  EXPECT_EQ(net.num_synapses(), 12 + 16 + 8 + 4 + 4 + 4);
}

TEST(NetworkTest, ShapeMismatchesAreClearErrors) {
  std::vector<Layer<double>> layers;
  layers.emplace_back(Structure::dense(4, 3), Structure::dense(4, 4), Activation::tanh(), Grid{1, 4, 1});
  EXPECT_THROW(Network<double>(5, layers, 0.0), ShapeError);
  EXPECT_THROW(Network<double>(3, layers, -1.0), ConfigError);
  EXPECT_THROW(Network<double>(3, {}, 0.0), ConfigError);
  EXPECT_THROW(Layer<double>(Structure::dense(4, 3), Structure::dense(3, 3), Activation::tanh(), Grid{1, 4, 1}), ShapeError);
  EXPECT_THROW(Layer<double>(Structure::dense(4, 3), Structure::dense(4, 4), Activation::tanh(), Grid{1, 5, 1}), ShapeError);
  Eigen::MatrixXd asym = Eigen::MatrixXd::Ones(2, 2);
  asym(0, 1) = 2;
  EXPECT_THROW(Layer<double>(Structure::dense(2, 3), Structure::from_dense(asym), Activation::tanh(), Grid{1, 2, 1}),
               ConfigError);
}

TEST(NetworkTest, CastKeepsWeightsAndShape) {
  const Network<double> net = reference_layer(5);
  const Network<float> f = net.cast<float>();
  EXPECT_EQ(f.layer(0).W().nonZeros(), net.layer(0).W().nonZeros());
  EXPECT_FLOAT_EQ(f.layer(0).W().valuePtr()[17], static_cast<float>(net.layer(0).W().valuePtr()[17]));
}

TEST(LearningRateTest, InverseDecayHasAFloor) {
  const auto s = LearningRateSchedule::inverse_decay(5e-3, 0.5, 1e-4);
  EXPECT_DOUBLE_EQ(s.at(0), 5e-3);
  EXPECT_DOUBLE_EQ(s.at(2), 2.5e-3);
  EXPECT_DOUBLE_EQ(s.at(1000), 1e-4);
  EXPECT_DOUBLE_EQ(LearningRateSchedule::constant(0.1).at(50), 0.1);
  EXPECT_THROW(LearningRateSchedule::constant(0.0), ConfigError);
  EXPECT_THROW(LearningRateSchedule::inverse_decay(1e-3, -1, 0), ConfigError);
}

TEST(CorrelationsTest, PackAndUnpackRoundTrip) {
  std::vector<Layer<double>> layers;
  layers.emplace_back(Structure::dense(2, 3), Structure::dense(2, 2), Activation::tanh(), Grid{1, 2, 1});
  const Network<double> net(3, std::move(layers), 0.0);
  Correlations c = Correlations::zeros_like(net);
  c.hebbian[0].setLinSpaced(6, 1, 6);
  c.lateral[0].setConstant(2.5);
  c.regulariser[0] = 3;
  c.samples = 9;
  Correlations d = Correlations::zeros_like(net);
  d.unpack(c.pack());
  EXPECT_EQ(d.hebbian[0], c.hebbian[0]);
  EXPECT_EQ(d.lateral[0], c.lateral[0]);
  EXPECT_EQ(d.samples, 9);
  d.add(c);
  EXPECT_EQ(d.samples, 18);
  EXPECT_THROW(d.unpack({1.0}), ShapeError);
}
