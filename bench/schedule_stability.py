"""Is the reference Euler schedule stable on a trained network? (docs/theory.md, "Euler's stability limit")

Reads a model file (`simmatch train`'s model.npz or `Network.save`) and prints, for the dynamics of
eq. 15 linearised around any state of the box, the largest eigenvalue lambda their Jacobian can
reach (exact at rest for tanh and linear units, an upper bound for the rectifiers: every unit on its
slope-1 side), the stability limit 2 / lambda of an Euler step, the schedule's steps that exceed it,
and how much those steps amplify a perturbation along the stiffest direction:
prod_n |1 - h_n lambda| over the steps where h_n lambda > 2 ("inf" when even the floor step
solver.step_min exceeds the limit).

    PYTHONPATH=build/python /usr/bin/python3 bench/schedule_stability.py runs/mnist_local/model.npz [...]
        [--step-initial 0.2 --step-decay 0.005 --step-min 0.05 --max-steps 3000]

The Jacobian of u -> u - g(u) is J = I + A D, D = diag f'(u), with A the negated couplings of
eq. 15: L^(p) - I on the diagonal, -W^(p) below it, -gamma W^(p)T above. Scaling layer p's rows by
w_p = gamma^(p-P) makes diag(w) A symmetric, so J is similar to I + D^(1/2) S D^(1/2) with S the
symmetric matrix of blocks L^(p) - I and -sqrt(gamma) W^(p), and since f' <= s_p (the largest slope:
the gain for tanh, 1 otherwise) its eigenvalues are at most 1 + max(lambda_max(G S G), 0),
G = diag(sqrt(s_p)).
"""

import argparse
import math
import os
import sys

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import reference_dynamics as ref  # noqa: E402


def largest_slope(layer):
    return layer["gain"] if layer["activation"] == "tanh" else 1.0


def stiffest_eigenvalue(model):
    """The bound 1 + max(lambda_max(G S G), 0) on the eigenvalues of eq. 15's Jacobian."""
    gamma, layers = model["gamma"], model["layers"]
    sizes = [layer["L"].shape[0] for layer in layers]
    blocks = [[None] * len(layers) for _ in layers]
    for p, layer in enumerate(layers):
        blocks[p][p] = layer["L"] - sp.identity(sizes[p])
        if p > 0 and gamma > 0:
            blocks[p][p - 1] = -math.sqrt(gamma) * layer["W"]
            blocks[p - 1][p] = -math.sqrt(gamma) * layer["W"].T
    scale = sp.diags(np.sqrt(np.concatenate([np.full(n, largest_slope(layer)) for n, layer in zip(sizes, layers)])))
    S = (scale @ sp.bmat(blocks, format="csr") @ scale).tocsr()
    if S.shape[0] <= 4000:
        top = np.linalg.eigvalsh(S.toarray())[-1]
    else:
        top = sla.eigsh(S, k=1, which="LA", tol=1e-8, return_eigenvectors=False)[0]
    return 1.0 + max(float(top), 0.0)


def schedule_amplification(lam, step_initial, step_decay, step_min, max_steps):
    """(steps beyond 2 / lam, log10 of the product of |1 - h_n lam| over them); inf when the floor is."""
    if step_min * lam > 2.0:
        return max_steps, math.inf
    unstable, growth = 0, 0.0
    for n in range(max_steps):
        h = ref.step_size(n, (step_initial, step_decay, step_min))
        if h * lam <= 2.0:
            break
        unstable += 1
        growth += math.log10(abs(1.0 - h * lam))
    return unstable, growth


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--step-initial", type=float, default=0.2)
    parser.add_argument("--step-decay", type=float, default=0.005)
    parser.add_argument("--step-min", type=float, default=0.05)
    parser.add_argument("--max-steps", type=int, default=3000)
    args = parser.parse_args()
    print(f"{'model':50s} {'lambda':>9s} {'2/lambda':>9s} {'h0*lambda':>9s} {'steps beyond':>12s} {'log10 growth':>12s}")
    for path in args.models:
        lam = stiffest_eigenvalue(ref.load(path))
        steps, growth = schedule_amplification(lam, args.step_initial, args.step_decay, args.step_min, args.max_steps)
        print(f"{path:50s} {lam:9.3f} {2 / lam:9.4f} {args.step_initial * lam:9.2f} {steps:12d} {growth:12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
