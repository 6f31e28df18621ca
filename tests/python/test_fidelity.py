"""simmatch's default solver against an independent float64 re-derivation of eq. 15.

reference_dynamics.py integrates the dynamics from rest with NumPy and SciPy alone, reading the
model file the network saves. Deep, feedback, indefinite-L, rectified and saturated networks,
trained by simmatch itself, must give the fixed points of that integration (docs/theory.md,
"Solving eq. 15").
"""

import os
import sys
import unittest
import warnings

import numpy as np

import reference_dynamics as ref
import simmatch
from _helpers import TempDirTest, patterns

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import random_fidelity_sweep as sweep  # noqa: E402
import schedule_stability  # noqa: E402


def local(stride, radius, per_site, lateral):
    return dict(type="local2d", stride=stride, radius=radius, neurons_per_site=per_site, lateral_radius=lateral)


def conv(kernel, per_site, lateral):
    return dict(type="conv2d", kernel=kernel, stride=1, padding="same", neurons_per_site=per_site,
                lateral_radius=lateral)


def train(test, name, layers, params):
    """A float64 network trained briefly by simmatch on 96 centred 8x8 patterns and saved. Returns
    the network, its model file and the patterns (96 x 64)."""
    X, _ = patterns(samples=96, side=8, clusters=3, noise=0.3, seed=7, dtype=np.float64)
    X = X.reshape(len(X), -1)
    X = X - X.mean(axis=1, keepdims=True)
    settings = dict(input_shape=(8, 8), layers=layers, precision="float64", seed=5, cost_samples=0, eta=0.05,
                    samples_per_epoch=96, batch_size=8, epochs=8)
    settings.update(params)
    epochs = settings.pop("epochs")
    net = simmatch.Network(**settings)
    net.fit(X, epochs=epochs)
    path = test.path(name + ".npz")
    net.save(path)
    return net, path, X


def assert_matches_reference(test, name, net, path, batches, default_within=1e-4):
    """Every layer's fixed point for each batch in `batches`, transformed as one call, must be the
    reference integration's (tolerance 1e-10) within 1e-6, and within `default_within` at the
    default tolerance."""
    model = ref.load(path)
    for sample in batches:
        expected, _, converged = ref.euler_from_rest(model, sample, tol=1e-10)
        test.assertTrue(converged.all(), f"{name}: the reference integration did not converge")
        net.set_params(**{"solver.tolerance": 1e-10, "solver.max_steps": 200000})
        got = net.transform(sample, layer="all")
        test.assertEqual(len(got), len(expected))
        for p, (a, b) in enumerate(zip(got, expected)):
            test.assertEqual(a.dtype, np.float64)
            test.assertEqual(a.shape, b.shape)
            worst = ref.relative_distance(a, b).max()
            test.assertLessEqual(worst, 1e-6, f"{name}: layer {p} differs from the reference by {worst:.3g}")
        # At the default tolerance the returned activities are close as well.
        net.set_params(**{"solver.tolerance": 0.0, "solver.max_steps": 3000})
        loose = net.transform(sample, layer="all")
        for p, (a, b) in enumerate(zip(loose, expected)):
            test.assertLessEqual(ref.relative_distance(a, b).max(), default_within,
                                 f"{name}: layer {p} at the default tolerance")


