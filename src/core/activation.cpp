// Activations and their regularisers F (eq. 5).
#include "simmatch/activation.hpp"

#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "simmatch/error.hpp"

namespace simmatch {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

// x log x with its limit 0 at x = 0.
double xlogx(double x) { return x > 0 ? x * std::log(x) : 0.0; }

template <typename T>
void apply_impl(const Activation& a, const T* u, T* r, Index n) {
  Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> in(u, n);
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> out(r, n);
  switch (a.kind()) {
    case ActivationKind::linear: out = in; break;
    case ActivationKind::tanh: out = (in * static_cast<T>(a.gain())).tanh(); break;
    case ActivationKind::relu: out = in.max(T(0)); break;
    case ActivationKind::clipped_relu: out = in.max(T(0)).min(static_cast<T>(a.clip())); break;
  }
}
}  // namespace

Activation Activation::linear() { return Activation(ActivationKind::linear, 1.0, 1.0); }

Activation Activation::tanh(double gain) {
  if (!(gain > 0) || !std::isfinite(gain)) {
    throw ConfigError(fmt::format("activation tanh: gain must be finite and > 0, got {}", gain));
  }
  return Activation(ActivationKind::tanh, gain, 1.0);
}

Activation Activation::relu() { return Activation(ActivationKind::relu, 1.0, 1.0); }

Activation Activation::clipped_relu(double upper) {
  if (!(upper > 0) || !std::isfinite(upper)) {
    throw ConfigError(fmt::format("activation clipped_relu: clip must be finite and > 0, got {}", upper));
  }
  return Activation(ActivationKind::clipped_relu, 1.0, upper);
}

Activation Activation::from_name(std::string_view name, double gain, double upper) {
  if (name == "linear") return linear();
  if (name == "tanh") return tanh(gain);
  if (name == "relu") return relu();
  if (name == "clipped_relu") return clipped_relu(upper);
  throw ConfigError(fmt::format("unknown activation '{}' (expected linear, tanh, relu or clipped_relu)", name));
}

std::string Activation::name() const {
  switch (kind_) {
    case ActivationKind::linear: return "linear";
    case ActivationKind::tanh: return "tanh";
    case ActivationKind::relu: return "relu";
    case ActivationKind::clipped_relu: return "clipped_relu";
  }
  throw InternalError("unknown activation kind");
}

double Activation::lower() const {
  switch (kind_) {
    case ActivationKind::linear: return -kInf;
    case ActivationKind::tanh: return -1.0;
    case ActivationKind::relu:
    case ActivationKind::clipped_relu: return 0.0;
  }
  throw InternalError("unknown activation kind");
}

double Activation::upper() const {
  switch (kind_) {
    case ActivationKind::linear:
    case ActivationKind::relu: return kInf;
    case ActivationKind::tanh: return 1.0;
    case ActivationKind::clipped_relu: return upper_;
  }
  throw InternalError("unknown activation kind");
}

double Activation::f(double u) const {
  switch (kind_) {
    case ActivationKind::linear: return u;
    case ActivationKind::tanh: return std::tanh(gain_ * u);
    case ActivationKind::relu: return u > 0 ? u : 0.0;
    case ActivationKind::clipped_relu: return u > 0 ? (u < upper_ ? u : upper_) : 0.0;
  }
  throw InternalError("unknown activation kind");
}

double Activation::derivative(double u) const {
  switch (kind_) {
    case ActivationKind::linear: return 1.0;
    case ActivationKind::tanh: {
      const double t = std::tanh(gain_ * u);
      return gain_ * (1.0 - t * t);
    }
    case ActivationKind::relu: return u > 0 ? 1.0 : 0.0;
    case ActivationKind::clipped_relu: return (u > 0 && u < upper_) ? 1.0 : 0.0;
  }
  throw InternalError("unknown activation kind");
}

double Activation::inverse(double r) const {
  // On the open range every f here is invertible: the ReLUs are the identity there.
  if (kind_ == ActivationKind::tanh) return std::atanh(r) / gain_;
  return r;
}

double Activation::regulariser(double r) const {
  if (std::isnan(r) || r < lower() || r > upper()) return kInf;
  if (kind_ != ActivationKind::tanh) return 0.0;
  // r artanh(r) + log(1 - r^2)/2 = ((1+r) log(1+r) + (1-r) log(1-r)) / 2, finite up to |r| = 1.
  return 0.5 * (xlogx(1.0 + r) + xlogx(1.0 - r)) / gain_ - 0.5 * r * r;
}

double Activation::regulariser_derivative(double r) const { return inverse(r) - r; }

void Activation::apply(const float* u, float* r, Index n) const { apply_impl(*this, u, r, n); }
void Activation::apply(const double* u, double* r, Index n) const { apply_impl(*this, u, r, n); }

}  // namespace simmatch
