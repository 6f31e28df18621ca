#include "core/site_preconditioner.hpp"

#include <Eigen/Dense>
#include <cmath>

namespace simmatch::detail {

template <typename T>
bool site_preconditioner(const kernels::DenseSiteBlocks<T>& l, const Activation& activation, std::vector<T>& storage,
                         kernels::DenseSiteBlocks<T>& out) {
  if (activation.kind() != ActivationKind::tanh && activation.kind() != ActivationKind::linear) return false;
  const double a = activation.derivative(0.0);
  if (!l.shared || l.k < 1) return false;
  const Index k = l.k;
  // L_s = I (an untrained layer): J_a = I, and the preconditioned map is the plain one.
  bool identity = true;
  for (Index i = 0; i < k && identity; ++i) {
    for (Index j = 0; j < k && identity; ++j) identity = l.val[i * k + j] == (i == j ? T(1) : T(0));
  }
  if (identity) return false;
  Eigen::MatrixXd ja(k, k);
  for (Index i = 0; i < k; ++i) {
    for (Index j = 0; j < k; ++j) ja(i, j) = a * static_cast<double>(l.val[i * k + j]) + (i == j ? 1.0 - a : 0.0);
  }
  const Eigen::MatrixXd inverse = ja.partialPivLu().inverse();
  if (!inverse.allFinite()) return false;
  storage.resize(static_cast<std::size_t>(k * k));
  for (Index i = 0; i < k; ++i) {
    for (Index j = 0; j < k; ++j) storage[static_cast<std::size_t>(i * k + j)] = static_cast<T>(inverse(i, j));
  }
  out.k = k;
  out.sites = l.sites;
  out.kp = l.kp;
  out.shared = true;
  out.val = storage.data();
  kernels::transpose_site_blocks(out);
  return true;
}

template bool site_preconditioner<float>(const kernels::DenseSiteBlocks<float>&, const Activation&, std::vector<float>&,
                                         kernels::DenseSiteBlocks<float>&);
template bool site_preconditioner<double>(const kernels::DenseSiteBlocks<double>&, const Activation&,
                                          std::vector<double>&, kernels::DenseSiteBlocks<double>&);

}  // namespace simmatch::detail
