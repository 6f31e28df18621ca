#!/usr/bin/env python3
"""Seconds for the paper's online rule on saturated networks, whose fixed point is not provably
unique: the trajectory solver (Euler, then error-controlled implicit steps) on one sample at a time.

Two layers of wide sites (40 and 36 tanh neurons of gain 4 per site, no lateral neighbourhood, no
feedback) on 96 noisy 8 x 8 patterns, float64, seed 5: the network of tests/python/test_fidelity.py's
saturated cases. Prints the seconds of one online epoch (batch_size 1) and of transforming 24 samples
one at a time (tolerance 1e-4, at most 3,000 steps), for one and two layers.

    PYTHONPATH=build/python /usr/bin/python3 bench/online_saturated.py
"""
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "python"))
import simmatch  # noqa: E402
from _helpers import patterns  # noqa: E402


def local(per_site, stride, radius):
    return dict(type="local2d", stride=stride, radius=radius, neurons_per_site=per_site, lateral_radius=0.0)


def main():
    X, _ = patterns(samples=96, side=8, clusters=3, noise=0.3, seed=7, dtype=np.float64)
    X = X.reshape(len(X), -1)
    X = X - X.mean(axis=1, keepdims=True)
    for layers in ([local(40, 2, 2.5)], [local(40, 2, 2.5), local(36, 1, 1.5)]):
        net = simmatch.Network(input_shape=(8, 8), layers=layers, precision="float64", seed=5, cost_samples=0,
                               eta=0.05, samples_per_epoch=96, batch_size=1, gamma=0.0, gain=4.0)
        start = time.perf_counter()
        net.fit(X, epochs=1)
        fit = time.perf_counter() - start
        net.set_params(**{"solver.max_steps": 3000})
        start = time.perf_counter()
        for i in range(24):
            net.transform(X[i:i + 1])
        lone = time.perf_counter() - start
        print(f"{len(layers)} layer(s): online epoch of 96 samples {fit:.2f} s, 24 lone transforms {lone:.2f} s")


if __name__ == "__main__":
    main()
