// The dense read-out's trust-region Newton solver, run for all one-vs-rest problems in lockstep:
// every objective evaluation and every Hessian-vector product of the conjugate gradients is one
// pass over the samples for all problems still running (src/eval/dense_passes.cpp), while the
// step, radius and stopping decisions are each problem's own.
#include "eval/dense_readout.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "eval/dense_passes.hpp"
#include "simmatch/error.hpp"

namespace simmatch::readout_detail {

namespace {

using dense_detail::Samples;

// Trust-region constants of TRON (Lin & Moré 1999; Lin, Weng & Keerthi 2008): a step is taken when
// the actual reduction is more than kEta0 of the predicted one; the radius shrinks below kEta1,
// grows above kEta2, by the factors kSigma*.
constexpr double kEta0 = 1e-4, kEta1 = 0.25, kEta2 = 0.75;
constexpr double kSigma1 = 0.25, kSigma2 = 0.5, kSigma3 = 4.0;
// The conjugate gradients stop when the preconditioned residual is a tenth of the gradient's.
constexpr double kCgForcing = 0.1;
// Preconditioner M = (1 - a) I + a diag(H) (Hsia, Chiang & Lin 2018): a mild pull towards the
// Hessian's diagonal that never makes the conditioning much worse than no preconditioner.
constexpr double kPreconditionerMix = 0.01;
// Reductions this small against |f| are rounding: the problem has stalled.
constexpr double kStallRatio = 1e-12;

struct Evaluation {
  Eigen::VectorXd f;       // objective per evaluated problem
  Eigen::MatrixXd g;       // (n+1) x K gradient
  Eigen::MatrixXd m;       // (n+1) x K preconditioner diagonal
  Eigen::MatrixXd active;  // samples x K: 2 c_pk where the sample is inside the margin, else 0
};

class LockstepTron {
public:
  LockstepTron(const Samples& samples, std::span<const int> labels, const OneVsRest& setup, double c,
               const ReadoutOptions& options)
      : s_(samples), options_(options), m_(samples.size()), k_(setup.problems()), n1_(samples.features() + 1) {
    y_.resize(m_, k_);
    cost_.resize(m_, k_);
    std::vector<Index> positives(static_cast<std::size_t>(k_), 0);
    for (Index p = 0; p < m_; ++p) {
      for (Index k = 0; k < k_; ++k) {
        const bool positive = labels[static_cast<std::size_t>(p)] == setup.classes[static_cast<std::size_t>(k)];
        y_(p, k) = positive ? 1.0 : -1.0;
        cost_(p, k) = c * (positive ? setup.positive_weight(k) : setup.negative_weight());
        positives[static_cast<std::size_t>(k)] += positive;
      }
    }
    tolerance_.resize(k_);
    for (Index k = 0; k < k_; ++k) {
      const auto pos = static_cast<double>(positives[static_cast<std::size_t>(k)]);
      tolerance_(k) = options.tolerance * std::max(std::min(pos, static_cast<double>(m_) - pos), 1.0) / static_cast<double>(m_);
    }
    all_.resize(static_cast<std::size_t>(m_));
    std::iota(all_.begin(), all_.end(), Index{0});
  }

