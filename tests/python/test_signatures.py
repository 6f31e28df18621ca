"""Real signatures: inspect.signature works on every public function and method of simmatch, and
the type stubs (simmatch/_simmatch.pyi) list exactly the native module's parameters."""

import ast
import inspect
import os
import types
import unittest

import simmatch
from simmatch import _simmatch

STUBS = os.path.join(os.path.dirname(simmatch.__file__), "_simmatch.pyi")


def public_callables():
    """(qualified name, object) of every native function and of every method of a native class."""
    for name in dir(_simmatch):
        if name.startswith("_"):
            continue
        obj = getattr(_simmatch, name)
        if isinstance(obj, type):
            if issubclass(obj, BaseException):
                continue
            for attr, value in vars(obj).items():
                if isinstance(value, property) or attr.startswith("_") and attr not in ("__init__", "__call__"):
                    continue
                if isinstance(value, types.WrapperDescriptorType):
                    continue  # the slot pybind11 leaves for classes without a constructor
                yield f"{name}.{attr}", getattr(obj, attr)
        elif callable(obj):
            yield name, obj


def stub_functions():
    """qualified name -> list of ast.FunctionDef (several for @overload) from the stub file."""
    with open(STUBS) as f:
        tree = ast.parse(f.read())
    out = {}

    def add(prefix, node):
        for item in node.body:
            if isinstance(item, ast.FunctionDef):
                if any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                    continue
                if item.name.startswith("_") and item.name not in ("__init__", "__call__"):
                    continue
                out.setdefault(prefix + item.name, []).append(item)
            elif isinstance(item, ast.ClassDef):
                add(item.name + ".", item)

    add("", tree)
    return out


def stub_parameters(node):
    """[(name, kind, default)] of a stub, in inspect's terms (self included, as on the class)."""
    args = node.args
    out = []
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        kind = inspect.Parameter.POSITIONAL_ONLY if i < len(args.posonlyargs) else inspect.Parameter.POSITIONAL_OR_KEYWORD
        out.append((arg.arg, kind, ast.literal_eval(default) if default is not None else inspect.Parameter.empty))
    if args.vararg:
        out.append((args.vararg.arg, inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.empty))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        out.append((arg.arg, inspect.Parameter.KEYWORD_ONLY,
                    ast.literal_eval(default) if default is not None else inspect.Parameter.empty))
    if args.kwarg:
        out.append((args.kwarg.arg, inspect.Parameter.VAR_KEYWORD, inspect.Parameter.empty))
    return out


def runtime_parameters(obj):
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()]


class SignatureTest(unittest.TestCase):
    def test_every_public_callable_has_a_signature(self):
        for name, obj in public_callables():
            with self.subTest(name=name):
                inspect.signature(obj)  # ValueError when the binding has none
        self.assertEqual(list(inspect.signature(simmatch.Network).parameters),
                         ["input_shape", "layers", "parameters"])
        self.assertEqual(list(inspect.signature(simmatch.Network(8, layers=[dict(type="dense", neurons=2)]).fit).parameters),
                         ["X", "epochs", "batch_size", "callback", "verbose", "checkpoint", "resume", "y"])
        self.assertIn("checkpoint", inspect.signature(simmatch.SimilarityMatching.fit).parameters)

    def test_help_shows_the_parameters(self):
        self.assertTrue(simmatch.Network.transform.__doc__.startswith("Fixed points"))
        self.assertEqual(simmatch.Network.transform.__text_signature__,
                         "(self, /, X, layer=None, batch_size=256, pool=None)")

    def test_stubs_match_the_module(self):
        stubs = stub_functions()
        runtime = dict(public_callables())
        self.assertEqual(sorted(set(runtime) - set(stubs)), [], "callables without a stub")
        self.assertEqual(sorted(set(stubs) - set(runtime)), [], "stubs of callables that do not exist")
        for name, nodes in stubs.items():
            with self.subTest(name=name):
                actual = runtime_parameters(runtime[name])
                if len(nodes) == 1:
                    self.assertEqual(stub_parameters(nodes[0]), actual)
                else:  # overloads differ in their annotations and Literal defaults only
                    for node in nodes:
                        self.assertEqual([(n, k) for n, k, _ in stub_parameters(node)], [(n, k) for n, k, _ in actual])


if __name__ == "__main__":
    unittest.main()
