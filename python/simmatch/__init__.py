"""simmatch: structured and deep similarity-matching networks (Obeid, Ramambason & Pehlevan,
NeurIPS 2019) on a C++ engine.

    >>> from simmatch import SimilarityMatching          # the scikit-learn transformer
    >>> est = SimilarityMatching(input_shape=(28, 28), epochs=2, seed=0).fit(X)
    >>> R = est.transform(X)          # fixed points of the top layer, (samples, 784)

``simmatch.Network`` is the low-level API the estimator builds on (layers, weights, configs,
checkpoints); ``simmatch.plot`` holds matplotlib helpers. ``SimilarityMatching`` and ``plot`` are
imported on first use, so ``import simmatch`` needs neither scikit-learn nor matplotlib.
See docs/python.md; the mathematics is in docs/theory.md.
"""

from ._simmatch import (  # noqa: F401  (re-exported API)
    Activation,
    ConfigError,
    ConvergenceWarning,
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
    "ContrastiveClassifier",
    "ConvergenceWarning",
    "Error",
    "FormatError",
    "InternalError",
    "IoError",
    "Layer",
    "Network",
    "NumericalError",
    "ShapeError",
    "SimilarityMatching",
    "Structure",
    "SupervisedClassifier",
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
    # On first use: keeps scikit-learn and matplotlib out of `import simmatch`.
    import importlib

    if name == "plot":
        return importlib.import_module(".plot", __name__)
    if name == "SimilarityMatching":
        return importlib.import_module(".estimator", __name__).SimilarityMatching
    if name in ("ContrastiveClassifier", "SupervisedClassifier"):
        return getattr(importlib.import_module(".classifier", __name__), name)
    raise AttributeError(f"module 'simmatch' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"plot", "SimilarityMatching", "ContrastiveClassifier", "SupervisedClassifier"})