class FixedPointsMatchAnIndependentIntegration(TempDirTest):
    """Each case: train briefly, save, then compare every layer of every sample."""

    def compare(self, name, layers, default_within=1e-4, **params):
        net, path, X = train(self, name, layers, params)
        assert_matches_reference(self, name, net, path, [X[:12]], default_within)

    def test_two_layers_with_feedback_and_lateral_neighbourhoods(self):
        self.compare("deep_lateral", [local(2, 2.5, 3, 1.0), local(1, 1.5, 4, 1.0)], gamma=0.3)

    def test_three_layers_with_strong_feedback(self):
        self.compare("three_layers", [local(2, 2.5, 3, 1.0), local(1, 1.5, 4, 2.0), local(1, 1.5, 4, 1.0)], gamma=0.5)

    def test_saturated_tanh(self):
        # Gain 4: most units sit near +-1, where F'' is large and the dynamics stiff.
        self.compare("saturated", [local(2, 2.5, 3, 1.0), local(1, 1.5, 4, 1.0)], gamma=0.2, gain=4.0)

    def test_clipped_relu_with_feedback(self):
        self.compare("clipped", [local(2, 2.5, 3, 1.0), local(1, 1.5, 4, 1.0)], gamma=0.3, activation="clipped_relu")

    def test_relu_cascade(self):
        self.compare("relu", [local(2, 2.5, 3, 1.0), local(1, 1.5, 4, 1.0)], gamma=0.0, activation="relu", eta=0.02)

    def test_wide_sites_without_feedback(self):
        # More than 32 neurons per site, lateral radius 0, no feedback: solved by Anderson site by
        # site, then Newton for what is left (site_anderson.hpp).
        self.compare("wide_sites", [local(2, 2.5, 40, 0.0), local(1, 1.5, 36, 0.0)], gamma=0.0)

    def test_saturated_sites_without_feedback(self):
        # Gain 4 makes the fixed point not provably unique: the trajectory is followed, and with
        # independent sites every site must be settled before the implicit steps take over (a
        # faint site switched with its loud neighbours went to another fixed point: 10 %).
        # At the default tolerance the trajectory solver's Newton steps after the residual test bring
        # the first layer within 2e-7 (the residual test alone left it 2.4e-6 away).
        self.compare("wide_saturated", [local(2, 2.5, 40, 0.0), local(1, 1.5, 36, 0.0)], default_within=1e-6,
                     gamma=0.0, gain=4.0)
        self.compare("small_saturated", [local(2, 2.5, 4, 0.0), local(1, 1.5, 6, 0.0)], gamma=0.0, gain=4.0)

    def test_wide_rectified_sites(self):
        self.compare("wide_relu", [local(2, 2.5, 40, 0.0), local(1, 1.5, 36, 0.0)], gamma=0.0, activation="relu",
                     eta=0.02)
        self.compare("wide_clipped", [local(2, 2.5, 40, 0.0), local(1, 1.5, 36, 0.0)], gamma=0.0,
                     activation="clipped_relu")


class LoneSamplesMatchAnIndependentIntegration(TempDirTest):
    """The paper's online rule: trained one sample at a time (batch_size = 1), then each sample
    transformed on its own. One sample takes the solvers' one-column paths (per-site sums held in
    registers, Anderson's systems of width one, the drive through shared patches eight rows at a
    time), which batches never reach."""

    def compare(self, name, layers, samples=6, **params):
        params.update(batch_size=1, epochs=3)
        net, path, X = train(self, name, layers, params)
        assert_matches_reference(self, name, net, path, [X[i:i + 1] for i in range(samples)])

    def test_two_layers_with_feedback(self):
        self.compare("lone_deep", [local(2, 2.5, 3, 1.0), local(1, 1.5, 4, 1.0)], gamma=0.3)

    def test_saturated_tanh_with_feedback(self):
        self.compare("lone_saturated", [local(2, 2.5, 3, 1.0), local(1, 1.5, 4, 1.0)], gamma=0.2, gain=4.0)

    def test_wide_sites(self):
        self.compare("lone_wide", [local(2, 2.5, 40, 0.0), local(1, 1.5, 36, 0.0)], samples=4, gamma=0.0)

    def test_convolution_wider_than_a_group_of_eight_rows(self):
        # 36 filters: the one-sample drive runs four groups of eight rows and a tail of four.
        self.compare("lone_conv", [conv(3, 36, 0.0)], samples=4, gamma=0.0)


