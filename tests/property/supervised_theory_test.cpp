// Supervised similarity matching with the labels as an input (docs/theory.md, "Supervised
// similarity matching: labels as an input"): the labelled network is the unsupervised network
// whose top layer has a wider input, its fixed points solve eq. 15 with the label drive on deep,
// feedback and saturating networks, and its label synapses learn by eq. 17.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "simmatch/contrastive.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/error.hpp"
#include "simmatch/learning.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/supervised.hpp"
#include "simmatch/trainer.hpp"
#include "test_files.hpp"
#include "test_networks.hpp"

using namespace simmatch;
using simmatch::test_support::random_inputs;
using simmatch::test_support::random_network;
using simmatch::test_support::tight_euler;

namespace {

std::vector<int> labels_for(Index b, Index classes) {
  std::vector<int> labels;
  for (Index i = 0; i < b; ++i) labels.push_back(static_cast<int>((3 * i + 1) % classes));
  return labels;
}

Matrix<double> random_label_weights(Index rows, Index classes, std::uint64_t seed) {
  return 0.5 * random_inputs<double>(rows, classes, seed);
}

TrainOptions one_batch(Index batch, double eta, double label_scale) {
  TrainOptions o;
  o.epochs = 1;
  o.batch_size = batch;
  o.shuffle = false;
  o.cost_samples = 0;
  o.schedule = LearningRateSchedule::constant(eta);
  o.mode = TrainMode::supervised;
  o.contrastive.label_scale = label_scale;
  return o;
}

FastSolver<double> tight_fast() {
  SolverOptions o;
  o.tolerance = 1e-13;
  o.max_steps = 20000;
  return FastSolver<double>(o);
}

// Fixed points of `net` with the label input s e_y driving its top layer through V.
FixedPoints<double> labelled_fixed_points(const DynamicsSolver<double>& solver, Network<double> net,
                                          const Matrix<double>& x, const std::vector<int>& labels, double s) {
  const Matrix<double> stacked = stack_top_drive<double>(x, label_drive(net, labels, s));
  net.set_top_drive_rows(net.layer(net.num_layers() - 1).size());
  FixedPoints<double> fp;
  solver.solve(net, stacked, fp);
  return fp;
}

}  // namespace

