"""How far a trained model's solver output lies from the exact fixed point of eq. 15.

    /usr/bin/python3 experiments/solver_error.py MODEL.npz CONFIG.toml [--split test] [--path DATA]
                     [--limit N] [--method fast] [--tolerance 0] [--euler-check 100]

Encodes the data of CONFIG (its [data] and [preprocess]; --split and --limit override) with the
model at its own precision (--split applies to the mnist-json format, --path replaces the data
file or folder) and the solver settings given (tolerance 0 = the method's default, as
in a model trained with the defaults), and compares every sample, per layer, with a float64 copy
of the same weights solved to a residual of 1e-12. Where the fixed point is not provably unique,
the float64 copy runs Euler from rest (the dynamics' own fixed point); otherwise the fast solver,
whose answer is then the only fixed point; --euler-check N also integrates Euler from rest in
float64 for the first N samples and reports its distance to the float64 answer (it must be tiny).
Prints the largest and median relative distance ||r - r*|| / ||r*|| per sample, and how many
samples lie beyond 1e-4. Needs the module built: PYTHONPATH=build/python.
"""
import argparse
import sys

import numpy as np

import simmatch


def float64_copy(model: "simmatch.Network", config: str, **solver) -> "simmatch.Network":
    copy = simmatch.Network.from_config(config, input_shape=model.input_shape, precision="float64", **solver)
    for p, layer in enumerate(model.layers):
        copy.set_weights(p, W=layer.W.astype(np.float64), L=layer.L.astype(np.float64))
    return copy


def relative_distance(a: list, b: list) -> np.ndarray:
    """Per sample, the largest over layers of ||a - b|| / ||b||."""
    worst = np.zeros(a[0].shape[0])
    for x, y in zip(a, b):
        x = x.astype(np.float64)
        y = y.astype(np.float64)
        d = np.linalg.norm(x - y, axis=1) / np.maximum(np.linalg.norm(y, axis=1), 1e-300)
        worst = np.maximum(worst, d)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("config")
    parser.add_argument("--split", default="test")
    parser.add_argument("--path", default=None)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--method", default="fast")
    parser.add_argument("--tolerance", type=float, default=0.0)
    parser.add_argument("--euler-check", type=int, default=100)
    args = parser.parse_args()

    model = simmatch.load(args.model)
    data = dict(split=args.split, limit=args.limit)
    if args.path:
        data.update(path=args.path, labels="")  # labels are not needed here
    X, _ = simmatch.load_data(args.config, **data)
    X = X.reshape(X.shape[0], -1)
    model.set_params(method=args.method, tolerance=args.tolerance)
    got = model.transform(X, layer="all", batch_size=100)

    exact_net = float64_copy(model, args.config, method="fast", tolerance=1e-12, max_steps=200000)
    exact = exact_net.transform(X.astype(np.float64), layer="all", batch_size=100)
    n_check = min(args.euler_check, X.shape[0])
    euler_gap = float("nan")
    if n_check > 0:
        euler_net = float64_copy(model, args.config, method="euler", tolerance=1e-12, max_steps=200000)
        euler = euler_net.transform(X[:n_check].astype(np.float64), layer="all", batch_size=100)
        euler_gap = float(relative_distance([e[:n_check] for e in exact], euler).max())

    err = relative_distance(got, exact)
    print(f"model {args.model} ({model.precision}), {X.shape[0]} samples of {args.path or 'the config data'} "
          f"(split {args.split} where the format has splits), "
          f"solver {args.method} at tolerance {args.tolerance:g} (0 = the method's default)")
    print(f"relative distance to the exact fixed point: max {err.max():.3g}, median {np.median(err):.3g}, "
          f"beyond 1e-4: {int((err > 1e-4).sum())} of {err.size}")
    print(f"float64 fast (1e-12) vs float64 Euler from rest (1e-12), first {n_check} samples: max {euler_gap:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
