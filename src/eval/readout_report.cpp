// Choosing C on a stratified validation split, the final fit, and the report (JSON and text).
#include <algorithm>
#include <chrono>
#include <numeric>

#include <fmt/format.h>

#include "eval/dense_readout.hpp"
#include "eval/readout_common.hpp"
#include "simmatch/error.hpp"
#include "simmatch/readout.hpp"
#include "simmatch/sample_split.hpp"

namespace simmatch {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

Eigen::MatrixXf columns(ConstMatrixRef<float> x, const std::vector<Index>& idx) {
  Eigen::MatrixXf out(x.rows(), static_cast<Index>(idx.size()));
  for (std::size_t c = 0; c < idx.size(); ++c) out.col(static_cast<Index>(c)) = x.col(idx[c]);
  return out;
}

std::vector<int> pick(const std::vector<int>& v, const std::vector<Index>& idx) {
  std::vector<int> out;
  out.reserve(idx.size());
  for (Index i : idx) out.push_back(v[static_cast<std::size_t>(i)]);
  return out;
}

// The C grid and the refit through liblinear: each fit gets its own copy of its samples.
double choose_and_fit_liblinear(ConstMatrixRef<float> x_train, const std::vector<int>& y_train,
                                const ReadoutOptions& options, ReadoutReport& report, LinearReadout& model) {
  double best_c = options.c_grid.front();
  if (options.c_grid.size() > 1) {
    const SampleSplit parts = stratified_split(y_train, options.validation_fraction, options.seed);
    const std::vector<Index>& fit_idx = parts.kept;
    const std::vector<Index>& val_idx = parts.held_out;
    const Eigen::MatrixXf x_fit = columns(x_train, fit_idx), x_val = columns(x_train, val_idx);
    const std::vector<int> y_fit = pick(y_train, fit_idx), y_val = pick(y_train, val_idx);
    double best = -1;
    for (double c : options.c_grid) {
      const auto start = Clock::now();
      const LinearReadout m = LinearReadout::fit(x_fit, y_fit, c, options);
      report.fits.push_back({c, x_fit.cols(), seconds_since(start), m.converged(), 0, 0});
      const double acc = accuracy(y_val, m.predict(x_val));
      report.validation.emplace_back(c, acc);
      if (acc > best || (acc == best && c < best_c)) best = acc, best_c = c;
    }
  }
  const auto start = Clock::now();
  model = LinearReadout::fit(x_train, y_train, best_c, options);
  report.fits.push_back({best_c, x_train.cols(), seconds_since(start), model.converged(), 0, 0});
  return best_c;
}

// The C grid and the refit on the matrix in place: the split is a list of columns, the grid runs
// in ascending C, each fit starting from the previous one's weights, and the refit on the whole
// training set starts from the chosen C's weights. The optimum of each fit does not depend on its
// starting point; the number of iterations does.
double choose_and_fit_dense(ConstMatrixRef<float> x_train, const std::vector<int>& y_train,
                            const ReadoutOptions& options, ReadoutReport& report, LinearReadout& model) {
  using readout_detail::DenseFit;
  for (double c : options.c_grid) readout_detail::check_fit_arguments(x_train.rows(), x_train.cols(), y_train.size(), c, options);
  readout_detail::check_finite_features(x_train, "training");
  double best_c = options.c_grid.front();
  const DenseFit* start = nullptr;
  std::vector<DenseFit> grid_fits(options.c_grid.size());
  if (options.c_grid.size() > 1) {
    const SampleSplit parts = stratified_split(y_train, options.validation_fraction, options.seed);
    const std::vector<Index>& fit_idx = parts.kept;
    const std::vector<Index>& val_idx = parts.held_out;
    const std::vector<int> y_fit = pick(y_train, fit_idx), y_val = pick(y_train, val_idx);
    const readout_detail::OneVsRest setup = readout_detail::one_vs_rest(y_fit, options.balanced);
    std::vector<std::size_t> order(options.c_grid.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return options.c_grid[a] < options.c_grid[b]; });
    std::vector<double> acc(options.c_grid.size());
    for (std::size_t i : order) {
      const double c = options.c_grid[i];
      const auto t0 = Clock::now();
      grid_fits[i] = readout_detail::fit_dense(x_train, fit_idx, y_fit, setup, c, options, start);
      start = &grid_fits[i];
      const DenseFit& f = grid_fits[i];
      report.fits.push_back({c, static_cast<Index>(fit_idx.size()), seconds_since(t0), f.converged, f.iterations, f.passes});
      const LinearReadout m = LinearReadout::from_weights(setup.classes, f.weights, f.biases, c, f.converged);
      acc[i] = accuracy(y_val, readout_detail::predict_columns(m, x_train, val_idx));
    }
    double best = -1;
    for (std::size_t i = 0; i < options.c_grid.size(); ++i) {
      const double c = options.c_grid[i];
      report.validation.emplace_back(c, acc[i]);
      if (acc[i] > best || (acc[i] == best && c < best_c)) best = acc[i], best_c = c;
    }
    for (std::size_t i = 0; i < options.c_grid.size(); ++i) {
      if (options.c_grid[i] == best_c) start = &grid_fits[i];
    }
  }
  const readout_detail::OneVsRest setup = readout_detail::one_vs_rest(y_train, options.balanced);
  std::vector<Index> all(static_cast<std::size_t>(x_train.cols()));
  std::iota(all.begin(), all.end(), Index{0});
  const auto t0 = Clock::now();
  DenseFit f = readout_detail::fit_dense(x_train, all, y_train, setup, best_c, options, start);
  report.fits.push_back({best_c, x_train.cols(), seconds_since(t0), f.converged, f.iterations, f.passes});
  model = LinearReadout::from_weights(setup.classes, std::move(f.weights), std::move(f.biases), best_c, f.converged);
  return best_c;
}

}  // namespace

