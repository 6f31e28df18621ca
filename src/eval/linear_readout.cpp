// LinearReadout through liblinear (one binary problem per class over one shared copy of the
// samples) and the accuracy helpers. liblinear reports through a global print hook; it is pointed
// at a per-thread flag that records whether the solver hit its iteration cap, so the library
// itself never prints.
#include <dlfcn.h>
#include <linear.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "simmatch/error.hpp"
#include "simmatch/readout.hpp"

namespace simmatch {

namespace {

thread_local bool hit_iteration_cap = false;

// liblinear's solvers call the system BLAS (ddot, daxpy, dnrm2), which Debian points at OpenBLAS.
// OpenBLAS splits long vectors over its threads, so the sums, and with them the fitted weights,
// would change with the machine's thread count (measured: 12,545 features, 1 vs 2 threads). The
// classes already train in parallel, so BLAS runs single-threaded while a read-out trains and
// gets its thread count back afterwards. Looked up at run time: another BLAS needs nothing.
//
// OpenBLAS's thread count is one setting of the whole process, so read-outs that overlap (Python
// threads) share one scope: the first to start saves the count and sets 1, the last to finish
// restores it. Each saving and restoring on its own would let the first to finish turn the threads
// back on under the other, and the other restore the 1 it had saved. This is the library's only
// static mutable state, mirroring the process-wide state it guards.
class SingleThreadedBlas {
public:
  SingleThreadedBlas() {
    Shared& shared = state();
    const std::lock_guard lock(shared.mutex);
    if (shared.set == nullptr) return;
    if (shared.users++ == 0) {
      shared.previous = shared.get();
      shared.set(1);
    }
  }
  ~SingleThreadedBlas() {
    Shared& shared = state();
    const std::lock_guard lock(shared.mutex);
    if (shared.set == nullptr) return;
    if (--shared.users == 0) shared.set(shared.previous);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

private:
  struct Shared {
    Shared()
        : set(reinterpret_cast<void (*)(int)>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))),
          get(reinterpret_cast<int (*)()>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))) {
      if (get == nullptr) set = nullptr;
    }
    std::mutex mutex;
    void (*set)(int);
    int (*get)();
    int users = 0;     // read-outs training now
    int previous = 1;  // the thread count before the first of them started
  };
  static Shared& state() {
    static Shared shared;  // initialised once, thread-safely
    return shared;
  }
};

void record_liblinear_message(const char* text) {
  if (std::strstr(text, "max number of iterations") != nullptr) hit_iteration_cap = true;
}

// A liblinear problem over the columns of x: sparse rows (exact zeros skipped), bias node last.
// It carries no labels: each binary fit points it at its own +1 / -1 vector.
struct Problem {
  std::vector<feature_node> nodes;
  std::vector<feature_node*> rows;
  problem prob{};
};

std::unique_ptr<Problem> make_problem(const Eigen::MatrixXf& x, double bias) {
  auto p = std::make_unique<Problem>();
  const Index n = x.rows(), t = x.cols();
  Index nonzero = 0;
  for (Index i = 0; i < x.size(); ++i) nonzero += x.data()[i] != 0.0f;
  p->nodes.reserve(static_cast<std::size_t>(nonzero + t * 2));
  std::vector<std::size_t> starts;
  starts.reserve(static_cast<std::size_t>(t));
  for (Index c = 0; c < t; ++c) {
    starts.push_back(p->nodes.size());
    for (Index i = 0; i < n; ++i) {
      const float v = x(i, c);
      if (v != 0.0f) p->nodes.push_back({static_cast<int>(i + 1), static_cast<double>(v)});
    }
    if (bias >= 0) p->nodes.push_back({static_cast<int>(n + 1), bias});
    p->nodes.push_back({-1, 0.0});
  }
  p->rows.resize(static_cast<std::size_t>(t));
  for (Index c = 0; c < t; ++c) p->rows[static_cast<std::size_t>(c)] = p->nodes.data() + starts[static_cast<std::size_t>(c)];
  p->prob.l = static_cast<int>(t);
  p->prob.n = static_cast<int>(bias >= 0 ? n + 1 : n);
  p->prob.x = p->rows.data();
  p->prob.bias = bias;
  return p;
}

