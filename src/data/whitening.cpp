// ZCA whitening (include/simmatch/whitening.hpp).
#include "simmatch/whitening.hpp"

#include <cmath>

#include <Eigen/Eigenvalues>
#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {

WhiteningSummary zca_whiten(Dataset& data, double relative_epsilon) {
  if (!std::isfinite(relative_epsilon) || !(relative_epsilon > 0)) {
    throw ConfigError(fmt::format("whitening: the relative epsilon must be finite and > 0, got {}", relative_epsilon));
  }
  const Index k = data.dim();
  const Index t = data.size();
  if (t < 2) throw ShapeError(fmt::format("whitening: needs at least 2 samples, got {}", t));
  const Eigen::MatrixXd x = data.x.cast<double>();
  const Eigen::VectorXd mean = x.rowwise().mean();
  const Eigen::MatrixXd centred = x.colwise() - mean;
  Eigen::MatrixXd covariance = Eigen::MatrixXd::Zero(k, k);
  covariance.selfadjointView<Eigen::Lower>().rankUpdate(centred, 1.0 / static_cast<double>(t - 1));
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(covariance.selfadjointView<Eigen::Lower>());
  if (eig.info() != Eigen::Success) throw NumericalError("whitening: the eigendecomposition of the covariance failed");
  // Round-off can make the smallest eigenvalues slightly negative.
  const Eigen::VectorXd lambda = eig.eigenvalues().cwiseMax(0.0);
  const double largest = lambda.maxCoeff();
  if (!(largest > 0) || !std::isfinite(largest)) throw NumericalError("whitening: the data have no variance");

  WhiteningSummary summary;
  summary.largest_eigenvalue = largest;
  summary.epsilon = relative_epsilon * largest;
  const Eigen::VectorXd gain = (lambda.array() + summary.epsilon).rsqrt();
  summary.effective_rank = (lambda.array() > summary.epsilon).count();
  // Variance of output feature i = sum_j U_ij^2 lambda_j gain_j^2; its mean over i is
  // sum_j lambda_j gain_j^2 / K because the rows of U have unit norm.
  const double mean_variance = (lambda.array() * gain.array().square()).sum() / static_cast<double>(k);
  const Eigen::MatrixXd& u = eig.eigenvectors();
  const Eigen::MatrixXd zca = u * (gain / std::sqrt(mean_variance)).asDiagonal() * u.transpose();
  data.x = (zca * centred).cast<float>();
  return summary;
}

}  // namespace simmatch
