#!/usr/bin/env python3
"""How far the residual test leaves a near-singular network from its fixed point, in simmatch and in
the independent float64 integration (tests/python/reference_dynamics.py), and which samples
simmatch flags with a ConvergenceWarning.

The network: experiments/mnist_local.toml's layer widened to 40 tanh neurons of gain 4 per site
(14 x 14 sites, no lateral neighbourhood), float64, trained online (batch_size 1) on the first 200
MNIST training digits, seed 1. Its trained fixed points are slow to reach (the reference Euler
schedule needs 7,000-30,000 steps) and nearly singular. Then for each of the next SAMPLES digits:
the reference integration to tolerance 1e-9 (100,000 steps at most: the fixed point) and to the
default tolerance 3e-7; simmatch at the default (3e-7, 3,000 steps) and at 1e-9 (100,000 steps).
Prints relative distances ||a - b|| / ||b|| per sample. About 10 minutes on 2 cores.

    PYTHONPATH=build/python /usr/bin/python3 bench/near_singular_fidelity.py [SAMPLES (default 12)]
"""
import pathlib
import sys
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import reference_dynamics as ref  # noqa: E402
import simmatch  # noqa: E402


def main():
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    X, _ = simmatch.load_data(format="mnist-json", path=str(ROOT / "data/mnist/package/src/digits"), split="train",
                              limit=200 + samples)
    X = X.reshape(len(X), -1).astype(np.float64)
    layers = [dict(type="local2d", stride=2, radius=4.0, neurons_per_site=40, lateral_radius=0.0)]
    net = simmatch.Network(input_shape=(28, 28), layers=layers, precision="float64", seed=1, activation="tanh",
                           gain=4.0, eta=5e-3, schedule="inverse", decay=0.5, floor=1e-4, samples_per_epoch=200,
                           batch_size=1, shuffle=False, cost_samples=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", simmatch.ConvergenceWarning)
        net.fit(X[:200], epochs=1)
    print("training:", {k: net.history_[-1][k] for k in ("mean_iterations", "converged_fraction")})
    model_path = "/tmp/near_singular_model.npz"
    net.save(model_path)
    model = ref.load(model_path)
    S = X[200:]
    fixed, steps, settled = ref.euler_from_rest(model, S, tol=1e-9, max_steps=100000)
    loose, loose_steps, _ = ref.euler_from_rest(model, S, tol=3e-7, max_steps=100000)
    default, warned = [], []
    for i in range(samples):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", simmatch.ConvergenceWarning)
            default.append(net.transform(S[i:i + 1])[0])
        warned.append(bool(caught))
    net.set_params(**{"solver.tolerance": 1e-9, "solver.max_steps": 100000})
    tight = net.transform(S)
    d = ref.relative_distance
    print("sample | reference steps to 1e-9 (settled) | to 3e-7 | reference 3e-7 vs 1e-9 | simmatch default vs "
          "reference 1e-9 | vs reference 3e-7 | ConvergenceWarning | simmatch 1e-9 vs reference 1e-9")
    rows = zip(steps, settled, loose_steps, d(loose[-1], fixed[-1]), d(np.array(default), fixed[-1]),
               d(np.array(default), loose[-1]), warned, d(tight, fixed[-1]))
    for i, (n, ok, n_loose, ref_gap, gap, same_tol, w, tight_gap) in enumerate(rows):
        print(f"{i} | {n} ({'yes' if ok else 'no'}) | {n_loose} | {ref_gap:.1e} | {gap:.1e} | {same_tol:.1e} | "
              f"{'yes' if w else 'no'} | {tight_gap:.1e}")


if __name__ == "__main__":
    main()
