// Linear read-out of representations: an L2-regularised linear SVM (squared hinge loss,
// one-vs-rest: the model of scikit-learn's LinearSVC), solved on the dense float32 feature matrix
// itself or through liblinear, with the regularisation C chosen on a validation split of the
// training set, and its accuracy report.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "simmatch/types.hpp"

namespace simmatch {

/// How the SVM objective is minimised; all three reach the same (unique) optimum.
enum class ReadoutSolver {
  /// Trust-region Newton on the primal over the dense float32 features as they are (an NPY file
  /// mapped into memory, the encoder's output): no copy into liblinear's 16-byte nodes, every pass
  /// over the matrix serves all classes at once, threads share the samples in fixed blocks (so the
  /// result does not depend on their number), and the C grid warm-starts each fit from the last.
  /// The stopping rule is liblinear's primal one (see `tolerance`). src/eval/dense_readout.cpp.
  dense,
  /// Trust-region Newton on the primal (liblinear's L2R_L2LOSS_SVC). Deterministic, so the
  /// one-vs-rest classes train in parallel OpenMP threads; converges in a few dozen passes.
  primal,
  /// Dual coordinate descent (L2R_L2LOSS_SVC_DUAL, LinearSVC's default). liblinear draws its
  /// coordinate order from the C library's global rand(), so the classes train one after another
  /// to stay reproducible; at large C it often stops at its 1,000-pass cap.
  dual,
};

struct ReadoutOptions {
  ReadoutSolver solver = ReadoutSolver::dense;
  /// Candidate values of C; with a single value no validation split is made.
  std::vector<double> c_grid{0.01, 0.1, 1.0, 10.0};
  /// Fraction of the training samples held out (stratified by label) to choose C.
  double validation_fraction = 0.2;
  /// Class weights n / (classes * n_c) (scikit-learn's class_weight="balanced").
  bool balanced = false;
  /// Stopping tolerance (liblinear's eps; LinearSVC's tol is 1e-4). Dual: largest projected
  /// gradient; primal and dense: |grad f(w)| <= tolerance * max(min(pos, neg), 1) / samples *
  /// |grad f(0)| for each binary problem with pos / neg samples on either side (liblinear's rule).
  double tolerance = 1e-4;
  /// Bias feature (intercept) appended to every sample; LinearSVC's intercept_scaling = 1.
  double bias = 1.0;
  /// Seeds the validation split.
  std::uint64_t seed = 0;
  /// Asked before each binary problem (liblinear; one per class and value of C, possibly from
  /// several threads at once) or before each pass over the matrix (dense, one thread); true stops
  /// the read-out with Interrupted. liblinear cannot stop inside a problem.
  std::function<bool()> should_stop;
  /// Dense solver: the most Newton iterations per fit (liblinear's primal solver also stops at 1,000).
  int max_iterations = 1000;
};

/// A trained one-vs-rest linear classifier over `features`-dimensional inputs. Classes are sorted
/// ascending; class k's binary problem is "k against the rest", the weight of `balanced` applying
/// to its positive samples (as in liblinear's own one-vs-rest).
class LinearReadout {
public:
  /// Trains on the columns of `x` (features x T, e.g. a MatrixXf or a Map of an NPY file; the
  /// dense solver reads it in place, liblinear copies it into its nodes) with labels (T entries,
  /// any ints, >= 2 distinct) at regularisation `c`. Throws ShapeError for mismatched sizes or a
  /// single class, ConfigError for c <= 0, NumericalError for NaN/Inf features.
  static LinearReadout fit(ConstMatrixRef<float> x, const std::vector<int>& labels, double c,
                           const ReadoutOptions& options = {});

  /// A classifier from its parts: `classes` ascending, `weights` (problems x features) and
  /// `biases` (problems), problems = 1 for two classes, else one per class. ShapeError otherwise.
  static LinearReadout from_weights(std::vector<int> classes, Eigen::MatrixXd weights, Eigen::VectorXd biases,
                                    double c, bool converged = true);

