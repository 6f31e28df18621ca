// Representational similarity matrices and their summary indices.
#include <gtest/gtest.h>

#include "simmatch/error.hpp"
#include "simmatch/rsm.hpp"

namespace simmatch {
namespace {

TEST(Rsm, IsTheGramMatrixWithLargestMagnitudeOne) {
  Eigen::MatrixXd x(2, 3);
  x << 1, 0, -2,  //
      0, 1, 0;
  const Eigen::MatrixXd s = similarity_matrix(x);
  Eigen::MatrixXd expected = x.transpose() * x / 4.0;
  EXPECT_TRUE(s.isApprox(expected));
  EXPECT_DOUBLE_EQ(s.cwiseAbs().maxCoeff(), 1.0);
  EXPECT_DOUBLE_EQ(s(0, 2), -0.5);
}

TEST(Rsm, FloatInputGivesTheSameMatrix) {
  Eigen::MatrixXf x = Eigen::MatrixXf::Random(4, 6);
  EXPECT_TRUE(similarity_matrix(x).isApprox(similarity_matrix(Eigen::MatrixXd(x.cast<double>()))));
}

TEST(Rsm, ZeroRepresentationGivesZeroMatrix) {
  EXPECT_TRUE(similarity_matrix(Eigen::MatrixXd::Zero(3, 4)).isZero());
  EXPECT_THROW(similarity_matrix(Eigen::MatrixXd(3, 0)), ShapeError);
}

TEST(ClusterSeparation, IsLargeForSeparatedClustersAndNearZeroForNoise) {
  Eigen::MatrixXd x(2, 4);
  x << 1, 1, 0, 0,  //
      0, 0, 1, 1;
  const auto sep = cluster_separation(similarity_matrix(x), {0, 0, 1, 1});
  EXPECT_DOUBLE_EQ(sep.within, 1.0);
  EXPECT_DOUBLE_EQ(sep.between, 0.0);
  EXPECT_GT(sep.index, 1.0);
  const auto mixed = cluster_separation(similarity_matrix(x), {0, 1, 0, 1});
  EXPECT_LT(mixed.index, 0.0);
  EXPECT_THROW(cluster_separation(Eigen::MatrixXd::Zero(3, 3), {0, 1}), ShapeError);
}

TEST(RsmCorrelation, IsOneForScaledCopiesAndRefusesSizeMismatch) {
  Eigen::MatrixXd x = Eigen::MatrixXd::Random(5, 8);
  const Eigen::MatrixXd a = similarity_matrix(x);
  EXPECT_NEAR(rsm_correlation(a, 0.3 * a), 1.0, 1e-12);
  EXPECT_THROW(rsm_correlation(a, Eigen::MatrixXd::Zero(3, 3)), ShapeError);
}

TEST(Rsm, OrderByLabelGroupsLabelsStably) {
  const auto order = order_by_label({2, 0, 1, 0});
  EXPECT_EQ(order, (std::vector<Index>{1, 3, 2, 0}));
  Eigen::MatrixXd m(2, 2);
  m << 1, 2, 3, 4;
  const Eigen::MatrixXd r = reorder(m, {1, 0});
  EXPECT_EQ(r(0, 0), 4);
  EXPECT_EQ(r(0, 1), 3);
}

}  // namespace
}  // namespace simmatch
