// Network's encoding: transform (fixed points of eq. 15 for every sample) and cost / score (the
// cost of eq. 11 at those fixed points), solved batch by batch over zero-copy NumPy views.
#include <fmt/format.h>

#include <mutex>
#include <vector>

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

// The samples [begin, begin + count) of `in`, read in place.
template <typename T>
auto input_batches(const InputArray<T>& in) {
  return [&in](Index begin, Index count) {
    return Eigen::Map<const Matrix<T>>(in.data + begin * in.features, in.features, count);
  };
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
  // Each wanted layer's output, pooled batch by batch as it is solved, so that only the pooled
  // values are ever held (a 64-channel conv2d layer on 60,000 images would be 12 GB unpooled).
  // Written in place: T x N C-order = N x T column-major.
  std::vector<Grid> grids;
  std::vector<Index> rows;
  std::vector<py::array_t<T>> outputs;
  for (Index p : wanted) {
    grids.push_back(net.layer(p).grid());
    try {
      rows.push_back(pooling.output(grids.back()).size());  // refused before any solving
    } catch (const ConfigError& e) {
      throw py::value_error(fmt::format("pool: layer {}: {}", p, e.what()));
    }
    outputs.emplace_back(std::vector<py::ssize_t>{in.samples, rows.back()});
  }
  std::vector<T*> out_ptr;
  for (auto& a : outputs) out_ptr.push_back(a.mutable_data());
  SolveReport report;
  const auto solver = make_solver<T>(m.config.solver);  // config is only touched with the GIL
  {
    py::gil_scoped_release release;
    std::shared_lock lock(m.mutex);
    solve_in_batches(net, *solver, in.samples, batch_size, &report, input_batches(in),
                     [&](Index begin, const auto& x, const FixedPoints<T>& fixed) {
                       for (std::size_t i = 0; i < wanted.size(); ++i) {
                         const Matrix<T>& r = fixed.r[static_cast<std::size_t>(wanted[i])];
                         Eigen::Map<Matrix<T>> out(out_ptr[i] + begin * rows[i], rows[i], x.cols());
                         if (pooling.is_identity()) {
                           out = r;
                         } else {
                           out = pooling.apply(r, grids[i]);
                         }
                       }
                       check_signals();
                     });
  }
  warn_solves(m, report, solver->options(), "transformed");
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
    solve_in_batches(net, *solver, in.samples, batch_size, &report, input_batches(in),
                     [&](Index, const auto& x, const FixedPoints<T>& fixed) {
                       accumulate_correlations(net, x, fixed, sums, true);
                       check_signals();
                     });
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
