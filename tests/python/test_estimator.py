"""simmatch.SimilarityMatching, the scikit-learn estimator: scikit-learn's own estimator checks,
Pipeline / clone / GridSearchCV / cross_val_score, lazy building from X's shape, parameters,
errors, and fit with checkpoints."""

import copy
import inspect
import os
import pickle
import re
import unittest
import warnings

import numpy as np

import simmatch
from _helpers import TempDirTest, patterns, run_estimator_checks

try:
    import sklearn
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils import estimator_checks
except ImportError:  # pragma: no cover - the suite's machines have Debian's python3-sklearn
    sklearn = None


def fast(**kwargs):
    """An estimator that trains in milliseconds on the checks' small data sets."""
    params = dict(epochs=3, cost_samples=0, seed=1)
    params.update(kwargs)
    return simmatch.SimilarityMatching(**params)


def images(samples=60, seed=0):
    X, y = patterns(samples, side=8, clusters=3, seed=seed)
    return X, y


LOCAL = [dict(type="local2d", stride=2, radius=2.5, neurons_per_site=2)]


@unittest.skipUnless(sklearn, "scikit-learn is not installed")
class EstimatorChecksTest(unittest.TestCase):
    def test_check_estimator_passes(self):
        # Every check of scikit-learn's suite runs; a failing one raises here with its name.
        est = fast()
        run_estimator_checks(self, est)

    def test_checks_outside_check_estimator(self):
        # scikit-learn 1.2 has these checks but leaves them out of check_estimator.
        name = "SimilarityMatching"
        estimator_checks.check_get_feature_names_out_error(name, fast())
        estimator_checks.check_transformer_get_feature_names_out(name, fast())
        estimator_checks.check_set_output_transform(name, fast())
        estimator_checks.check_n_features_in_after_fitting(name, fast())
        try:
            import pandas  # noqa: F401
        except ImportError:
            return
        estimator_checks.check_transformer_get_feature_names_out_pandas(name, fast())
        estimator_checks.check_set_output_transform_pandas(name, fast())


@unittest.skipUnless(sklearn, "scikit-learn is not installed")
class EcosystemTest(unittest.TestCase):
    def setUp(self):
        self.X, self.y = images(90)
        self.flat = self.X.reshape(len(self.X), -1)

    def pipeline(self, **kwargs):
        return Pipeline([("scale", StandardScaler()),
                         ("simmatch", fast(input_shape=(8, 8), layers=LOCAL, **kwargs)),
                         ("classify", LogisticRegression(max_iter=500))])

    def test_pipeline_fits_scores_and_prints(self):
        pipe = self.pipeline().fit(self.flat, self.y)
        self.assertGreater(pipe.score(self.flat, self.y), 0.9)  # three well separated prototypes
        self.assertEqual(pipe.named_steps["simmatch"].network_.layer_sizes, [32])
        self.assertIn("SimilarityMatching(", repr(pipe))
        self.assertEqual(pipe[:-1].transform(self.flat).shape, (90, 32))
        self.assertEqual(len(pipe[:-1].get_feature_names_out()), 32)

    def test_clone_and_params_round_trip(self):
        est = fast(layers=LOCAL, gamma=0.25, input_shape=(8, 8))
        params = est.get_params()
        self.assertNotIn("path", params)
        self.assertNotIn("dir", params)
        self.assertEqual(params["gamma"], 0.25)
        twin = clone(est)
        self.assertEqual(twin.get_params(), params)
        self.assertIs(est.set_params(**est.get_params()), est)
        self.assertEqual(est.get_params(), params)
        est.set_params(eta=0.01)
        self.assertEqual(est.eta, 0.01)
        # A clone of a fitted estimator is unfitted and trains to the same model.
        est.fit(self.X)
        again = clone(est).fit(self.X)
        np.testing.assert_array_equal(est.transform(self.X), again.transform(self.X))

    def test_every_parameter_is_explicit_with_the_tables_default(self):
        signature = inspect.signature(simmatch.SimilarityMatching)
        table = {p["key"]: p["default"] for p in simmatch.parameters() if not p["per_layer"]}
        from simmatch.estimator import _TABLE_KEYS

        for name, key in _TABLE_KEYS.items():
            self.assertIn(name, signature.parameters)
            self.assertEqual(signature.parameters[name].default, table[key], name)
        for parameter in signature.parameters.values():
            self.assertEqual(parameter.kind, inspect.Parameter.KEYWORD_ONLY)
        self.assertEqual(set(simmatch.SimilarityMatching().get_params()), set(signature.parameters))

    def test_grid_search_and_cross_validation(self):
        pipe = self.pipeline()
        search = GridSearchCV(pipe, {"simmatch__eta": [1e-3, 5e-3]}, cv=3)
        search.fit(self.flat, self.y)
        self.assertIn(search.best_params_["simmatch__eta"], (1e-3, 5e-3))
        self.assertEqual(len(search.cv_results_["mean_test_score"]), 2)
        scores = cross_val_score(self.pipeline(), self.flat, self.y, cv=3)
        self.assertEqual(len(scores), 3)
        self.assertTrue(np.all(scores > 0.8))
        # Without a classifier, model selection uses score(): minus the cost of eq. 11 on the held-out fold.
        est = fast(input_shape=(8, 8), layers=LOCAL)
        unsupervised = cross_val_score(est, self.flat, cv=3)
        held_out = clone(est).fit(self.flat[30:]).network_.cost(self.flat[:30])
        self.assertAlmostEqual(unsupervised[0], -held_out, places=5)

    def test_pickle_keeps_the_fitted_network(self):
        est = fast(layers=LOCAL).fit(self.X)
        back = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(back.transform(self.X), est.transform(self.X))
        np.testing.assert_equal(back.history_, est.history_)  # NaN costs (cost_samples=0) compare equal