// One dense layer trained with labels is, synapse for synapse, the unsupervised layer trained on
// the inputs [x; s e_y] with W_aug = [W, V]: same fixed points, same W, L and V steps.
TEST(SupervisedTest, OneLayerIsTheUnsupervisedLayerOfTheLabelledInput) {
  const Index k = 6, n = 4, classes = 3, b = 9;
  const double s = 0.75, eta = 0.07;  // s exact in float32, as the wide data hold it
  for (const Activation& activation : {Activation::tanh(1.0), Activation::clipped_relu(0.5), Activation::linear()}) {
    SCOPED_TRACE(activation.name());
    // All-to-all layers (every C^W, C^L = 1, as V's are) with the same W, L.
    const auto dense_net = [&](Index inputs) {
      std::vector<Layer<double>> layers;
      layers.emplace_back(Structure::from_dense(Eigen::MatrixXd::Ones(n, inputs)),
                          Structure::from_dense(Eigen::MatrixXd::Ones(n, n)), activation, Grid{1, n, 1});
      return Network<double>(inputs, std::move(layers), 0.0);
    };
    Network<double> net = dense_net(k), wide = dense_net(k + classes);
    const Matrix<double> w = random_inputs<double>(n, k, 61) / std::sqrt(static_cast<double>(k));
    Matrix<double> l = 0.1 * random_inputs<double>(n, n, 62);
    l = (l + l.transpose()).eval() + 1.5 * Matrix<double>::Identity(n, n);
    net.set_label_weights(random_label_weights(n, classes, 62));
    for (Index i = 0; i < n; ++i) {
      for (Index j = 0; j < k; ++j) net.layer(0).W().coeffRef(i, j) = wide.layer(0).W().coeffRef(i, j) = w(i, j);
      for (Index c = 0; c < classes; ++c) wide.layer(0).W().coeffRef(i, k + c) = net.label_weights()(i, c);
      for (Index j = 0; j < n; ++j) net.layer(0).L().coeffRef(i, j) = wide.layer(0).L().coeffRef(i, j) = l(i, j);
    }
    Dataset data = test_support::random_dataset(k, b, 64);
    data.labels = labels_for(b, classes);
    Dataset wide_data;
    wide_data.x = Eigen::MatrixXf::Zero(k + classes, b);
    wide_data.x.topRows(k) = data.x;
    for (Index t = 0; t < b; ++t) wide_data.x(k + data.labels[static_cast<std::size_t>(t)], t) = static_cast<float>(s);
    wide_data.shape = Grid{1, k + classes, 1};

    const FastSolver<double> solver = tight_fast();
    Trainer<double>(net, solver, one_batch(b, eta, s)).fit(data);
    TrainOptions plain = one_batch(b, eta, s);
    plain.mode = TrainMode::unsupervised;
    Trainer<double>(wide, solver, plain).fit(wide_data);
    double moved = 0;
    for (Index i = 0; i < n; ++i) {
      for (Index j = 0; j < k; ++j) EXPECT_NEAR(net.layer(0).W().coeff(i, j), wide.layer(0).W().coeff(i, j), 1e-10);
      for (Index c = 0; c < classes; ++c) {
        EXPECT_NEAR(net.label_weights()(i, c), wide.layer(0).W().coeff(i, k + c), 1e-10) << "V(" << i << ", " << c << ")";
        moved = std::max(moved, std::abs(net.label_weights()(i, c) - random_label_weights(n, classes, 62)(i, c)));
      }
      for (Index j = 0; j < n; ++j) EXPECT_NEAR(net.layer(0).L().coeff(i, j), wide.layer(0).L().coeff(i, j), 1e-10);
    }
    EXPECT_GT(moved, 1e-3);
  }
}

// On deep networks with feedback, saturating rectifiers and an indefinite hidden L, the labelled
// fixed point solves eq. 15 with s V e_y added to the top layer's input (checked from layer_input,
// independently of the solvers' drive), and is the one Euler reaches from rest.
TEST(SupervisedTest, LabelledFixedPointSolvesEq15WithTheLabelDrive) {
  struct Case {
    const char* name;
    Network<double> net;
  };
  std::vector<Case> cases;
  cases.push_back({"tanh 6-5-4-3, gamma 0.5", random_network<double>({6, 5, 4, 3}, 0.5, Activation::tanh(1.0), 71)});
  cases.push_back({"clipped relu 6-5-3, gamma 0.3, saturating",
                   random_network<double>({6, 5, 3}, 0.3, Activation::clipped_relu(0.5), 72, 0.3, 3.0)});
  Network<double> indefinite = random_network<double>({6, 5, 3}, 0.4, Activation::tanh(2.0), 73, 0.0);
  auto& l = indefinite.layer(0).L();
  for (Index i = 0; i < l.outerSize(); ++i) {
    for (SparseWeights<double>::InnerIterator it(l, i); it; ++it) it.valueRef() = it.col() == i ? 0.2 : 0.6;
  }
  cases.push_back({"tanh 6-5-3 with an indefinite L, gamma 0.4", std::move(indefinite)});
  const double s = 1.5;
  for (Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Index top = c.net.num_layers() - 1;
    c.net.set_label_weights(random_label_weights(c.net.layer(top).size(), 4, 74));
    const Matrix<double> x = random_inputs<double>(6, 8, 75);
    const std::vector<int> labels = labels_for(8, 4);
    const FixedPoints<double> fast = labelled_fixed_points(FastSolver<double>(), c.net, x, labels, s);
    const FixedPoints<double> euler = labelled_fixed_points(EulerSolver<double>(tight_euler(1e-11)), c.net, x, labels, s);
    for (std::size_t p = 0; p < fast.r.size(); ++p) {
      Matrix<double> g;
      layer_input(c.net, x, fast.r, static_cast<Index>(p), g);
      if (static_cast<Index>(p) == top) {
        for (Index b = 0; b < x.cols(); ++b) g.col(b) += s * c.net.label_weights().col(labels[static_cast<std::size_t>(b)]);
      }
      Matrix<double> fg(g.rows(), g.cols());
      c.net.layer(static_cast<Index>(p)).activation().apply(g.data(), fg.data(), g.size());
      EXPECT_LT((fast.r[p] - fg).cwiseAbs().maxCoeff(), 1e-5) << "layer " << p;
      EXPECT_LT((fast.r[p] - euler.r[p]).cwiseAbs().maxCoeff(), 1e-5) << "layer " << p;
    }
    for (const auto converged : fast.converged) EXPECT_EQ(converged, 1);
    // Without its label input the network is the unsupervised one: another fixed point.
    FixedPoints<double> bare;
    FastSolver<double>().solve(c.net, x, bare);
    EXPECT_GT((bare.r.back() - fast.r.back()).cwiseAbs().maxCoeff(), 1e-3);
  }
}

