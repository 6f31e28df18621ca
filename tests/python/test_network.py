"""Network bindings: construction from keywords, fit / partial_fit / transform / cost, dtype and
shape handling, zero-copy paths, error messages, GIL release and Ctrl-C."""

import copy
import os
import pickle
import signal
import threading
import time
import tracemalloc
import unittest
import warnings

import numpy as np

import simmatch
from _helpers import TempDirTest, patterns, small_network


class ConstructionTest(unittest.TestCase):
    def test_keywords_reach_the_config(self):
        net = small_network(gamma=0.5, eta=1e-3, **{"solver.tolerance": 1e-5})
        cfg = net.config
        self.assertEqual(cfg["network"]["gamma"], 0.5)
        self.assertEqual(cfg["train"]["eta"], 1e-3)
        self.assertEqual(cfg["solver"]["tolerance"], 1e-5)
        self.assertEqual(net.gamma, 0.5)
        self.assertEqual(net.input_shape, (8, 8, 1))
        self.assertEqual(net.layer_sizes, [32])
        self.assertEqual(net.layers[0].grid, (4, 4, 2))
        self.assertEqual(net.get_params()["eta"], 1e-3)

    def test_dense_deep_network(self):
        # Two relu layers joined by feedback are allowed, with a warning that the loop is unbounded.
        with self.assertWarnsRegex(RuntimeWarning, r"layers 1 and 2 are both unbounded \(relu and relu\)"):
            net = simmatch.Network(64, layers=[dict(type="dense", neurons=6), dict(type="dense", neurons=3)],
                                   activation=simmatch.Activation.relu(), precision=np.float64, gamma=0.2)
        self.assertEqual(net.precision, "float64")
        self.assertEqual(net.dtype, np.float64)
        self.assertEqual([l.activation.name for l in net.layers], ["relu", "relu"])
        self.assertEqual(net.layers[1].input_grid, (1, 6, 1))

    def test_same_seed_same_weights(self):
        a, b, c = small_network(seed=5), small_network(seed=5), small_network(seed=6)
        np.testing.assert_array_equal(a.layers[0].W, b.layers[0].W)
        self.assertFalse(np.array_equal(a.layers[0].W, c.layers[0].W))
        # Reference initialisation: L is the identity on its structure.
        np.testing.assert_array_equal(a.layers[0].L, np.eye(32))

    def test_custom_structures(self):
        cw = simmatch.Structure.local2d((8, 8), 4, 3.0, 3)
        cl = simmatch.Structure.lateral2d((2, 2, 3), 1.0)
        net = simmatch.Network((8, 8), layers=[dict(cw=cw, cl=cl, grid=(2, 2, 3), activation="linear")])
        self.assertEqual(net.layers[0].cw, cw)
        self.assertEqual(net.layers[0].cl, cl)
        self.assertEqual(net.layers[0].activation.name, "linear")
        X, _ = patterns(20)
        self.assertEqual(net.fit(X, epochs=1).transform(X).shape, (20, 12))

    def test_unknown_keyword_is_a_type_error_with_suggestion(self):
        with self.assertRaisesRegex(TypeError, r"unknown keyword argument 'etta'; did you mean 'eta'"):
            small_network(etta=0.1)

    def test_bad_values_name_the_key(self):
        with self.assertRaisesRegex(ValueError, r"train\.eta"):
            small_network(eta=-1.0)
        with self.assertRaisesRegex(simmatch.ConfigError, r"stride"):
            simmatch.Network((9, 9), layers=[dict(type="local2d", stride=2)])
        with self.assertRaisesRegex(ValueError, r"layers\.0\.neurons"):
            simmatch.Network(10, layers=[dict(type="dense")])
        with self.assertRaisesRegex(ValueError, "neurons"):
            simmatch.Network(10, layers=[dict(type="dense", neurons=-2)])
        with self.assertRaises(TypeError):
            simmatch.Network(10, layers=dict(type="dense", neurons=2))
        with self.assertRaises(ValueError):
            small_network(precision="float16")

    def test_parameters_table(self):
        keys = {p["key"] for p in simmatch.parameters()}
        self.assertIn("train.eta", keys)
        self.assertIn("layers.neurons_per_site", keys)
        self.assertEqual(simmatch.default_config()["network"]["activation"], "tanh")


