"""Supervised similarity matching (labels as an input) against an independent float64 re-derivation.

The CLI trains in train.mode = "supervised"; this test takes the model after one epoch (its label
synapses V already learnt, so the labels drive the dynamics) and recomputes the second epoch's
batch with NumPy alone (docs/theory.md, "Supervised similarity matching: labels as an input"):
Euler from rest of eq. 15 with s V e_y added to the top layer's input, then eq. 17 on the
labelled fixed points,
    dW = eta w_p (mean r_p r_(p-1)^T - W / C^W)                 (on W's synapses)
    dL = eta w_p / 2 (mean r_p r_p^T - L / (k_p C^L))           (on L's synapses)
    dV = eta (mean r_P (s e_y)^T - V)                           (every label synapse, C^W = 1)
and compares the weights the CLI wrote, for a deep network with feedback, for saturating
rectifiers and with the reference Euler solver.
"""

import os
import subprocess
import unittest

import numpy as np

import reference_dynamics as ref
from _helpers import CLI, TempDirTest, labelled_dense_config, structure_constants


def labelled_euler(net, X, drive, tol=1e-12, max_steps=400000):
    """Fixed points from rest of eq. 15 with `drive` (N_P x B) added to the top layer's input."""
    x = np.asarray(X, dtype=np.float64).T
    layers = net["layers"]
    u = [np.zeros((layer["W"].shape[0], x.shape[1])) for layer in layers]
    for n in range(max_steps):
        r = [ref.activate(layer, up) for layer, up in zip(layers, u)]
        v = ref.velocity(net, x, r, u)
        v[-1] = v[-1] + drive
        res = max(np.max(np.sqrt(np.sum(vp * vp, axis=0) / np.maximum(np.sum(up * up, axis=0), 1e-300)))
                  for vp, up in zip(v, u))
        if res <= tol:
            return r
        h = max(0.2 / (1.0 + 0.005 * n), 0.05)
        u = [up + h * vp for up, vp in zip(u, v)]
    raise AssertionError("labelled Euler did not converge")


@unittest.skipUnless(CLI and os.path.exists(CLI), "the simmatch command is not built (SIMMATCH_CLI)")
class SupervisedReferenceTest(TempDirTest):
    def run_case(self, activation, gamma, extra):
        config, X, labels = labelled_dense_config(self, activation, gamma, [6, 5],
                                                  'mode = "supervised"\nlabel_scale = 1.5\neta = 0.3')
        for epochs, out in ((1, "a"), (2, "b")):
            subprocess.run([CLI, "train", config, f"train.epochs={epochs}", f"output.dir={self.path(out)}",
                            "solver.tolerance=1e-12", *extra],
                           check=True, capture_output=True)
        before, after = self.path("a/model.npz"), self.path("b/model.npz")
        net, trained = ref.load(before), ref.load(after)
        V0, V1 = np.load(before)["V"].astype(np.float64), np.load(after)["V"].astype(np.float64)
        self.assertEqual(V0.shape, (5, 3))
        self.assertGreater(np.abs(V0).max(), 1e-2)  # the labels do drive this batch's dynamics
        eta, s, B = 0.3, 1.5, 12
        P = len(net["layers"])
        r = labelled_euler(net, X, s * V0[:, labels])
        # Without the label input the fixed points differ: the check sees the drive.
        bare, _, _ = ref.euler_from_rest(net, X, tol=1e-12)
        self.assertGreater(np.abs(bare[-1].T - r[-1]).max(), 1e-3)
        x = X.T
        for p in range(P):
            w_p = gamma ** (p - (P - 1)) if gamma > 0 else 1.0
            k_p = 1.0 + gamma if p + 1 < P else 1.0
            below = x if p == 0 else r[p - 1]
            W0 = net["layers"][p]["W"].toarray()
            CW = structure_constants(before, f"W{p + 1}").toarray()
            mask = CW != 0
            decay = np.zeros_like(W0)
            decay[mask] = W0[mask] / CW[mask]
            dW = eta * w_p * (r[p] @ below.T / B - decay)
            np.testing.assert_allclose(trained["layers"][p]["W"].toarray()[mask], (W0 + dW)[mask], rtol=0,
                                       atol=1e-6 * np.abs(dW[mask]).max(), err_msg=f"W{p + 1}")
            L0 = net["layers"][p]["L"].toarray()
            CL = structure_constants(before, f"L{p + 1}").toarray()
            lmask = CL != 0
            ldecay = np.zeros_like(L0)
            ldecay[lmask] = L0[lmask] / (k_p * CL[lmask])
            dL = eta * w_p / 2 * (r[p] @ r[p].T / B - ldecay)
            np.testing.assert_allclose(trained["layers"][p]["L"].toarray()[lmask], (L0 + dL)[lmask], rtol=0,
                                       atol=1e-6 * np.abs(dL[lmask]).max(), err_msg=f"L{p + 1}")
        onehot = np.zeros((3, B))
        onehot[labels, np.arange(B)] = s
        dV = eta * (r[-1] @ onehot.T / B - V0)
        np.testing.assert_allclose(V1, V0 + dV, rtol=0, atol=1e-6 * np.abs(dV).max(), err_msg="V")
        self.assertGreater(np.abs(dV).max(), 1e-3)

    def test_deep_tanh_with_feedback(self):
        self.run_case("tanh", 0.5, [])

    def test_saturating_clipped_relu_with_feedback(self):
        self.run_case("clipped_relu", 0.3, ["network.clip=0.6"])

    def test_reference_euler_solver(self):
        self.run_case("tanh", 0.4, ["solver.method=euler", "solver.tolerance=1e-12", "solver.max_steps=100000"])


if __name__ == "__main__":
    unittest.main()
