// ZCA whitening: decorrelated, unit mean variance, zero-phase, and bad input rejected.
#include <gtest/gtest.h>

#include <random>

#include "simmatch/error.hpp"
#include "simmatch/whitening.hpp"

namespace simmatch {
namespace {

// T samples of K strongly correlated features: a shared smooth signal plus small noise.
Dataset correlated_data(Index k, Index t, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Dataset data;
  data.shape = Grid{1, k, 1};
  data.x.resize(k, t);
  for (Index s = 0; s < t; ++s) {
    const float common = 3.0f * n(rng);
    const float slope = n(rng);
    for (Index i = 0; i < k; ++i) data.x(i, s) = common + slope * static_cast<float>(i) / static_cast<float>(k) + 0.1f * n(rng) + 5.0f;
  }
  return data;
}

Eigen::MatrixXd covariance_of(const Dataset& data) {
  const Eigen::MatrixXd x = data.x.cast<double>();
  const Eigen::MatrixXd c = x.colwise() - x.rowwise().mean();
  return c * c.transpose() / static_cast<double>(data.size() - 1);
}

TEST(WhiteningTest, OutputCovarianceIsNearlyIdentityForSmallEpsilon) {
  Dataset data = correlated_data(6, 20000, 1);
  const WhiteningSummary s = zca_whiten(data, 1e-8);
  EXPECT_EQ(s.effective_rank, 6);
  const Eigen::MatrixXd c = covariance_of(data);
  EXPECT_LT((c - Eigen::MatrixXd::Identity(6, 6)).cwiseAbs().maxCoeff(), 1e-3);
  EXPECT_LT(data.x.rowwise().mean().cwiseAbs().maxCoeff(), 1e-4f);
}

TEST(WhiteningTest, MeanVarianceIsOneAndEpsilonDampsSmallDirections) {
  Dataset data = correlated_data(8, 5000, 2);
  const WhiteningSummary s = zca_whiten(data, 0.05);
  EXPECT_NEAR(s.epsilon, 0.05 * s.largest_eigenvalue, 1e-12);
  EXPECT_LT(s.effective_rank, 8);  // the noise directions (variance 0.01) fall below epsilon
  const Eigen::MatrixXd c = covariance_of(data);
  EXPECT_NEAR(c.trace() / 8.0, 1.0, 1e-4);
}

TEST(WhiteningTest, IsZeroPhaseSoEachFeatureKeepsItsPlace) {
  // A feature-wise independent input with unequal variances is only rescaled per feature, not
  // mixed: the ZCA matrix of a diagonal covariance is diagonal.
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Dataset data;
  data.shape = Grid{1, 3, 1};
  data.x.resize(3, 20000);
  for (Index s = 0; s < data.size(); ++s) data.x.col(s) << n(rng), 2.0f * n(rng), 4.0f * n(rng);
  const Dataset before = data;
  zca_whiten(data, 1e-6);
  for (Index i = 0; i < 3; ++i) {
    const double corr = data.x.row(i).cast<double>().dot(before.x.row(i).cast<double>()) /
                        (data.x.row(i).cast<double>().norm() * before.x.row(i).cast<double>().norm());
    EXPECT_GT(corr, 0.999) << "feature " << i;
  }
}

TEST(WhiteningTest, RejectsBadEpsilonTooFewSamplesAndConstantData) {
  Dataset data = correlated_data(4, 10, 4);
  EXPECT_THROW(zca_whiten(data, 0.0), ConfigError);
  EXPECT_THROW(zca_whiten(data, -1.0), ConfigError);
  EXPECT_THROW(zca_whiten(data, std::nan("")), ConfigError);
  Dataset one = correlated_data(4, 1, 4);
  EXPECT_THROW(zca_whiten(one, 0.01), ShapeError);
  Dataset constant = correlated_data(4, 10, 4);
  constant.x.setConstant(2.0f);
  EXPECT_THROW(zca_whiten(constant, 0.01), NumericalError);
}

}  // namespace
}  // namespace simmatch