class ClippedUnitsAtTheirKink(TempDirTest):
    """A three-layer network of bench/random_fidelity_sweep.py (seed 7): clipped units settle a few
    1e-4 from their kink, with feedback, so the fixed point is followed along the trajectory. ROS2's
    two stages cancelled there (the first stage's state crossed the kink) and the integration stalled
    at a residual of 3e-5, every evaluation to max_steps, 1e-4 from the fixed point that Euler from rest
    reaches in ~30,000 steps; a stall now hands the sample to the Euler schedule."""

    def test_a_stalled_integration_reaches_the_fixed_point_of_the_dynamics(self):
        rng = np.random.default_rng(1007)
        prototypes = rng.standard_normal((3, 8, 8))
        X = prototypes[np.arange(96) % 3] + 0.3 * rng.standard_normal((96, 8, 8))
        X = X.reshape(96, -1)
        X = X - X.mean(axis=1, keepdims=True)
        layers = [dict(type="conv2d", kernel=3, stride=1, padding="same", neurons_per_site=1, lateral_radius=0.0,
                       activation="clipped_relu", eta_scale=0.01),
                  dict(type="local2d", stride=2, radius=1.5, neurons_per_site=33, lateral_radius=0.0,
                       activation="clipped_relu", eta_scale=0.1),
                  dict(type="dense", neurons=3, activation="tanh", gain=2.0)]
        net = simmatch.Network(input_shape=(8, 8), layers=layers, precision="float64", seed=7, cost_samples=0,
                               samples_per_epoch=96, gamma=0.1, batch_size=1, eta=0.05)
        net.fit(X, epochs=3)
        path = self.path("kink.npz")
        net.save(path)
        sample = X[[1, 2, 4, 7]]  # the four samples that stalled
        expected, steps, converged = ref.euler_from_rest(ref.load(path), sample, tol=1e-10)
        self.assertTrue(converged.all())
        self.assertGreater(steps.min(), 20000)  # slow: a default max_steps of 3,000 does not reach it
        net.set_params(**{"solver.tolerance": 1e-10, "solver.max_steps": 200000})
        with warnings.catch_warnings():
            warnings.simplefilter("error", simmatch.ConvergenceWarning)
            got = net.transform(sample, layer="all")
        for p, (a, b) in enumerate(zip(got, expected)):
            self.assertLessEqual(ref.relative_distance(a, b).max(), 1e-6, f"layer {p}")


class NetworksOfTheRandomSweep(TempDirTest):
    """Cases of bench/random_fidelity_sweep.py, run by its own code (the draw from the seed, training,
    the three comparisons), that mix layer types, activations and feedback as no hand-written case
    above does; among the quickest of seeds 0-99 to integrate."""

    def check(self, seed):
        name, verdict, worst = sweep.run_case(seed, self.tmp)
        self.assertEqual(verdict, "ok", f"seed {seed}: {name} {worst}")

    def test_convolutions_of_clipped_and_saturated_units_with_feedback(self):
        self.check(89)  # conv2d 1x1 (33 clipped), conv2d 3x3 (2 tanh of gain 4, lateral radius 1), dense

    def test_three_locally_connected_clipped_layers_with_feedback(self):
        self.check(82)

    def test_a_linear_layer_under_a_clipped_one_trained_online(self):
        self.check(92)


class ScheduleStabilityBound(TempDirTest):
    """bench/schedule_stability.py's lambda_max is the largest eigenvalue of eq. 15's Jacobian at rest for
    tanh units (docs/theory.md, "Euler's stability limit"): here against finite differences of the
    reference's velocity, on two tanh layers of gain 2 with feedback after some training."""

    def test_the_bound_is_the_jacobians_largest_eigenvalue_at_rest(self):
        X, _ = patterns(samples=48, side=4, clusters=3, noise=0.3, seed=2, dtype=np.float64)
        X = X.reshape(len(X), -1)
        net = simmatch.Network(input_shape=(16,), layers=[dict(type="dense", neurons=12), dict(type="dense", neurons=6)],
                               gamma=0.4, gain=2.0, precision="float64", seed=3, cost_samples=0, eta=0.05,
                               samples_per_epoch=48, batch_size=8)
        net.fit(X, epochs=4)
        path = self.path("net.npz")
        net.save(path)
        model = ref.load(path)
        sizes = [layer["W"].shape[0] for layer in model["layers"]]
        x = X[:1].T
        def velocity(flat):
            u = np.split(flat.reshape(-1, 1), np.cumsum(sizes)[:-1])
            r = [ref.activate(layer, up) for layer, up in zip(model["layers"], u)]
            return np.concatenate([v.ravel() for v in ref.velocity(model, x, r, u)])
        n, eps = sum(sizes), 1e-6
        jacobian = np.empty((n, n))
        for j in range(n):
            e = np.zeros(n)
            e[j] = eps
            jacobian[:, j] = (velocity(-e) - velocity(e)) / (2 * eps)  # J = -d(du/ds)/du
        eigenvalues = np.linalg.eigvals(jacobian)
        self.assertLess(np.abs(eigenvalues.imag).max(), 1e-6)  # real: J is similar to a symmetric matrix
        bound = schedule_stability.stiffest_eigenvalue(model)
        self.assertGreater(bound, 1.5)  # trained L: the case is not trivial
        self.assertAlmostEqual(bound, max(eigenvalues.real.max(), 1.0), delta=1e-6 * bound)
        self.assertAlmostEqual(net.jacobian_eigenvalue_bound(), bound, delta=1e-8 * bound)

    def test_the_networks_own_bound_is_the_re_derivations(self):
        """Network.jacobian_eigenvalue_bound (C++, Lanczos on the energy Hessian) against the script's
        dense / ARPACK eigenvalues of the matrix it assembles from the model file: deep, feedback,
        convolutional, locally connected, rectified and saturating."""
        cases = [
            ("feedback", [conv(3, 4, 1), dict(type="dense", neurons=10)], dict(gamma=0.5, gain=3.0)),
            ("cascade", [local(2, 2, 3, 1), local(1, 1, 2, 0)], dict(gamma=0.0, activation="relu")),
            ("clipped", [dict(type="dense", neurons=30), dict(type="dense", neurons=6)],
             dict(gamma=0.3, activation="clipped_relu")),
        ]
        for name, layers, params in cases:
            with self.subTest(name), warnings.catch_warnings():
                warnings.simplefilter("ignore", simmatch.ConvergenceWarning)  # "feedback" is beyond the limit
                net, path, _ = train(self, name, layers, params)
                expected = schedule_stability.stiffest_eigenvalue(ref.load(path))
                self.assertGreater(expected, 1.2)
                self.assertAlmostEqual(net.jacobian_eigenvalue_bound(), expected, delta=1e-8 * expected)