ReadoutReport evaluate_readout(ConstMatrixRef<float> x_train, const std::vector<int>& y_train,
                               ConstMatrixRef<float> x_test, const std::vector<int>& y_test,
                               const ReadoutOptions& options) {
  const auto t0 = Clock::now();
  if (options.c_grid.empty()) throw ConfigError("read-out: the grid of C values is empty");
  if (!(options.validation_fraction > 0 && options.validation_fraction < 1) && options.c_grid.size() > 1) {
    throw ConfigError(fmt::format("read-out: the validation fraction must be in (0, 1), got {}", options.validation_fraction));
  }
  if (x_test.rows() != x_train.rows()) {
    throw ShapeError(fmt::format("read-out: training samples have {} features, test samples {}", x_train.rows(), x_test.rows()));
  }
  if (static_cast<Index>(y_test.size()) != x_test.cols()) {
    throw ShapeError(fmt::format("read-out: {} test samples but {} test labels", x_test.cols(), y_test.size()));
  }
  if (x_test.cols() == 0) throw ShapeError("read-out: the test set is empty");
  if (static_cast<Index>(y_train.size()) != x_train.cols()) {
    throw ShapeError(fmt::format("read-out: {} samples but {} labels", x_train.cols(), y_train.size()));
  }

  ReadoutReport report;
  LinearReadout model;
  report.c = options.solver == ReadoutSolver::dense ? choose_and_fit_dense(x_train, y_train, options, report, model)
                                                    : choose_and_fit_liblinear(x_train, y_train, options, report, model);
  report.converged = model.converged();
  report.solver = options.solver;
  report.train_accuracy = accuracy(y_train, model.predict(x_train));
  const std::vector<int> predicted = model.predict(x_test);
  report.test_accuracy = accuracy(y_test, predicted);
  report.classes = model.classes();
  report.confusion = confusion_matrix(y_test, predicted, report.classes);
  report.features = x_train.rows();
  report.train_samples = x_train.cols();
  report.test_samples = x_test.cols();
  report.seconds = seconds_since(t0);
  return report;
}

