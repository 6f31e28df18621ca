// Network's encoding: transform (fixed points of eq. 15 for every sample) and cost / score (the
// cost of eq. 11 at those fixed points), solved batch by batch over zero-copy NumPy views.
#include <fmt/format.h>

#include <mutex>

#include "model.hpp"
#include "simmatch/dynamics.hpp"
#include "simmatch/encode.hpp"
#include "simmatch/error.hpp"
#include "simmatch/learning.hpp"
#include "simmatch/objective.hpp"
#include "simmatch/pooling.hpp"

namespace simmatch::python {
namespace {

Index layer_index(const Model& m, py::handle layer, const std::string& arg) {
  if (!PyIndex_Check(layer.ptr()) || py::isinstance<py::bool_>(layer))
    throw py::type_error(arg + ": expected None, an int or 'all'");
  Index p = py::reinterpret_steal<py::object>(PyNumber_Index(layer.ptr())).cast<Index>();
  const Index n = m.num_layers();
  if (p < -n || p >= n) throw py::index_error(fmt::format("{}: {} is out of range for {} layers", arg, p, n));
  return p < 0 ? p + n : p;
}

template <typename T>
py::object transform_impl(Model& m, const Network<T>& net, py::handle X, py::handle layer, Index batch_size,
                          const std::optional<std::string>& pool) {
  const InputArray<T> in = input_array<T>(X, "X", m.input_size(), m.shape_hint());
  std::vector<Index> wanted;
  const bool all = py::isinstance<py::str>(layer) && layer.cast<std::string>() == "all";
  if (all) {
    for (Index p = 0; p < net.num_layers(); ++p) wanted.push_back(p);
  } else if (layer.is_none()) {
    wanted.push_back(net.num_layers() - 1);
  } else {
    if (py::isinstance<py::str>(layer))
      throw py::value_error("layer: expected None, an int or 'all', got '" + layer.cast<std::string>() + "'");
    wanted.push_back(layer_index(m, layer, "layer"));
  }
  const Pooling pooling = Pooling::from_text(pool.value_or("none"));  // ConfigError -> ValueError
  for (Index p : wanted) {
    try {
      pooling.output(net.layer(p).grid());  // refused before any solving
    } catch (const ConfigError& e) {
      throw py::value_error(fmt::format("pool: layer {}: {}", p, e.what()));
    }
  }
  // Outputs written in place by the solver loop: T x N_p C-order = N_p x T column-major.
  std::vector<py::array_t<T>> outputs;
  std::vector<T*> out_ptr(static_cast<std::size_t>(net.num_layers()), nullptr);
  SolveReport report;
  const auto solver = make_solver<T>(m.config.solver);  // config is only touched with the GIL
  for (Index p : wanted) {
    outputs.emplace_back(std::vector<py::ssize_t>{in.samples, net.layer(p).size()});
    out_ptr[static_cast<std::size_t>(p)] = outputs.back().mutable_data();
  }
  {
    py::gil_scoped_release release;
    std::shared_lock lock(m.mutex);
    FixedPoints<T> fixed;
    for (Index begin = 0; begin < in.samples; begin += batch_size) {
      const Index count = std::min(batch_size, in.samples - begin);
      const Eigen::Map<const Matrix<T>> x(in.data + begin * in.features, in.features, count);
      fixed = FixedPoints<T>{};  // every sample starts from u = 0, as in training and encode()
      solver->solve(net, x, fixed);
      report.record(fixed);
      for (Index p : wanted) {
        const Index n = net.layer(p).size();
        Eigen::Map<Matrix<T>>(out_ptr[static_cast<std::size_t>(p)] + begin * n, n, count) =
            fixed.r[static_cast<std::size_t>(p)];
      }
      check_signals();
    }
  }
  warn_solves(m, report, solver->options(), "transformed");
  if (!pooling.is_identity()) {
    for (std::size_t i = 0; i < wanted.size(); ++i) {
      const Grid& grid = net.layer(wanted[i]).grid();
      // T x N C-order is N x T column-major: pool each sample's column.
      const Matrix<T> pooled =
          pooling.apply(Matrix<T>(Eigen::Map<const Matrix<T>>(outputs[i].data(), grid.size(), in.samples)), grid);
      py::array_t<T> out(std::vector<py::ssize_t>{in.samples, pooled.rows()});
      std::copy_n(pooled.data(), pooled.size(), out.mutable_data());
      outputs[i] = std::move(out);
    }
  }
  if (all) {
    py::list out;
    for (auto& a : outputs) out.append(a);
    return out;
  }
  return outputs.front();
}

template <typename T>
py::object cost_impl(Model& m, const Network<T>& net, py::handle X, bool per_layer, Index batch_size) {
  const InputArray<T> in = input_array<T>(X, "X", m.input_size(), m.shape_hint());
  std::vector<double> terms;
  SolveReport report;
  const auto solver = make_solver<T>(m.config.solver);  // config is only touched with the GIL
  {
    py::gil_scoped_release release;
    std::shared_lock lock(m.mutex);
    Correlations sums = Correlations::zeros_like(net);
    FixedPoints<T> fixed;
    for (Index begin = 0; begin < in.samples; begin += batch_size) {
      const Index count = std::min(batch_size, in.samples - begin);
      const Eigen::Map<const Matrix<T>> x(in.data + begin * in.features, in.features, count);
      fixed = FixedPoints<T>{};
      solver->solve(net, x, fixed);
      report.record(fixed);
      accumulate_correlations(net, x, fixed, sums, true);
      check_signals();
    }
    terms = structured_cost_per_layer(net, sums);
  }
  warn_solves(m, report, solver->options(), "scored");
  if (per_layer) return py::cast(terms);
  double total = 0;
  for (double t : terms) total += t;
  return py::float_(total);
}

}  // namespace

void define_network_encoding(py::class_<Model>& cls) {
  cls.def(
         "transform",
         [](py::object self, py::handle X, py::handle layer, Index batch_size, std::optional<std::string> pool) {
           Model& mo = self.cast<Model&>();
           check_batch_size(batch_size);
           return mo.visit([&](const auto& net) { return transform_impl(mo, net, X, layer, batch_size, pool); });
         },
         py::arg("X"), py::arg("layer") = py::none(), py::arg("batch_size") = kDefaultEncodeBatch,
         py::arg("pool") = py::none(),
         "transform(self, /, X, layer=None, batch_size=256, pool=None)\n--\n\n"
         "Fixed points of the dynamics (eq. 15) for every sample of X: the top layer's activities\n"
         "(samples x N_P) by default, layer p's for layer=p (negative counts from the top), or a list of\n"
         "every layer's for layer='all'. Output dtype = the network's precision. X is read in place when it\n"
         "is C-contiguous in the network's precision. pool='max:4' (or 'avg:W', 'avg:W:S', 'max:W:S') pools\n"
         "each returned layer over windows of sites, channel by channel, as `simmatch encode --pool`.")
      .def(
          "cost",
          [](py::object self, py::handle X, bool per_layer, Index batch_size) {
            Model& mo = self.cast<Model&>();
            check_batch_size(batch_size);
            return mo.visit([&](const auto& net) { return cost_impl(mo, net, X, per_layer, batch_size); });
          },
          py::arg("X"), py::arg("per_layer") = false, py::arg("batch_size") = kDefaultEncodeBatch,
          "cost(self, /, X, per_layer=False, batch_size=256)\n--\n\n"
          "The structured deep similarity-matching cost (eq. 11) of X at its fixed points (a list of the "
          "per-layer terms with per_layer=True).")
      .def(
          "score",
          [](py::object self, py::handle X) {
            Model& mo = self.cast<Model&>();
            return -mo.visit([&](const auto& net) { return cost_impl(mo, net, X, false, kDefaultEncodeBatch); }).template cast<double>();
          },
          py::arg("X"),
          "score(self, /, X)\n--\n\n"
          "-cost(X): higher is better, the scikit-learn convention.");
}

}  // namespace simmatch::python
