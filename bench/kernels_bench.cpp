// Kernel benchmarks on the reference layer (28x28 input, stride 2, radius 4, tanh, lateral
// radius 0): one dynamics step, a full solve (Euler and fast), the learning update (SDDMM +
// eq. 17) and the vectorised tanh; and the solvers' small dense solves (LU, Cholesky). Counters: samples/s and synaptic GFLOP/s (2 per synapse visit).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/anderson_coefficients.hpp"
#include "core/batch_kernel.hpp"
#include "core/small_dense_solve.hpp"
#include "simmatch/config.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/learning.hpp"

namespace simmatch {
namespace {

Network<float> reference_layer(Index nps) {
  Network<float> net = reference_network<float>(nps, 1);
  // A lateral matrix like a trained one: diagonal ~0.3 and small couplings, so the dynamics
  // take a realistic number of iterations instead of the identity's trivial few. The couplings'
  // spread shrinks as 1/sqrt(nps) (0.05 at 4 per site) so L stays positive definite: a site's
  // block has eigenvalues about 0.3 +- 2 std sqrt(nps), and with 100 per site at std 0.05 it
  // was indefinite, without a unique stable fixed point.
  auto& l = net.layer(0).L();
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 0.1f / std::sqrt(static_cast<float>(nps)));
  for (Index i = 0; i < l.outerSize(); ++i) {
    for (SparseWeights<float>::InnerIterator it(l, i); it; ++it) {
      it.valueRef() = it.col() == i ? 0.3f : 0.0f;
    }
  }
  for (Index i = 0; i < l.outerSize(); ++i) {
    for (SparseWeights<float>::InnerIterator it(l, i); it; ++it) {
      if (it.col() > i) {
        const float v = n(rng);
        it.valueRef() = v;
        l.coeffRef(it.col(), i) = v;
      }
    }
  }
  return net;
}

Matrix<float> inputs(Index k, Index b) {
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.0f, 0.3f);
  Matrix<float> x(k, b);
  for (Index e = 0; e < x.size(); ++e) x.data()[e] = n(rng);
  return x;
}

