// Names of the precisions, as configs and model files spell them.
#include "simmatch/precision.hpp"

#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {

const char* precision_name(Precision precision) {
  return precision == Precision::float64 ? "float64" : "float32";
}

Precision precision_from_name(std::string_view name) {
  if (name == "float32") return Precision::float32;
  if (name == "float64") return Precision::float64;
  throw ConfigError(fmt::format("unknown precision '{}' (expected float32 or float64)", name));
}

}  // namespace simmatch
