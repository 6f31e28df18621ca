// `simmatch bench`: end-to-end speed of the reference network (one locally connected tanh layer on
// 28x28 inputs, stride 2, radius 4) or of a conv2d layer (--conv): training and encoding samples/s, iterations, achieved
// GFLOP/s against a measured GEMM peak, and peak memory (docs/performance.md).
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <random>
#include <string>

#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <fmt/format.h>
#include <omp.h>

#include "core/block_newton.hpp"
#include "core/energy_hessian.hpp"
#include "simmatch/config.hpp"
#include "simmatch/conv2d.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/error.hpp"
#include "simmatch/learning.hpp"
#include "simmatch/network.hpp"
#include "simmatch/precision.hpp"
#include "simmatch/trainer.hpp"

namespace simmatch::cli {

void register_bench(CLI::App& app);

namespace {

struct BenchArgs {
  Index neurons_per_site = 4;
  Index batch = 100;
  std::string solver = "fast";
  std::string precision = precision_name(Precision::float32);
  Index samples = 5000;
  Index encode_samples = 10000;
  Index warmup = 1000;
  double tolerance = 0;
  int newton_max_site = SolverOptions{}.newton_max_site;
  std::string mnist;
  std::uint64_t seed = 0;
  bool peak = true;
  Index conv = 0;    // > 0: a conv2d layer of this many filters instead of the reference layer
  Index kernel = 5;  // its kernel (stride 1, "same" padding)
};

// User + system CPU seconds of the process so far (all threads): samples per CPU-second are far
// less sensitive than wall-clock rates to other jobs sharing the cores.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// MNIST-shaped synthetic digits: a few bright strokes (random segments blurred to ~1.5 px) on
// black, scaled to [0, 1], then each image's mean removed as in the reference preprocessing.
Dataset synthetic_digits(Index count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> pos(6.0f, 22.0f);
  std::uniform_int_distribution<int> strokes(2, 4);
  Dataset d;
  d.shape = Grid{28, 28, 1};
  d.x.setZero(784, count);
  for (Index t = 0; t < count; ++t) {
    const int n = strokes(rng);
    for (int s = 0; s < n; ++s) {
      const float ax = pos(rng), ay = pos(rng), bx = pos(rng), by = pos(rng);
      for (int i = 0; i < 28; ++i) {
        for (int j = 0; j < 28; ++j) {
          const float px = static_cast<float>(j) + 0.5f, py = static_cast<float>(i) + 0.5f;
          const float vx = bx - ax, vy = by - ay;
          const float len2 = vx * vx + vy * vy + 1e-6f;
          const float h = std::clamp(((px - ax) * vx + (py - ay) * vy) / len2, 0.0f, 1.0f);
          const float dx = px - ax - h * vx, dy = py - ay - h * vy;
          float& v = d.x(i * 28 + j, t);
          v = std::max(v, std::exp(-(dx * dx + dy * dy) / (2.0f * 1.5f * 1.5f)));
        }
      }
    }
  }
  subtract_sample_mean(d);
  return d;
}

// One tanh conv2d layer on 28 x 28 inputs: `filters` filters of kernel x kernel, stride 1, "same"
// padding, lateral connections within sites; reference initialisation.
template <typename T>
Network<T> conv_network(Index filters, Index kernel, std::uint64_t seed) {
  const Conv2d conv{Grid{28, 28, 1}, kernel, 1, Padding::same, filters, 0.0};
  std::vector<Layer<T>> layers;
  layers.emplace_back(conv.cw(), conv.cl(), Activation::tanh(), conv.output(), conv);
  Network<T> net(784, std::move(layers), 0.0);
  net.initialise(seed);
  return net;
}

// Peak of this machine for the figure of merit: float32 GEMM through Eigen on all threads.
double measured_gemm_peak() {
  const Index n = 1024;
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
  c.noalias() = a * b;  // warm-up
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    c.noalias() = a * b;
    best = std::max(best, 2.0 * n * n * n / seconds_since(t0) / 1e9);
  }
  return best;
}

template <typename T>
void run_bench(const BenchArgs& args) {
  const Dataset data = args.mnist.empty()
                           ? synthetic_digits(std::max(args.samples, args.encode_samples), args.seed + 1)
                           : [&] {
                               Dataset d = read_mnist_json(args.mnist, MnistSplit::train);
                               subtract_sample_mean(d);
                               return d;
                             }();
  Network<T> net = args.conv > 0 ? conv_network<T>(args.conv, args.kernel, args.seed)
                                 : reference_network<T>(args.neurons_per_site, args.seed);
  const Index per_site = args.conv > 0 ? args.conv : args.neurons_per_site;
  SolverOptions so;
  so.method = solver_method_from_name(args.solver);
  so.tolerance = args.tolerance;
  so.newton_max_site = args.newton_max_site;
  const auto solver = make_solver<T>(so);
  const Index nnz_w = net.layer(0).cw().nnz();
  const Index nnz_l = net.layer(0).cl().nnz();
  const std::string path = so.method == SolverMethod::euler ? ""
                           : !detail::unique_fixed_point(net) ? " (fixed point not provably unique: Euler, then implicit steps)"
                           : !detail::newton_blocks_apply(net, so.newton_max_site) ? " (Anderson)"
                           : detail::largest_site(net) <= detail::kNewtonFirstSite
                               ? " (per-site Newton)"
                               : fmt::format(" (Anderson, per-site Newton after {} iterations)", detail::kAndersonBeforeNewton);
  const std::string layer = args.conv > 0 ? fmt::format("conv2d {} filters {}x{}, stride 1, same; ", args.conv,
                                                        args.kernel, args.kernel)
                                          : std::string("reference local2d layer; ");
  fmt::print("simmatch bench: {}{} neurons ({} per site), {} W + {} L synapses, {}, solver {}{}, batch {}, {} threads\n",
             layer, net.layer(0).size(), per_site, nnz_w, nnz_l, args.precision, args.solver, path, args.batch,
             omp_get_max_threads());
  fmt::print("data: {}\n", args.mnist.empty() ? std::string("synthetic MNIST-shaped digits (seeded)") : args.mnist);

  // Untimed warm-up with the exact online rule, so L is a trained lateral matrix (after one
  // reference epoch), not the identity of the initialisation, which makes the dynamics trivial.
  if (args.warmup > 0) {
    TrainOptions wo;
    wo.epochs = 1;
    wo.samples_per_epoch = args.warmup;
    wo.batch_size = 1;
    wo.cost_samples = 0;
    wo.schedule = LearningRateSchedule::constant(5e-3);
    wo.seed = args.seed + 2;
    Trainer<T>(net, *solver, wo).fit(data);
  }

  TrainOptions to;
  to.epochs = 1;
  to.samples_per_epoch = args.samples;
  to.batch_size = args.batch;
  to.cost_samples = 0;
  to.schedule = LearningRateSchedule::constant(5e-3);
  to.seed = args.seed + 3;
  auto t0 = std::chrono::steady_clock::now();
  double c0 = cpu_seconds();
  const auto history = Trainer<T>(net, *solver, to).fit(data);
  const double train_s = seconds_since(t0);
  const double train_cpu = cpu_seconds() - c0;
  const double train_iters = history.empty() ? 0.0 : history[0].mean_iterations;

  Dataset enc = data;
  if (enc.size() > args.encode_samples) enc = subset(data, [&] {
      std::vector<Index> idx(static_cast<std::size_t>(args.encode_samples));
      for (Index i = 0; i < args.encode_samples; ++i) idx[static_cast<std::size_t>(i)] = i;
      return idx;
    }());
  double encode_iters = 0;
  Index encode_direct = 0;
  t0 = std::chrono::steady_clock::now();
  c0 = cpu_seconds();
  {
    FixedPoints<T> fixed;
    for (Index begin = 0; begin < enc.size(); begin += args.batch) {
      const Index count = std::min(args.batch, enc.size() - begin);
      const Matrix<T> x = enc.x.middleCols(begin, count).template cast<T>();
      fixed = FixedPoints<T>{};
      solver->solve(net, x, fixed);
      encode_iters += fixed.mean_iterations() * static_cast<double>(count);
      encode_direct += fixed.path_count(SolverPath::direct);
    }
  }
  const double encode_s = seconds_since(t0);
  const double encode_cpu = cpu_seconds() - c0;
  encode_iters /= static_cast<double>(enc.size());

  // Useful work: 2 flops per synapse visit (the multiply-add of eq. 15's products and of eq. 17's
  // correlations), counting the drive W x once per sample and L r once per iteration.
  const double flops_encode = 2.0 * static_cast<double>(nnz_w) + 2.0 * static_cast<double>(nnz_l) * encode_iters;
  const double flops_train = 2.0 * static_cast<double>(nnz_w) + 2.0 * static_cast<double>(nnz_l) * train_iters +
                             2.0 * static_cast<double>(nnz_w + nnz_l);
  const double train_rate = static_cast<double>(args.samples) / train_s;
  const double encode_rate = static_cast<double>(enc.size()) / encode_s;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  fmt::print("train:  {:>10.0f} samples/s  ({} samples, mean iterations {:.1f}, {:.2f} GFLOP/s synaptic, "
             "{:.0f} samples per CPU-s)\n",
             train_rate, args.samples, train_iters, flops_train * train_rate / 1e9,
             static_cast<double>(args.samples) / std::max(train_cpu, 1e-9));
  fmt::print("encode: {:>10.0f} samples/s  ({} samples, mean iterations {:.1f}, {:.2f} GFLOP/s synaptic, "
             "{:.0f} samples per CPU-s)\n",
             encode_rate, enc.size(), encode_iters, flops_encode * encode_rate / 1e9,
             static_cast<double>(enc.size()) / std::max(encode_cpu, 1e-9));
  // Which path the solver took (dynamics.hpp): straight to a provably unique fixed point, or along
  // the trajectory where the trained network may have several.
  const double train_direct = history.empty() ? 0.0 : 1.0 - history[0].continued_fraction - history[0].followed_fraction;
  fmt::print("paths:  direct (unique fixed point) {:.1f}% of training and {:.1f}% of encoding samples; the rest along "
             "the trajectory from rest\n",
             100.0 * train_direct, 100.0 * static_cast<double>(encode_direct) / static_cast<double>(enc.size()));
  if (args.peak) fmt::print("peak:   {:>10.1f} GFLOP/s float32 GEMM (Eigen, {} threads)\n", measured_gemm_peak(), omp_get_max_threads());
  fmt::print("memory: {:>10.1f} MB peak RSS\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
}

}  // namespace

void register_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "End-to-end speed of the reference network (docs/performance.md)");
  cmd->add_option("--neurons-per-site", args->neurons_per_site, "Neurons per site (paper: 4 to 100)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", args->batch, "Mini-batch size (1 = exact online learning)")->check(CLI::PositiveNumber);
  cmd->add_option("--solver", args->solver, "euler or fast")->check(CLI::IsMember({"euler", "fast"}));
  cmd->add_option("--precision", args->precision, "float32 or float64")
      ->check(CLI::IsMember({precision_name(Precision::float32), precision_name(Precision::float64)}));
  cmd->add_option("--samples", args->samples, "Training samples timed")->check(CLI::PositiveNumber);
  cmd->add_option("--encode-samples", args->encode_samples, "Samples encoded (timed)")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", args->warmup, "Untimed online-learning samples before timing (trains L)");
  cmd->add_option("--tolerance", args->tolerance, "Solver tolerance (0 = the method's default)");
  cmd->add_option("--newton-max-site", args->newton_max_site,
                  "Fast solver: per-site Newton up to this many neurons per site, Anderson above (0 = always Anderson)")
      ->capture_default_str()->check(CLI::Range(0, 256));
  cmd->add_option("--mnist", args->mnist, "Directory of the MNIST json digits (0.json..9.json); default synthetic");
  cmd->add_option("--seed", args->seed, "Seed of the synthetic data and the initialisation");
  cmd->add_flag("!--no-peak", args->peak, "Skip the GEMM peak measurement");
  cmd->add_option("--conv", args->conv,
                  "Time a conv2d layer of this many filters (stride 1, same padding) instead of the reference layer")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--kernel", args->kernel, "Kernel size of --conv")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->callback([args] {
    with_precision(precision_from_name(args->precision), [&](auto type) { run_bench<typename decltype(type)::type>(*args); });
  });
}

}  // namespace simmatch::cli
