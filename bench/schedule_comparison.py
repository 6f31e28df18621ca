"""One network of the fidelity sweep, sample by sample: the reference schedule, the continuous dynamics
and simmatch (docs/theory.md, "Euler's stability limit").

Trains the network of bench/random_fidelity_sweep.py's case SEED as the sweep does, then integrates its
first 8 samples from rest at tolerance 1e-10 by the reference's Euler schedule and by Euler at a
constant step H (inside the stability limit 2 / lambda_max of bench/schedule_stability.py, the
continuous dynamics), and solves them with simmatch (8 in one call, then each alone) with
`solver.method` and, optionally, a schedule of its own. Prints the relative distances per sample (the
largest over layers).

    PYTHONPATH=build/python /usr/bin/python3 bench/schedule_comparison.py SEED [--step 0.005]
        [--method fast|euler] [--step-initial 0.2 --step-min 0.05]
"""

import argparse
import os
import sys
import tempfile
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import random_fidelity_sweep as sweep  # noqa: E402
from random_fidelity_sweep import ref, simmatch  # noqa: E402


def distance(a, b, i):
    return max(ref.relative_distance(p[i:i + 1], q[i:i + 1]).max() for p, q in zip(a, b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", type=int)
    parser.add_argument("--step", type=float, default=0.005)
    parser.add_argument("--method", default="fast")
    parser.add_argument("--step-initial", type=float, default=0.2)
    parser.add_argument("--step-min", type=float, default=0.05)
    args = parser.parse_args()
    layers, params = sweep.draw_network(np.random.default_rng(args.seed))
    X, _ = sweep.ref_patterns(args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = simmatch.Network(input_shape=(8, 8), layers=layers, precision="float64", seed=args.seed, cost_samples=0,
                               samples_per_epoch=96, **params)
        net.fit(X, epochs=3)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.npz")
        net.save(path)
        model = ref.load(path)
    sample = X[:8]
    scheduled, _, _ = ref.euler_from_rest(model, sample, tol=1e-10)
    constant, _, converged = ref.euler_from_rest(model, sample, tol=1e-10, schedule=(args.step, 0.0, args.step))
    net.set_params(**{"solver.method": args.method, "solver.tolerance": 1e-10, "solver.max_steps": 200000,
                      "solver.step_initial": args.step_initial, "solver.step_min": args.step_min})
    together = net.transform(sample, layer="all")
    print(sweep.describe(layers, params), "| constant steps converged:", bool(converged.all()))
    print("sample  simmatch-schedule  simmatch-constant  schedule-constant  alone-together")
    for i in range(len(sample)):
        alone = net.transform(sample[i:i + 1], layer="all")
        print(f"{i:6d}  {distance(together, scheduled, i):17.2g}  {distance(together, constant, i):17.2g}  "
              f"{distance(scheduled, constant, i):17.2g}  {distance([a for a in alone], [t[i:i + 1] for t in together], 0):14.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
