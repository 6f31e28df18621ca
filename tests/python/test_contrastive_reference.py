"""Contrastive similarity matching against an independent float64 re-derivation.

The CLI trains one batch in train.mode = "contrastive"; this test recomputes that batch from the
initial model with NumPy alone (docs/theory.md, "Contrastive similarity matching"): the free phase
by Euler from rest (reference_dynamics.py), the nudged phase by Euler from the free fixed point
with the top layer's input plus beta (z - r), and the step
    dW = eta w_p / beta (mean r^_p r^_(p-1)^T - mean r-_p r-_(p-1)^T)     (on W's synapses)
    dL = eta w_p / (2 beta) (mean r^_p r^_p^T - L / (k_p C^L))            (on L's synapses)
and compares the weights the CLI wrote, for a deep network with feedback and for saturating
rectifiers. With train.nudge = "symmetric" ("Symmetric nudging") a third phase runs Euler from the
free fixed point with the top layer's input minus beta (z - r), and
    dW = eta w_p / (2 beta) (mean r+_p r+_(p-1)^T - mean r-_p r-_(p-1)^T)
with L's step as above, from the +beta phase.
"""

import json
import os
import subprocess
import unittest

import numpy as np

import reference_dynamics as ref
from _helpers import CLI, TempDirTest, labelled_dense_config, structure_constants


def nudged_euler(net, X, z, beta, u0, tol=1e-11, max_steps=400000):
    """Fixed points of the nudged dynamics (top layer's input + beta (z - r)) from u0, all samples
    together until every sample's residual is below tol (columns are samples)."""
    x = np.asarray(X, dtype=np.float64).T
    u = [up.copy() for up in u0]
    layers = net["layers"]
    for n in range(max_steps):
        r = [ref.activate(layer, up) for layer, up in zip(layers, u)]
        v = ref.velocity(net, x, r, u)
        v[-1] = v[-1] + beta * (z - r[-1])
        res = max(np.max(np.sqrt(np.sum(vp * vp, axis=0) / np.maximum(np.sum(up * up, axis=0), 1e-300))) for vp, up in zip(v, u))
        if res <= tol:
            return r
        h = max(0.2 / (1.0 + 0.005 * n), 0.05)
        u = [up + h * vp for up, vp in zip(u, v)]
    raise AssertionError("nudged Euler did not converge")


