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


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="simmatch-py-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)
