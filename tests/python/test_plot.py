"""simmatch.plot draws headless PNGs; the documented MNIST example runs (tiny, when the data are there)."""

import os
import subprocess
import sys
import unittest

import numpy as np

import simmatch
from _helpers import SOURCE_DIR, TempDirTest, patterns, small_network

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PlotTest(TempDirTest):
    def assert_png(self, path):
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), PNG_MAGIC)
        self.assertGreater(os.path.getsize(path), 1000)

    def test_import_does_not_need_matplotlib_until_used(self):
        code = "import sys, simmatch; assert 'matplotlib' not in sys.modules; simmatch.plot; assert 'matplotlib' in sys.modules"
        subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))

    def test_plots(self):
        import matplotlib

        X, y = patterns(30, clusters=3)
        net = small_network(cost_samples=30)
        net.fit(X, epochs=3)
        self.assertEqual(matplotlib.get_backend().lower(), "agg")
        fig = simmatch.plot.receptive_fields(net, path=self.path("rf.png"))
        self.assertEqual(len([a for a in fig.axes if a.images]), 32)
        self.assert_png(self.path("rf.png"))
        simmatch.plot.receptive_fields(net, neurons=[0, 5], crop=True, masked=False, path=self.path("rf_crop.png"))
        self.assert_png(self.path("rf_crop.png"))
        simmatch.plot.rsm(net.transform(X), y, path=self.path("rsm.png"))
        self.assert_png(self.path("rsm.png"))
        simmatch.plot.cost_curve(net.history_, path=self.path("cost.png"))
        simmatch.plot.cost_curve([net.history_, net.history_], key="mean_iterations", path=self.path("its.png"))
        self.assert_png(self.path("cost.png"))
        import matplotlib.pyplot as plt

        plt.close("all")

    def test_similarity_matrix(self):
        R = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
        S = simmatch.plot.similarity_matrix(R)
        np.testing.assert_allclose(S, (R @ R.T) / 4)
        with self.assertRaisesRegex(ValueError, "labels"):
            simmatch.plot.rsm(R, labels=[0, 1])

    def test_colour_inputs(self):
        net = simmatch.Network((4, 4, 3), layers=[dict(type="local2d", stride=2, radius=1.5, neurons_per_site=1)])
        simmatch.plot.receptive_fields(net, path=self.path("rgb.png"))
        self.assert_png(self.path("rgb.png"))


DIGITS = os.path.join(SOURCE_DIR, "data", "mnist", "package", "src", "digits")


@unittest.skipUnless(os.path.isdir(DIGITS), "MNIST digits not fetched (see docs/python.md)")
class ExampleTest(TempDirTest):
    def test_mnist_example_runs(self):
        script = os.path.join(SOURCE_DIR, "python", "examples", "mnist_receptive_fields.py")
        result = subprocess.run([sys.executable, script, "--digits", DIGITS, "--train", "100", "--test", "50",
                                 "--epochs", "1", "--out", self.tmp], capture_output=True, text=True, timeout=600)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("linear read-out test accuracy", result.stdout)
        for name in ("receptive_fields.png", "receptive_fields_centre.png", "cost.png", "rsm.png", "model.npz"):
            self.assertTrue(os.path.exists(self.path(name)), name)
        self.assertEqual(simmatch.load(self.path("model.npz")).input_shape, (28, 28, 1))


if __name__ == "__main__":
    unittest.main()
