#!/usr/bin/env python3
"""Distance of simmatch's activities at the default tolerance from the independent float64
integration (tests/python/reference_dynamics.py, tolerance 1e-10), on the networks of
tests/python/test_fidelity.py that the trajectory solver takes (fixed point not provably unique):
per case and layer, the largest relative distance over 24 samples. Run it on two builds to see
what a change to the solver does (docs/performance.md, "A nearly singular network").

    PYTHONPATH=build/python /usr/bin/python3 bench/trajectory_polish_fidelity.py
"""
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
import reference_dynamics as ref  # noqa: E402
from test_fidelity import local, train  # noqa: E402

CASES = [
    ("wide_saturated", [local(2, 2.5, 40, 0.0), local(1, 1.5, 36, 0.0)], dict(gamma=0.0, gain=4.0)),
    ("small_saturated", [local(2, 2.5, 4, 0.0), local(1, 1.5, 6, 0.0)], dict(gamma=0.0, gain=4.0)),
    ("saturated", [local(2, 2.5, 3, 1.0), local(1, 1.5, 4, 1.0)], dict(gamma=0.2, gain=4.0)),
    ("deep_lateral", [local(2, 2.5, 3, 1.0), local(1, 1.5, 4, 1.0)], dict(gamma=0.3)),
    ("clipped", [local(2, 2.5, 3, 1.0), local(1, 1.5, 4, 1.0)], dict(gamma=0.3, activation="clipped_relu")),
    ("three_layers", [local(2, 2.5, 3, 1.0), local(1, 1.5, 4, 2.0), local(1, 1.5, 4, 1.0)], dict(gamma=0.5)),
]


class _Folder:
    """What train() needs of a test: a path for the model file."""

    def __init__(self, folder):
        self.folder = folder

    def path(self, name):
        return str(pathlib.Path(self.folder) / name)


def main():
    with tempfile.TemporaryDirectory() as folder:
        for name, layers, params in CASES:
            net, path, X = train(_Folder(folder), name, layers, params)
            expected, _, settled = ref.euler_from_rest(ref.load(path), X[:24], tol=1e-10)
            got = net.transform(X[:24], layer="all")
            worst = [f"{ref.relative_distance(a, b).max():.2e}" for a, b in zip(got, expected)]
            print(f"{name}: reference settled {bool(settled.all())}, largest distance per layer {worst}", flush=True)


if __name__ == "__main__":
    main()