// With V = 0 (a fresh network) the labels do not reach the dynamics yet: the first batch's W and
// L steps are the unsupervised ones, and V becomes eta s (1/B) sum_b r_b e_{y_b}^T (eq. 17, C^W = 1).
TEST(SupervisedTest, FirstBatchFromZeroLabelSynapsesIsTheUnsupervisedStepPlusTheHebbianV) {
  Network<double> net = random_network<double>({6, 5, 3}, 0.5, Activation::tanh(1.0), 81);
  Dataset data = test_support::random_dataset(6, 8, 82);
  data.labels = labels_for(8, 4);
  const double eta = 0.05, s = 2.0;
  const FastSolver<double> solver = tight_fast();
  Network<double> supervised = net, unsupervised = net;
  Trainer<double>(supervised, solver, one_batch(8, eta, s)).fit(data);
  TrainOptions plain = one_batch(8, eta, s);
  plain.mode = TrainMode::unsupervised;
  Trainer<double>(unsupervised, solver, plain).fit(data);
  const auto a = test_support::all_weights(supervised), b = test_support::all_weights(unsupervised);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12) << "weight " << i;
  ASSERT_EQ(supervised.classes(), 4);
  FixedPoints<double> fp;
  solver.solve(net, data.x.cast<double>(), fp);
  Matrix<double> expected = Matrix<double>::Zero(3, 4);
  for (Index t = 0; t < 8; ++t) expected.col(data.labels[static_cast<std::size_t>(t)]) += eta * s / 8.0 * fp.r.back().col(t);
  EXPECT_LT((supervised.label_weights() - expected).cwiseAbs().maxCoeff(), 1e-10);
}