  /// Predicted label of every column of `x` (features x T), scored in blocks of samples (no copy
  /// of `x`); ShapeError for a wrong feature count, NumericalError for NaN/Inf.
  std::vector<int> predict(ConstMatrixRef<float> x) const;

  /// Decision weights (classes x features) and biases; a two-class problem has one row
  /// (positive = classes()[0]).
  const Eigen::MatrixXd& weights() const { return weights_; }
  const Eigen::VectorXd& biases() const { return biases_; }
  const std::vector<int>& classes() const { return classes_; }
  double c() const { return c_; }
  /// False when the solver stopped at its iteration cap before reaching the tolerance (any class).
  bool converged() const { return converged_; }

private:
  Eigen::MatrixXd weights_;
  Eigen::VectorXd biases_;
  std::vector<int> classes_;
  double c_ = 1.0;
  bool converged_ = true;
};

/// Fraction of equal entries; ShapeError when the sizes differ or are 0.
double accuracy(const std::vector<int>& truth, const std::vector<int>& predicted);

/// Confusion counts: entry (i, j) = samples of class classes[i] predicted as classes[j].
/// Labels outside `classes` are ignored.
Eigen::MatrixXi confusion_matrix(const std::vector<int>& truth, const std::vector<int>& predicted,
                                 const std::vector<int>& classes);

/// One fit of a read-out: a value of C on the validation split, or the final refit.
struct ReadoutFit {
  double c = 0;
  Index samples = 0;
  double seconds = 0;
  bool converged = true;
  /// Dense solver only (0 for liblinear, which does not report them): Newton iterations of the
  /// slowest class, and passes over the feature matrix (each serves every class still running).
  int iterations = 0;
  Index passes = 0;
};

struct ReadoutReport {
  double c = 0;                                   // the chosen C
  std::vector<std::pair<double, double>> validation;  // (C, validation accuracy) for the grid
  double train_accuracy = 0;
  double test_accuracy = 0;
  std::vector<int> classes;
  Eigen::MatrixXi confusion;  // test set, rows = true class, columns = predicted
  Index features = 0;
  Index train_samples = 0;
  Index test_samples = 0;
  bool converged = true;
  ReadoutSolver solver = ReadoutSolver::dense;
  double seconds = 0;
  std::vector<ReadoutFit> fits;  // in the order they ran: the grid, then the refit
};

/// Chooses C on a stratified validation split of the training set (highest accuracy, the
/// smaller C on ties), retrains on the whole training set with it and scores train and test.
/// x_* are features x T. The dense solver reads the split's samples in place (the matrix is never
/// copied; peak memory is the matrices plus O(features x classes x 64) doubles) and starts each
/// fit from the previous one's weights (the grid in ascending C, the refit from the chosen C);
/// liblinear copies the samples of each split. Throws like LinearReadout::fit, and ShapeError
/// when train and test have different feature counts.
ReadoutReport evaluate_readout(ConstMatrixRef<float> x_train, const std::vector<int>& y_train,
                               ConstMatrixRef<float> x_test, const std::vector<int>& y_test,
                               const ReadoutOptions& options = {});

/// {"c", "validation": [{"c", "accuracy"}], "train_accuracy", "test_accuracy", "test_error",
///  "classes", "confusion", "features", "train_samples", "test_samples", "converged", "solver"
///  ("dense", "primal" or "dual"), "seconds", "fits": [{"c", "samples", "seconds", "converged",
///  "iterations", "passes"}]}.
nlohmann::json readout_to_json(const ReadoutReport& report);
/// Human-readable summary: accuracies, chosen C and the confusion matrix.
std::string readout_summary(const ReadoutReport& report);

/// "dense" / "primal" / "dual", and back; ConfigError naming the value for anything else.
std::string readout_solver_name(ReadoutSolver solver);
ReadoutSolver parse_readout_solver(const std::string& name);

}  // namespace simmatch
