// Internal: the Hessian in the activities r of the energy that eq. 15 descends (half the
// bracket of eq. 14), assembled once per network on its sparse pattern and factorised by a
// sparse Cholesky decomposition, which succeeds exactly when the matrix is positive definite.
// It decides whether eq. 15 has a unique fixed point (docs/theory.md, "Solving eq. 15") and
// solves the implicit steps of the trajectory-following solver.
#pragma once

#include <Eigen/Dense>
#include <Eigen/SparseCholesky>
#include <cstdint>
#include <optional>
#include <vector>

#include "simmatch/network.hpp"

namespace simmatch::detail {

/// E(r)/2 = sum_p w_p ( -r^(p)T W^(p) r^(p-1) + r^(p)T L^(p) r^(p) / 2 + sum_i F(r^(p)_i) ),
/// w_p = gamma^{p-P}, has the Hessian
///   H = blockdiag( w_p (L^(p) + diag F''(r^(p))) ) - [ w_p W^(p) between layers p and p-1 ],
/// and its gradient w_p (f^{-1}(r^(p)) - g^(p)) is w_p (u - g) = -w_p du/ds: eq. 15 descends E.
/// With gamma = 0 and several layers there is no feedback, eq. 15 is a cascade, and each layer
/// is its own system (its L^(p) + diag F'' alone, w_p = 1). Neurons are numbered as the layers
/// stacked (layer p starts at offset(p)); a system covers the contiguous range of its layers.
template <typename T>
class EnergyHessian {
public:
  explicit EnergyHessian(const Network<T>& network);

  /// New weight values of a network with the same pattern (pattern_key) as the one built from:
  /// the pattern, and every factorisation's symbolic analysis, stay valid.
  void refresh(const Network<T>& network);
  /// A fingerprint of what the pattern depends on (sizes, coupling, synapse positions).
  static std::uint64_t pattern_key(const Network<T>& network);

  Index total() const { return total_; }
  Index offset(Index p) const { return offsets_[static_cast<std::size_t>(p)]; }
  /// One system when the layers are coupled by feedback (gamma > 0, P > 1), else one per layer.
  Index systems() const { return static_cast<Index>(systems_.size()); }
  bool coupled() const { return coupled_; }
  Index system_begin(Index s) const { return systems_[static_cast<std::size_t>(s)].begin; }
  Index system_size(Index s) const { return systems_[static_cast<std::size_t>(s)].matrix.rows(); }
  /// w_p of the neuron's layer in its system: gamma^{p-P} when coupled, 1 otherwise.
  double weight(Index neuron) const { return weight_[static_cast<std::size_t>(neuron)]; }

  /// A Cholesky factorisation of one system, reusable across calls (the symbolic analysis is
  /// done once). Not thread-safe: each thread keeps its own.
  class Factor {
  public:
    bool ok() const { return ok_; }
    /// x = (factorised matrix)^{-1} b for the system's neurons (b and x of system_size()); a
    /// removed (bound) neuron's row is the identity's, so x_i = b_i there.
    void solve(const Eigen::VectorXd& b, Eigen::VectorXd& x) const;

  private:
    friend class EnergyHessian;
    Eigen::SparseMatrix<double> work_;
    Eigen::SimplicialLLT<Eigen::SparseMatrix<double>, Eigen::Lower, Eigen::AMDOrdering<int>> llt_;
    // Systems whose matrix is mostly non-zero (all-to-all layers) are factorised densely: a
    // blocked dense Cholesky is several times faster there than the simplicial one. Only the
    // neurons not removed (free_, local indices) enter it: a removed neuron's identity row and
    // column are decoupled from the rest, and on a trained rectified network most neurons sit
    // on a flat piece (95 % of a contrastive 784-500-10 network's), so the factorisation
    // shrinks from n^3 / 3 to free^3 / 3.
    bool dense_ = false;
    std::vector<Index> free_;
    Eigen::MatrixXd dense_work_;
    Eigen::LLT<Eigen::MatrixXd, Eigen::Lower> dense_llt_;
    const void* system_ = nullptr;  // the system work_ was copied from and analysed for
    bool analysed_ = false;
    bool ok_ = false;
  };

  /// Factorises H_s + w diag(fpp) - shift diag(metric) of system s, where fpp[i] (indexed by
  /// stacked neuron) stands for F''(r_i) and metric[i] defaults to 1; neurons with bound[i] != 0
  /// are removed (their rows and columns replaced by the identity). Returns whether the matrix
  /// is positive definite.
  bool factorize(Index s, const double* fpp, const unsigned char* bound, double shift, Factor& factor,
                 const double* metric = nullptr) const;

  /// Diagonal of the constant part (F'' = 0) at every neuron.
  double constant_diagonal(Index neuron) const;

  /// y = H x over all neurons (the constant part: F'' = 0, coupling included when coupled).
  void multiply_constant(const Eigen::VectorXd& x, Eigen::VectorXd& y) const;