  DenseFit run(const DenseFit* start) {
    Eigen::MatrixXd w = start != nullptr ? start->extended : Eigen::MatrixXd::Zero(n1_, k_);
    if (w.rows() != n1_ || w.cols() != k_) throw InternalError("dense read-out: the warm start has the wrong shape");
    std::vector<Index> every(static_cast<std::size_t>(k_));
    std::iota(every.begin(), every.end(), Index{0});
    Evaluation e = evaluate(every, w);
    // The stopping rule compares with the gradient at w = 0, wherever the solver starts.
    Eigen::VectorXd gnorm0(k_);
    if (start != nullptr) {
      before_pass();
      const Eigen::MatrixXd g0 = dense_detail::weighted_sum_pass(s_, all_, -2.0 * cost_.cwiseProduct(y_));
      gnorm0 = g0.colwise().norm().transpose();
    } else {
      gnorm0 = e.g.colwise().norm().transpose();
    }
    // liblinear 2.3's initial radius: the gradient's M-norm.
    Eigen::VectorXd delta(k_);
    for (Index k = 0; k < k_; ++k) delta(k) = std::sqrt(e.g.col(k).dot(e.g.col(k).cwiseProduct(e.m.col(k))));
    std::vector<bool> accepted_any(static_cast<std::size_t>(k_), false);

    DenseFit out;
    std::vector<bool> stalled(static_cast<std::size_t>(k_), false);
    for (int iteration = 1;; ++iteration) {
      std::vector<Index> running;
      for (Index k = 0; k < k_; ++k) {
        if (!stalled[static_cast<std::size_t>(k)] && e.g.col(k).norm() > tolerance_(k) * gnorm0(k)) running.push_back(k);
      }
      if (running.empty()) break;
      if (iteration > options_.max_iterations) {
        out.converged = false;
        break;
      }
      out.iterations = iteration;

      Eigen::MatrixXd step, residual;
      std::vector<bool> boundary;
      conjugate_gradients(running, e, delta, step, residual, boundary);

      Eigen::MatrixXd trial_w(n1_, static_cast<Index>(running.size()));
      for (std::size_t j = 0; j < running.size(); ++j) trial_w.col(static_cast<Index>(j)) = w.col(running[j]) + step.col(static_cast<Index>(j));
      const Evaluation t = evaluate(running, trial_w);

      for (std::size_t jj = 0; jj < running.size(); ++jj) {
        const auto j = static_cast<Index>(jj);
        const Index k = running[jj];
        const auto s = step.col(j);
        const double gs = e.g.col(k).dot(s);
        const double predicted = -0.5 * (gs - s.dot(residual.col(j)));
        const double actual = e.f(k) - t.f(j);
        const double snorm = std::sqrt(s.dot(s.cwiseProduct(e.m.col(k))));
        if (!accepted_any[static_cast<std::size_t>(k)]) delta(k) = std::min(delta(k), snorm);
        delta(k) = next_radius(actual, predicted, gs, snorm, delta(k), boundary[jj]);
        if (actual > kEta0 * predicted) {
          accepted_any[static_cast<std::size_t>(k)] = true;
          w.col(k) = trial_w.col(j);
          e.f(k) = t.f(j);
          e.g.col(k) = t.g.col(j);
          e.m.col(k) = t.m.col(j);
          e.active.col(k) = t.active.col(j);
        }
        const double scale = kStallRatio * std::abs(e.f(k));
        if (predicted <= 0 || (std::abs(actual) <= scale && std::abs(predicted) <= scale)) {
          stalled[static_cast<std::size_t>(k)] = true;
        }
      }
    }
    // A stalled problem (reductions at the rounding of f, or none predicted) ends as liblinear's
    // does: at the optimum as far as f can tell, so only the iteration cap counts as not converged.
    out.extended = w;
    out.weights = w.topRows(n1_ - 1).transpose();
    out.biases = s_.bias * w.row(n1_ - 1).transpose();
    out.passes = passes_;
    return out;
  }

private:
  // The radius after a step of M-norm `snorm` (reaching the old radius when `boundary`) with
  // actual and predicted reductions and g.s = `gs`: TRON's update as liblinear 2.3 does it.
  static double next_radius(double actual, double predicted, double gs, double snorm, double delta, bool boundary) {
    // liblinear 2.3's rule: alpha * snorm predicts the step from a quadratic interpolation of f
    // along it (f_new - f - g.s is its curvature term).
    const double curvature = -actual - gs;
    const double alpha = curvature <= 0 ? kSigma3 : std::max(kSigma1, -0.5 * (gs / curvature));
    if (actual < kEta0 * predicted) return std::min(alpha * snorm, kSigma2 * delta);
    if (actual < kEta1 * predicted) return std::max(kSigma1 * delta, std::min(alpha * snorm, kSigma2 * delta));
    if (actual < kEta2 * predicted) return std::max(kSigma1 * delta, std::min(alpha * snorm, kSigma3 * delta));
    if (boundary) return kSigma3 * delta;
    return std::max(delta, std::min(alpha * snorm, kSigma3 * delta));
  }

