// libFuzzer target: TOML configs through the parameter table, key=value overrides (lines after a
// separator), the JSON round trip, and building networks from what passes validation (any but
// small ones under a 1 MiB memory budget).
#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_common.hpp"
#include "simmatch/config.hpp"
#include "simmatch/error.hpp"

namespace {

// Configs whose size is small by construction are built with the default budget.
bool small_enough(const simmatch::Config& c) {
  if (c.layers.size() > 4) return false;
  for (const auto& l : c.layers) {
    if (l.neurons > 64 || l.neurons_per_site > 8 || l.stride > 8) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  simmatch::fuzz::use_fuzzing_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace simmatch;
  const auto parts = fuzz::split_input(data, size, 2);
  try {
    Config config = parse_config(std::string(parts[0]), "fuzz.toml");
    if (parts.size() > 1) {
      std::istringstream lines{std::string(parts[1])};
      std::vector<std::string> overrides;
      for (std::string line; std::getline(lines, line) && overrides.size() < 8;) overrides.push_back(line);
      apply_overrides(config, overrides);
    }
    // The CLI stores the config in the model as JSON text: every accepted config must serialise.
    const nlohmann::json json = config_to_json(config);
    (void)json.dump();
    const Config again = config_from_json(json, "fuzz.json");
    (void)again;
    (void)train_options(config);
    // Other configs that read no files are built under a 1 MiB budget: the size checks, which
    // count layers from their parameters, must refuse every one too large for it.
    Config built = config;
    const bool reads_files =
        std::any_of(built.layers.begin(), built.layers.end(), [](const auto& l) { return l.type == "file"; });
    if (!small_enough(built)) built.memory_budget_gib = 1.0 / 1024;
    if (!reads_files) {
      const Network<float> net = build_network<float>(built, Grid{6, 6, 1});
      (void)net;
    }
  } catch (const Error&) {
  }
  return 0;
}
