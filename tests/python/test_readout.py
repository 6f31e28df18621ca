"""simmatch.linear_readout: the read-out of `simmatch evaluate` on NumPy arrays."""

import subprocess
import unittest

import numpy as np

import simmatch
from _helpers import TempDirTest, patterns, small_network


def blobs(samples, seed):
    """Three well separated Gaussian classes in 5-D: (X float32, y int32)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[4, 0, 0, 0, 0], [0, 4, 0, 0, 0], [0, 0, 4, 0, 0]], dtype=np.float64)
    y = (np.arange(samples) % 3).astype(np.int32)
    X = centres[y] + rng.standard_normal((samples, 5))
    return X.astype(np.float32), y


class LinearReadoutTest(unittest.TestCase):
    def test_separable_classes_are_read_out(self):
        Xtr, ytr = blobs(300, 1)
        Xte, yte = blobs(90, 2)
        report = simmatch.linear_readout(Xtr, ytr, Xte, yte, c=[0.1, 1.0])
        self.assertGreater(report["test_accuracy"], 0.95)
        self.assertAlmostEqual(report["test_error"], 1 - report["test_accuracy"])
        self.assertIn(report["c"], (0.1, 1.0))
        self.assertEqual([v["c"] for v in report["validation"]], [0.1, 1.0])
        self.assertEqual(report["classes"], [0, 1, 2])
        self.assertEqual(np.asarray(report["confusion"]).sum(), 90)
        self.assertEqual(report["features"], 5)
        self.assertEqual((report["train_samples"], report["test_samples"]), (300, 90))
        self.assertEqual(report["solver"], "dense")
        self.assertEqual([f["c"] for f in report["fits"]], [0.1, 1.0, report["c"]])

    def test_the_three_solvers_agree_and_runs_repeat(self):
        Xtr, ytr = blobs(200, 3)
        Xte, yte = blobs(60, 4)
        dense = simmatch.linear_readout(Xtr, ytr, Xte, yte, c=[1.0])
        again = simmatch.linear_readout(Xtr, ytr, Xte, yte, c=[1.0])
        primal = simmatch.linear_readout(Xtr, ytr, Xte, yte, c=[1.0], solver="primal")
        dual = simmatch.linear_readout(Xtr, ytr, Xte, yte, c=[1.0], solver="dual")
        self.assertEqual(dense, {**again, "seconds": dense["seconds"],
                                 "fits": [{**again["fits"][0], "seconds": dense["fits"][0]["seconds"]}]})
        self.assertEqual(primal["solver"], "primal")
        self.assertEqual(dual["solver"], "dual")
        self.assertEqual(dense["confusion"], primal["confusion"])
        self.assertLessEqual(abs(primal["test_accuracy"] - dual["test_accuracy"]), 1 / 60)

    def test_a_memory_mapped_npy_is_read_in_place(self):
        import os
        import tempfile
        Xtr, ytr = blobs(150, 9)
        Xte, yte = blobs(30, 10)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "train.npy")
            np.save(path, Xtr)
            mapped = np.load(path, mmap_mode="r")
            a = simmatch.linear_readout(mapped, ytr, Xte, yte, c=[1.0])
            del mapped
        b = simmatch.linear_readout(Xtr, ytr, Xte, yte, c=[1.0])
        self.assertEqual(a["confusion"], b["confusion"])
        self.assertEqual(a["train_accuracy"], b["train_accuracy"])

    def test_float64_and_image_shaped_inputs_are_accepted(self):
        Xtr, ytr = blobs(120, 5)
        Xte, yte = blobs(30, 6)
        a = simmatch.linear_readout(Xtr, ytr, Xte, yte, c=[1.0])
        b = simmatch.linear_readout(Xtr.astype(np.float64).reshape(120, 5, 1), ytr.astype(np.int64),
                                    Xte.astype(np.float64), list(yte), c=[1.0])
        self.assertEqual(a["confusion"], b["confusion"])

    def test_bad_arguments_name_the_argument(self):
        Xtr, ytr = blobs(60, 7)
        Xte, yte = blobs(30, 8)
        with self.assertRaisesRegex(ValueError, "X_test: samples have 4 features but those of X_train have 5"):
            simmatch.linear_readout(Xtr, ytr, Xte[:, :4], yte)
        with self.assertRaisesRegex(TypeError, "y_train: expected integer class labels"):
            simmatch.linear_readout(Xtr, ytr.astype(np.float32), Xte, yte)
        with self.assertRaisesRegex(ValueError, "y_test: expected 30 labels"):
            simmatch.linear_readout(Xtr, ytr, Xte, yte[:10])
        with self.assertRaisesRegex(ValueError, "X_train: sample 0 holds NaN"):
            bad = Xtr.copy()
            bad[0, 0] = np.nan
            simmatch.linear_readout(bad, ytr, Xte, yte)
        with self.assertRaisesRegex(simmatch.ConfigError, "newton"):
            simmatch.linear_readout(Xtr, ytr, Xte, yte, solver="newton")
        with self.assertRaisesRegex(simmatch.ConfigError, "C must be > 0"):
            simmatch.linear_readout(Xtr, ytr, Xte, yte, c=[-1.0])
        with self.assertRaisesRegex(simmatch.ShapeError, "single class"):
            simmatch.linear_readout(Xtr, np.zeros(60, np.int32), Xte, yte, c=[1.0])


class ReadoutMatchesTheCliTest(TempDirTest):
    def test_same_report_as_simmatch_evaluate(self):
        # The same features through the CLI's --train-features path give the same read-out.
        net = small_network()
        X, y = patterns(90)
        net.fit(X[:60], epochs=1)
        R = net.transform(X)
        paths = {name: self.path(f"{name}.npy") for name in ("train", "test", "ytrain", "ytest")}
        np.save(paths["train"], R[:60].astype(np.float32))
        np.save(paths["test"], R[60:].astype(np.float32))
        np.save(paths["ytrain"], y[:60].astype(np.int32))
        np.save(paths["ytest"], y[60:].astype(np.int32))
        cli = simmatch_binary()
        if cli is None:
            self.skipTest("no simmatch binary next to the module")
        out = self.path("eval.json")
        subprocess.run([cli, "evaluate", "--train-features", paths["train"], "--labels", paths["ytrain"],
                        "--test-features", paths["test"], "--test-labels", paths["ytest"], "--c", "0.1,1",
                        "--json", out], check=True, capture_output=True)
        import json
        with open(out) as f:
            expected = json.load(f)
        report = simmatch.linear_readout(R[:60], y[:60], R[60:], y[60:], c=[0.1, 1.0])
        for key in ("c", "train_accuracy", "test_accuracy", "confusion", "classes"):
            self.assertEqual(report[key], expected[key], key)


def simmatch_binary():
    import os
    path = os.environ.get("SIMMATCH_CLI")
    return path if path and os.path.exists(path) else None


if __name__ == "__main__":
    unittest.main()
