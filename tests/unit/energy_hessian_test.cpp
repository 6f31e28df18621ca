// The energy Hessian's dense factorisation (energy_hessian.hpp): on an all-to-all system only the
// neurons not removed enter the Cholesky factor, and the solve must equal that of the whole
// matrix with the removed neurons' rows and columns replaced by the identity.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "core/energy_hessian.hpp"
#include "test_networks.hpp"

namespace simmatch {
namespace {

// The system's matrix as a dense symmetric matrix: the constant part (columns H e_j), plus
// w_i fpp_i on the diagonal, removed neurons replaced by the identity's rows and columns.
Eigen::MatrixXd explicit_matrix(const detail::EnergyHessian<double>& h, const std::vector<double>& fpp,
                                const std::vector<unsigned char>& bound) {
  const Index n = h.total();
  Eigen::MatrixXd m(n, n);
  Eigen::VectorXd e, column;
  for (Index j = 0; j < n; ++j) {
    e.setZero(n);
    e[j] = 1.0;
    h.multiply_constant(e, column);
    m.col(j) = column;
  }
  for (Index i = 0; i < n; ++i) m(i, i) += h.weight(i) * fpp[static_cast<std::size_t>(i)];
  for (Index i = 0; i < n; ++i) {
    if (!bound[static_cast<std::size_t>(i)]) continue;
    m.row(i).setZero();
    m.col(i).setZero();
    m(i, i) = 1.0;
  }
  return m;
}

// 80 + 10 all-to-all neurons joined by feedback: one system, stored densely.
Network<double> all_to_all_clipped_network() {
  return test_support::random_network<double>({30, 80, 10}, 0.5, Activation::clipped_relu(1.0), 7, 0.0);
}

TEST(EnergyHessianTest, DenseFactorOfTheFreeNeuronsSolvesTheWholeSystem) {
  const Network<double> net = all_to_all_clipped_network();
  const detail::EnergyHessian<double> h(net);
  ASSERT_EQ(h.systems(), 1);
  const Index n = h.total();
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const Eigen::VectorXd b = test_support::random_inputs<double>(n, 1, 9).col(0);
  // A large positive F'' keeps the matrix definite whichever neurons are removed.
  std::vector<double> fpp(static_cast<std::size_t>(n));
  for (double& v : fpp) v = 20.0 + uniform(rng);
  for (const double removed_share : {0.0, 0.6, 0.95, 1.0}) {
    std::vector<unsigned char> bound(static_cast<std::size_t>(n));
    for (auto& v : bound) v = uniform(rng) < removed_share ? 1 : 0;
    if (removed_share == 1.0) std::fill(bound.begin(), bound.end(), 1);
    detail::EnergyHessian<double>::Factor factor;
    ASSERT_TRUE(h.factorize(0, fpp.data(), bound.data(), 0.0, factor)) << removed_share;
    Eigen::VectorXd x;
    factor.solve(b, x);
    const Eigen::VectorXd expected = explicit_matrix(h, fpp, bound).ldlt().solve(b);
    EXPECT_LE((x - expected).norm(), 1e-12 * expected.norm()) << "removed share " << removed_share;
  }
}

TEST(EnergyHessianTest, DenseFactorReportsAnIndefiniteFreeBlock) {
  const Network<double> net = all_to_all_clipped_network();
  const detail::EnergyHessian<double> h(net);
  const Index n = h.total();
  std::vector<double> fpp(static_cast<std::size_t>(n), 0.0);
  std::vector<unsigned char> bound(static_cast<std::size_t>(n), 0);
  // A shift past the largest diagonal entry makes the free block indefinite...
  detail::EnergyHessian<double>::Factor factor;
  EXPECT_FALSE(h.factorize(0, fpp.data(), bound.data(), 10.0 * h.diagonal_scale() + 1.0, factor));
  EXPECT_FALSE(factor.ok());
  // ...and removing every neuron leaves the identity, whatever the shift.
  std::fill(bound.begin(), bound.end(), 1);
  EXPECT_TRUE(h.factorize(0, fpp.data(), bound.data(), 10.0 * h.diagonal_scale() + 1.0, factor));
}

TEST(EnergyHessianTest, PatternKeyFollowsThePatternNotTheWeights) {
  using H = detail::EnergyHessian<double>;
  Network<double> net = all_to_all_clipped_network();
  const std::uint64_t key = H::pattern_key(net);
  // New weight values (a learning step) keep the pattern: the workspace refreshes, not rebuilds.
  net.layer(0).W() *= 0.5;
  net.layer(1).L().coeffRef(0, 0) += 1.0;
  EXPECT_EQ(H::pattern_key(net), key);
  // Every change of sizes, coupling or synapse positions gives another key.
  std::vector<std::uint64_t> keys{key};
  for (const std::uint64_t seed : {8, 9, 10}) {
    keys.push_back(H::pattern_key(test_support::random_network<double>({30, 80, 10}, 0.5, Activation::clipped_relu(1.0), seed, 0.3)));
  }
  keys.push_back(H::pattern_key(test_support::random_network<double>({30, 80, 10}, 0.0, Activation::clipped_relu(1.0), 7, 0.0)));
  keys.push_back(H::pattern_key(test_support::random_network<double>({30, 81, 10}, 0.5, Activation::clipped_relu(1.0), 7, 0.0)));
  keys.push_back(H::pattern_key(test_support::random_network<double>({30, 80}, 0.5, Activation::clipped_relu(1.0), 7, 0.0)));
  for (std::size_t a = 0; a < keys.size(); ++a) {
    for (std::size_t b = a + 1; b < keys.size(); ++b) EXPECT_NE(keys[a], keys[b]) << a << " vs " << b;
  }
}

// unique_fixed_point factorises a site block only when it differs from the last one factorised
// (a conv2d layer's tied L repeats one block at every site): the verdict must still be each
// site's own, whichever site alone is indefinite.
TEST(EnergyHessianTest, RepeatedSiteBlocksGiveTheVerdictOfEverySite) {
  const Conv2d conv{Grid{5, 4, 1}, 3, 1, Padding::same, 4, 0.0};
  Network<double> net = test_support::conv_network<double>(conv.input, {conv}, 0.0, Activation::tanh(), 3);
  ASSERT_TRUE(detail::unique_fixed_point(net)) << "a tied, diagonally dominant L is definite";
  const Index k = conv.channels, sites = net.layer(0).size() / k;
  for (const Index site : {Index{0}, Index{1}, sites / 2, sites - 1}) {
    Network<double> broken = net;
    // Neuron 0 of this site inhibits itself so strongly that its block has a negative eigenvalue.
    broken.layer(0).L().coeffRef(site * k, site * k) = -2.0;
    EXPECT_FALSE(detail::unique_fixed_point(broken)) << "site " << site;
  }
  // Every site indefinite in the same way: the repeated block must not be skipped into a yes.
  Network<double> all_broken = net;
  for (Index s = 0; s < sites; ++s) all_broken.layer(0).L().coeffRef(s * k, s * k) = -2.0;
  EXPECT_FALSE(detail::unique_fixed_point(all_broken));
}

}  // namespace
}  // namespace simmatch