class ScheduleWarning(unittest.TestCase):
    """A schedule whose floor step is beyond 2 / lambda_max warns with simmatch.ConvergenceWarning,
    naming the limit and solver.step_min (docs/theory.md, "Euler's stability limit")."""

    def test_warns_on_transform_where_the_euler_floor_step_is_beyond_the_limit(self):
        X, _ = patterns(samples=16, side=4, clusters=2, noise=0.3, seed=1, dtype=np.float64)
        X = X.reshape(len(X), -1)
        net = simmatch.Network(input_shape=(16,), layers=[dict(type="dense", neurons=8)], precision="float64",
                               seed=1, method="euler")
        limit = 2.0 / net.jacobian_eigenvalue_bound()
        for step_min, warns in ((0.9 * limit, False), (1.1 * limit, True)):
            net.set_params(**{"solver.step_min": step_min, "solver.step_initial": max(step_min, 0.2)})
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                net.transform(X)
            texts = [str(w.message) for w in caught if issubclass(w.category, simmatch.ConvergenceWarning)]
            schedule = [t for t in texts if "solver.step_min" in t and "stability limit" in t]
            self.assertEqual(bool(schedule), warns, texts)
        self.assertTrue(schedule[0].startswith("16 of 16 samples transformed were solved along the Euler step schedule"),
                        schedule)

    def test_fit_counts_the_samples_it_solved_along_the_schedule(self):
        X, _ = patterns(samples=16, side=4, clusters=2, noise=0.3, seed=1, dtype=np.float64)
        X = X.reshape(len(X), -1)
        net = simmatch.Network(input_shape=(16,), layers=[dict(type="dense", neurons=8)], precision="float64",
                               seed=1, method="euler", **{"train.cost_samples": 0})
        step = 1.5 * 2.0 / net.jacobian_eigenvalue_bound()
        net.set_params(**{"solver.step_min": step, "solver.step_initial": step, "solver.max_steps": 5})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            net.fit(X, epochs=2)
        texts = [str(w.message) for w in caught if issubclass(w.category, simmatch.ConvergenceWarning)]
        self.assertTrue(texts[0].startswith("32 of 32 samples trained on were solved along the Euler step schedule"),
                        texts)
        # The samples left short of their fixed point are pointed at the schedule, not at more steps.
        short = [t for t in texts if "did not reach their fixed point" in t]
        self.assertTrue(short, texts)
        self.assertNotIn("raise solver.max_steps", short[0])
        self.assertIn("the step schedule is beyond its stability limit", short[0])


if __name__ == "__main__":
    unittest.main()