class FitTransformTest(unittest.TestCase):
    def setUp(self):
        self.X, self.y = patterns(60)

    def test_fit_transform_cost(self):
        net = small_network(cost_samples=60)
        before = net.cost(self.X)
        self.assertIs(net.fit(self.X, epochs=3), net)
        self.assertEqual(net.epochs_trained_, 3)
        self.assertEqual([m["epoch"] for m in net.history_], [1, 2, 3])
        self.assertLess(net.cost(self.X), before)
        # The cost the trainer logs after the last epoch is cost(X) on the same samples.
        self.assertAlmostEqual(net.history_[-1]["cost"], net.cost(self.X), places=6)
        R = net.transform(self.X)
        self.assertEqual(R.shape, (60, 32))
        self.assertEqual(R.dtype, np.float32)
        self.assertTrue(np.all(np.abs(R) < 1))
        per_layer = net.cost(self.X, per_layer=True)
        self.assertEqual(len(per_layer), 1)
        self.assertAlmostEqual(per_layer[0], net.cost(self.X))
        self.assertAlmostEqual(net.score(self.X), -net.cost(self.X))

    def test_image_and_flat_inputs_agree(self):
        net = small_network()
        np.testing.assert_array_equal(net.transform(self.X), net.transform(self.X.reshape(60, 64)))

    def test_batch_size_does_not_change_fixed_points(self):
        net = small_network(tolerance=1e-7)
        a = net.transform(self.X, batch_size=7)
        b = net.transform(self.X, batch_size=256)
        np.testing.assert_allclose(a, b, atol=1e-5)

    def test_layers_argument(self):
        net = simmatch.Network(64, layers=[dict(type="dense", neurons=6), dict(type="dense", neurons=3)], gamma=0.3)
        all_layers = net.transform(self.X, layer="all")
        self.assertEqual([a.shape for a in all_layers], [(60, 6), (60, 3)])
        np.testing.assert_array_equal(net.transform(self.X, layer=0), all_layers[0])
        np.testing.assert_array_equal(net.transform(self.X, layer=-1), all_layers[1])
        np.testing.assert_array_equal(net.transform(self.X), all_layers[1])
        with self.assertRaises(IndexError):
            net.transform(self.X, layer=2)
        with self.assertRaises(ValueError):
            net.transform(self.X, layer="top")

    def test_fit_resumes_exactly(self):
        a, b = small_network(), small_network()
        a.fit(self.X, epochs=2).fit(self.X, epochs=2)
        b.fit(self.X, epochs=4)
        np.testing.assert_array_equal(a.layers[0].W, b.layers[0].W)
        np.testing.assert_array_equal(a.layers[0].L, b.layers[0].L)
        self.assertEqual([m["learning_rate"] for m in a.history_], [m["learning_rate"] for m in b.history_])

    def test_initialise_restarts(self):
        net = small_network()
        w0 = net.layers[0].W
        net.fit(self.X, epochs=1)
        self.assertFalse(np.array_equal(net.layers[0].W, w0))
        net.initialise()
        np.testing.assert_array_equal(net.layers[0].W, w0)
        self.assertEqual(net.epochs_trained_, 0)

    def test_callback_sees_metrics_and_can_stop(self):
        seen = []

        def callback(metrics):
            seen.append(metrics)
            return metrics["epoch"] == 2

        net = small_network()
        net.fit(self.X, epochs=5, callback=callback)
        self.assertEqual(net.epochs_trained_, 2)
        self.assertEqual([m["epoch"] for m in seen], [1, 2])
        self.assertEqual(set(seen[0]), {"epoch", "learning_rate", "cost", "mean_iterations", "converged_fraction",
                                        "continued_fraction", "followed_fraction", "samples", "skipped", "seconds",
                                        "samples_per_second"})

    def test_callback_may_use_the_network(self):
        # The callback runs between epochs without the network's lock: no deadlock.
        costs = []
        net = small_network()
        net.fit(self.X, epochs=2, callback=lambda m: costs.append(net.cost(self.X)))
        self.assertEqual(len(costs), 2)

    def test_callback_errors_propagate(self):
        def callback(metrics):
            raise RuntimeError("boom")

        net = small_network()
        with self.assertRaisesRegex(RuntimeError, "boom"):
            net.fit(self.X, epochs=3, callback=callback)
        self.assertEqual(net.epochs_trained_, 1)

    def test_partial_fit_is_the_online_rule(self):
        # Online learning over X in order equals one unshuffled epoch at a constant rate.
        a = small_network()
        for i in range(0, 60, 20):
            a.partial_fit(self.X[i:i + 20], learning_rate=0.01)
        b = small_network(shuffle=False, schedule="constant", eta=0.01)
        b.fit(self.X, epochs=1)
        np.testing.assert_array_equal(a.layers[0].W, b.layers[0].W)
        self.assertEqual(a.epochs_trained_, 0)

    def test_set_params(self):
        net = small_network()
        net.set_params(eta=0.02, epochs=1)
        self.assertEqual(net.get_params()["eta"], 0.02)
        net.fit(self.X)
        self.assertEqual(net.history_[0]["learning_rate"], 0.02)
        with self.assertRaisesRegex(ValueError, "network.gamma"):
            net.set_params(gamma=1.0)