void check_features(const Eigen::MatrixXf& x, const std::string& what) {
  if (!x.allFinite()) throw NumericalError(fmt::format("read-out: the {} features hold NaN or Inf", what));
}

struct BinaryFit {
  Eigen::VectorXd w;  // features; decision w x + bias > 0 for the positive class
  double bias = 0;
  bool converged = true;  // false when the solver stopped at its iteration cap
};

// One binary "positive against the rest" problem over the shared rows of `shared`: its own
// labels y (+1 / -1) and costs C * weight_positive, C * weight_negative.
BinaryFit fit_binary(const problem& shared, std::vector<double>& y, const parameter& base, double weight_positive,
                     double weight_negative, Index features) {
  problem prob = shared;
  prob.y = y.data();
  int weight_label[2] = {+1, -1};
  double weight[2] = {weight_positive, weight_negative};
  parameter param = base;
  param.nr_weight = 2;
  param.weight_label = weight_label;
  param.weight = weight;

  hit_iteration_cap = false;
  if (base.solver_type == L2R_L2LOSS_SVC_DUAL) std::srand(1);  // its coordinate order comes from rand()
  model* m = ::train(&prob, &param);
  BinaryFit out;
  out.converged = !hit_iteration_cap;
  if (m == nullptr) return out;
  // liblinear's positive class is the label it met first; ours is +1.
  const double sign = m->label[0] == +1 ? 1.0 : -1.0;
  out.w.resize(features);
  for (Index f = 0; f < features; ++f) out.w(f) = sign * get_decfun_coef(m, static_cast<int>(f + 1), 0);
  out.bias = sign * get_decfun_bias(m, 0);
  free_and_destroy_model(&m);
  return out;
}

}  // namespace

LinearReadout LinearReadout::fit(const Eigen::MatrixXf& x, const std::vector<int>& labels, double c,
                                 const ReadoutOptions& options) {
  if (static_cast<Index>(labels.size()) != x.cols()) {
    throw ShapeError(fmt::format("read-out: {} samples but {} labels", x.cols(), labels.size()));
  }
  if (x.rows() == 0) throw ShapeError("read-out: samples have no features");
  if (!(c > 0) || !std::isfinite(c)) throw ConfigError(fmt::format("read-out: C must be > 0, got {}", c));
  if (!(options.tolerance > 0)) throw ConfigError(fmt::format("read-out: tolerance must be > 0, got {}", options.tolerance));
  if (x.rows() >= std::numeric_limits<int>::max() - 1 || x.cols() >= std::numeric_limits<int>::max()) {
    throw ShapeError("read-out: too many features or samples for liblinear");
  }
  check_features(x, "training");
  std::map<int, Index> counts;
  for (int y : labels) ++counts[y];
  if (counts.size() < 2) throw ShapeError("read-out: the training labels hold a single class");

  LinearReadout out;
  out.c_ = c;
  for (const auto& entry : counts) out.classes_.push_back(entry.first);
  const auto n_classes = static_cast<Index>(out.classes_.size());
  std::vector<double> class_weight(static_cast<std::size_t>(n_classes), 1.0);
  if (options.balanced) {
    for (Index k = 0; k < n_classes; ++k) {
      const auto n = static_cast<double>(counts[out.classes_[static_cast<std::size_t>(k)]]);
      class_weight[static_cast<std::size_t>(k)] = static_cast<double>(labels.size()) / (static_cast<double>(n_classes) * n);
    }
  }

  auto prob = make_problem(x, options.bias);
  parameter param{};
  param.solver_type = options.solver == ReadoutSolver::primal ? L2R_L2LOSS_SVC : L2R_L2LOSS_SVC_DUAL;
  param.eps = options.tolerance;
  param.C = c;
  param.p = 0.1;
  param.init_sol = nullptr;
  if (const char* problem_text = check_parameter(&prob->prob, &param)) {
    throw InternalError(fmt::format("read-out: liblinear refused its parameters: {}", problem_text));
  }
  set_print_string_function(record_liblinear_message);

  // Two classes: one problem, classes[0] positive (liblinear's convention). More: one per class.
  const Index problems = n_classes == 2 ? 1 : n_classes;
  std::vector<BinaryFit> fits(static_cast<std::size_t>(problems));
  const SingleThreadedBlas single_threaded_blas;
  const bool parallel = options.solver == ReadoutSolver::primal;
  std::atomic<bool> stopped{false};
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (Index k = 0; k < problems; ++k) {
    if (stopped || (options.should_stop && options.should_stop())) {
      stopped = true;  // exceptions cannot leave an OpenMP loop: the remaining problems are skipped
      continue;
    }
    const int positive = out.classes_[static_cast<std::size_t>(k)];
    std::vector<double> y(labels.size());
    for (std::size_t i = 0; i < labels.size(); ++i) y[i] = labels[i] == positive ? +1.0 : -1.0;
    const double negative_weight = n_classes == 2 ? class_weight[1] : 1.0;
    fits[static_cast<std::size_t>(k)] =
        fit_binary(prob->prob, y, param, class_weight[static_cast<std::size_t>(k)], negative_weight, x.rows());
  }

  if (stopped) throw Interrupted("read-out interrupted");
  out.weights_.resize(problems, x.rows());
  out.biases_.resize(problems);
  for (Index k = 0; k < problems; ++k) {
    const BinaryFit& f = fits[static_cast<std::size_t>(k)];
    if (f.w.size() != x.rows()) throw InternalError("read-out: liblinear returned no model");
    out.weights_.row(k) = f.w.transpose();
    out.biases_(k) = f.bias;
    out.converged_ = out.converged_ && f.converged;
  }
  return out;
}

