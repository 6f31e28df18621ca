"""simmatch.ContrastiveClassifier: scikit-learn's estimator checks for classifiers, the
network's own output as the prediction, label handling and errors."""

import os
import subprocess
import sys
import unittest

import numpy as np

import simmatch
from _helpers import SOURCE_DIR, assert_held_out_history, patterns, run_estimator_checks

try:
    import sklearn
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
except ImportError:  # pragma: no cover - the suite's machines have Debian's python3-sklearn
    sklearn = None


def fast(**kwargs):
    """A classifier that trains in well under a second on the checks' small data sets."""
    params = dict(n_hidden=20, epochs=10, seed=1)
    params.update(kwargs)
    return simmatch.ContrastiveClassifier(**params)


@unittest.skipUnless(sklearn, "scikit-learn is not installed")
class ClassifierChecksTest(unittest.TestCase):
    def test_check_estimator_passes(self):
        # check_classifiers_train wants a training accuracy above 0.83 on three blobs. 20 hidden
        # units at a constant eta of 0.05 reached it by the solver's last bits: 0.89 / 0.85 on a CPU
        # with AVX-512, 0.82 on one without (float32 X), and the accuracy swings from epoch to epoch
        # (0.88, 0.77, 0.86, 0.76 after 10, 15, 20, 25 epochs). At eta 0.03 it is 0.89 here (0.76 to
        # 0.89 over seeds 1-5: this checks the estimator contract, not the accuracy), and every
        # seed still predicts all three classes of check_classifiers_classes, which eta 0.02 does not.
        # The weakness is the one-sided rule's O(beta) bias at beta 0.5 (NudgeOnBlobsTest below).
        est = fast(epochs=20, eta=0.03)
        run_estimator_checks(self, est)


@unittest.skipUnless(sklearn, "scikit-learn is not installed")
class ClassifierBehaviourTest(unittest.TestCase):
    def setUp(self):
        X, y = patterns(150, side=6, clusters=3, noise=0.6, seed=2)
        self.X = X.reshape(150, -1)
        self.y = np.array(["cat", "dog", "eel"])[y]

    def test_learns_the_classes_and_predicts_with_its_own_output(self):
        clf = fast(epochs=15).fit(self.X[:100], self.y[:100])
        self.assertEqual(list(clf.classes_), ["cat", "dog", "eel"])
        scores = clf.decision_function(self.X[100:])
        self.assertEqual(scores.shape, (50, 3))
        # predict is the argmax of the output layer at the free fixed point, nothing else.
        np.testing.assert_array_equal(clf.predict(self.X[100:]), clf.classes_[np.argmax(scores, axis=1)])
        np.testing.assert_array_equal(scores, clf.network_.transform(self.X[100:], layer=-1))
        self.assertGreater(clf.score(self.X[100:], self.y[100:]), 0.9)
        self.assertEqual(clf.network_.layer_sizes[-1], 3)

    def test_symmetric_nudging_learns_and_is_recorded(self):
        clf = fast(epochs=15, nudge="symmetric").fit(self.X[:100], self.y[:100])
        self.assertEqual(clf.network_.config["train"]["nudge"], "symmetric")
        self.assertGreater(clf.score(self.X[100:], self.y[100:]), 0.9)
        # It is not the one-sided rule under another name: the weights differ.
        one_sided = fast(epochs=15).fit(self.X[:100], self.y[:100])
        self.assertFalse(np.array_equal(clf.decision_function(self.X), one_sided.decision_function(self.X)))

    def test_untrained_network_does_not_already_classify(self):
        # Zero epochs: the same network, untrained, is near chance; training is what classifies.
        untrained = fast(epochs=0).fit(self.X[:100], self.y[:100])
        self.assertLess(untrained.score(self.X[100:], self.y[100:]), 0.7)

    def test_binary_decision_function_follows_scikit_learn(self):
        y = (self.y == "dog").astype(int)
        clf = fast().fit(self.X, y)
        d = clf.decision_function(self.X)
        self.assertEqual(d.shape, (150,))
        np.testing.assert_array_equal(clf.predict(self.X), clf.classes_[(d > 0).astype(int)])

    def test_same_seed_same_model_and_clone(self):
        a = fast().fit(self.X, self.y).decision_function(self.X)
        b = clone(fast()).fit(self.X, self.y).decision_function(self.X)
        np.testing.assert_array_equal(a, b)

    def test_in_a_pipeline_and_cross_validation(self):
        pipe = make_pipeline(StandardScaler(), fast())
        scores = cross_val_score(pipe, self.X, self.y, cv=3)
        self.assertGreater(scores.mean(), 0.8)

    def test_float64_precision_keeps_float64_scores(self):
        clf = fast(precision="float64").fit(self.X, self.y)
        self.assertEqual(clf.decision_function(self.X).dtype, np.float64)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "2 classes"):
            fast().fit(self.X, np.zeros(150))
        with self.assertRaisesRegex(ValueError, "Unknown label type|continuous"):
            fast().fit(self.X, np.linspace(0, 1, 150))
        with self.assertRaises(simmatch.ConfigError):
            fast(beta=0).fit(self.X, self.y)
        with self.assertRaises(simmatch.ConfigError):
            fast(beta=10).fit(self.X, self.y)  # unstable Euler steps: beta * step_initial >= 1
        with self.assertRaisesRegex(simmatch.ConfigError, "train.nudge"):
            fast(nudge="both").fit(self.X, self.y)

    def test_output_layer_keys_reach_only_the_output_layer(self):
        # The CLI's best MNIST rates slow the lateral learning of every layer, the output's too.
        clf = fast(epochs=1, output_layer=dict(lateral_rate=1e-3)).fit(self.X, self.y)
        layers = clf.network_.config["layers"]
        self.assertEqual(layers[-1]["lateral_rate"], 1e-3)
        self.assertEqual(layers[-1]["neurons"], 3)
        self.assertEqual(layers[0]["lateral_rate"], 1.0)
        self.assertEqual(clone(clf).get_params()["output_layer"], dict(lateral_rate=1e-3))
        with self.assertRaisesRegex(ValueError, "output_layer: neurons cannot be set"):
            fast(output_layer=dict(neurons=5)).fit(self.X, self.y)
        with self.assertRaisesRegex(ValueError, "output_layer: expected a dict"):
            fast(output_layer=[dict(lateral_rate=1e-3)]).fit(self.X, self.y)
        with self.assertRaisesRegex(simmatch.ConfigError, "lateral_rat"):
            fast(output_layer=dict(lateral_rat=1e-3)).fit(self.X, self.y)

    def test_validation_fraction_holds_samples_out_and_scores_them(self):
        clf = fast(epochs=2, validation_fraction=0.2).fit(self.X, self.y)
        assert_held_out_history(self, clf.history_, 120)  # 30 of the 150 held out
        self.assertNotIn("validation_accuracy", fast(epochs=1).fit(self.X, self.y).history_[0])
        with self.assertRaisesRegex(simmatch.ConfigError, "train.validation"):
            fast(validation_fraction=0.95).fit(self.X, self.y)


