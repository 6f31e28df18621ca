// libFuzzer target: TOML configs through the parameter table, key=value overrides (lines after a
// separator), the JSON round trip, and building small networks from what passes validation.
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_common.hpp"
#include "simmatch/config.hpp"
#include "simmatch/error.hpp"

namespace {

// Building a network allocates what the config asks for; keep to configs whose size is small by
// construction and that read no files, so the target explores validation rather than memory.
bool small_enough(const simmatch::Config& c) {
  if (c.layers.size() > 4) return false;
  for (const auto& l : c.layers) {
    if (l.type == "file" || l.neurons > 64 || l.neurons_per_site > 8 || l.stride > 8) return false;
  }
  return true;
}

}  // namespace

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
    if (small_enough(config)) {
      const Network<float> net = build_network<float>(config, Grid{6, 6, 1});
      (void)net;
    }
  } catch (const Error&) {
  }
  return 0;
}
