// Bindings of the building blocks: Structure (sparse constants C^W, C^L with zero-copy CSR
// accessors) and Activation (f, its range and the regulariser F of eq. 5, vectorised over NumPy).
#include <fmt/format.h>

#include <pybind11/operators.h>

#include "bindings.hpp"
#include "simmatch/activation.hpp"
#include "simmatch/structure.hpp"

namespace simmatch::python {

namespace {

std::string structure_repr(const Structure& s) {
  return fmt::format("Structure(shape=({}, {}), nnz={}{})", s.rows(), s.cols(), s.nnz(),
                     s.is_binary() ? "" : ", weighted");
}

std::string activation_repr(const Activation& a) {
  switch (a.kind()) {
    case ActivationKind::tanh: return fmt::format("Activation.tanh(gain={})", a.gain());
    case ActivationKind::clipped_relu: return fmt::format("Activation.clipped_relu(upper={})", a.clip());
    default: return "Activation." + a.name() + "()";
  }
}

// Applies a scalar function of the activation elementwise; returns float64 of the input's shape.
template <typename F>
py::array_t<double> elementwise(py::array_t<double, py::array::c_style | py::array::forcecast> in, F f) {
  py::array_t<double> out(std::vector<py::ssize_t>(in.shape(), in.shape() + in.ndim()));
  const double* src = in.data();
  double* dst = out.mutable_data();
  const py::ssize_t n = in.size();
  {
    py::gil_scoped_release release;
    for (py::ssize_t i = 0; i < n; ++i) dst[i] = f(src[i]);
  }
  return out;
}

std::vector<int> int_vector(py::handle value, const std::string& arg) {
  auto a = py::array_t<int, py::array::c_style | py::array::forcecast>::ensure(value);
  if (!a) throw py::type_error(arg + ": expected a 1-D array of integers");
  if (a.ndim() != 1) throw py::value_error(arg + ": expected a 1-D array");
  return {a.data(), a.data() + a.size()};
}

}  // namespace

void register_structure(py::module_& m) {
  py::class_<Structure> s(m, "Structure", R"doc(
Sparse non-negative structure constants C of one weight matrix (n_out x n_in, docs/theory.md):
a synapse exists exactly where a constant is stored. Stored in CSR form; `indptr`, `indices`
and `data` are read-only NumPy views (no copy) in the layout of scipy.sparse.csr_matrix, so
``scipy.sparse.csr_matrix((s.data, s.indices, s.indptr), shape=s.shape)`` rebuilds it.
)doc");
  s.def_static("dense", &Structure::dense, py::arg("n_out"), py::arg("n_in"), py::arg("value") = 1.0,
               "dense(n_out, n_in, value=1.0)\n--\n\nAll-to-all constants, every one equal to `value` (> 0).")
      .def_static(
          "local2d",
          [](py::handle input_shape, Index stride, double radius, Index neurons_per_site) {
            return Structure::local2d(grid_from_python(input_shape, "input_shape"), stride, radius, neurons_per_site);
          },
          py::arg("input_shape"), py::arg("stride"), py::arg("radius"), py::arg("neurons_per_site"), R"doc(local2d(input_shape, stride, radius, neurons_per_site)
--

Locally connected constants on a 2-D input of shape (height, width[, channels]): output sites
on a (height/stride) x (width/stride) grid with `neurons_per_site` neurons each; a neuron sees
the pixels whose centres lie within Euclidean distance `radius` of its site's centre.
)doc")
      .def_static(
          "local2d_output",
          [](py::handle input_shape, Index stride, Index neurons_per_site) {
            return grid_to_python(
                Structure::local2d_output(grid_from_python(input_shape, "input_shape"), stride, neurons_per_site));
          },
          py::arg("input_shape"), py::arg("stride"), py::arg("neurons_per_site"),
          "local2d_output(input_shape, stride, neurons_per_site)\n--\n\nOutput grid (sites_y, sites_x, neurons_per_site) of `local2d` with the same arguments.")
      .def_static(
          "lateral2d",
          [](py::handle sites, double radius) { return Structure::lateral2d(grid_from_python(sites, "sites"), radius); },
          py::arg("sites"), py::arg("radius"), R"doc(lateral2d(sites, radius)
--

Lateral constants on a grid of sites (sites_y, sites_x, neurons_per_site): neurons of two sites
connect when the sites lie within `radius` (site units); radius 0 joins the neurons of one site.
)doc")
      .def_static(
          "from_dense",
          [](py::array_t<double, py::array::c_style | py::array::forcecast> c) {
            if (c.ndim() != 2) throw py::value_error(fmt::format("constants: expected a 2-D array, got {}-D", c.ndim()));
            using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
            const Eigen::MatrixXd dense = Eigen::Map<const RowMajor>(c.data(), c.shape(0), c.shape(1));
            return Structure::from_dense(dense, "constants");
          },
          py::arg("constants"), "from_dense(constants)\n--\n\nConstants from a dense 2-D array; zeros mean 'no synapse', negatives are an error.")
      .def_static(
          "from_csr",
          [](py::handle shape, py::handle indptr, py::handle indices, py::handle data) {
            const auto dims = shape.cast<std::pair<Index, Index>>();
            auto values = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(data);
            if (!values || values.ndim() != 1) throw py::type_error("data: expected a 1-D array of numbers");
            return Structure::from_csr(dims.first, dims.second, int_vector(indptr, "indptr"),
                                       int_vector(indices, "indices"),
                                       std::vector<double>(values.data(), values.data() + values.size()));
          },
          py::arg("shape"), py::arg("indptr"), py::arg("indices"), py::arg("data"),
          "from_csr(shape, indptr, indices, data)\n--\n\nConstants from CSR arrays (as scipy.sparse.csr_matrix: sorted unique column indices per row).")
      .def_property_readonly("shape", [](const Structure& st) { return py::make_tuple(st.rows(), st.cols()); })
      .def_property_readonly("nnz", &Structure::nnz, "Number of synapses.")
      .def_property_readonly(
          "indptr",
          [](py::object self) {
            const auto& st = self.cast<const Structure&>();
            return view(st.row_ptr().data(), {static_cast<py::ssize_t>(st.row_ptr().size())}, self);
          },
          "Row pointers (int32, rows + 1), a read-only view.")
      .def_property_readonly(
          "indices",
          [](py::object self) {
            const auto& st = self.cast<const Structure&>();
            return view(st.col_index().data(), {static_cast<py::ssize_t>(st.col_index().size())}, self);
          },
          "Column index of every synapse (int32, nnz), a read-only view.")
      .def_property_readonly(
          "data",
          [](py::object self) {
            const auto& st = self.cast<const Structure&>();
            return view(st.values().data(), {static_cast<py::ssize_t>(st.values().size())}, self);
          },
          "Constant of every synapse (float64, nnz), a read-only view.")
      .def(
          "to_dense",
          [](const Structure& st) {
            py::array_t<double> out({st.rows(), st.cols()});
            auto view = out.mutable_unchecked<2>();
            for (Index r = 0; r < st.rows(); ++r)
              for (Index c = 0; c < st.cols(); ++c) view(r, c) = 0.0;
            for (Index r = 0; r < st.rows(); ++r)
              for (int k = st.row_ptr()[static_cast<std::size_t>(r)]; k < st.row_ptr()[static_cast<std::size_t>(r) + 1]; ++k)
                view(r, st.col_index()[static_cast<std::size_t>(k)]) = st.values()[static_cast<std::size_t>(k)];
            return out;
          },
          "to_dense(self, /)\n--\n\nDense float64 copy (n_out x n_in); zeros where there is no synapse.")
      .def("find", &Structure::find, py::arg("row"), py::arg("col"),
           "find(self, /, row, col)\n--\n\nPosition of synapse (row, col) in the CSR arrays, or -1.")
      .def("is_symmetric", &Structure::is_symmetric, "is_symmetric(self, /)\n--\n\nWhether C equals its transpose.")
      .def("is_binary", &Structure::is_binary, "is_binary(self, /)\n--\n\nWhether every constant is 1.")
      .def_property_readonly("memory_bytes", &Structure::memory_bytes)
      .def(py::self == py::self)
      .def("__repr__", &structure_repr);

  py::class_<Activation> a(m, "Activation", R"doc(
Activation r = f(u) with its range [lower, upper] and the regulariser F of eq. 5
(F'(r) = f^{-1}(r) - r, F(f(0)) = 0). Methods are vectorised over NumPy arrays.
)doc");
  a.def_static("linear", &Activation::linear, "linear()\n--\n\nf(u) = u; F = 0.")
      .def_static("tanh", &Activation::tanh, py::arg("gain") = 1.0, "tanh(gain=1.0)\n--\n\nf(u) = tanh(gain u) on (-1, 1).")
      .def_static("relu", &Activation::relu, "relu()\n--\n\nf(u) = max(u, 0); F = 0 on [0, inf).")
      .def_static("clipped_relu", &Activation::clipped_relu, py::arg("upper") = 1.0,
                  "clipped_relu(upper=1.0)\n--\n\nf(u) = min(max(u, 0), upper).")
      .def_static(
          "from_name", [](const std::string& name, double gain, double upper) { return Activation::from_name(name, gain, upper); },
          py::arg("name"), py::arg("gain") = 1.0, py::arg("upper") = 1.0,
          "from_name(name, gain=1.0, upper=1.0)\n--\n\n'linear', 'tanh', 'relu' or 'clipped_relu'.")
      .def_property_readonly("name", &Activation::name)
      .def_property_readonly("gain", &Activation::gain)
      .def_property_readonly("clip", &Activation::clip)
      .def_property_readonly("lower", &Activation::lower)
      .def_property_readonly("upper", &Activation::upper)
      .def(
          "f", [](const Activation& act, py::handle u) {
            return elementwise(u.cast<py::array_t<double, py::array::c_style | py::array::forcecast>>(),
                               [&act](double x) { return act.f(x); });
          },
          py::arg("u"), "f(self, /, u)\n--\n\nr = f(u), elementwise (float64).")
      .def("__call__", [](const Activation& act, py::handle u) {
            return elementwise(u.cast<py::array_t<double, py::array::c_style | py::array::forcecast>>(),
                               [&act](double x) { return act.f(x); });
          }, py::arg("u"), "__call__(self, /, u)\n--\n\nr = f(u), elementwise (float64).")
      .def(
          "derivative", [](const Activation& act, py::handle u) {
            return elementwise(u.cast<py::array_t<double, py::array::c_style | py::array::forcecast>>(),
                               [&act](double x) { return act.derivative(x); });
          },
          py::arg("u"), "derivative(self, /, u)\n--\n\nf'(u), elementwise.")
      .def(
          "inverse", [](const Activation& act, py::handle r) {
            return elementwise(r.cast<py::array_t<double, py::array::c_style | py::array::forcecast>>(),
                               [&act](double x) { return act.inverse(x); });
          },
          py::arg("r"), "inverse(self, /, r)\n--\n\nf^{-1}(r) on the open range, elementwise.")
      .def(
          "regulariser", [](const Activation& act, py::handle r) {
            return elementwise(r.cast<py::array_t<double, py::array::c_style | py::array::forcecast>>(),
                               [&act](double x) { return act.regulariser(x); });
          },
          py::arg("r"), "regulariser(self, /, r)\n--\n\nF(r) of eq. 5 (+inf outside [lower, upper]), elementwise.")
      .def(
          "regulariser_derivative", [](const Activation& act, py::handle r) {
            return elementwise(r.cast<py::array_t<double, py::array::c_style | py::array::forcecast>>(),
                               [&act](double x) { return act.regulariser_derivative(x); });
          },
          py::arg("r"), "regulariser_derivative(self, /, r)\n--\n\nF'(r) = f^{-1}(r) - r, elementwise.")
      .def(py::self == py::self)
      .def("__repr__", &activation_repr);
}

}  // namespace simmatch::python
