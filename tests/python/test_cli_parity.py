"""Python and the `simmatch` command agree: the same config and seed give bit-identical models,
and models cross between them (train in the CLI -> load in Python; save in Python -> encode in
the CLI)."""

import os
import subprocess
import unittest

import numpy as np

import simmatch
from _helpers import CLI, TempDirTest, patterns

CONFIG = """
seed = 11

[data]
format = "npy"
path = "{data}"

[network]
activation = "tanh"
gamma = {gamma}
precision = "{precision}"

[[layers]]
type = "local2d"
stride = 2
radius = 2.5
neurons_per_site = 2
lateral_radius = 1.0

{extra_layer}

[train]
epochs = 3
samples_per_epoch = 30
batch_size = {batch_size}
eta = 0.01
cost_samples = 20

[output]
dir = "{out}"
"""

DENSE_TOP = """
[[layers]]
type = "dense"
neurons = 4
"""


@unittest.skipUnless(CLI and os.path.exists(CLI), "the simmatch command is not built (SIMMATCH_CLI)")
class CliParityTest(TempDirTest):
    def write_config(self, precision="float32", gamma=0.0, batch_size=1, deep=False):
        X, _ = patterns(40, seed=4)
        X = X * 3 + 1  # data whose per-sample means are far from 0, so preprocessing matters
        np.save(self.path("data.npy"), X)
        path = self.path(f"run-{precision}-{gamma}-{batch_size}-{deep}.toml")
        out = self.path(f"out-{precision}-{gamma}-{batch_size}-{deep}")
        with open(path, "w") as f:
            f.write(CONFIG.format(data=self.path("data.npy"), out=out, precision=precision, gamma=gamma,
                                  batch_size=batch_size, extra_layer=DENSE_TOP if deep else ""))
        return path, os.path.join(out, "model.npz")

    def cli(self, *args):
        result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def assert_same_weights(self, a, b):
        self.assertEqual(a.layer_sizes, b.layer_sizes)
        for la, lb in zip(a.layers, b.layers):
            self.assertEqual(la.cw, lb.cw)
            self.assertEqual(la.cl, lb.cl)
            np.testing.assert_array_equal(la.W_data, lb.W_data)
            np.testing.assert_array_equal(la.L_data, lb.L_data)

    def check(self, **kwargs):
        config, model = self.write_config(**kwargs)
        self.cli("train", config)
        trained_by_cli = simmatch.load(model)

        # Path 1: the config's own data (read by from_config, trained by fit()).
        net = simmatch.Network.from_config(config)
        net.fit()
        self.assert_same_weights(net, trained_by_cli)
        self.assertEqual(net.input_shape, (8, 8, 1))
        self.assertEqual(trained_by_cli.input_shape, (8, 8, 1))

        # Path 2: the data through NumPy.
        X, y = simmatch.load_data(config)
        self.assertIsNone(y)
        self.assertEqual(X.shape, (40, 8, 8))
        np.testing.assert_allclose(X.reshape(40, -1).mean(axis=1), 0, atol=1e-5)  # preprocessed as the CLI does
        net2 = simmatch.Network.from_config(config, input_shape=X.shape[1:])
        net2.fit(X)
        self.assert_same_weights(net2, trained_by_cli)

        # The metrics log holds the same costs as history_.
        import json

        with open(os.path.join(os.path.dirname(model), "metrics.jsonl")) as f:
            logged = [json.loads(line) for line in f if line.strip()]
        self.assertEqual([m["cost"] for m in logged], [m["cost"] for m in net.history_])
        return config, model, net, X

    def test_one_layer_float32(self):
        self.check()

    def test_deep_float64_minibatch_with_feedback(self):
        self.check(precision="float64", gamma=0.3, batch_size=4, deep=True)

    def test_overrides_match_cli_overrides(self):
        config, _ = self.write_config()
        out = self.path("override-out")
        self.cli("train", config, "train.eta=0.02", "layers.0.neurons_per_site=3", f"output.dir={out}")
        net = simmatch.Network.from_config(config, eta=0.02, **{"layers.0.neurons_per_site": 3})
        net.fit()
        self.assert_same_weights(net, simmatch.load(os.path.join(out, "model.npz")))

    def test_python_model_encoded_by_cli(self):
        config, model, net, X = self.check()
        saved = self.path("python-model.npz")
        net.save(saved)
        out = self.path("codes.npy")
        self.cli("encode", saved, self.path("data.npy"), out)
        np.testing.assert_array_equal(np.load(out), net.transform(X))


if __name__ == "__main__":
    unittest.main()
