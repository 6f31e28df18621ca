"""conv2d layers from Python, against an independent NumPy re-derivation.

reference_dynamics.conv_matrices builds W and L from a model file's banks as docs/formats.md
defines them; the tied learning step is recomputed here from docs/theory.md ("Convolution:
shared weights"): each bank entry moves by the mean, over the synapses that share it, of
eq. 17's local terms.
"""

import json
import tracemalloc
import unittest

import numpy as np

import reference_dynamics as ref
import simmatch
from _helpers import TempDirTest, patterns


def conv(kernel, stride, per_site, lateral, padding="same"):
    return dict(type="conv2d", kernel=kernel, stride=stride, padding=padding, neurons_per_site=per_site,
                lateral_radius=lateral)


def banks(path):
    m = np.load(path)
    net = json.loads(m["network"].tobytes())
    return net, [(m[f"W{p}_bank"].astype(np.float64), m[f"L{p}_bank"].astype(np.float64))
                 for p in range(1, len(net["layers"]) + 1)]


class TiedLearningMatchesAnIndependentDerivation(TempDirTest):
    def test_one_batch_moves_each_bank_entry_by_the_mean_local_step(self):
        X, _ = patterns(samples=16, side=8, clusters=3, noise=0.3, seed=3, dtype=np.float64)
        X = X.reshape(len(X), -1)
        X = X - X.mean(axis=1, keepdims=True)
        gamma, eta = 0.4, 0.05
        net = simmatch.Network(input_shape=(8, 8), layers=[conv(3, 1, 3, 1.0), conv(3, 2, 2, 0.0, "valid")],
                               gamma=gamma, precision="float64", seed=4)
        net.set_params(**{"solver.tolerance": 1e-12, "solver.max_steps": 200000})
        before_path, after_path = self.path("before.npz"), self.path("after.npz")
        net.save(before_path)
        net.partial_fit(X[:16], learning_rate=eta, batch_size=16)
        net.save(after_path)
        spec, before = banks(before_path)
        _, after = banks(after_path)
        model = ref.load(before_path)
        r, _, converged = ref.euler_from_rest(model, X[:16], tol=1e-12)
        self.assertTrue(converged.all())
        P = len(before)
        below = X[:16]
        for p in range(P):
            geometry = spec["layers"][p]["conv2d"]
            w_p = gamma ** (p - (P - 1))
            k_p = 1.0 + gamma if p + 1 < P else 1.0
            W = model["layers"][p]["W"].toarray()
            L = model["layers"][p]["L"].toarray()
            A = r[p].T @ below / len(below)
            B = r[p].T @ r[p] / len(below)
            dW = eta * w_p * (A - W)
            dL = 0.5 * eta * w_p * (B - L / k_p)
            wb, lb = before[p]
            ids_w, ids_l = ref.conv_matrices(geometry, np.arange(1, wb.size + 1, dtype=float).reshape(wb.shape),
                                            np.arange(1, lb.size + 1, dtype=float).reshape(lb.shape))
            ids_w, ids_l = ids_w.toarray().astype(int) - 1, ids_l.toarray().astype(int) - 1
            expected_w = np.array([dW[ids_w == e].mean() for e in range(wb.size)])
            D, k, _ = lb.shape
            expected_l = np.zeros(lb.size)
            for d in range(D):
                for a in range(k):
                    for b in range(k):
                        e, mirror = (d * k + a) * k + b, ((D - 1 - d) * k + b) * k + a
                        members = (ids_l == e) | (ids_l == mirror)
                        expected_l[e] = dL[members].mean() if members.any() else 0.0
            got_w = (after[p][0] - wb).ravel()
            got_l = (after[p][1] - lb).ravel()
            np.testing.assert_allclose(got_w, expected_w, rtol=1e-6, atol=1e-10, err_msg=f"W layer {p}")
            np.testing.assert_allclose(got_l, expected_l, rtol=1e-6, atol=1e-10, err_msg=f"L layer {p}")
            self.assertGreater(np.abs(got_l).max(), 1e-6)
            below = r[p]

    def compare(self, name, layers, gamma, seeds, bounds, rows=slice(0, 12), **network):
        """Trains a conv network briefly, then compares every layer of the samples `rows` (the first 12)
        with reference_dynamics' integration from rest, for each (solver tolerance, bound on the
        relative distance)."""
        X, _ = patterns(samples=64, side=8, clusters=3, noise=0.3, seed=seeds[0], dtype=np.float64)
        X = X.reshape(len(X), -1)
        X = X - X.mean(axis=1, keepdims=True)
        net = simmatch.Network(input_shape=(8, 8), layers=layers, gamma=gamma, precision="float64", seed=seeds[1],
                               cost_samples=0, eta=0.05, samples_per_epoch=64, batch_size=8, **network)
        net.fit(X, epochs=6)
        path = self.path(name + ".npz")
        net.save(path)
        expected, _, converged = ref.euler_from_rest(ref.load(path), X[rows], tol=1e-10)
        self.assertTrue(converged.all())
        for tolerance, bound in bounds:
            net.set_params(**{"solver.tolerance": tolerance, "solver.max_steps": 200000})
            got = net.transform(X[rows], layer="all")
            for p, (a, b) in enumerate(zip(got, expected)):
                self.assertLessEqual(ref.relative_distance(a, b).max(), bound, f"{name} layer {p}, tolerance {tolerance}")

    def test_fixed_points_match_the_independent_integration(self):
        self.compare("conv", [conv(3, 1, 3, 1.0), conv(3, 2, 4, 1.0)], 0.3, (7, 5), ((1e-10, 1e-6),))

    def test_wide_filter_banks_without_feedback_match_the_independent_integration(self):
        # 40 and 36 filters, lateral neighbourhood 0, no feedback: Anderson site by site
        # (site_anderson.hpp), at a tight and at the default tolerance.
        self.compare("wide", [conv(3, 1, 40, 0.0), conv(3, 2, 36, 0.0)], 0.0, (8, 6), ((1e-10, 1e-6), (0.0, 1e-4)))

    def test_preconditioned_sites_of_other_slopes_match_the_independent_integration(self):
        # The site solver preconditions tied tanh and linear sites with ((1 - a) I + a L_s)^-1, a
        # the slope at rest: exact for linear units, far from the Jacobian where tanh of gain 2
        # saturates.
        self.compare("linear", [conv(3, 1, 40, 0.0), conv(3, 2, 36, 0.0)], 0.0, (9, 7), ((1e-10, 1e-6),),
                     activation="linear")
        self.compare("steep", [conv(3, 1, 40, 0.0), conv(3, 2, 36, 0.0)], 0.0, (10, 8), ((1e-10, 1e-6), (0.0, 1e-4)),
                     gain=2.0)
        # Both on the site-by-site path: L_s + (1/a - 1) I positive definite (docs/theory.md), so
        # the fixed point is unique and the solver may jump to it.
        for name, a in (("linear", 1.0), ("steep", 2.0)):
            for _, lateral in banks(self.path(name + ".npz"))[1]:
                self.assertGreater(np.linalg.eigvalsh(lateral[0]).min() + 1.0 / a - 1.0, 0.0, name)

    def test_trajectories_that_linger_near_a_saddle_reach_the_fixed_point_from_rest(self):
        # Gain 3: the certificate fails, so the solver follows the trajectory. One corner site of
        # sample 8 falls to a residual of 5e-4 near a saddle before its trajectory turns towards its
        # minimum; implicit steps grown from the residual's progress, switched at 1e-2, ended 2.6 %
        # away in another minimum (docs/theory.md, "Not provably unique"). Samples 6-9 only: the
        # reference's Euler steps (15,000 for that site) dominate the test's time.
        self.compare("saddle", [conv(3, 1, 40, 0.0), conv(3, 2, 36, 0.0)], 0.0, (10, 8),
                     ((1e-10, 1e-6), (0.0, 1e-4)), rows=slice(6, 10), gain=3.0)
        for _, lateral in banks(self.path("saddle.npz"))[1]:
            self.assertLess(np.linalg.eigvalsh(lateral[0]).min() + 1.0 / 3.0 - 1.0, 0.0)