  void before_pass() {
    if (options_.should_stop && options_.should_stop()) throw Interrupted("read-out interrupted");
    ++passes_;
  }

  // Objective, gradient, preconditioner and active samples of problems `which` at weights w
  // ((n+1) x |which|): one pass over every sample.
  Evaluation evaluate(const std::vector<Index>& which, const Eigen::MatrixXd& w) {
    before_pass();
    const auto kk = static_cast<Index>(which.size());
    Evaluation out;
    out.active.setZero(m_, kk);
    Eigen::MatrixXd loss = Eigen::MatrixXd::Zero(m_, kk);
    const auto margins = [&](std::span<const Index> positions, const Eigen::MatrixXd& z, Eigen::MatrixXd& u,
                             Eigen::MatrixXd& d) {
      for (std::size_t b = 0; b < positions.size(); ++b) {
        const Index p = positions[b];
        for (Index j = 0; j < kk; ++j) {
          const Index k = which[static_cast<std::size_t>(j)];
          const double y = y_(p, k), zz = z(static_cast<Index>(b), j);
          if (y * zz < 1.0) {
            const double c = cost_(p, k), slack = 1.0 - y * zz;
            loss(p, j) = c * slack * slack;
            u(static_cast<Index>(b), j) = 2.0 * c * (zz - y);
            d(static_cast<Index>(b), j) = 2.0 * c;
            out.active(p, j) = 2.0 * c;
          }
        }
      }
    };
    const dense_detail::MarginPassResult r = dense_detail::margin_pass(s_, all_, w, margins, true);
    out.g = w + r.weighted_sum;
    out.m = Eigen::MatrixXd::Ones(n1_, kk) + kPreconditionerMix * r.squares_sum;
    out.f.resize(kk);
    for (Index j = 0; j < kk; ++j) out.f(j) = 0.5 * w.col(j).squaredNorm() + loss.col(j).sum();
    return out;
  }

  // H_k v_k for the problems `which` (columns of `e`), v (n+1) x |which|: one pass over the samples
  // inside the margin of at least one of them.
  Eigen::MatrixXd hessian(const std::vector<Index>& which, const Evaluation& e, const Eigen::MatrixXd& v) {
    before_pass();
    const auto kk = static_cast<Index>(which.size());
    Eigen::MatrixXd d(m_, kk);
    for (Index j = 0; j < kk; ++j) d.col(j) = e.active.col(which[static_cast<std::size_t>(j)]);
    std::vector<Index> positions;
    for (Index p = 0; p < m_; ++p) {
      if ((d.row(p).array() != 0.0).any()) positions.push_back(p);
    }
    return v + dense_detail::hessian_pass(s_, positions, v, d);
  }

