// The `simmatch` subcommands: each file src/cli/<name>_command.cpp registers one subcommand on the
// app (`evaluate`: evaluate.cpp), and run_app() (run_app.cpp) parses the command
// line and turns every error into a message and an exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace simmatch::cli {

void register_train(CLI::App& app);
void register_encode(CLI::App& app);
void register_params(CLI::App& app);
void register_evaluate(CLI::App& app);
void register_predict(CLI::App& app);
void register_rsm(CLI::App& app);
void register_features(CLI::App& app);
void register_patches(CLI::App& app);
void register_bench(CLI::App& app);

/// Makes `app` refuse, as command-line errors (exit 2, one line), a first argument that is
/// neither an option nor a subcommand (checked before --help is acted on, so `simmatch classify
/// --help` is an error, not the main help) and any integer option value outside the range of a
/// 64-bit integer (CLI11 2.1 would saturate it silently). Call once every subcommand is registered.
void add_strict_checks(CLI::App& app, int argc, char** argv);

/// Parses argv and runs the chosen subcommand. Exit codes: 0 success (and --help, --version),
/// 1 bad input (simmatch::Error: one line "simmatch: error: ..." on stderr), 2 command-line
/// syntax, 3 internal error.
int run_app(CLI::App& app, int argc, char** argv);

}  // namespace simmatch::cli