class DtypeTest(unittest.TestCase):
    def test_float64_network_and_mixed_inputs(self):
        X32, _ = patterns(30)
        X64 = X32.astype(np.float64)
        net = small_network(precision="float64")
        R = net.transform(X64)
        self.assertEqual(R.dtype, np.float64)
        np.testing.assert_array_equal(net.transform(X32), R)  # float32 is converted exactly
        net32 = small_network()
        self.assertEqual(net32.transform(X64).dtype, np.float32)
        np.testing.assert_allclose(net32.transform(X64), R, atol=1e-4)

    def test_non_contiguous_and_lists_are_accepted(self):
        X, _ = patterns(30)
        net = small_network()
        R = net.transform(X)
        np.testing.assert_array_equal(net.transform(np.asfortranarray(X.reshape(30, 64))), R)
        np.testing.assert_array_equal(net.transform(np.repeat(X, 2, axis=0)[::2]), R)
        np.testing.assert_array_equal(net.transform(X.reshape(30, 64).tolist()), R)

    def test_bad_inputs(self):
        net = small_network()
        X, _ = patterns(10)
        with self.assertRaisesRegex(TypeError, r"X: expected float32 or float64 values, got int64"):
            net.transform(X.astype(np.int64))
        with self.assertRaisesRegex(TypeError, r"uint8.*astype"):
            net.fit(X.astype(np.uint8))
        with self.assertRaisesRegex(ValueError, r"X: samples of shape \(10, 63\) have 63 features but the network "
                                                r"expects 64 \(input_shape \(8, 8, 1\)\)"):
            net.transform(X.reshape(10, 64)[:, :63])
        with self.assertRaisesRegex(ValueError, r"X\[None, :\]"):
            net.transform(X[0].ravel())
        with self.assertRaisesRegex(ValueError, "no samples"):
            net.cost(X[:0])
        bad = X.copy()
        bad[3, 2, 1] = np.nan
        with self.assertRaisesRegex(ValueError, r"X: sample 3 holds NaN \(feature 17\)"):
            net.fit(bad)
        bad[3, 2, 1] = np.inf
        with self.assertRaisesRegex(ValueError, r"sample 3 holds Inf"):
            net.transform(bad)
        with self.assertRaisesRegex(TypeError, r"X: required"):
            net.partial_fit(None)
        with self.assertRaisesRegex(ValueError, "batch_size"):
            net.transform(X, batch_size=0)
        with self.assertRaisesRegex(ValueError, "epochs"):
            net.fit(X, epochs=-1)


class ZeroCopyTest(unittest.TestCase):
    def test_weight_views_follow_training(self):
        net = small_network()
        X, _ = patterns(20)
        w = net.layers[0].W_data
        before = w.copy()
        self.assertFalse(w.flags.writeable)
        self.assertEqual(w.shape, (net.layers[0].cw.nnz,))
        self.assertTrue(np.shares_memory(w, net.layers[0].W_data))
        net.partial_fit(X)
        self.assertFalse(np.array_equal(w, before))  # the same memory, updated in place
        dense = net.layers[0].W
        cw = net.layers[0].cw
        for r in (0, 5, 31):
            np.testing.assert_array_equal(dense[r, cw.indices[cw.indptr[r]:cw.indptr[r + 1]]],
                                          w[cw.indptr[r]:cw.indptr[r + 1]])

    def test_views_keep_the_network_alive(self):
        w = small_network().layers[0].W_data
        cw = small_network().layers[0].cw
        import gc

        gc.collect()
        self.assertEqual(w.shape, (cw.nnz,))
        self.assertTrue(np.all(np.isfinite(w)))

    def test_transform_reads_x_in_place(self):
        # NumPy reports its buffers to tracemalloc: a copy of X would show as a peak of X's size.
        net = simmatch.Network((32, 64), layers=[dict(type="dense", neurons=2)], max_steps=5)
        X = np.random.default_rng(0).standard_normal((2000, 32 * 64)).astype(np.float32)  # 16 MB
        X64 = X.astype(np.float64)  # made before tracing: only the binding's own copies count
        net.transform(X[:10])
        tracemalloc.start()
        try:
            net.transform(X)
            _, peak_same = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            net.transform(X64)  # float64 into a float32 network: one converted copy of 16 MB
            _, peak_converted = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertLess(peak_same, 2e6)
        self.assertGreater(peak_converted, 15e6)


