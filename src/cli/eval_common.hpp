// Shared by `evaluate`, `rsm` and `features`: which data set to read (options mirroring the
// config's data keys), the config a model file carries, and a model's representations.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "simmatch/config.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/encode.hpp"
#include "simmatch/feature_matrix.hpp"
#include "simmatch/network.hpp"
#include "simmatch/precision.hpp"

namespace simmatch::cli {

/// A data set named on the command line; empty fields keep the base config's value.
struct DataArgs {
  std::string path;
  std::string format;
  std::string split;
  std::string labels;
  Index limit = 0;
};

/// Adds --<prefix>data, --<prefix>format, --<prefix>split, --<prefix>labels, --<prefix>limit.
void add_data_options(CLI::App* cmd, DataArgs& args, const std::string& prefix, const std::string& what);

/// The config embedded in a model file (FormatError naming the file when it is not valid), or
/// the defaults when `model_path` is empty; then `overrides` ("key=value") applied.
Config base_config(const std::string& model_path, const std::string& config_json,
                   const std::vector<std::string>& overrides);

/// The precision to run a model in: `network.precision` from `overrides` when one sets it (the
/// weights are converted on loading), else the model file's own. ConfigError for a bad value.
Precision run_precision(const std::string& model_path, const std::vector<std::string>& overrides);

/// `base` with the data keys of `args` set (data.limit always replaced), read and preprocessed.
Dataset load_data_args(Config base, const DataArgs& args);

/// Rows T x N of an NPY (2-D or more, flattened per sample) as N x T features, with optional
/// NPY labels; the file named in errors.
Dataset load_features(const std::string& path, const std::string& labels_path);

/// The same rows as the N x T matrix of a FeatureMatrix (float32 files memory-mapped, not copied)
/// and the labels of an NPY labels file (required), the files named in errors.
struct LabelledFeatures {
  FeatureMatrix x;
  std::vector<int> labels;
};
LabelledFeatures load_mapped_features(const std::string& path, const std::string& labels_path);

/// Writes an N x T matrix as a row-major T x N float32 NPY.
void write_columns_npy(const std::string& path, const Eigen::MatrixXf& x);

/// "simmatch: warning: ..." on stderr, one line each, for the solves of `network` that `report`
/// counts (solve_warnings: the step schedule beyond its stability limit, samples that did not
/// reach their fixed point); nothing otherwise. The exit code stays 0: the output is written.
template <typename T>
void warn_solves(const Network<T>& network, const SolveReport& report, const SolverOptions& options,
                 const std::string& what);

/// Creates `dir` (and parents); IoError naming it on failure.
void make_folder(const std::string& dir);

}  // namespace simmatch::cli
