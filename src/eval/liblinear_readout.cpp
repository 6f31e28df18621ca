// The liblinear read-out: one binary problem per class over one shared copy of the samples.
// liblinear reports through a global print hook; it is pointed (once) at a per-thread flag that
// records whether the solver hit its iteration cap, so the library itself never prints.
#include "eval/liblinear_readout.hpp"

#include <linear.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "eval/blas_threads.hpp"
#include "simmatch/error.hpp"

namespace simmatch::readout_detail {

namespace {

thread_local bool hit_iteration_cap = false;

void record_liblinear_message(const char* text) {
  if (std::strstr(text, "max number of iterations") != nullptr) hit_iteration_cap = true;
}

// The dual solver draws its coordinate order from the C library's global rand(): read-outs that
// overlap (Python threads) would interleave their draws, so dual problems run one at a time in the
// process, each from srand(1).
std::mutex& dual_mutex() {
  static std::mutex m;
  return m;
}

// A liblinear problem over the columns of x: sparse rows (exact zeros skipped), bias node last.
// It carries no labels: each binary fit points it at its own +1 / -1 vector.
struct Problem {
  std::vector<feature_node> nodes;
  std::vector<feature_node*> rows;
  problem prob{};
};

std::unique_ptr<Problem> make_problem(ConstMatrixRef<float> x, double bias) {
  auto p = std::make_unique<Problem>();
  const Index n = x.rows(), t = x.cols();
  Index nonzero = 0;
  for (Index c = 0; c < t; ++c) nonzero += (x.col(c).array() != 0.0f).count();
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
  model* m = nullptr;
  if (base.solver_type == L2R_L2LOSS_SVC_DUAL) {
    const std::lock_guard<std::mutex> lock(dual_mutex());
    std::srand(1);  // its coordinate order comes from rand()
    m = ::train(&prob, &param);
  } else {
    m = ::train(&prob, &param);
  }
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

LiblinearFit fit_liblinear(ConstMatrixRef<float> x, std::span<const int> labels, const OneVsRest& setup, double c,
                           const ReadoutOptions& options) {
  if (x.rows() >= std::numeric_limits<int>::max() - 1 || x.cols() >= std::numeric_limits<int>::max()) {
    throw ShapeError("read-out: too many features or samples for liblinear (use the dense solver)");
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
  static std::once_flag print_hook;
  std::call_once(print_hook, [] { set_print_string_function(record_liblinear_message); });

  const Index problems = setup.problems();
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
    const int positive = setup.classes[static_cast<std::size_t>(k)];
    std::vector<double> y(labels.size());
    for (std::size_t i = 0; i < labels.size(); ++i) y[i] = labels[i] == positive ? +1.0 : -1.0;
    fits[static_cast<std::size_t>(k)] =
        fit_binary(prob->prob, y, param, setup.positive_weight(k), setup.negative_weight(), x.rows());
  }
  if (stopped) throw Interrupted("read-out interrupted");

  LiblinearFit out;
  out.weights.resize(problems, x.rows());
  out.biases.resize(problems);
  for (Index k = 0; k < problems; ++k) {
    const BinaryFit& f = fits[static_cast<std::size_t>(k)];
    if (f.w.size() != x.rows()) throw InternalError("read-out: liblinear returned no model");
    out.weights.row(k) = f.w.transpose();
    out.biases(k) = f.bias;
    out.converged = out.converged && f.converged;
  }
  return out;
}

}  // namespace simmatch::readout_detail