nlohmann::json readout_to_json(const ReadoutReport& r) {
  nlohmann::json j;
  j["c"] = r.c;
  j["validation"] = nlohmann::json::array();
  for (const auto& [c, acc] : r.validation) j["validation"].push_back({{"c", c}, {"accuracy", acc}});
  j["train_accuracy"] = r.train_accuracy;
  j["test_accuracy"] = r.test_accuracy;
  j["test_error"] = 1.0 - r.test_accuracy;
  j["classes"] = r.classes;
  nlohmann::json rows = nlohmann::json::array();
  for (Index i = 0; i < r.confusion.rows(); ++i) {
    std::vector<int> row(static_cast<std::size_t>(r.confusion.cols()));
    for (Index k = 0; k < r.confusion.cols(); ++k) row[static_cast<std::size_t>(k)] = r.confusion(i, k);
    rows.push_back(row);
  }
  j["confusion"] = rows;
  j["features"] = r.features;
  j["train_samples"] = r.train_samples;
  j["test_samples"] = r.test_samples;
  j["converged"] = r.converged;
  j["solver"] = readout_solver_name(r.solver);
  j["seconds"] = r.seconds;
  j["fits"] = nlohmann::json::array();
  for (const ReadoutFit& f : r.fits) {
    j["fits"].push_back({{"c", f.c}, {"samples", f.samples}, {"seconds", f.seconds}, {"converged", f.converged},
                         {"iterations", f.iterations}, {"passes", f.passes}});
  }
  return j;
}

std::string readout_summary(const ReadoutReport& r) {
  std::string out;
  for (const ReadoutFit& f : r.fits) {
    out += fmt::format("fit         C = {:<8g} {} samples, {:.1f} s", f.c, f.samples, f.seconds);
    if (f.passes > 0) out += fmt::format(", {} Newton iterations, {} passes", f.iterations, f.passes);
    out += f.converged ? "\n" : " (iteration cap)\n";
  }
  for (const auto& [c, acc] : r.validation) out += fmt::format("validation  C = {:<8g} accuracy {:.4f}\n", c, acc);
  out += fmt::format("chosen C    {:g}{} ({} solver)\n", r.c, r.converged ? "" : " (solver hit its iteration cap)",
                     readout_solver_name(r.solver));
  out += fmt::format("train       {:.4f} accuracy on {} samples ({} features)\n", r.train_accuracy, r.train_samples, r.features);
  out += fmt::format("test        {:.4f} accuracy, {:.2f} % error on {} samples\n", r.test_accuracy,
                     100.0 * (1.0 - r.test_accuracy), r.test_samples);
  out += "confusion (rows: true class, columns: predicted)\n       ";
  for (int c : r.classes) out += fmt::format("{:>6}", c);
  out += "\n";
  for (Index i = 0; i < r.confusion.rows(); ++i) {
    out += fmt::format("{:>6} ", r.classes[static_cast<std::size_t>(i)]);
    for (Index k = 0; k < r.confusion.cols(); ++k) out += fmt::format("{:>6}", r.confusion(i, k));
    out += "\n";
  }
  return out;
}

std::string readout_solver_name(ReadoutSolver solver) {
  switch (solver) {
    case ReadoutSolver::dense: return "dense";
    case ReadoutSolver::primal: return "primal";
    case ReadoutSolver::dual: return "dual";
  }
  throw InternalError("read-out: unknown solver");
}

ReadoutSolver parse_readout_solver(const std::string& name) {
  if (name == "dense") return ReadoutSolver::dense;
  if (name == "primal") return ReadoutSolver::primal;
  if (name == "dual") return ReadoutSolver::dual;
  throw ConfigError(fmt::format("read-out solver '{}' is not one of: dense, primal, dual", name));
}

}  // namespace simmatch