  // Steihaug's truncated conjugate gradients on H s = -g within ||s||_M <= delta, preconditioned
  // by M, for the problems `running` together. Outputs per running problem (columns): the step and
  // the residual r = -g - H s (which gives the predicted reduction).
  void conjugate_gradients(const std::vector<Index>& running, const Evaluation& e, const Eigen::VectorXd& delta,
                           Eigen::MatrixXd& step, Eigen::MatrixXd& residual, std::vector<bool>& boundary) {
    const auto kk = static_cast<Index>(running.size());
    boundary.assign(static_cast<std::size_t>(kk), false);
    step.setZero(n1_, kk);
    residual.resize(n1_, kk);
    Eigen::MatrixXd direction(n1_, kk);
    Eigen::VectorXd rz(kk), stop(kk);
    for (Index j = 0; j < kk; ++j) {
      const Index k = running[static_cast<std::size_t>(j)];
      residual.col(j) = -e.g.col(k);
      direction.col(j) = residual.col(j).cwiseQuotient(e.m.col(k));
      rz(j) = residual.col(j).dot(direction.col(j));
      stop(j) = kCgForcing * std::sqrt(rz(j));
    }
    std::vector<Index> active(static_cast<std::size_t>(kk));  // columns still iterating
    std::iota(active.begin(), active.end(), Index{0});
    for (Index iteration = 0; !active.empty() && iteration < n1_; ++iteration) {
      std::vector<Index> problems;
      Eigen::MatrixXd v(n1_, static_cast<Index>(active.size()));
      for (std::size_t a = 0; a < active.size(); ++a) {
        problems.push_back(running[static_cast<std::size_t>(active[a])]);
        v.col(static_cast<Index>(a)) = direction.col(active[a]);
      }
      const Eigen::MatrixXd hv = hessian(problems, e, v);
      std::vector<Index> still;
      for (std::size_t a = 0; a < active.size(); ++a) {
        const Index j = active[a], k = problems[a];
        const auto mk = e.m.col(k);
        auto s = step.col(j);
        auto r = residual.col(j);
        auto d = direction.col(j);
        const auto hd = hv.col(static_cast<Index>(a));
        const double dhd = d.dot(hd);
        const double smd = s.dot(d.cwiseProduct(mk)), dmd = d.dot(d.cwiseProduct(mk)), sms = s.dot(s.cwiseProduct(mk));
        const double alpha = dhd > 0 ? rz(j) / dhd : std::numeric_limits<double>::infinity();
        const double radius2 = delta(k) * delta(k);
        if (!(dhd > 0) || sms + 2 * alpha * smd + alpha * alpha * dmd > radius2) {
          // The step leaves the region: follow d to its boundary (tau >= 0 solves the quadratic).
          const double gap = std::max(radius2 - sms, 0.0);
          const double root = std::sqrt(smd * smd + dmd * gap);
          const double tau = smd >= 0 ? gap / (smd + root) : (root - smd) / dmd;
          s += tau * d;
          r -= tau * hd;
          boundary[static_cast<std::size_t>(j)] = true;
          continue;
        }
        s += alpha * d;
        r -= alpha * hd;
        const Eigen::VectorXd z = r.cwiseQuotient(mk);
        const double rz_next = r.dot(z);
        if (std::sqrt(rz_next) <= stop(j)) continue;
        d = z + (rz_next / rz(j)) * d;
        rz(j) = rz_next;
        still.push_back(j);
      }
      active = std::move(still);
    }
  }

  const Samples& s_;
  const ReadoutOptions& options_;
  const Index m_, k_, n1_;
  Eigen::MatrixXd y_, cost_;      // m x K: +1 / -1 and the cost factor c_pk
  Eigen::VectorXd tolerance_;     // K: the relative gradient norm at which each problem stops
  std::vector<Index> all_;        // 0..m-1
  Index passes_ = 0;
};

Samples samples_of(ConstMatrixRef<float> x, std::span<const Index> columns, double bias) {
  return Samples{Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>>(x.data(), x.rows(), x.cols(),
                                                                           Eigen::OuterStride<>(x.outerStride())),
                 columns, bias > 0 ? bias : 0.0};
}

}  // namespace

DenseFit fit_dense(ConstMatrixRef<float> x, std::span<const Index> columns, std::span<const int> labels,
                   const OneVsRest& setup, double c, const ReadoutOptions& options, const DenseFit* start) {
  if (columns.size() != labels.size()) throw InternalError("dense read-out: columns and labels differ in number");
  const Samples samples = samples_of(x, columns, options.bias);
  LockstepTron tron(samples, labels, setup, c, options);
  return tron.run(start);
}

Eigen::MatrixXd dense_scores(ConstMatrixRef<float> x, std::span<const Index> columns, const Eigen::MatrixXd& weights,
                             const Eigen::VectorXd& biases) {
  return dense_detail::scores_pass(samples_of(x, columns, 0.0), weights, biases);
}

}  // namespace simmatch::readout_detail
