// The energy Hessian of eq. 15's Lyapunov function on the network's sparse pattern, and its
// positive-definiteness tests by sparse Cholesky (see energy_hessian.hpp).
#include "core/energy_hessian.hpp"

#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>
#include <cstdint>

#include "core/batch_kernel.hpp"
#include "simmatch/error.hpp"

namespace simmatch::detail {

double regulariser_curvature_bound(const Activation& activation) {
  // F''(r) = (f^{-1})'(r) - 1; for tanh(g u), (f^{-1})'(r) = 1 / (g (1 - r^2)) >= 1 / g.
  return activation.kind() == ActivationKind::tanh ? 1.0 / activation.gain() - 1.0 : 0.0;
}

// A system of at least kDenseFactorMin neurons whose lower triangle stores more than
// kDenseFactorFill of the entries is factorised as a dense matrix (measured on a 784-500-10
// all-to-all network: the simplicial factorisation took half of a contrastive training run).
constexpr Index kDenseFactorMin = 64;
constexpr double kDenseFactorFill = 0.25;

template <typename T>
EnergyHessian<T>::EnergyHessian(const Network<T>& network) {
  const Index P = network.num_layers();
  coupled_ = P > 1 && network.gamma() != 0.0;
  for (Index p = 0; p < P; ++p) {
    offsets_.push_back(total_);
    total_ += network.layer(p).size();
  }
  layers_.resize(static_cast<std::size_t>(P));
  // The pattern of layers [first, last] as one system; the values are filled by refresh().
  auto build = [&](Index first, Index last) {
    System sys;
    sys.begin = offset(first);
    const Index n = offset(last) + network.layer(last).size() - sys.begin;
    std::vector<Eigen::Triplet<double>> entries;
    for (Index i = 0; i < n; ++i) entries.emplace_back(i, i, 0.0);  // every diagonal present
    for (Index p = first; p <= last; ++p) {
      const Index base = offset(p) - sys.begin;
      const auto& l = network.layer(p).L();
      for (Index i = 0; i < l.outerSize(); ++i) {
        for (typename SparseWeights<T>::InnerIterator it(l, i); it; ++it) {
          if (it.col() <= i) entries.emplace_back(base + i, base + it.col(), 0.0);
        }
      }
      if (p > first) {
        const auto& wp = network.layer(p).W();
        const Index below = offset(p - 1) - sys.begin;
        for (Index i = 0; i < wp.outerSize(); ++i) {
          for (typename SparseWeights<T>::InnerIterator it(wp, i); it; ++it) entries.emplace_back(base + i, below + it.col(), 0.0);
        }
      }
    }
    sys.matrix.resize(n, n);
    sys.matrix.setFromTriplets(entries.begin(), entries.end());
    sys.matrix.makeCompressed();
    sys.dense = n >= kDenseFactorMin &&
                static_cast<double>(sys.matrix.nonZeros()) > kDenseFactorFill * 0.5 * static_cast<double>(n * n);
    sys.diagonal.assign(static_cast<std::size_t>(n), -1);
    const auto nnz = static_cast<std::size_t>(sys.matrix.nonZeros());
    sys.rows.resize(nnz);
    sys.cols.resize(nnz);
    for (Index c = 0; c < n; ++c) {
      for (Index e = sys.matrix.outerIndexPtr()[c]; e < sys.matrix.outerIndexPtr()[c + 1]; ++e) {
        const Index r = sys.matrix.innerIndexPtr()[e];
        sys.rows[static_cast<std::size_t>(e)] = r;
        sys.cols[static_cast<std::size_t>(e)] = c;
        if (r == c) sys.diagonal[static_cast<std::size_t>(c)] = e;
      }
    }
    // Where each synapse's value goes: the stored entry (row, col) of the lower triangle.
    auto position = [&](Index r, Index c) {
      const int* inner = sys.matrix.innerIndexPtr();
      const int* lo = inner + sys.matrix.outerIndexPtr()[c];
      const int* hi = inner + sys.matrix.outerIndexPtr()[c + 1];
      return static_cast<Index>(std::lower_bound(lo, hi, static_cast<int>(r)) - inner);
    };
    const auto index = static_cast<Index>(systems_.size());
    for (Index p = first; p <= last; ++p) {
      LayerPositions& lp = layers_[static_cast<std::size_t>(p)];
      lp.system = index;
      const Index base = offset(p) - sys.begin;
      const auto& l = network.layer(p).L();
      for (Index i = 0; i < l.outerSize(); ++i) {
        for (typename SparseWeights<T>::InnerIterator it(l, i); it; ++it) {
          lp.lateral.push_back(it.col() <= i ? position(base + i, base + it.col()) : -1);
        }
      }
      if (p > first) {
        const auto& wp = network.layer(p).W();
        const Index below = offset(p - 1) - sys.begin;
        for (Index i = 0; i < wp.outerSize(); ++i) {
          for (typename SparseWeights<T>::InnerIterator it(wp, i); it; ++it) {
            lp.feedforward.push_back(position(base + i, below + it.col()));
          }
        }
      }
    }
    systems_.push_back(std::move(sys));
  };
  if (coupled_) {
    build(0, P - 1);
  } else {
    for (Index p = 0; p < P; ++p) build(p, p);
  }
  refresh(network);
}

template <typename T>
void EnergyHessian<T>::refresh(const Network<T>& network) {
  const Index P = network.num_layers();
  weight_.assign(static_cast<std::size_t>(total_), 1.0);
  for (System& sys : systems_) std::fill(sys.matrix.valuePtr(), sys.matrix.valuePtr() + sys.matrix.nonZeros(), 0.0);
  for (Index p = 0; p < P; ++p) {
    const double w = coupled_ ? network.layer_weight(p) : 1.0;
    std::fill(weight_.begin() + offset(p), weight_.begin() + offset(p) + network.layer(p).size(), w);
    const LayerPositions& lp = layers_[static_cast<std::size_t>(p)];
    double* v = systems_[static_cast<std::size_t>(lp.system)].matrix.valuePtr();
    const T* l = network.layer(p).L().valuePtr();
    for (std::size_t e = 0; e < lp.lateral.size(); ++e) {
      if (lp.lateral[e] >= 0) v[lp.lateral[e]] += w * static_cast<double>(l[e]);
    }
    const T* wv = network.layer(p).W().valuePtr();
    for (std::size_t e = 0; e < lp.feedforward.size(); ++e) v[lp.feedforward[e]] -= w * static_cast<double>(wv[e]);
  }
  for (System& sys : systems_) {
    if (!sys.dense) continue;
    const Index n = sys.matrix.rows();
    sys.lower.setZero(n, n);
    const double* v = sys.matrix.valuePtr();
    for (std::size_t e = 0; e < sys.rows.size(); ++e) sys.lower(sys.rows[e], sys.cols[e]) = v[e];
  }
  diagonal_scale_ = 0;
  for (const System& sys : systems_) {
    for (const Index d : sys.diagonal) diagonal_scale_ = std::max(diagonal_scale_, std::abs(sys.matrix.valuePtr()[d]));
  }
}

template <typename T>
std::uint64_t EnergyHessian<T>::pattern_key(const Network<T>& network) {
  // A word-at-a-time hash over everything the pattern depends on: sizes, coupling and the
  // synapses' positions. It runs once per batch over every synapse index, so it mixes whole 64-bit
  // words (the multiply / xor-shift steps of splitmix64's finaliser) rather than bytes as FNV does.
  std::uint64_t h = 0x9e3779b97f4a7c15ULL;
  auto mix = [&h](std::uint64_t v) {
    h = (h ^ v) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
  };
  mix(static_cast<std::uint64_t>(network.num_layers()));
  mix(network.num_layers() > 1 && network.gamma() != 0.0 ? 1 : 0);
  for (const auto& layer : network.layers()) {
    for (const SparseWeights<T>* m : {&layer.W(), &layer.L()}) {
      mix(static_cast<std::uint64_t>(m->rows()));
      mix(static_cast<std::uint64_t>(m->cols()));
      for (Index i = 0; i <= m->outerSize(); ++i) mix(static_cast<std::uint64_t>(m->outerIndexPtr()[i]));
      for (Index e = 0; e < m->nonZeros(); ++e) mix(static_cast<std::uint64_t>(m->innerIndexPtr()[e]));
    }
  }
  return h;
}

template <typename T>
const EnergyHessian<T>& HessianWorkspace<T>::prepare(const Network<T>& network) {
  const std::uint64_t key = EnergyHessian<T>::pattern_key(network);
  if (!hessian_ || key != key_) {
    hessian_.emplace(network);
    key_ = key;
    factors_.clear();  // their analyses belong to the old pattern
  } else {
    hessian_->refresh(network);
  }
  fresh_ = in_solve_;
  return *hessian_;
}

template <typename T>
std::vector<typename EnergyHessian<T>::Factor>& HessianWorkspace<T>::factors(std::size_t worker) {
  if (!hessian_) throw InternalError("HessianWorkspace: factors before prepare");
  if (factors_.size() <= worker) factors_.resize(worker + 1);
  auto& set = factors_[worker];
  if (set.size() != static_cast<std::size_t>(hessian_->systems())) set = std::vector<typename EnergyHessian<T>::Factor>(static_cast<std::size_t>(hessian_->systems()));
  return set;
}

template <typename T>
bool EnergyHessian<T>::factorize(Index s, const double* fpp, const unsigned char* bound, double shift,
                                 Factor& factor, const double* metric) const {
  const System& sys = systems_.at(static_cast<std::size_t>(s));
  const Index b0 = sys.begin;
  auto diagonal_extra = [&](Index r) {
    const double extra = fpp ? weight_[static_cast<std::size_t>(b0 + r)] * fpp[b0 + r] : 0.0;
    return extra - shift * (metric ? metric[b0 + r] : 1.0);
  };
  factor.dense_ = sys.dense;
  if (sys.dense) {
    factor.system_ = &sys;
    const Index n = sys.matrix.rows();
    factor.free_.clear();
    for (Index i = 0; i < n; ++i) {
      if (!bound || !bound[b0 + i]) factor.free_.push_back(i);
    }
    const auto m = static_cast<Index>(factor.free_.size());
    factor.dense_work_.resize(m, m);
    for (Index b = 0; b < m; ++b) {
      const Index c = factor.free_[static_cast<std::size_t>(b)];
      for (Index a = b; a < m; ++a) factor.dense_work_(a, b) = sys.lower(factor.free_[static_cast<std::size_t>(a)], c);
      factor.dense_work_(b, b) += diagonal_extra(c);
    }
    if (m == 0) {
      factor.ok_ = true;  // every neuron removed: the matrix is the identity
      return true;
    }
    factor.dense_llt_.compute(factor.dense_work_);
    factor.ok_ = factor.dense_llt_.info() == Eigen::Success;
    return factor.ok_;
  }
  if (factor.system_ != &sys) {
    factor.work_ = sys.matrix;
    factor.system_ = &sys;
    factor.analysed_ = false;
  }
  const double* base = sys.matrix.valuePtr();
  double* v = factor.work_.valuePtr();
  const Index nnz = sys.matrix.nonZeros();
  for (Index e = 0; e < nnz; ++e) {
    const Index r = sys.rows[static_cast<std::size_t>(e)];
    const Index c = sys.cols[static_cast<std::size_t>(e)];
    if (bound && (bound[b0 + r] || bound[b0 + c])) {
      v[e] = r == c ? 1.0 : 0.0;
    } else {
      v[e] = r == c ? base[e] + diagonal_extra(r) : base[e];
    }
  }
  if (!factor.analysed_) {
    factor.llt_.analyzePattern(factor.work_);
    factor.analysed_ = true;
  }
  factor.llt_.factorize(factor.work_);
  factor.ok_ = factor.llt_.info() == Eigen::Success;
  return factor.ok_;
}

template <typename T>
void EnergyHessian<T>::Factor::solve(const Eigen::VectorXd& b, Eigen::VectorXd& x) const {
  if (!ok_) throw InternalError("EnergyHessian: solve without a successful factorisation");
  if (!dense_) {
    x = llt_.solve(b);
    return;
  }
  x = b;  // the removed neurons' identity rows
  const auto m = static_cast<Index>(free_.size());
  if (m == 0) return;
  Eigen::VectorXd part(m);
  for (Index a = 0; a < m; ++a) part[a] = b[free_[static_cast<std::size_t>(a)]];
  dense_llt_.solveInPlace(part);
  for (Index a = 0; a < m; ++a) x[free_[static_cast<std::size_t>(a)]] = part[a];
}

template <typename T>
void EnergyHessian<T>::multiply_constant(const Eigen::VectorXd& x, Eigen::VectorXd& y) const {
  y.setZero(total_);
  for_each_entry([&](Index r, Index c, double v) {
    y[r] += v * x[c];
    if (r != c) y[c] += v * x[r];
  });
}

template <typename T>
double EnergyHessian<T>::constant_diagonal(Index neuron) const {
  for (const System& sys : systems_) {
    if (neuron >= sys.begin && neuron < sys.begin + sys.matrix.rows()) {
      return sys.matrix.valuePtr()[sys.diagonal[static_cast<std::size_t>(neuron - sys.begin)]];
    }
  }
  throw InternalError("EnergyHessian: neuron out of range");
}

template <typename T>
double EnergyHessian<T>::bound_columns_norm(const unsigned char* bound, const double* metric) const {
  double sum = 0;
  for_each_entry([&](Index r, Index c, double v) {
    const double n = (bound[c] ? 1.0 : 0.0) + (r != c && bound[r] ? 1.0 : 0.0);
    sum += n * v * v / (metric[r] * metric[c]);
  });
  return std::sqrt(sum);
}

namespace {

// A margin relative to the matrix's scale keeps the decision safe from the factorisation's
// rounding (backward error ~ n eps ||H||): a barely definite H counts as not definite.
double definiteness_margin(double scale) { return 1e-9 * std::max(scale, std::numeric_limits<double>::min()); }

// L + c I positive definite, site by site, for L block diagonal by sites of k neurons. `shared`:
// whether every site holds one full block (each repeats the one before), found on the way.
template <typename T>
bool blocks_positive_definite(const SparseWeights<T>& l, Index k, double c, signed char& shared) {
  // A conv2d layer's tied L gives every site the same block: its verdict is the last one's, and
  // factorising it once instead of once per site was 10 % of a 64-filter layer's training. A
  // full block (k x k stored entries, which the block-diagonal pattern places in order) is
  // compared in its stored values, before it is built. The margin's scale, the largest |L_ii|,
  // is then read from the distinct blocks alone: read row by row over the whole layer it was
  // ~7 % of online training (a cache miss per row).
  // A site repeats the last distinct one when it and the site before are full blocks with the same
  // stored values (bit equality is transitive): a verdict per site, so the pass runs on all threads.
  const int* rp = l.outerIndexPtr();
  const Index sites = l.rows() / k;
  const auto bytes = static_cast<std::size_t>(k * k) * sizeof(T);
  auto full = [&](Index s) { return rp[(s + 1) * k] - rp[s * k] == k * k; };
  std::vector<unsigned char> repeats(static_cast<std::size_t>(sites), 0);
#pragma omp parallel for schedule(static) if (l.nonZeros() >= kernels::kParallelBlockValues)
  for (Index s = 1; s < sites; ++s) {
    repeats[static_cast<std::size_t>(s)] =
        full(s) && full(s - 1) && std::memcmp(l.valuePtr() + rp[s * k], l.valuePtr() + rp[(s - 1) * k], bytes) == 0;
  }
  shared = (sites < 1 || full(0)) && std::all_of(repeats.begin() + std::min<Index>(sites, 1), repeats.end(),
                                                 [](unsigned char r) { return r != 0; })
               ? 1
               : 0;
  std::vector<Index> distinct;
  double scale = 0;
  for (Index s = 0; s < sites; ++s) {
    if (repeats[static_cast<std::size_t>(s)]) continue;
    distinct.push_back(s * k);
    for (Index i = s * k; i < (s + 1) * k; ++i) scale = std::max(scale, std::abs(static_cast<double>(l.coeff(i, i))));
  }
  const double shift = definiteness_margin(scale);
  Eigen::MatrixXd block(k, k);
  Eigen::MatrixXd factorised(k, k);
  Eigen::LLT<Eigen::MatrixXd> llt(k);
  bool first = true;
  for (const Index s0 : distinct) {
    block.setZero();
    for (Index i = 0; i < k; ++i) {
      for (typename SparseWeights<T>::InnerIterator it(l, s0 + i); it; ++it) block(i, it.col() - s0) = static_cast<double>(it.value());
      block(i, i) += c - shift;
    }
    if (!first && block == factorised) continue;
    llt.compute(block);
    if (llt.info() != Eigen::Success) return false;
    factorised = block;
    first = false;
  }
  return true;
}

}  // namespace

template <typename T>
bool unique_fixed_point(const Network<T>& network, HessianWorkspace<T>& workspace) {
  const Index P = network.num_layers();
  const bool coupled = P > 1 && network.gamma() != 0.0;
  const EnergyHessian<T>* hessian = nullptr;
  std::vector<double> fpp;
  auto system_definite = [&](Index s) {
    if (!hessian) {
      hessian = &workspace.prepare(network);
      fpp.assign(static_cast<std::size_t>(hessian->total()), 0.0);
      for (Index p = 0; p < P; ++p) {
        const double c = regulariser_curvature_bound(network.layer(p).activation());
        std::fill(fpp.begin() + hessian->offset(p), fpp.begin() + hessian->offset(p) + network.layer(p).size(), c);
      }
    }
    auto& factor = workspace.factors(0)[static_cast<std::size_t>(s)];
    return hessian->factorize(s, fpp.data(), nullptr, definiteness_margin(hessian->diagonal_scale()), factor);
  };
  workspace.lateral_blocks_shared.assign(static_cast<std::size_t>(P), -1);
  if (coupled) return system_definite(0);
  for (Index p = 0; p < P; ++p) {
    const auto& layer = network.layer(p);
    const Index k = layer.grid().channels;
    const double c = regulariser_curvature_bound(layer.activation());
    const bool definite =
        layer.site_layout().lateral_block_diagonal
            ? blocks_positive_definite(layer.L(), k, c, workspace.lateral_blocks_shared[static_cast<std::size_t>(p)])
            : system_definite(p);
    if (!definite) return false;
  }
  return true;
}

template <typename T>
bool unique_fixed_point(const Network<T>& network) {
  HessianWorkspace<T> workspace;
  return unique_fixed_point(network, workspace);
}

template class EnergyHessian<float>;
template class EnergyHessian<double>;
template class HessianWorkspace<float>;
template class HessianWorkspace<double>;
template bool unique_fixed_point<float>(const Network<float>&);
template bool unique_fixed_point<double>(const Network<double>&);
template bool unique_fixed_point<float>(const Network<float>&, HessianWorkspace<float>&);
template bool unique_fixed_point<double>(const Network<double>&, HessianWorkspace<double>&);

}  // namespace simmatch::detail
