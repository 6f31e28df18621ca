// Activation functions r = f(u) with their range [a, b] and the regulariser F of eq. 5
// (F'(r) = f^{-1}(r) - r, F(f(0)) = 0), which enters the cost (eqs. 9-11) and the energy.
#pragma once

#include <string>
#include <string_view>

#include "simmatch/types.hpp"

namespace simmatch {

enum class ActivationKind { linear, tanh, relu, clipped_relu };

class Activation {
public:
  /// f(u) = u on (-inf, inf); F = 0.
  static Activation linear();
  /// f(u) = tanh(gain u) on (-1, 1); F(r) = r artanh(r)/gain + log(1 - r^2)/(2 gain) - r^2/2.
  static Activation tanh(double gain = 1.0);
  /// f(u) = max(u, 0) on [0, inf); F = 0 there.
  static Activation relu();
  /// f(u) = min(max(u, 0), upper) on [0, upper]; F = 0 there.
  static Activation clipped_relu(double upper = 1.0);
  /// By name: "linear", "tanh", "relu", "clipped_relu". Throws ConfigError for an unknown
  /// name, gain <= 0 or upper <= 0.
  static Activation from_name(std::string_view name, double gain = 1.0, double upper = 1.0);

  ActivationKind kind() const { return kind_; }
  std::string name() const;
  double gain() const { return gain_; }
  /// Upper clip of clipped_relu (meaningless for the others).
  double clip() const { return upper_; }
  /// Range [a, b] of f; infinite bounds are +-infinity.
  double lower() const;
  double upper() const;

  double f(double u) const;
  /// f'(u) (sub-gradient 0 at the kinks of the ReLUs).
  double derivative(double u) const;
  /// f^{-1}(r) for r in the open range (a, b).
  double inverse(double r) const;
  /// Regulariser F(r) (eq. 5); +infinity outside [a, b], exact up to the boundaries
  /// (for tanh F(+-1) = (log 2)/gain - 1/2 as the limit).
  double regulariser(double r) const;
  /// F'(r) = f^{-1}(r) - r on (a, b).
  double regulariser_derivative(double r) const;

  /// r = f(u) elementwise over n values (vectorised; the hot path of the dynamics).
  void apply(const float* u, float* r, Index n) const;
  void apply(const double* u, double* r, Index n) const;

  bool operator==(const Activation&) const = default;

private:
  Activation(ActivationKind kind, double gain, double upper) : kind_(kind), gain_(gain), upper_(upper) {}
  ActivationKind kind_ = ActivationKind::linear;
  double gain_ = 1.0;
  double upper_ = 1.0;
};

}  // namespace simmatch