// L r for a batch in the neuron-major layout: the per-iteration sparse product.
void BM_LateralProduct(benchmark::State& state) {
  const Index batch = state.range(0);
  const Network<float> net = reference_layer(state.range(1));
  const auto l = kernels::view_of(net.layer(0).L());
  std::vector<float> r(static_cast<std::size_t>(l.cols * batch), 0.5f), y(static_cast<std::size_t>(l.rows * batch));
  for (auto _ : state) {
    kernels::csr_times_batch(l, r.data(), y.data(), batch, 1.0f, 0.0f);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(net.layer(0).L().nonZeros() * batch),
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_LateralProduct)->Args({1, 4})->Args({50, 4})->Args({1, 16})->Args({50, 16})->Args({1, 100})->Args({50, 100});

// The same product with the dense site-block kernel the engine uses for lateral radius 0 and at
// least 8 neurons per site (bit for bit the CSR kernel's result).
void BM_DenseLateralProduct(benchmark::State& state) {
  const Index batch = state.range(0);
  const Network<float> net = reference_layer(state.range(1));
  kernels::DenseSiteBlocks<float> blocks;
  if (!kernels::dense_site_blocks(kernels::view_of(net.layer(0).L()), 1, blocks)) {
    state.SkipWithError("L is not block diagonal with dense site blocks");
    return;
  }
  const Index n = blocks.k * blocks.sites;
  std::vector<float> r(static_cast<std::size_t>(n * batch), 0.5f), y(static_cast<std::size_t>(n * batch));
  for (auto _ : state) {
    std::fill(y.begin(), y.end(), 0.0f);
    for (Index s = 0; s < blocks.sites; ++s) {
      const Index o = s * blocks.k * batch;
      kernels::dense_site_accumulate(blocks, s, r.data() + o, batch, 1.0f, y.data() + o);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(net.layer(0).L().nonZeros() * batch),
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_DenseLateralProduct)->Args({1, 16})->Args({50, 16})->Args({1, 100})->Args({50, 100});

// W x: the feedforward drive, once per sample.
void BM_FeedforwardDrive(benchmark::State& state) {
  const Index batch = state.range(0);
  const Network<float> net = reference_layer(state.range(1));
  const auto w = kernels::view_of(net.layer(0).W());
  std::vector<float> x(static_cast<std::size_t>(w.cols * batch), 0.5f), y(static_cast<std::size_t>(w.rows * batch));
  for (auto _ : state) {
    kernels::csr_times_batch(w, x.data(), y.data(), batch, 1.0f, 0.0f);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(net.layer(0).W().nonZeros() * batch),
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_FeedforwardDrive)->Args({1, 4})->Args({50, 4})->Args({50, 100});

// Vectorised tanh over one layer's batch.
void BM_Tanh(benchmark::State& state) {
  const Index n = state.range(0);
  std::vector<float> u(static_cast<std::size_t>(n)), r(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) u[static_cast<std::size_t>(i)] = static_cast<float>(i % 200) / 50.0f - 2.0f;
  const Activation act = Activation::tanh();
  for (auto _ : state) {
    act.apply(u.data(), r.data(), n);
    benchmark::DoNotOptimize(r.data());
  }
  state.counters["Gtanh/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Tanh)->Arg(784)->Arg(784 * 50);

// One Euler step for a batch (max_steps = 1): drive, L r, update, tanh.
void BM_DynamicsStep(benchmark::State& state) {
  const Network<float> net = reference_layer(4);
  const Matrix<float> x = inputs(784, state.range(0));
  SolverOptions o;
  o.max_steps = 1;
  EulerSolver<float> euler(o);
  FixedPoints<float> fixed;
  for (auto _ : state) {
    fixed = FixedPoints<float>{};
    euler.solve(net, x, fixed);
  }
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(x.cols()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_DynamicsStep)->Arg(1)->Arg(100)->UseRealTime();

// A full solve to tolerance 1e-4, Euler (method 0) or fast (1).
void BM_Solve(benchmark::State& state) {
  const Network<float> net = reference_layer(state.range(2));
  const Matrix<float> x = inputs(784, state.range(0));
  SolverOptions o;
  o.method = state.range(1) == 0 ? SolverMethod::euler : SolverMethod::fast;
  const auto solver = make_solver<float>(o);
  FixedPoints<float> fixed;
  double iterations = 0;
  for (auto _ : state) {
    fixed = FixedPoints<float>{};
    solver->solve(net, x, fixed);
    iterations = fixed.mean_iterations();
  }
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(x.cols()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["iterations"] = iterations;
}
BENCHMARK(BM_Solve)
    ->ArgNames({"batch", "fast", "nps"})
    ->Args({1, 0, 4})->Args({1, 1, 4})->Args({100, 0, 4})->Args({100, 1, 4})->Args({100, 1, 100})
    ->UseRealTime();

// Correlations (SDDMM over W's and L's synapses) plus the eq. 17 update.
void BM_LearningUpdate(benchmark::State& state) {
  Network<float> net = reference_layer(state.range(1));
  const Matrix<float> x = inputs(784, state.range(0));
  FixedPoints<float> fixed;
  fixed.r.push_back(Matrix<float>::Constant(net.layer(0).size(), x.cols(), 0.1f));
  fixed.u.push_back(fixed.r[0]);
  fixed.iterations.assign(static_cast<std::size_t>(x.cols()), 1);
  fixed.converged.assign(static_cast<std::size_t>(x.cols()), 1);
  for (auto _ : state) {
    Correlations sums = Correlations::zeros_like(net);
    accumulate_correlations(net, x, fixed, sums, false);
    apply_learning(net, sums, 1e-6);
  }
  const double synapses = static_cast<double>(net.num_synapses());
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(x.cols()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * synapses * static_cast<double>(x.cols()),
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_LearningUpdate)->Args({1, 4})->Args({100, 4})->Args({100, 100})->UseRealTime();

// A k x k system like a site's Newton Jacobian I + (L - I) diag(f'(u)), row-major, and a
// right-hand side; fresh copies per solve since the solves work in place.
struct SmallSystem {
  std::vector<double> a, b;
};
SmallSystem small_system(Index k, bool symmetric) {
  std::mt19937 rng(11);
  std::normal_distribution<double> n(0.0, 0.3);
  SmallSystem s{std::vector<double>(static_cast<std::size_t>(k * k)), std::vector<double>(static_cast<std::size_t>(k))};
  for (Index i = 0; i < k; ++i) {
    s.b[static_cast<std::size_t>(i)] = n(rng);
    for (Index j = 0; j < k; ++j) s.a[static_cast<std::size_t>(i * k + j)] = n(rng) / std::sqrt(static_cast<double>(k));
  }
  if (symmetric) {
    for (Index i = 0; i < k; ++i) {
      for (Index j = 0; j < i; ++j) s.a[static_cast<std::size_t>(j * k + i)] = s.a[static_cast<std::size_t>(i * k + j)];
    }
  }
  for (Index i = 0; i < k; ++i) s.a[static_cast<std::size_t>(i * k + i)] += 2.0;
  return s;
}

// One site's Newton step: LU with partial pivoting of k x k (2k^3/3 flops). Arg 0 = k,
// Arg 1 = 1 for the compile-time size (only k = 4, the reference layer's site).
void BM_SmallLuSolve(benchmark::State& state) {
  const Index k = state.range(0);
  const bool fixed = state.range(1) != 0;
  const SmallSystem s = small_system(k, false);
  std::vector<double> a, b;
  for (auto _ : state) {
    a = s.a;
    b = s.b;
    const bool ok = fixed ? detail::lu_solve<4>(a.data(), b.data(), k) : detail::lu_solve<0>(a.data(), b.data(), k);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(b.data());
  }
  const double kd = static_cast<double>(k);
  state.counters["solves/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * kd * kd * kd / 3.0, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}
BENCHMARK(BM_SmallLuSolve)
    ->ArgNames({"k", "fixed"})
    ->Args({4, 1})->Args({4, 0})->Args({16, 0})->Args({64, 0})->Args({100, 0});

// The per-site Newton solves as the solver runs them: eight sites' k x k systems at once, one
// per SIMD lane (lu_solve_lanes). Arg 0 = k; solves/s counts systems, eight per iteration.
template <Index K>
void BM_SmallLuSolveLanes(benchmark::State& state) {
  constexpr int kLanes = 8;
  const SmallSystem s = small_system(K, false);
  std::vector<double> lanes_a(static_cast<std::size_t>(K * K * kLanes)), lanes_b(static_cast<std::size_t>(K * kLanes));
  for (std::size_t e = 0; e < lanes_a.size(); ++e) lanes_a[e] = s.a[e / kLanes];
  for (std::size_t e = 0; e < lanes_b.size(); ++e) lanes_b[e] = s.b[e / kLanes];
  std::vector<double> b;
  bool ok[kLanes];
  for (auto _ : state) {
    b = lanes_b;
    detail::lu_solve_lanes<K, kLanes>(lanes_a.data(), b.data(), ok);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(b.data());
  }
  const double kd = static_cast<double>(K);
  state.counters["solves/s"] = benchmark::Counter(kLanes, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(kLanes * 2.0 * kd * kd * kd / 3.0,
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_SmallLuSolveLanes<4>);
BENCHMARK(BM_SmallLuSolveLanes<8>);
BENCHMARK(BM_SmallLuSolveLanes<16>);

// Anderson's coefficients: Cholesky of the k x k Gram matrix of the history (k <= depth) for 100
// samples side by side, each holding k columns (anderson_coefficients.hpp); solves/s per sample.
void BM_AndersonCoefficients(benchmark::State& state) {
  const Index k = state.range(0);
  const Index bc = 100;
  const SmallSystem s = small_system(k, true);
  std::vector<double> gram(static_cast<std::size_t>(k * k * bc)), rhs(static_cast<std::size_t>(k * bc));
  for (Index e = 0; e < k * k; ++e) std::fill_n(gram.begin() + e * bc, bc, s.a[static_cast<std::size_t>(e)]);
  for (Index e = 0; e < k; ++e) std::fill_n(rhs.begin() + e * bc, bc, s.b[static_cast<std::size_t>(e)]);
  const std::vector<double> fnorm(static_cast<std::size_t>(bc), 1.0);
  std::vector<double> best, coef(static_cast<std::size_t>(k * bc)), work;
  std::vector<Index> used;
  std::vector<unsigned char> kept(static_cast<std::size_t>(bc));
  for (auto _ : state) {
    best.assign(static_cast<std::size_t>(bc), 1.0);
    used.assign(static_cast<std::size_t>(bc), k);
    detail::anderson_coefficients<float>(gram.data(), rhs.data(), bc, k, k - 1, fnorm.data(), 100.0, best.data(),
                                         used.data(), coef.data(), kept.data(), work);
    benchmark::DoNotOptimize(coef.data());
  }
  state.counters["solves/s"] = benchmark::Counter(static_cast<double>(bc), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AndersonCoefficients)->Arg(5)->Arg(kMaxAndersonDepth);

}  // namespace
}  // namespace simmatch

BENCHMARK_MAIN();