class ConcurrencyTest(unittest.TestCase):
    def test_gil_is_released_during_fit(self):
        X, _ = patterns(200, side=16)
        net = simmatch.Network((16, 16), layers=[dict(type="local2d", stride=2, radius=3, neurons_per_site=8)],
                               cost_samples=0, tolerance=1e-6)
        ticks = 0
        worker = threading.Thread(target=lambda: net.fit(X, epochs=3))
        worker.start()
        while worker.is_alive():
            ticks += 1
            time.sleep(0.0005)
        worker.join()
        self.assertEqual(net.epochs_trained_, 3)
        self.assertGreater(ticks, 20)

    def test_concurrent_transforms_agree(self):
        X, _ = patterns(100)
        net = small_network()
        expected = net.transform(X)
        results = [None] * 4

        def run(i):
            results[i] = net.transform(X, batch_size=13)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results:
            np.testing.assert_allclose(r, expected, atol=1e-5)

    @unittest.skipUnless(hasattr(signal, "SIGINT") and threading.current_thread() is threading.main_thread(),
                         "needs SIGINT in the main thread")
    def test_ctrl_c_stops_fit_between_batches(self):
        X, _ = patterns(50)
        net = small_network()
        timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
        start = time.monotonic()
        timer.start()
        try:
            with self.assertRaises(KeyboardInterrupt):
                net.fit(X, epochs=1000000)
        finally:
            timer.cancel()
        self.assertLess(time.monotonic() - start, 10)
        self.assertLess(net.epochs_trained_, 1000000)
        # The network is intact and usable afterwards.
        self.assertTrue(np.all(np.isfinite(net.layers[0].W_data)))
        self.assertEqual(net.transform(X).shape, (50, 32))


def trained_dense_pair(X, precision):
    """Two dense tanh layers with feedback, trained for 2 epochs on X (64 features)."""
    net = simmatch.Network(64, layers=[dict(type="dense", neurons=5), dict(type="dense", neurons=2)],
                           gamma=0.4, precision=precision, seed=9, activation="tanh", gain=2.0)
    return net.fit(X, epochs=2)


class SaveLoadTest(TempDirTest):
    def test_round_trip(self):
        X, _ = patterns(40)
        for precision in ("float32", "float64"):
            net = trained_dense_pair(X, precision)
            path = self.path(f"model-{precision}.npz")
            net.save(path)
            back = simmatch.load(path)
            self.assertEqual(back.precision, precision)
            self.assertEqual(back.gamma, 0.4)
            self.assertEqual(back.layer_sizes, [5, 2])
            self.assertEqual(back.layers[0].activation, simmatch.Activation.tanh(2.0))
            for a, b in zip(net.layers, back.layers):
                np.testing.assert_array_equal(a.W_data, b.W_data)
                np.testing.assert_array_equal(a.L_data, b.L_data)
                self.assertEqual(a.cw, b.cw)
                self.assertEqual(a.cl, b.cl)
            np.testing.assert_array_equal(back.transform(X, layer="all")[0], net.transform(X, layer="all")[0])
            self.assertEqual(back.config["train"], net.config["train"])

    def test_local2d_input_shape_is_recovered(self):
        net = small_network()
        net.save(self.path("m.npz"))
        self.assertEqual(simmatch.load(self.path("m.npz")).input_shape, (8, 8, 1))

    def test_numpy_opens_the_file(self):
        small_network().save(self.path("m.npz"))
        with np.load(self.path("m.npz")) as z:
            self.assertGreater(len(z.files), 0)

    def test_load_errors(self):
        with self.assertRaises(simmatch.Error):
            simmatch.load(self.path("missing.npz"))
        with open(self.path("junk.npz"), "wb") as f:
            f.write(b"not a zip file")
        with self.assertRaises(simmatch.Error):
            simmatch.load(self.path("junk.npz"))


