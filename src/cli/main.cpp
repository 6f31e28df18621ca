// simmatch: the command-line front end. Each subcommand lives in its own file and registers
// itself here; main only lists them and hands over to run_app (parsing and error reporting).
#include "cli/commands.hpp"

#ifndef SIMMATCH_VERSION
#define SIMMATCH_VERSION "0.1.0"
#endif

int main(int argc, char** argv) {
  CLI::App app{"simmatch: structured and deep similarity-matching networks (Obeid, Ramambason, "
               "Pehlevan, NeurIPS 2019)",
               "simmatch"};
  app.set_version_flag("--version", "simmatch " SIMMATCH_VERSION);
  app.require_subcommand(1);

  simmatch::cli::register_train(app);
  simmatch::cli::register_encode(app);
  simmatch::cli::register_params(app);
  simmatch::cli::register_evaluate(app);
  simmatch::cli::register_predict(app);
  simmatch::cli::register_rsm(app);
  simmatch::cli::register_features(app);
  simmatch::cli::register_patches(app);
  simmatch::cli::register_bench(app);
  simmatch::cli::add_strict_checks(app, argc, argv);

  return simmatch::cli::run_app(app, argc, argv);
}
