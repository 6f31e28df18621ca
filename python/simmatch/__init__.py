"""simmatch: structured and deep similarity-matching networks (Obeid, Ramambason & Pehlevan,
NeurIPS 2019) on a C++ engine.

    >>> import simmatch
    >>> net = simmatch.Network(input_shape=(28, 28), layers=[dict(type="local2d", stride=2,
    ...                        radius=4, neurons_per_site=4)], activation="tanh", seed=0)
    >>> net.fit(X, epochs=2)          # X: (samples, 784) or (samples, 28, 28), float32/float64
    >>> R = net.transform(X)          # fixed points of the top layer, (samples, 784)

Everything below comes from the native module ``simmatch._simmatch``; ``simmatch.plot`` holds
matplotlib helpers (imported on demand, so ``import simmatch`` never needs matplotlib).
See docs/python.md.
"""

from ._simmatch import (  # noqa: F401  (re-exported API)
    Activation,
    ConfigError,
    Error,
    FormatError,
    InternalError,
    IoError,
    Layer,
    Network,
    NumericalError,
    ShapeError,
    Structure,
    __version__,
    default_config,
    linear_readout,
    load,
    load_config,
    load_data,
    parameters,
)

__all__ = [
    "Activation",
    "ConfigError",
    "Error",
    "FormatError",
    "InternalError",
    "IoError",
    "Layer",
    "Network",
    "NumericalError",
    "ShapeError",
    "Structure",
    "__version__",
    "default_config",
    "linear_readout",
    "load",
    "load_config",
    "load_data",
    "parameters",
    "plot",
]


def __getattr__(name):
    # `simmatch.plot` on first use: keeps matplotlib out of `import simmatch`.
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'simmatch' has no attribute {name!r}")