  /// Frobenius norm of the columns of the constant part that belong to `bound` neurons, in the
  /// metric diag(metric): entry (i, j) counts as H_ij / sqrt(metric_i metric_j).
  double bound_columns_norm(const unsigned char* bound, const double* metric) const;

  /// Largest |diagonal| of the constant part (a scale for positivity margins).
  double diagonal_scale() const { return diagonal_scale_; }

private:
  struct System {
    Index begin = 0;
    Eigen::SparseMatrix<double> matrix;  // lower triangle, every diagonal entry present
    std::vector<Index> diagonal;         // position of each diagonal entry in valuePtr()
    std::vector<Index> rows, cols;       // local row / column of every stored entry
    bool dense = false;                  // factorised densely (see Factor)
    Eigen::MatrixXd lower;               // dense systems: the stored entries as a dense matrix
  };
  struct LayerPositions {
    Index system = 0;
    std::vector<Index> lateral;      // per synapse of L: its entry in the system, -1 above the diagonal
    std::vector<Index> feedforward;  // per synapse of W (coupled layers above the first): its entry
  };
  std::vector<Index> offsets_;
  std::vector<LayerPositions> layers_;
  std::vector<double> weight_;
  std::vector<System> systems_;
  Index total_ = 0;

  // Calls visit(row, column, value) for every stored entry of the constant part (lower triangle,
  // global neuron indices).
  template <typename Visit>
  void for_each_entry(Visit&& visit) const {
    for (const System& sys : systems_) {
      const double* v = sys.matrix.valuePtr();
      for (std::size_t e = 0; e < sys.rows.size(); ++e) visit(sys.begin + sys.rows[e], sys.begin + sys.cols[e], v[e]);
    }
  }
  bool coupled_ = false;
  double diagonal_scale_ = 0;
};

/// The Hessian of the network being solved and the Cholesky factors of its systems, kept across
/// solves: training changes the weights but not the pattern, so each solve only refreshes the
/// values and the factors keep their symbolic analyses. One set of factors per worker thread.
/// Not thread-safe: its owner serialises access (FastSolver holds one behind a mutex).
template <typename T>
class HessianWorkspace {
public:
  /// The Hessian of `network`, rebuilt when its pattern changed, refreshed otherwise.
  const EnergyHessian<T>& prepare(const Network<T>& network);
  /// Inside a Solve scope, the Hessian prepared since the scope began (the solve's network and
  /// weights, which do not change during it); otherwise, and before the first prepare, prepare().
  const EnergyHessian<T>& current(const Network<T>& network) {
    return in_solve_ && fresh_ ? *hessian_ : prepare(network);
  }

  /// One solve of one network: while it lives, current() reuses what prepare() built in it
  /// (the check for a unique fixed point and the Newton polish both need the Hessian).
  class Solve {
  public:
    explicit Solve(HessianWorkspace& workspace) : workspace_(workspace) {
      workspace_.in_solve_ = true;
      workspace_.fresh_ = false;
    }
    ~Solve() { workspace_.in_solve_ = workspace_.fresh_ = false; }
    Solve(const Solve&) = delete;
    Solve& operator=(const Solve&) = delete;

  private:
    HessianWorkspace& workspace_;
  };
  /// The factors of worker `worker` (one per system of the prepared Hessian).
  std::vector<typename EnergyHessian<T>::Factor>& factors(std::size_t worker);

  /// Per layer, what the last unique_fixed_point found comparing L's stored site blocks: 1 when
  /// every site holds the same full k x k block, 0 when not, -1 where it did not compare them.
  /// Valid until the weights change: the solve that called it reuses it instead of comparing
  /// the blocks again (kernels::view_site_blocks).
  std::vector<signed char> lateral_blocks_shared;

private:
  std::uint64_t key_ = 0;
  bool in_solve_ = false;
  bool fresh_ = false;
  std::optional<EnergyHessian<T>> hessian_;
  std::vector<std::vector<typename EnergyHessian<T>::Factor>> factors_;
};

/// Lower bound of F''(r) over the whole range of the activation: 1/gain - 1 for tanh(gain u),
/// 0 for linear, relu and clipped relu (docs/theory.md).
double regulariser_curvature_bound(const Activation& activation);

/// True when eq. 15 provably has exactly one fixed point: H with F'' replaced by its lower bound
/// is positive definite (with a relative margin), so the energy is strictly convex on the whole
/// box of activities and its only critical point is the fixed point. For the gamma = 0 cascade
/// each layer's own system is checked, site by site where L is block diagonal by site (dense
/// k x k Cholesky factorisations, cheap enough to run before every batch).
template <typename T>
bool unique_fixed_point(const Network<T>& network, HessianWorkspace<T>& workspace);
template <typename T>
bool unique_fixed_point(const Network<T>& network);

extern template class EnergyHessian<float>;
extern template class EnergyHessian<double>;
extern template class HessianWorkspace<float>;
extern template class HessianWorkspace<double>;

}  // namespace simmatch::detail
