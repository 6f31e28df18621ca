#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "simmatch/activation.hpp"
#include "simmatch/error.hpp"

using namespace simmatch;

namespace {
std::vector<Activation> all_activations() {
  return {Activation::linear(), Activation::tanh(1.0), Activation::tanh(2.5), Activation::relu(),
          Activation::clipped_relu(1.5)};
}
}  // namespace

TEST(ActivationTest, RegulariserDerivativeMatchesFiniteDifferences) {
  for (const Activation& a : all_activations()) {
    const double lo = std::isfinite(a.lower()) ? a.lower() : -3.0;
    const double hi = std::isfinite(a.upper()) ? a.upper() : 3.0;
    for (int s = 1; s < 40; ++s) {
      const double r = lo + (hi - lo) * s / 40.0;
      const double h = 1e-6;
      const double numeric = (a.regulariser(r + h) - a.regulariser(r - h)) / (2 * h);
      EXPECT_NEAR(numeric, a.regulariser_derivative(r), 1e-6 * (1 + std::abs(numeric))) << a.name() << " r=" << r;
      EXPECT_NEAR(a.regulariser_derivative(r), a.inverse(r) - r, 1e-12) << a.name();
    }
  }
}

TEST(ActivationTest, RegulariserVanishesAtTheImageOfZero) {
  for (const Activation& a : all_activations()) EXPECT_EQ(a.regulariser(a.f(0.0)), 0.0) << a.name();
}

TEST(ActivationTest, TanhRegulariserMatchesClosedFormAndLimit) {
  const double g = 2.0;
  const Activation a = Activation::tanh(g);
  for (double r : {-0.9, -0.3, 0.2, 0.7, 0.999}) {
    const double closed = std::atanh(r) / g * r + std::log(1 - r * r) / (2 * g) - r * r / 2;
    EXPECT_NEAR(a.regulariser(r), closed, 1e-12);
  }
  EXPECT_NEAR(a.regulariser(1.0), std::log(2.0) / g - 0.5, 1e-15);
  EXPECT_NEAR(a.regulariser(-1.0), std::log(2.0) / g - 0.5, 1e-15);
  EXPECT_TRUE(std::isinf(a.regulariser(1.01)));
}

TEST(ActivationTest, RegulariserIsInfiniteOutsideTheRange) {
  EXPECT_TRUE(std::isinf(Activation::relu().regulariser(-0.1)));
  EXPECT_TRUE(std::isinf(Activation::clipped_relu(1.0).regulariser(1.1)));
  EXPECT_EQ(Activation::clipped_relu(1.0).regulariser(1.0), 0.0);
  EXPECT_EQ(Activation::linear().regulariser(-100.0), 0.0);
}

TEST(ActivationTest, DerivativeMatchesFiniteDifferencesAwayFromKinks) {
  for (const Activation& a : all_activations()) {
    for (double u : {-2.3, -0.7, 0.3, 0.9, 2.2}) {
      const double h = 1e-6;
      EXPECT_NEAR((a.f(u + h) - a.f(u - h)) / (2 * h), a.derivative(u), 1e-6) << a.name() << " u=" << u;
    }
  }
}

TEST(ActivationTest, InverseUndoesFInsideTheRange) {
  for (const Activation& a : all_activations()) {
    for (double u : {0.1, 0.5, 1.2}) {
      const double r = a.f(u);
      if (r > a.lower() && r < a.upper()) {
        EXPECT_NEAR(a.inverse(r), u, 1e-10) << a.name();
      }
    }
  }
}

TEST(ActivationTest, VectorisedApplyMatchesScalarF) {
  std::vector<double> u;
  for (int i = -60; i <= 60; ++i) u.push_back(i * 0.11);
  for (const Activation& a : all_activations()) {
    std::vector<double> rd(u.size());
    a.apply(u.data(), rd.data(), static_cast<Index>(u.size()));
    std::vector<float> uf(u.begin(), u.end());
    std::vector<float> rf(u.size());
    a.apply(uf.data(), rf.data(), static_cast<Index>(u.size()));
    for (std::size_t i = 0; i < u.size(); ++i) {
      EXPECT_NEAR(rd[i], a.f(u[i]), 1e-14) << a.name();
      EXPECT_NEAR(rf[i], a.f(static_cast<double>(uf[i])), 2e-6) << a.name();
    }
  }
}

// The solvers rely on apply() being elementwise to the bit, in and out of vector lanes: a sample's
// results must not depend on where in a batch it sits, and the site-by-site solver activates a
// site's rows in one call for narrow batches.
template <typename T>
void expect_same_bits_at_every_position(const Activation& a) {
  std::mt19937_64 rng(17);
  std::normal_distribution<double> normal(0.0, 3.0);
  std::vector<T> u(517);
  for (T& v : u) v = static_cast<T>(normal(rng));
  u[0] = T(0);
  u[1] = -T(0);
  u[2] = std::numeric_limits<T>::min();
  u[3] = T(40);
  std::vector<T> whole(u.size());
  a.apply(u.data(), whole.data(), static_cast<Index>(u.size()));
  for (const Index offset : {Index{1}, Index{3}, Index{7}, Index{16}}) {
    std::vector<T> part(u.size());
    for (Index i = 0; i < static_cast<Index>(u.size()); i += offset) {
      const Index n = std::min<Index>(offset, static_cast<Index>(u.size()) - i);
      a.apply(u.data() + i, part.data() + i, n);
    }
    for (std::size_t i = 0; i < u.size(); ++i) {
      ASSERT_EQ(std::memcmp(&part[i], &whole[i], sizeof(T)), 0)
          << a.name() << " u " << u[i] << " in pieces of " << offset << ": " << part[i] << " vs " << whole[i];
    }
  }
}

TEST(ActivationTest, ApplyGivesTheSameBitsInAndOutOfVectorLanes) {
  for (const Activation& a : all_activations()) {
    expect_same_bits_at_every_position<float>(a);
    expect_same_bits_at_every_position<double>(a);
  }
}

TEST(ActivationTest, BoundsAreThoseOfTheory) {
  EXPECT_EQ(Activation::tanh().lower(), -1.0);
  EXPECT_EQ(Activation::tanh().upper(), 1.0);
  EXPECT_EQ(Activation::relu().lower(), 0.0);
  EXPECT_TRUE(std::isinf(Activation::relu().upper()));
  EXPECT_EQ(Activation::clipped_relu(2.0).upper(), 2.0);
  EXPECT_TRUE(std::isinf(Activation::linear().lower()));
}

TEST(ActivationTest, FromNameRejectsUnknownNamesAndBadParameters) {
  EXPECT_EQ(Activation::from_name("tanh", 2.0).gain(), 2.0);
  EXPECT_EQ(Activation::from_name("clipped_relu", 1.0, 3.0).clip(), 3.0);
  EXPECT_THROW(Activation::from_name("sigmoid"), ConfigError);
  EXPECT_THROW(Activation::from_name("tanh", 0.0), ConfigError);
  EXPECT_THROW(Activation::from_name("clipped_relu", 1.0, -1.0), ConfigError);
}