@unittest.skipUnless(sklearn, "scikit-learn is not installed")
class NudgeOnBlobsTest(unittest.TestCase):
    """The classifier's weakness on scikit-learn's three blobs is the one-sided estimate's O(beta)
    bias (docs/theory.md, "Symmetric nudging"): at beta 0.5 one-sided nudging stays well below a
    linear model, symmetric nudging reaches it (experiments/classifier_nudge.py, docs/python.md)."""

    def setUp(self):
        from sklearn.datasets import make_blobs
        from sklearn.utils import shuffle

        X, y = make_blobs(n_samples=300, random_state=0)
        X, y = shuffle(X, y, random_state=7)
        self.X, self.y = StandardScaler().fit_transform(X), y

    def scores(self, **kwargs):
        return np.array([fast(epochs=20, seed=s, **kwargs).fit(self.X, self.y).score(self.X, self.y)
                         for s in (1, 2, 3)])

    def test_symmetric_nudging_fits_the_blobs_as_well_as_a_linear_model(self):
        from sklearn.linear_model import LogisticRegression

        linear = LogisticRegression().fit(self.X, self.y).score(self.X, self.y)  # 0.927
        symmetric = self.scores(nudge="symmetric")  # 0.933, 0.907, 0.917 when written
        one_sided = self.scores()  # 0.853, 0.873, 0.807
        self.assertGreater(symmetric.min(), linear - 0.03)
        self.assertGreater(symmetric.mean(), one_sided.mean() + 0.03)

    def test_the_experiment_prints_its_table_at_tiny_size(self):
        script = os.path.join(SOURCE_DIR, "experiments", "classifier_nudge.py")
        out = subprocess.run([sys.executable, script, "--seeds", "1", "2", "--hidden", "5", "--epochs", "1",
                              "--only", "symmetric, beta 0.5"], capture_output=True, text=True, check=True).stdout
        rows = [line for line in out.splitlines() if line.startswith("| symmetric, beta 0.5 |")]
        self.assertEqual(len(rows), 1, out)
        self.assertRegex(rows[0], r"^\| symmetric, beta 0.5 \| (\d\.\d{3} ){2}\(mean \d\.\d{3}\) \| "
                                  r"(\d\.\d{3} ){2}\(mean \d\.\d{3}\) \|$")
        self.assertIn("| LogisticRegression | 0.927 |", out)


class NetworkLabelsTest(unittest.TestCase):
    def test_low_level_fit_takes_labels_and_checks_them(self):
        X, y = patterns(30, side=4, clusters=3, seed=1)
        net = simmatch.Network((1, 16), layers=[dict(type="dense", neurons=8), dict(type="dense", neurons=3)],
                               mode="contrastive", gamma=0.5, cost_samples=0, epochs=1)
        with self.assertRaisesRegex(simmatch.ConfigError, "labels"):
            net.fit(X.reshape(30, 16))
        with self.assertRaisesRegex(ValueError, "30 labels"):
            net.fit(X.reshape(30, 16), y=y[:10])
        with self.assertRaisesRegex(ValueError, "class index"):
            net.fit(X.reshape(30, 16), y=y - 0.5)
        with self.assertRaisesRegex(simmatch.ConfigError, "outside"):
            net.fit(X.reshape(30, 16), y=y + 1)
        net.fit(X.reshape(30, 16), y=y)
        self.assertEqual(len(net.history_), 1)


    def test_held_out_samples_are_scored_in_the_history(self):
        X, y = patterns(40, side=4, clusters=3, seed=2)
        net = simmatch.Network((1, 16), layers=[dict(type="dense", neurons=8), dict(type="dense", neurons=3)],
                               mode="contrastive", gamma=0.5, cost_samples=0, epochs=2, validation=0.25)
        net.fit(X.reshape(40, 16), y=y)
        self.assertEqual([m["samples"] for m in net.history_], [30, 30])  # 10 of the 40 held out
        for m in net.history_:
            self.assertGreaterEqual(m["validation_accuracy"], 0.0)
            self.assertLessEqual(m["validation_accuracy"], 1.0)
        with self.assertRaisesRegex(simmatch.ConfigError, "train.validation"):
            simmatch.Network((1, 16), layers=[dict(type="dense", neurons=8)], validation=0.25)


if __name__ == "__main__":
    unittest.main()