class ConvLayersFromPython(TempDirTest):
    def test_dtype_shapes_and_reload(self):
        X, _ = patterns(samples=20, side=8, clusters=2, noise=0.2, seed=1, dtype=np.float32)
        net = simmatch.Network(input_shape=(8, 8), layers=[conv(3, 2, 4, 0.0)], seed=1, cost_samples=0,
                               samples_per_epoch=20, batch_size=10)
        net.fit(X.reshape(20, -1), epochs=1)
        Y = net.transform(X.reshape(20, -1))
        self.assertEqual(Y.dtype, np.float32)
        self.assertEqual(Y.shape, (20, 4 * 4 * 4))
        path = self.path("m.npz")
        net.save(path)
        again = simmatch.load(path)
        np.testing.assert_array_equal(again.transform(X.reshape(20, -1)), Y)

    def test_transform_pools_as_the_cli_does(self):
        X, _ = patterns(samples=6, side=8, clusters=2, noise=0.2, seed=2, dtype=np.float64)
        net = simmatch.Network(input_shape=(8, 8), layers=[conv(3, 1, 3, 0.0)], precision="float64", seed=2)
        full = net.transform(X.reshape(6, -1))
        pooled = net.transform(X.reshape(6, -1), pool="max:2")
        self.assertEqual(pooled.dtype, np.float64)
        grid = full.reshape(6, 8, 8, 3)
        expected = grid.reshape(6, 4, 2, 4, 2, 3).max(axis=(2, 4)).reshape(6, -1)
        np.testing.assert_array_equal(pooled, expected)
        averaged = net.transform(X.reshape(6, -1), pool="avg:4", layer="all")[0]
        np.testing.assert_allclose(averaged, grid.reshape(6, 2, 4, 2, 4, 3).mean(axis=(2, 4)).reshape(6, -1), rtol=1e-12)
        with self.assertRaisesRegex(ValueError, "window is larger"):
            net.transform(X.reshape(6, -1), pool="avg:9")
        with self.assertRaisesRegex(ValueError, "expected avg:W"):
            net.transform(X.reshape(6, -1), pool="mean:2")

    def test_transform_holds_only_the_pooled_values(self):
        # NumPy reports its buffers to tracemalloc. 400 samples of a 16-channel 16 x 16 layer are
        # 6.6 MB unpooled and 0.4 MB pooled at max:4; batches of 20 are 0.3 MB unpooled.
        net = simmatch.Network(input_shape=(16, 16), layers=[conv(3, 1, 16, 0.0)], max_steps=3, seed=5)
        X = np.random.default_rng(5).random((400, 16 * 16), dtype=np.float32)
        net.transform(X[:2], pool="max:4")
        tracemalloc.start()
        try:
            pooled = net.transform(X, pool="max:4", batch_size=20)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertEqual(pooled.shape, (400, 4 * 4 * 16))
        self.assertLess(peak, 2e6)
        full = net.transform(X, batch_size=20).reshape(400, 4, 4, 4, 4, 16).max(axis=(2, 4)).reshape(400, -1)
        np.testing.assert_array_equal(pooled, full)

    def test_estimator_pools_and_names_its_features(self):
        X, _ = patterns(samples=12, side=8, clusters=2, noise=0.2, seed=4, dtype=np.float32)
        est = simmatch.SimilarityMatching(input_shape=(8, 8), layers=[conv(3, 1, 4, 0.0)], pool="max:2", epochs=1,
                                          samples_per_epoch=12, batch_size=6, cost_samples=0, seed=3)
        Y = est.fit_transform(X.reshape(12, -1))
        self.assertEqual(Y.shape, (12, 4 * 4 * 4))
        self.assertEqual(Y.dtype, np.float32)
        self.assertEqual(len(est.get_feature_names_out()), Y.shape[1])
        self.assertEqual(est.get_params()["pool"], "max:2")

    def test_bad_padding_names_the_key(self):
        with self.assertRaisesRegex(Exception, "padding"):
            simmatch.Network(input_shape=(8, 8), layers=[dict(type="conv2d", padding="full")]).fit(
                np.zeros((4, 64), dtype=np.float32), epochs=1)


if __name__ == "__main__":
    unittest.main()
