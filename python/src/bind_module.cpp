// The native module `simmatch._simmatch`: one PYBIND11_MODULE that registers each binding area,
// and the single place where C++ exceptions become Python exceptions.
//
// Mapping (docs/python.md, "Errors"):
//   simmatch::ConfigError  -> simmatch.ConfigError (subclass of simmatch.Error and ValueError)
//   simmatch::ShapeError   -> simmatch.ShapeError  (subclass of simmatch.Error and ValueError)
//   simmatch::FormatError  -> simmatch.FormatError (subclass of simmatch.Error and ValueError)
//   simmatch::NumericalError -> simmatch.NumericalError (subclass of simmatch.Error and ArithmeticError)
//   simmatch::IoError      -> simmatch.IoError     (subclass of simmatch.Error)
//   simmatch::Interrupted  -> KeyboardInterrupt (or whatever the signal handler raised)
//   other simmatch::Error  -> simmatch.Error       (subclass of RuntimeError)
//   simmatch::InternalError -> simmatch.InternalError (subclass of RuntimeError: a bug in simmatch)
// Samples left short of their fixed point (solver.max_steps reached) are not errors: their activities
// are returned with a simmatch.ConvergenceWarning (subclass of UserWarning, as scikit-learn's).
// Argument checks made by the bindings themselves raise plain TypeError / ValueError.
#include "bindings.hpp"
#include "model.hpp"
#include "simmatch/encode.hpp"
#include "simmatch/error.hpp"
#include "simmatch/schedule_stability.hpp"

namespace simmatch::python {

namespace {

// Exception types created once per module import; the translator reads them from the module
// object rather than from C++ statics, so no mutable global state outlives the interpreter.
PyObject* new_exception(py::module_& m, const char* name, py::handle bases, const char* doc) {
  const std::string qualified = std::string("simmatch.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (!type) throw py::error_already_set();
  m.add_object(name, py::handle(type));  // the module now owns the reference
  return type;
}

void raise(const char* name, const char* message) {
  // Looked up through the imported module so that the types live exactly as long as it does.
  py::object type = py::module_::import("simmatch._simmatch").attr(name);
  PyErr_SetString(type.ptr(), message);
}

}  // namespace

void register_errors(py::module_& m) {
  py::handle base = new_exception(m, "Error", PyExc_RuntimeError,
                                  "Root of simmatch's errors caused by input: files, configs, arrays, values.");
  new_exception(m, "ConfigError", py::make_tuple(base, py::handle(PyExc_ValueError)),
                "A configuration key is unknown, has the wrong type or an out-of-range value.");
  new_exception(m, "ShapeError", py::make_tuple(base, py::handle(PyExc_ValueError)),
                "Array shapes or sizes do not fit together (data vs model, structure vs layer).");
  new_exception(m, "FormatError", py::make_tuple(base, py::handle(PyExc_ValueError)),
                "A file is malformed: bad magic, header, dtype, truncated data, unreadable archive.");
  new_exception(m, "NumericalError", py::make_tuple(base, py::handle(PyExc_ArithmeticError)),
                "NaN/Inf in activities or weights.");
  new_exception(m, "IoError", py::make_tuple(base), "A file cannot be opened, read or written.");
  new_exception(m, "InternalError", PyExc_RuntimeError, "A broken invariant inside simmatch: always a bug.");
  new_exception(m, "ConvergenceWarning", PyExc_UserWarning,
                "Some samples did not reach their fixed point within solver.max_steps: their activities are the "
                "last state reached.");

  py::register_exception_translator([](std::exception_ptr p) {
    if (!p) return;
    try {
      std::rethrow_exception(p);
    } catch (const Interrupted& e) {
      // Python errors raised in callbacks or signal handlers while C++ ran travel as
      // py::error_already_set, which pybind11 restores unchanged before this translator runs.
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    } catch (const ConfigError& e) {
      raise("ConfigError", e.what());
    } catch (const ShapeError& e) {
      raise("ShapeError", e.what());
    } catch (const FormatError& e) {
      raise("FormatError", e.what());
    } catch (const NumericalError& e) {
      raise("NumericalError", e.what());
    } catch (const IoError& e) {
      raise("IoError", e.what());
    } catch (const Error& e) {
      raise("Error", e.what());
    } catch (const InternalError& e) {
      raise("InternalError", (std::string("internal error (a bug in simmatch, please report it): ") + e.what()).c_str());
    }
  });
}

namespace {

void warn_convergence(const std::string& text) {
  if (text.empty()) return;
  const py::object category = py::module_::import("simmatch._simmatch").attr("ConvergenceWarning");
  if (PyErr_WarnEx(category.ptr(), text.c_str(), 2) != 0) throw py::error_already_set();
}

}  // namespace

void warn_solves(const Model& m, const SolveReport& report, const SolverOptions& options, const std::string& what) {
  std::vector<std::string> texts;
  {
    py::gil_scoped_release release;
    std::shared_lock lock(m.mutex);
    texts = m.visit([&](const auto& net) { return solve_warnings(net, report, options, what); });
  }
  for (const std::string& text : texts) warn_convergence(text);
}

}  // namespace simmatch::python

PYBIND11_MODULE(_simmatch, m) {
  m.doc() = "Native core of simmatch: structured and deep similarity-matching networks (C++ engine).";
  // Each docstring carries its own signature line (see bindings.hpp), so pybind11's are left out.
  py::options options;
  options.disable_function_signatures();
  m.attr("__version__") = SIMMATCH_VERSION;
  simmatch::python::register_errors(m);
  simmatch::python::register_structure(m);
  simmatch::python::register_config(m);
  simmatch::python::register_network(m);
  simmatch::python::register_readout(m);
}