std::vector<int> LinearReadout::predict(const Eigen::MatrixXf& x) const {
  if (x.rows() != weights_.cols()) {
    throw ShapeError(fmt::format("read-out: samples have {} features, the classifier expects {}", x.rows(), weights_.cols()));
  }
  check_features(x, "input");
  const Eigen::MatrixXd scores = (weights_ * x.cast<double>()).colwise() + biases_;
  std::vector<int> out(static_cast<std::size_t>(x.cols()));
  for (Index t = 0; t < x.cols(); ++t) {
    Index best = 0;
    if (weights_.rows() == 1) {
      best = scores(0, t) > 0 ? 0 : 1;
    } else {
      scores.col(t).maxCoeff(&best);
    }
    out[static_cast<std::size_t>(t)] = classes_[static_cast<std::size_t>(best)];
  }
  return out;
}

double accuracy(const std::vector<int>& truth, const std::vector<int>& predicted) {
  if (truth.size() != predicted.size() || truth.empty()) {
    throw ShapeError(fmt::format("accuracy: {} labels vs {} predictions", truth.size(), predicted.size()));
  }
  std::size_t right = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) right += truth[i] == predicted[i];
  return static_cast<double>(right) / static_cast<double>(truth.size());
}

Eigen::MatrixXi confusion_matrix(const std::vector<int>& truth, const std::vector<int>& predicted,
                                 const std::vector<int>& classes) {
  if (truth.size() != predicted.size()) {
    throw ShapeError(fmt::format("confusion matrix: {} labels vs {} predictions", truth.size(), predicted.size()));
  }
  std::map<int, Index> position;
  for (std::size_t i = 0; i < classes.size(); ++i) position[classes[i]] = static_cast<Index>(i);
  const auto k = static_cast<Index>(classes.size());
  Eigen::MatrixXi counts = Eigen::MatrixXi::Zero(k, k);
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const auto a = position.find(truth[i]), b = position.find(predicted[i]);
    if (a != position.end() && b != position.end()) ++counts(a->second, b->second);
  }
  return counts;
}

}  // namespace simmatch