class SetWeightsTest(unittest.TestCase):
    def test_synapse_values_and_dense_matrices(self):
        for precision in ("float32", "float64"):
            net = small_network(precision=precision)
            layer = net.layers[0]
            w = np.arange(layer.cw.nnz, dtype=np.float64) / layer.cw.nnz
            self.assertIs(net.set_weights(0, W=w), net)
            np.testing.assert_array_equal(layer.W_data, w.astype(net.dtype))
            dense = layer.W * 2  # a dense matrix, zero off the structure
            net.set_weights(0, W=dense)
            np.testing.assert_array_equal(layer.W, dense)
            L = np.eye(32) * 3.0
            net.set_weights(0, L=L)
            np.testing.assert_array_equal(layer.L, L)
            np.testing.assert_array_equal(layer.W, dense)  # untouched

    def test_the_network_uses_the_new_weights(self):
        a, b = small_network(seed=1), small_network(seed=2)
        X, _ = patterns(10)
        b.set_weights(0, W=a.layers[0].W_data, L=a.layers[0].L_data)
        np.testing.assert_array_equal(a.transform(X), b.transform(X))

    def test_bad_weights_name_the_problem(self):
        net = small_network()
        with self.assertRaisesRegex(ValueError, r"W: 3 values for \d+ synapses"):
            net.set_weights(0, W=np.zeros(3))
        with self.assertRaisesRegex(ValueError, r"W: shape \(2, 2\), expected \(32, 64\)"):
            net.set_weights(0, W=np.zeros((2, 2)))
        with self.assertRaisesRegex(ValueError, r"W: entry \(0, 3\) is 1 but there is no synapse there"):
            net.set_weights(0, W=np.ones((32, 64)))
        w = net.layers[0].W_data.copy()
        w[5] = np.nan
        with self.assertRaisesRegex(ValueError, "W: synapse 5 holds nan"):
            net.set_weights(0, W=w)
        L = np.eye(32)
        L[0, 1] = 0.5  # the site's neurons 0 and 1 are joined, but (1, 0) stays 0
        with self.assertRaisesRegex(ValueError, r"L: not symmetric: entry \(0, 1\) is 0.5 but \(1, 0\) is 0"):
            net.set_weights(0, L=L)
        with self.assertRaisesRegex(IndexError, "layer 1 does not exist"):
            net.set_weights(1, W=w)
        with self.assertRaises(TypeError):
            net.set_weights(0, W="weights")
        before = net.layers[0].W_data.copy()
        with self.assertRaises(ValueError):  # a bad L leaves W as it was too
            net.set_weights(0, W=np.zeros_like(before), L=L)
        np.testing.assert_array_equal(net.layers[0].W_data, before)


class PickleTest(unittest.TestCase):
    def assert_same_network(self, a, b):
        self.assertEqual(a.precision, b.precision)
        self.assertEqual(a.input_shape, b.input_shape)
        self.assertEqual(a.gamma, b.gamma)
        for la, lb in zip(a.layers, b.layers):
            np.testing.assert_array_equal(la.W_data, lb.W_data)
            np.testing.assert_array_equal(la.L_data, lb.L_data)
            self.assertEqual(la.cw, lb.cw)
            self.assertEqual(la.cl, lb.cl)
            self.assertEqual(la.activation, lb.activation)

    def test_pickle_round_trip_keeps_weights_history_and_config(self):
        X, _ = patterns(40)
        for precision in ("float32", "float64"):
            net = trained_dense_pair(X, precision)
            back = pickle.loads(pickle.dumps(net))
            self.assert_same_network(net, back)
            self.assertEqual(back.epochs_trained_, 2)
            self.assertEqual(back.history_, net.history_)
            self.assertEqual(back.config, net.config)
            np.testing.assert_array_equal(back.transform(X), net.transform(X))
            # Training goes on from the same state: one more epoch gives the same weights.
            net.fit(X, epochs=1)
            back.fit(X, epochs=1)
            self.assert_same_network(net, back)

    def test_deepcopy_is_independent(self):
        X, _ = patterns(30)
        net = small_network()
        net.fit(X, epochs=1)
        twin = copy.deepcopy(net)
        self.assert_same_network(net, twin)
        self.assertEqual(twin.input_shape, (8, 8, 1))
        twin.fit(X, epochs=1)
        self.assertFalse(np.array_equal(net.layers[0].W_data, twin.layers[0].W_data))

    def test_custom_structures_survive(self):
        cw = simmatch.Structure.local2d((8, 8), 4, 3.0, 3)
        cl = simmatch.Structure.lateral2d((2, 2, 3), 1.0)
        net = simmatch.Network((8, 8), layers=[dict(cw=cw, cl=cl, grid=(2, 2, 3), activation="linear")], eta=3e-3)
        back = pickle.loads(pickle.dumps(net))
        self.assert_same_network(net, back)
        self.assertEqual(back.config, net.config)
        X, _ = patterns(10)
        np.testing.assert_array_equal(back.transform(X), net.transform(X))

    def test_bad_state_is_a_value_error(self):
        def unpickle(state):
            simmatch.Network.__new__(simmatch.Network).__setstate__(state)
        with self.assertRaisesRegex(ValueError, "unsupported state"):
            unpickle((99,))
        state = list(small_network().__getstate__())
        state[2] = {name: b"not npy" for name in state[2]}
        with self.assertRaisesRegex(simmatch.Error, "pickled simmatch.Network"):
            unpickle(tuple(state))