@unittest.skipUnless(CLI and os.path.exists(CLI), "the simmatch command is not built (SIMMATCH_CLI)")
class ContrastiveReferenceTest(TempDirTest):
    def run_case(self, activation, gamma, extra, neurons=(6, 5, 3), symmetric=False):
        config, X, labels = labelled_dense_config(self, activation, gamma, list(neurons),
                                                  'mode = "contrastive"\nbeta = 0.7\nlabel_scale = 0.9\neta = 0.05')
        if symmetric:
            extra = [*extra, "train.nudge=symmetric"]
        for epochs, out in ((0, "a"), (1, "b")):
            subprocess.run([CLI, "train", config, f"train.epochs={epochs}", f"output.dir={self.path(out)}",
                            "solver.tolerance=1e-12", *extra],
                           check=True, capture_output=True)
        before, after = self.path("a/model.npz"), self.path("b/model.npz")
        net = ref.load(before)
        trained = ref.load(after)
        beta, eta, scale = 0.7, 0.05, 0.9
        P = len(net["layers"])
        z = np.zeros((3, 12))
        z[labels, np.arange(12)] = scale
        free, _, converged = ref.euler_from_rest(net, X, tol=1e-12)
        self.assertTrue(converged.all())
        free = [rp.T for rp in free]
        x = X.T
        # u at the free fixed point is the layer input there (du/ds = g - u = 0).
        u_free = ref.velocity(net, x, free, [np.zeros_like(r) for r in free])
        nudged = nudged_euler(net, X, z, beta, u_free, tol=1e-12)
        # The phase W's step subtracts, and the factor on the difference.
        lower, spread = (nudged_euler(net, X, z, -beta, u_free, tol=1e-12), 2.0) if symmetric else (free, 1.0)
        for p in range(P):
            w_p = gamma ** (p - (P - 1)) if gamma > 0 else 1.0
            k_p = 1.0 + gamma if p + 1 < P else 1.0
            below_f = x if p == 0 else lower[p - 1]
            below_n = x if p == 0 else nudged[p - 1]
            dW = eta * w_p / (spread * beta) * (nudged[p] @ below_n.T - lower[p] @ below_f.T) / 12
            W0, W1 = net["layers"][p]["W"], trained["layers"][p]["W"]
            expected = W0.toarray() + dW
            mask = structure_constants(before, f"W{p + 1}").toarray() != 0
            # Both sides solve to a residual of 1e-12; where the dynamics contract slowly the states
            # differ by more, so the steps are compared to 1e-4 of their size (a wrong factor of
            # w_p, beta or 2 would be off by half of it or more).
            tol = 1e-4 * np.abs(dW[mask]).max()
            np.testing.assert_allclose(W1.toarray()[mask], expected[mask], rtol=0, atol=tol, err_msg=f"W{p + 1}")
            L0 = net["layers"][p]["L"].toarray()
            CL = structure_constants(before, f"L{p + 1}").toarray()
            lmask = CL != 0
            decay = np.zeros_like(L0)
            decay[lmask] = L0[lmask] / (k_p * CL[lmask])
            dL = eta * w_p / (2 * beta) * (nudged[p] @ nudged[p].T / 12 - decay)
            np.testing.assert_allclose(trained["layers"][p]["L"].toarray()[lmask], (L0 + dL)[lmask], rtol=0,
                                       atol=1e-4 * np.abs(dL[lmask]).max(), err_msg=f"L{p + 1}")
            # The step is not trivially small: the check would see a wrong factor.
            self.assertGreater(np.abs(dW[mask]).max(), 1e-4)
        return free

    def test_deep_tanh_with_feedback(self):
        self.run_case("tanh", 0.5, [])

    def test_saturating_clipped_relu_with_feedback(self):
        self.run_case("clipped_relu", 0.3, ["network.clip=0.6"])

    def test_wide_clipped_relu_layer_solved_through_the_dense_factor(self):
        # 70 + 3 all-to-all neurons joined by feedback: one system large and full enough for the
        # dense factorisation of the implicit steps, which drops the neurons at 0 or at the clip.
        free = self.run_case("clipped_relu", 1.0, ["network.clip=0.6"], neurons=(70, 3))
        metrics = [json.loads(line) for line in open(self.path("b/metrics.jsonl"))]
        self.assertGreater(metrics[-1]["continued_fraction"], 0)  # the implicit steps ran
        hidden = free[0]
        self.assertGreater(np.mean((hidden <= 0) | (hidden >= 0.6)), 0.25)  # many neurons dropped from the factor

    def test_symmetric_nudging_deep_tanh_with_feedback(self):
        self.run_case("tanh", 0.5, [], symmetric=True)

    def test_symmetric_nudging_saturating_clipped_relu(self):
        # The -beta phase takes the top layer's self-coupling below zero (L - beta I): not
        # provably unique, so the fast solver follows the trajectory from the free fixed point.
        self.run_case("clipped_relu", 0.3, ["network.clip=0.6"], symmetric=True)

    def test_symmetric_nudging_reference_euler_solver(self):
        self.run_case("tanh", 0.4, ["solver.method=euler", "solver.tolerance=1e-12", "solver.max_steps=100000"],
                      symmetric=True)

    def test_reference_euler_solver(self):
        self.run_case("tanh", 0.4, ["solver.method=euler", "solver.tolerance=1e-12", "solver.max_steps=100000"])


if __name__ == "__main__":
    unittest.main()
