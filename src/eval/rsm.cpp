// Representational similarity matrices and the indices that compare them.
#include "simmatch/rsm.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {

Eigen::MatrixXd similarity_matrix_of(const Eigen::MatrixXd& x) {
  if (x.cols() == 0) throw ShapeError("rsm: no samples");
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(x.cols(), x.cols());
  s.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
  s = s.selfadjointView<Eigen::Lower>();
  const double top = s.cwiseAbs().maxCoeff();
  if (top > 0) s /= top;
  return s;
}


ClusterSeparation cluster_separation(const Eigen::MatrixXd& rsm, const std::vector<int>& labels) {
  const Index t = rsm.rows();
  if (rsm.cols() != t || static_cast<Index>(labels.size()) != t) {
    throw ShapeError(fmt::format("cluster separation: a {} x {} RSM with {} labels", rsm.rows(), rsm.cols(), labels.size()));
  }
  double within = 0, between = 0, magnitude = 0;
  Index n_within = 0, n_between = 0;
  for (Index j = 0; j < t; ++j) {
    for (Index i = 0; i < t; ++i) {
      if (i == j) continue;
      const double v = rsm(i, j);
      magnitude += std::abs(v);
      if (labels[static_cast<std::size_t>(i)] == labels[static_cast<std::size_t>(j)]) {
        within += v;
        ++n_within;
      } else {
        between += v;
        ++n_between;
      }
    }
  }
  if (n_within == 0 || n_between == 0) {
    throw ShapeError("cluster separation: needs two samples of one label and two different labels");
  }
  ClusterSeparation out;
  out.within = within / static_cast<double>(n_within);
  out.between = between / static_cast<double>(n_between);
  magnitude /= static_cast<double>(n_within + n_between);
  out.index = magnitude > 0 ? (out.within - out.between) / magnitude : 0.0;
  return out;
}

double rsm_correlation(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  const Index t = a.rows();
  if (a.cols() != t || b.rows() != t || b.cols() != t) {
    throw ShapeError(fmt::format("rsm correlation: sizes {} x {} and {} x {} differ", a.rows(), a.cols(), b.rows(), b.cols()));
  }
  if (t < 3) throw ShapeError("rsm correlation: needs at least 3 samples");
  double sa = 0, sb = 0, n = 0;
  for (Index j = 0; j < t; ++j)
    for (Index i = 0; i < j; ++i) sa += a(i, j), sb += b(i, j), n += 1;
  const double ma = sa / n, mb = sb / n;
  double cab = 0, caa = 0, cbb = 0;
  for (Index j = 0; j < t; ++j) {
    for (Index i = 0; i < j; ++i) {
      const double da = a(i, j) - ma, db = b(i, j) - mb;
      cab += da * db;
      caa += da * da;
      cbb += db * db;
    }
  }
  return caa > 0 && cbb > 0 ? cab / std::sqrt(caa * cbb) : 0.0;
}

std::vector<Index> order_by_label(const std::vector<int>& labels) {
  std::vector<Index> order(labels.size());
  std::iota(order.begin(), order.end(), Index{0});
  std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) {
    return labels[static_cast<std::size_t>(a)] < labels[static_cast<std::size_t>(b)];
  });
  return order;
}

Eigen::MatrixXd reorder(const Eigen::MatrixXd& rsm, const std::vector<Index>& order) {
  const auto n = static_cast<Index>(order.size());
  if (rsm.rows() != n || rsm.cols() != n) throw ShapeError("rsm reorder: order and matrix sizes differ");
  Eigen::MatrixXd out(n, n);
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i < n; ++i) out(i, j) = rsm(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  return out;
}

}  // namespace simmatch