// The label input pulls the top-layer fixed points of one class together: after training, the
// label synapses' read-out V^T r (without the labels) classifies separable classes, and the
// within-class similarity of the representation exceeds the unsupervised network's.
TEST(SupervisedTest, LabelsPullSamplesOfOneClassTogether) {
  const Index k = 8, n = 150, classes = 3;
  const Dataset data = test_support::clustered_dataset(k, n, classes, 0.6, 17);
  const Network<double> start = random_network<double>({k, 6, 4}, 0.3, Activation::tanh(1.0), 19, 0.0);
  const FastSolver<double> solver;
  TrainOptions o = one_batch(10, 0.05, 3.0);
  o.epochs = 15;
  o.shuffle = true;
  o.seed = 5;
  Network<double> supervised = start, unsupervised = start;
  Trainer<double>(supervised, solver, o).fit(data);
  o.mode = TrainMode::unsupervised;
  Trainer<double>(unsupervised, solver, o).fit(data);
  // Mean cosine similarity of the top layer's fixed points within classes minus between them.
  const auto class_contrast = [&](const Network<double>& net) {
    FixedPoints<double> fp;
    solver.solve(net, data.x.cast<double>(), fp);
    Matrix<double> r = fp.r.back();
    for (Index t = 0; t < n; ++t) r.col(t) /= std::max(r.col(t).norm(), 1e-12);
    const Matrix<double> g = r.transpose() * r;
    double within = 0, between = 0, nw = 0, nb = 0;
    for (Index a = 0; a < n; ++a) {
      for (Index b = a + 1; b < n; ++b) {
        if (data.labels[static_cast<std::size_t>(a)] == data.labels[static_cast<std::size_t>(b)]) {
          within += g(a, b), nw += 1;
        } else {
          between += g(a, b), nb += 1;
        }
      }
    }
    return std::pair{within / nw - between / nb, fp};
  };
  const auto [contrast_supervised, fp] = class_contrast(supervised);
  const auto [contrast_unsupervised, unused] = class_contrast(unsupervised);
  EXPECT_GT(contrast_supervised, contrast_unsupervised + 0.1);
  const std::vector<int> predicted =
      predicted_classes<double>(label_scores(supervised, ConstMatrixRef<double>(fp.r.back())));
  int wrong = 0;
  for (Index t = 0; t < n; ++t) wrong += predicted[static_cast<std::size_t>(t)] != data.labels[static_cast<std::size_t>(t)];
  EXPECT_LT(wrong, n / 10);
}

TEST(SupervisedTest, ModelFilesKeepTheLabelSynapses) {
  Network<double> net = random_network<double>({6, 5, 3}, 0.5, Activation::tanh(1.0), 91);
  net.set_label_weights(random_label_weights(3, 4, 92));
  const std::string path = (test_support::test_dir() / "model.npz").string();
  save_model(path, net, "{}");
  const LoadedModel<double> back = load_model<double>(path);
  EXPECT_EQ(back.network.classes(), 4);
  EXPECT_EQ(back.network.label_weights(), net.label_weights());
  const LoadedModel<float> single = load_model<float>(path);
  EXPECT_LT((single.network.label_weights().cast<double>() - net.label_weights()).cwiseAbs().maxCoeff(), 1e-6);
  const Network<double> bare = random_network<double>({6, 5, 3}, 0.5, Activation::tanh(1.0), 91);
  save_model(path, bare, "{}");
  EXPECT_EQ(load_model<double>(path).network.classes(), 0);
}

TEST(SupervisedTest, RefusesMissingOrOutOfRangeLabels) {
  Network<double> net = random_network<double>({4, 3}, 0.0, Activation::tanh(1.0), 95);
  Dataset data = test_support::random_dataset(4, 5, 96);
  const FastSolver<double> solver;
  EXPECT_THROW(Trainer<double>(net, solver, one_batch(5, 0.1, 1.0)).fit(data), ConfigError);  // no labels
  data.labels = {0, 1, -1, 0, 1};
  try {
    Trainer<double>(net, solver, one_batch(5, 0.1, 1.0)).fit(data);
    ADD_FAILURE() << "a negative label was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("sample 2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(net.classes(), 0);
  net.set_label_weights(random_label_weights(3, 2, 97));
  data.labels = {0, 1, 2, 0, 1};  // the model has label synapses for 2 classes
  EXPECT_THROW(Trainer<double>(net, solver, one_batch(5, 0.1, 1.0)).fit(data), ConfigError);
  TrainOptions zero = one_batch(5, 0.1, 0.0);
  EXPECT_THROW(Trainer<double>(net, solver, zero), ConfigError);
  EXPECT_THROW(net.set_label_weights(Matrix<double>::Zero(2, 2)), ShapeError);
  EXPECT_THROW(label_scores(random_network<double>({4, 3}, 0.0, Activation::tanh(1.0), 98),
                            ConstMatrixRef<double>(Matrix<double>::Zero(3, 1))),
               ShapeError);
  EXPECT_EQ(train_mode_from_name("supervised"), TrainMode::supervised);
  EXPECT_EQ(train_mode_name(TrainMode::supervised), "supervised");
}