class ConvergenceWarningTest(unittest.TestCase):
    """Samples stopped by solver.max_steps short of their fixed point are returned with a
    simmatch.ConvergenceWarning at the caller's line, as scikit-learn's iterative estimators warn."""

    def setUp(self):
        self.X, _ = patterns(60)

    def warnings_of(self, call):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = call()
        return result, [w for w in caught if issubclass(w.category, simmatch.ConvergenceWarning)]

    def test_samples_short_of_their_fixed_point_warn_once_per_call(self):
        net = small_network()
        _, caught = self.warnings_of(lambda: net.fit(self.X, epochs=1))
        self.assertEqual(caught, [])
        settled, caught = self.warnings_of(lambda: net.transform(self.X))
        self.assertEqual(caught, [])
        net.set_params(**{"solver.max_steps": 1})
        for call, what, samples in ((lambda: net.transform(self.X, batch_size=7), "transformed", 60),
                                    (lambda: net.cost(self.X[:10]), "scored", 10),
                                    (lambda: net.score(self.X[:10]), "scored", 10),
                                    (lambda: net.fit(self.X, epochs=1), "trained on", 60),
                                    (lambda: net.partial_fit(self.X[:5]), "trained on", 5)):
            with self.subTest(what=what):
                _, caught = self.warnings_of(call)
                self.assertEqual(len(caught), 1)
                self.assertTrue(str(caught[0].message).startswith(
                    f"{samples} of {samples} samples {what} did not reach their fixed point within "
                    "solver.max_steps = 1 (residual above solver.tolerance = 3e-07)"), str(caught[0].message))
                self.assertEqual(caught[0].filename, __file__)  # the caller's line, not simmatch's
        # The activities are still returned: the last state reached, not the fixed point.
        short, _ = self.warnings_of(lambda: net.transform(self.X))
        self.assertEqual(short.shape, settled.shape)
        self.assertFalse(np.allclose(short, settled))

    def test_a_warnings_filter_can_make_it_an_error(self):
        net = small_network()
        net.set_params(**{"solver.max_steps": 1})
        with warnings.catch_warnings():
            warnings.simplefilter("error", simmatch.ConvergenceWarning)
            with self.assertRaisesRegex(simmatch.ConvergenceWarning, "did not reach their fixed point"):
                net.transform(self.X)


class ErrorHierarchyTest(unittest.TestCase):
    def test_classes(self):
        self.assertTrue(issubclass(simmatch.Error, RuntimeError))
        for cls in (simmatch.ConfigError, simmatch.ShapeError, simmatch.FormatError):
            self.assertTrue(issubclass(cls, simmatch.Error))
            self.assertTrue(issubclass(cls, ValueError))
        self.assertTrue(issubclass(simmatch.IoError, simmatch.Error))
        self.assertFalse(issubclass(simmatch.InternalError, simmatch.Error))
        # A warning, not an error: the activities are returned (scikit-learn's ConvergenceWarning is
        # a UserWarning as well).
        self.assertTrue(issubclass(simmatch.ConvergenceWarning, UserWarning))
        self.assertFalse(issubclass(simmatch.ConvergenceWarning, simmatch.Error))


if __name__ == "__main__":
    unittest.main()