@unittest.skipUnless(sklearn, "scikit-learn is not installed")
class EstimatorBehaviourTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.X, self.y = images(60)

    def test_unfitted_estimator_raises_not_fitted(self):
        est = fast()
        for call in (lambda: est.transform(self.X), lambda: est.score(self.X), est.get_feature_names_out,
                     lambda: est.history_):
            with self.assertRaises(NotFittedError):
                call()
        self.assertFalse(hasattr(est, "network_"))

    def test_the_network_is_built_from_the_shape_of_x(self):
        est = fast().fit(self.X)  # (60, 8, 8): images, the reference local2d layer
        self.assertEqual(est.input_shape_, (8, 8, 1))
        self.assertEqual(est.n_features_in_, 64)
        self.assertEqual(est.network_.layers[0].cw.shape, (64, 64))  # 4x4 sites x 4 neurons per site
        flat = fast().fit(self.X.reshape(60, -1))  # (60, 64): flat, one dense layer of 64
        self.assertEqual(flat.input_shape_, (1, 64, 1))
        self.assertEqual(flat.network_.layer_sizes, [64])
        self.assertEqual(fast(n_components=5).fit(self.X.reshape(60, -1)).transform(self.X.reshape(60, -1)).shape,
                         (60, 5))
        given = fast(input_shape=(8, 8), layers=LOCAL).fit(self.X.reshape(60, -1))
        np.testing.assert_array_equal(given.transform(self.X), fast(layers=LOCAL).fit(self.X).transform(self.X))
        with self.assertRaisesRegex(ValueError, "n_components"):
            fast(layers=LOCAL, n_components=3).fit(self.X)

    def test_a_single_image_gets_a_hint(self):
        est = fast(input_shape=(8, 8), layers=LOCAL)
        with self.assertRaisesRegex(ValueError, r"a single image of shape \(8, 8\).*X\[None\]"):
            est.fit(self.X[0])
        est.fit(self.X)
        with self.assertRaisesRegex(ValueError, "8 features"):
            est.transform(self.X[0])
        net = simmatch.Network((8, 8), layers=LOCAL)
        with self.assertRaisesRegex(ValueError, r"for one sample of shape \(8, 8\) pass X\[None\]"):
            net.transform(self.X[0])

    def test_output_dtype_follows_precision(self):
        X64 = self.X.astype(np.float64)
        self.assertEqual(fast(layers=LOCAL).fit(X64).transform(X64).dtype, np.float32)
        est = fast(layers=LOCAL, precision="float64").fit(self.X)
        self.assertEqual(est.transform(self.X).dtype, np.float64)
        self.assertEqual(est._get_tags()["preserves_dtype"], ["float64"])
        self.assertEqual(fast(layers=LOCAL).fit(self.X.astype(np.int64)).transform(self.X).dtype, np.float32)

    def test_fit_restarts_and_partial_fit_continues(self):
        est = fast(layers=LOCAL)
        a = est.fit(self.X).transform(self.X)
        b = est.fit(self.X).transform(self.X)
        np.testing.assert_array_equal(a, b)  # fit starts afresh
        self.assertEqual(est.network_.epochs_trained_, 3)
        online = fast(layers=LOCAL)
        online.partial_fit(self.X[:30]).partial_fit(self.X[30:])
        net = simmatch.Network((8, 8), layers=LOCAL, seed=1, epochs=3, cost_samples=0)
        net.partial_fit(self.X[:30]).partial_fit(self.X[30:])
        np.testing.assert_array_equal(online.network_.layers[0].W_data, net.layers[0].W_data)
        with self.assertRaisesRegex(ValueError, "features"):
            online.partial_fit(self.X.reshape(60, -1)[:, :10])

    def test_score_is_minus_the_cost(self):
        est = fast(layers=LOCAL, cost_samples=60).fit(self.X)
        self.assertAlmostEqual(est.score(self.X), -est.network_.cost(self.X))
        self.assertAlmostEqual(est.history_[-1]["cost"], est.network_.cost(self.X), places=6)

    def test_samples_short_of_their_fixed_point_raise_sklearns_convergence_warning(self):
        from sklearn.exceptions import ConvergenceWarning

        est = fast(layers=LOCAL, max_steps=1)
        for call, what in ((lambda: est.fit(self.X), "trained on"), (lambda: est.transform(self.X), "transformed"),
                           (lambda: est.score(self.X), "scored"), (lambda: est.partial_fit(self.X), "trained on")):
            with self.subTest(what=what):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    call()
                self.assertEqual(len(caught), 1, [str(w.message) for w in caught])
                self.assertTrue(issubclass(caught[0].category, ConvergenceWarning))
                self.assertTrue(issubclass(caught[0].category, simmatch.ConvergenceWarning))
                self.assertIn(f"samples {what} did not reach their fixed point", str(caught[0].message))
                self.assertEqual(caught[0].filename, __file__)
        # Filtering scikit-learn's class silences it; other warnings still pass through.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.transform(self.X)
        self.assertEqual(caught, [])
        settled = fast(layers=LOCAL)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            settled.fit(self.X).transform(self.X)
        self.assertEqual(caught, [])

    def test_the_networks_setting_warnings_point_at_the_callers_line(self):
        # Two relu layers joined by feedback: valid, with a RuntimeWarning that the loop is unbounded,
        # raised where the estimator builds its network; the user's line, not simmatch's, gets it.
        est = fast(layers=[dict(type="dense", neurons=4), dict(type="dense", neurons=3)], activation="relu",
                   gamma=0.2, epochs=1)
        for call in (lambda: est.fit(self.X), lambda: clone(est).partial_fit(self.X)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                call()
            unbounded = [w for w in caught if "both unbounded" in str(w.message)]
            self.assertEqual(len(unbounded), 1, [str(w.message) for w in caught])
            self.assertIs(unbounded[0].category, RuntimeWarning)
            self.assertEqual(unbounded[0].filename, __file__)
        # Inside a Pipeline as well: scikit-learn's frames are skipped too.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            make_pipeline(StandardScaler(), clone(est)).fit(self.X.reshape(len(self.X), -1))
        self.assertEqual([w.filename for w in caught if "both unbounded" in str(w.message)], [__file__])

    def test_a_failing_fit_keeps_the_weights_of_the_last_good_batch(self):
        # Samples in order, one per batch: the weights before the failing batch are those of a
        # copy that learns the samples before it with partial_fit (the same online rule).
        net = simmatch.Network((8, 8), layers=LOCAL, seed=1, cost_samples=0, shuffle=False)
        net.fit(self.X, epochs=1)
        before = copy.deepcopy(net)
        net.set_params(eta=1e30, schedule="constant")
        with self.assertRaises(simmatch.NumericalError) as failure:
            net.fit(self.X, epochs=1)
        where = re.search(r"epoch 2, (batch|sample) (\d+)", str(failure.exception))
        self.assertIsNotNone(where, str(failure.exception))
        learnt = int(where[2]) - 1 if where[1] == "batch" else int(where[2])
        if learnt:
            before.partial_fit(self.X[:learnt], learning_rate=1e30)
        for a, b in zip(net.layers, before.layers):
            np.testing.assert_array_equal(a.W_data, b.W_data)
            np.testing.assert_array_equal(a.L_data, b.L_data)
            self.assertTrue(np.all(np.isfinite(a.W_data)) and np.all(np.isfinite(a.L_data)))
        self.assertEqual(net.epochs_trained_, 1)
        # The estimator keeps the network of its last good batch.
        est = fast(layers=LOCAL, eta=1e30, schedule="constant")
        with self.assertRaises(simmatch.NumericalError):
            est.fit(self.X)
        self.assertEqual(est.network_.epochs_trained_, 0)
        self.assertTrue(np.all(np.isfinite(est.network_.layers[0].W_data)))

    def test_fit_writes_a_checkpoint_and_resumes_to_the_same_model(self):
        path = os.path.join(self.tmp, "run", "checkpoint.npz")
        whole = fast(layers=LOCAL, epochs=4).fit(self.X)
        # Three epochs of four, as if killed there: the checkpoint records the whole run's length.
        partial = fast(layers=LOCAL, epochs=4)
        stop = lambda metrics: metrics["epoch"] == 3  # noqa: E731
        partial.fit(self.X, checkpoint=path, callback=stop)
        self.assertTrue(os.path.exists(path))
        self.assertEqual(simmatch.load(path).layer_sizes, [32])
        resumed = fast(layers=LOCAL, epochs=4).fit(self.X, checkpoint=path, resume=True)
        np.testing.assert_array_equal(resumed.network_.layers[0].W_data, whole.network_.layers[0].W_data)
        self.assertEqual([m["epoch"] for m in resumed.history_], [1, 2, 3, 4])
        with self.assertRaisesRegex(simmatch.ConfigError, "cannot resume.*train.eta"):
            fast(layers=LOCAL, epochs=4, eta=0.02).fit(self.X, checkpoint=path, resume=True)
        with self.assertRaisesRegex(simmatch.IoError, "no checkpoint at"):
            fast(layers=LOCAL).fit(self.X, checkpoint=self.path("none.npz"), resume=True)

    def test_verbose_reports_progress_on_stderr(self):
        import contextlib
        import io

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            fast(layers=LOCAL, verbose=1, epochs=2).fit(self.X)
        lines = err.getvalue().splitlines()
        self.assertEqual(len(lines), 2, lines)  # short epochs: one summary each
        self.assertTrue(lines[0].startswith("simmatch: epoch 1/2: cost n/a  lr 0.005  iterations "), lines)
        # An epoch longer than the interval (0.5 s at verbose=2) reports its progress as it goes.
        X, _ = patterns(2000, side=28, seed=3)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            est = fast(verbose=2, epochs=1, method="euler").fit(X)
        progress = [line for line in err.getvalue().splitlines() if "samples (" in line]
        if est.history_[0]["seconds"] > 0.6:  # about 1.7 s here: one sample per batch, so a report is due
            self.assertTrue(progress, err.getvalue())
        for line in progress:
            self.assertRegex(line, r"^simmatch: epoch 1/1: \d+/2000 samples \(\d+%\), \d+ samples/s, ETA ")


FASHION = "/usr/share/datasets/fashion-mnist"


@unittest.skipUnless(sklearn and os.path.exists(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")),
                     "scikit-learn or Fashion-MNIST (dataset-fashion-mnist) missing")
class FashionExampleTest(TempDirTest):
    def test_the_documented_pipeline_example_runs(self):
        import json
        import subprocess
        import sys

        from _helpers import SOURCE_DIR

        script = os.path.join(SOURCE_DIR, "python", "examples", "fashion_pipeline.py")
        result = subprocess.run([sys.executable, script, "--train", "300", "--test", "100", "--epochs", "1",
                                 "--samples-per-epoch", "100", "--grid", "1,2", "--grid-train", "150", "--cv", "2",
                                 "--max-iter", "200", "--out", self.tmp], capture_output=True, text=True, timeout=600)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("grid search best:", result.stdout)
        with open(os.path.join(self.tmp, "results.json")) as f:
            results = json.load(f)
        self.assertEqual([row["neurons_per_site"] for row in results["grid"]], [1, 2])
        self.assertGreater(results["pipeline_accuracy"], 0.5)

if __name__ == "__main__":
    unittest.main()
