// The floating-point precision of a network's weights and activities, and the one dispatch that
// turns it into a template instantiation (Network<float> or Network<double>).
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

namespace simmatch {

enum class Precision { float32, float64 };

/// "float32" / "float64": the name configs (network.precision) and model files use.
const char* precision_name(Precision precision);
/// The precision named `name`; ConfigError for any other name.
Precision precision_from_name(std::string_view name);

/// The precision of the scalar type T (float or double).
template <typename T>
constexpr Precision precision_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "a network holds float or double");
  return std::is_same_v<T, float> ? Precision::float32 : Precision::float64;
}

/// Calls f(std::type_identity<float>{}) or f(std::type_identity<double>{}) as `precision` says and
/// returns its result: the front ends' one switch from a precision to a type, e.g.
///   with_precision(p, [&](auto type) { using T = typename decltype(type)::type; ... });
template <typename F>
decltype(auto) with_precision(Precision precision, F&& f) {
  if (precision == Precision::float64) return f(std::type_identity<double>{});
  return f(std::type_identity<float>{});
}

}  // namespace simmatch
