"""Shared fixtures of the Python tests: tiny data sets, temporary folders, the CLI's path.

The tests run under plain unittest (pytest is not part of Debian's python3) via ctest, which
puts the build tree's package first on PYTHONPATH and names the built CLI in SIMMATCH_CLI.
"""

import os
import shutil
import tempfile
import unittest

import numpy as np

import simmatch

SOURCE_DIR = os.environ.get("SIMMATCH_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
CLI = os.environ.get("SIMMATCH_CLI", "")


def patterns(samples=60, side=8, clusters=3, noise=0.3, seed=0, dtype=np.float32):
    """Noisy copies of a few random prototypes on a side x side grid: (samples, side, side)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.standard_normal((clusters, side, side))
    labels = np.arange(samples) % clusters
    X = prototypes[labels] + noise * rng.standard_normal((samples, side, side))
    return X.astype(dtype), labels


def small_network(**kwargs):
    """A one-layer locally connected network on 8x8 inputs (32 neurons), quick to train."""
    params = dict(input_shape=(8, 8), layers=[dict(type="local2d", stride=2, radius=2.5, neurons_per_site=2)],
                  seed=3, cost_samples=0)
    params.update(kwargs)
    return simmatch.Network(**params)


def run_estimator_checks(test, estimator):
    """Runs every check of scikit-learn's check_estimator on `estimator` as a subtest of `test`: a
    failing check raises with its name, and a check that would skip itself is an error."""
    import warnings

    from sklearn.utils import estimator_checks

    with warnings.catch_warnings():
        warnings.simplefilter("error", estimator_checks.SkipTestWarning)
        for est, check in estimator_checks.check_estimator(estimator, generate_only=True):
            with test.subTest(check=getattr(check, "func", check).__name__):
                check(est)


def labelled_dense_config(test, activation, gamma, neurons, train):
    """Writes 12 labelled 3x3 patterns (x.npy, y.npy) and a float64 config training dense layers of
    `neurons` on them with the [train] keys `train` (TOML lines) into `test`'s folder. Returns the
    config's path, X (12 x 9) and the labels."""
    X, labels = patterns(samples=12, side=3, clusters=3, seed=4, dtype=np.float64)
    X = X.reshape(12, 9)
    np.save(test.path("x.npy"), X)
    np.save(test.path("y.npy"), labels.astype(np.int64))
    layers = "".join(f"[[layers]]\ntype = \"dense\"\nneurons = {n}\n" for n in neurons)
    config = test.path("c.toml")
    with open(config, "w") as f:
        f.write(f"""seed = 5
[data]
format = "npy"
path = "{test.path('x.npy')}"
labels = "{test.path('y.npy')}"
[preprocess]
scale = "none"
subtract_mean = false
[network]
activation = "{activation}"
gamma = {gamma}
precision = "float64"
{layers}[solver]
method = "fast"
[train]
epochs = 1
samples_per_epoch = 12
batch_size = 12
shuffle = false
schedule = "constant"
cost_samples = 0
{train}
""")
    return config, X, labels


def structure_constants(path, name):
    """The constants C of weight matrix `name` (e.g. "W1") of a model NPZ, as scipy CSR."""
    import scipy.sparse as sp

    m = np.load(path)
    return sp.csr_matrix((m[f"C{name}_data"], m[f"{name}_indices"], m[f"{name}_indptr"]),
                         shape=tuple(int(s) for s in m[f"{name}_shape"]))


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="simmatch-py-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)


def assert_held_out_history(test, history, trained):
    """Every epoch of `history` trained on `trained` samples and logged an accuracy of the held-out ones."""
    test.assertEqual([m["samples"] for m in history], [trained] * len(history))
    for m in history:
        test.assertGreaterEqual(m["validation_accuracy"], 0.0)
        test.assertLessEqual(m["validation_accuracy"], 1.0)
