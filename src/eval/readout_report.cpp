// Choosing C on a stratified validation split, the final fit, and the report (JSON and text).
#include <algorithm>
#include <chrono>
#include <map>
#include <random>

#include <fmt/format.h>

#include "simmatch/error.hpp"
#include "simmatch/readout.hpp"

namespace simmatch {

namespace {

Eigen::MatrixXf columns(const Eigen::MatrixXf& x, const std::vector<Index>& idx) {
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

// Stratified split: about `fraction` of each label's samples (at least one when it has two or
// more, never all of them) go to validation.
void split(const std::vector<int>& labels, double fraction, std::uint64_t seed, std::vector<Index>& fit_idx,
           std::vector<Index>& val_idx) {
  std::map<int, std::vector<Index>> groups;
  for (std::size_t i = 0; i < labels.size(); ++i) groups[labels[i]].push_back(static_cast<Index>(i));
  std::mt19937_64 rng(seed);
  for (auto& [label, members] : groups) {
    std::shuffle(members.begin(), members.end(), rng);
    const auto n = static_cast<Index>(members.size());
    Index n_val = std::clamp<Index>(static_cast<Index>(std::lround(fraction * static_cast<double>(n))), n >= 2 ? 1 : 0, n - 1);
    for (Index i = 0; i < n; ++i) (i < n_val ? val_idx : fit_idx).push_back(members[static_cast<std::size_t>(i)]);
  }
  std::sort(fit_idx.begin(), fit_idx.end());
  std::sort(val_idx.begin(), val_idx.end());
}

}  // namespace

ReadoutReport evaluate_readout(const Eigen::MatrixXf& x_train, const std::vector<int>& y_train,
                               const Eigen::MatrixXf& x_test, const std::vector<int>& y_test,
                               const ReadoutOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
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

  ReadoutReport report;
  double best_c = options.c_grid.front();
  if (options.c_grid.size() > 1) {
    std::vector<Index> fit_idx, val_idx;
    if (static_cast<Index>(y_train.size()) != x_train.cols()) {
      throw ShapeError(fmt::format("read-out: {} samples but {} labels", x_train.cols(), y_train.size()));
    }
    split(y_train, options.validation_fraction, options.seed, fit_idx, val_idx);
    const Eigen::MatrixXf x_fit = columns(x_train, fit_idx), x_val = columns(x_train, val_idx);
    const std::vector<int> y_fit = pick(y_train, fit_idx), y_val = pick(y_train, val_idx);
    double best = -1;
    for (double c : options.c_grid) {
      const LinearReadout model = LinearReadout::fit(x_fit, y_fit, c, options);
      const double acc = accuracy(y_val, model.predict(x_val));
      report.validation.emplace_back(c, acc);
      if (acc > best || (acc == best && c < best_c)) best = acc, best_c = c;
    }
  }
  const LinearReadout model = LinearReadout::fit(x_train, y_train, best_c, options);
  report.c = best_c;
  report.converged = model.converged();
  report.solver = options.solver;
  report.train_accuracy = accuracy(y_train, model.predict(x_train));
  const std::vector<int> predicted = model.predict(x_test);
  report.test_accuracy = accuracy(y_test, predicted);
  report.classes = model.classes();
  std::sort(report.classes.begin(), report.classes.end());
  report.confusion = confusion_matrix(y_test, predicted, report.classes);
  report.features = x_train.rows();
  report.train_samples = x_train.cols();
  report.test_samples = x_test.cols();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
  return j;
}

std::string readout_summary(const ReadoutReport& r) {
  std::string out;
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
  return solver == ReadoutSolver::primal ? "primal" : "dual";
}

ReadoutSolver parse_readout_solver(const std::string& name) {
  if (name == "primal") return ReadoutSolver::primal;
  if (name == "dual") return ReadoutSolver::dual;
  throw ConfigError(fmt::format("read-out solver '{}' is not one of: primal, dual", name));
}

}  // namespace simmatch
