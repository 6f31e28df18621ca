"""simmatch.SupervisedClassifier (labels as an input, train.mode = "supervised"): scikit-learn's
estimator checks for classifiers, V^T r as the prediction, the low-level label synapses, errors."""

import pickle
import unittest

import numpy as np

import simmatch
from _helpers import assert_held_out_history, patterns, run_estimator_checks

try:
    import sklearn
    from sklearn.base import clone
except ImportError:  # pragma: no cover - the suite's machines have Debian's python3-sklearn
    sklearn = None


def fast(**kwargs):
    """A classifier that trains in well under a second on the checks' small data sets."""
    params = dict(n_hidden=12, epochs=10, seed=1, label_scale=2.0)
    params.update(kwargs)
    return simmatch.SupervisedClassifier(**params)


@unittest.skipUnless(sklearn, "scikit-learn is not installed")
class SupervisedChecksTest(unittest.TestCase):
    def test_check_estimator_passes(self):
        est = fast()
        run_estimator_checks(self, est)


@unittest.skipUnless(sklearn, "scikit-learn is not installed")
class SupervisedBehaviourTest(unittest.TestCase):
    def setUp(self):
        X, y = patterns(150, side=6, clusters=3, noise=0.6, seed=2)
        self.X = X.reshape(150, -1)
        self.y = np.array(["cat", "dog", "eel"])[y]

    def test_label_synapses_read_the_unlabelled_representation(self):
        clf = fast().fit(self.X[:100], self.y[:100])
        V = clf.network_.label_weights_
        self.assertEqual(V.shape, (12, 3))
        scores = clf.decision_function(self.X[100:])
        # The scores are V^T r at the fixed point reached without labels, nothing else.
        np.testing.assert_allclose(scores, clf.network_.transform(self.X[100:], layer=-1) @ V, rtol=1e-6)
        np.testing.assert_array_equal(clf.predict(self.X[100:]), clf.classes_[np.argmax(scores, axis=1)])
        self.assertGreater(clf.score(self.X[100:], self.y[100:]), 0.9)
        self.assertEqual(clf.network_.layer_sizes, [12])

    def test_labels_pull_the_classes_together(self):
        # Same network trained without labels: the label input makes the classes tighter.
        def contrast(net):
            r = net.transform(self.X, layer=-1)
            r = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)
            g = r @ r.T
            same = self.y[:, None] == self.y[None, :]
            off = ~np.eye(len(self.y), dtype=bool)
            return g[same & off].mean() - g[~same].mean()

        supervised = fast(label_scale=4.0).fit(self.X, self.y).network_
        plain = simmatch.Network((36,), layers=[dict(type="dense", neurons=12)], activation="tanh", epochs=10,
                                 batch_size=10, eta=0.05, schedule="constant", cost_samples=0, seed=1)
        plain.fit(self.X)
        self.assertGreater(contrast(supervised), contrast(plain))

    def test_pickle_clone_and_float64(self):
        clf = fast(precision="float64").fit(self.X, self.y)
        self.assertEqual(clf.decision_function(self.X).dtype, np.float64)
        back = pickle.loads(pickle.dumps(clf))
        np.testing.assert_array_equal(back.decision_function(self.X), clf.decision_function(self.X))
        np.testing.assert_array_equal(clone(fast()).fit(self.X, self.y).predict(self.X),
                                      fast().fit(self.X, self.y).predict(self.X))

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "2 classes"):
            fast().fit(self.X, np.zeros(150))
        with self.assertRaises(simmatch.ConfigError):
            fast(label_scale=0).fit(self.X, self.y)

    def test_validation_fraction_scores_held_out_samples_by_the_label_synapses(self):
        clf = fast(epochs=2, validation_fraction=0.2).fit(self.X, self.y)
        assert_held_out_history(self, clf.history_, 120)  # 30 of the 150 held out


class SupervisedNetworkTest(unittest.TestCase):
    def test_low_level_fit_creates_and_keeps_the_label_synapses(self):
        X, y = patterns(30, side=4, clusters=3, seed=1)
        X = X.reshape(30, 16)
        net = simmatch.Network((1, 16), layers=[dict(type="dense", neurons=8)], mode="supervised", cost_samples=0,
                               epochs=1)
        self.assertIsNone(net.label_weights_)
        with self.assertRaisesRegex(simmatch.ConfigError, "labels"):
            net.fit(X)
        net.fit(X, y=y)
        self.assertEqual(net.label_weights_.shape, (8, 3))
        self.assertEqual(net.label_weights_.dtype, np.float32)
        # Its label synapses are for 3 classes now: a fourth is refused, naming the sample.
        with self.assertRaisesRegex(simmatch.ConfigError, "sample 0"):
            net.partial_fit(X[:2], y=np.array([3, 0]))
        net.partial_fit(X, y=y)
        self.assertEqual(len(net.history_), 1)


if __name__ == "__main__":
    unittest.main()
