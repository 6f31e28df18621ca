"""simmatch.plot draws headless PNGs; the documented MNIST example runs (tiny, when the data are there)."""

import importlib.util
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


class PlotConventionsTest(TempDirTest):
    """ax= everywhere, figures returned and never left open in pyplot, integer epoch ticks, colour bars."""

    def setUp(self):
        super().setUp()
        X, self.y = patterns(30, clusters=3)
        self.net = small_network(cost_samples=30)
        self.net.fit(X, epochs=3)
        self.R = self.net.transform(X)

    def test_many_plots_leave_no_figure_open(self):
        import matplotlib.pyplot as plt
        import warnings

        plt.close("all")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "More than 20 figures have been opened" would fail here
            for _ in range(25):
                simmatch.plot.cost_curve(self.net.history_)
                simmatch.plot.rsm(self.R, self.y)
            simmatch.plot.receptive_fields(self.net, path=self.path("rf.png"))
        self.assertEqual(plt.get_fignums(), [])

    def test_plots_draw_into_a_given_ax_and_return_it(self):
        from matplotlib.figure import Figure

        fig = Figure()
        axes = fig.subplots(1, 3)
        self.assertIs(simmatch.plot.cost_curve(self.net.history_, ax=axes[0]), axes[0])
        self.assertIs(simmatch.plot.rsm(self.R, self.y, ax=axes[1]), axes[1])
        self.assertIs(simmatch.plot.receptive_fields(self.net, neurons=range(8), ax=axes[2]), axes[2])
        self.assertEqual(len(axes[2].images), 1)  # the mosaic as one image
        fig.savefig(self.path("three.png"))
        self.assert_png(self.path("three.png"))
        self.assertIsInstance(simmatch.plot.cost_curve(self.net.history_), Figure)

    def test_epoch_ticks_are_integers(self):
        ax = simmatch.plot.cost_curve(self.net.history_).axes[0]
        ax.figure.canvas.draw()
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        self.assertTrue(ticks)
        self.assertTrue(all(float(t).is_integer() for t in ticks), ticks)

    def test_mosaics_have_a_colour_bar(self):
        fig = simmatch.plot.receptive_fields(self.net, neurons=range(4))
        bars = [a for a in fig.axes if a.get_label() == "<colorbar>"]
        self.assertEqual(len(bars), 1)
        self.assertEqual(bars[0].get_ylim(), (-1.0, 1.0))
        shared = simmatch.plot.receptive_fields(self.net, neurons=range(4), shared_scale=True)
        label = [a for a in shared.axes if a.get_label() == "<colorbar>"][0].get_ylabel()
        self.assertTrue(label.startswith("weight / "), label)
        self.assertEqual(len([a for a in simmatch.plot.receptive_fields(self.net, colorbar=False).axes
                              if a.get_label() == "<colorbar>"]), 0)

    @unittest.skipUnless(importlib.util.find_spec("sklearn"), "scikit-learn is not installed")
    def test_estimators_are_accepted(self):
        est = simmatch.SimilarityMatching(layers=[dict(type="local2d", stride=2, radius=2.5, neurons_per_site=2)],
                                          epochs=2, cost_samples=10)
        X, _ = patterns(20)
        est.fit(X)
        self.assertEqual(len([a for a in simmatch.plot.receptive_fields(est).axes if a.images]), 32)
        self.assertEqual(len(simmatch.plot.cost_curve(est).axes[0].lines), 1)

    def assert_png(self, path):
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), PNG_MAGIC)


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
