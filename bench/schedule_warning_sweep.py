"""Which networks of the fidelity sweep the schedule warning fires on (docs/theory.md, "Euler's stability limit").

Trains the network of bench/random_fidelity_sweep.py's case SEED as bench/schedule_comparison.py does, then
prints simmatch's lambda_max (Network.jacobian_eigenvalue_bound), solver.step_min times it, and whether the
schedule warning (a simmatch.ConvergenceWarning naming solver.step_min) came from fit and from a transform of
8 samples with the default solver.

    PYTHONPATH=build/python /usr/bin/python3 bench/schedule_warning_sweep.py 50 80 81 ...
"""

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import random_fidelity_sweep as sweep  # noqa: E402
from random_fidelity_sweep import simmatch  # noqa: E402


def schedule_warned(caught):
    return any("stability limit" in str(w.message) for w in caught)


def main():
    print(f"{'seed':>4s} {'lambda_max':>10s} {'step_min*lambda':>15s} {'fit warns':>9s} {'transform warns':>15s}  network")
    for seed in (int(s) for s in sys.argv[1:]):
        layers, params = sweep.draw_network(np.random.default_rng(seed))
        X, _ = sweep.ref_patterns(seed)
        net = simmatch.Network(input_shape=(8, 8), layers=layers, precision="float64", seed=seed, cost_samples=0,
                               samples_per_epoch=96, **params)
        with warnings.catch_warnings(record=True) as fitted:
            warnings.simplefilter("always")
            try:
                net.fit(X, epochs=3)
            except simmatch.Error as e:
                print(f"{seed:4d} training failed: {e}")
                continue
        with warnings.catch_warnings(record=True) as transformed:
            warnings.simplefilter("always")
            net.transform(X[:8])
        lam = net.jacobian_eigenvalue_bound()
        step_min = net.config["solver"]["step_min"]
        print(f"{seed:4d} {lam:10.3g} {step_min * lam:15.2f} {str(schedule_warned(fitted)):>9s} "
              f"{str(schedule_warned(transformed)):>15s}  {sweep.describe(layers, params)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
