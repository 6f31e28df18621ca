// `simmatch params [--markdown | --json] [CONFIG [key=value ...]]`: the parameter table, or a
// config file resolved with its defaults and overrides.
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "simmatch/config.hpp"

namespace simmatch::cli {
namespace {

struct ParamsArgs {
  bool markdown = false;
  bool json = false;
  std::string config_path;
  std::vector<std::string> overrides;
};

void print_table() {
  std::size_t width = 0;
  for (const ParamInfo& p : parameters()) width = std::max(width, p.key.size());
  for (const ParamInfo& p : parameters()) {
    std::string type = param_type_name(p.type);
    if (p.type == ParamType::choice) {
      type.clear();
      for (const std::string& c : p.choices) type += (type.empty() ? "" : "|") + (c.empty() ? std::string("\"\"") : c);
    }
    std::cout << fmt::format("{:<{}}  {}, default {}{}\n", p.key, width, type, p.default_value.dump(),
                             p.check.empty() ? std::string() : ", " + p.check)
              << fmt::format("{:<{}}  {}\n", "", width, p.doc);
  }
}

void run_params(const ParamsArgs& args) {
  if (!args.config_path.empty()) {
    std::cout << config_to_json(load_config(args.config_path, args.overrides)).dump(2) << '\n';
  } else if (args.markdown) {
    std::cout << parameters_markdown();
  } else if (args.json) {
    std::cout << config_to_json(Config{}).dump(2) << '\n';
  } else {
    print_table();
  }
}

}  // namespace

void register_params(CLI::App& app) {
  auto args = std::make_shared<ParamsArgs>();
  CLI::App* cmd = app.add_subcommand("params", "List every config parameter, or show a config resolved");
  auto* markdown = cmd->add_flag("--markdown", args->markdown, "Print docs/parameters.md");
  cmd->add_flag("--json", args->json, "Print the default config as JSON")->excludes(markdown);
  cmd->add_option("config", args->config_path, "A TOML config to print as JSON with defaults and overrides applied");
  cmd->add_option("overrides", args->overrides, "Overrides key=value applied to CONFIG");
  cmd->callback([args] { run_params(*args); });
}

}  // namespace simmatch::cli
