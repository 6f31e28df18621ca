"""Random networks against the independent float64 integration of eq. 15 (fidelity sweep).

Each case draws, from its seed, a network the configuration allows: 1-3 layers (local2d and
conv2d layers on the 8 x 8 input grid, then dense layers), every layer its own activation
(linear, tanh of gain 1-4, relu, clipped_relu; learning rate 0.01 where one is unbounded) and
neurons per site (1-40; at most 9 with a lateral neighbourhood), lateral neighbourhoods of radius 0
or 1, feedback gamma in {0, 0.1, 0.3, 0.5}, trained by simmatch in float64 for 3 epochs on 96
noisy 8 x 8 patterns (batches of 1 or 8; with feedback every layer at the same learning rate,
layers.eta_scale = gamma^(P-p)). The trained model file is
integrated from rest by tests/python/reference_dynamics.py (float64 Euler, residual 1e-10), and
simmatch's default solver must give the same fixed points:
  - at solver.tolerance 1e-10, 8 samples in one call and one sample alone: within 1e-6;
  - at the default tolerance (3e-7), within 1e-4 unless simmatch warned that samples stopped at
    solver.max_steps.
Cases whose training diverges (an unbounded loop: linear / relu layers joined by feedback) or
whose reference does not converge in 200,000 steps (or overflows: Euler's steps of 0.2 are unstable
where L has eigenvalues above 10) are counted and skipped.

    PYTHONPATH=build/python /usr/bin/python3 bench/random_fidelity_sweep.py [CASES] [FIRST_SEED]

Prints one line per case and the worst distances; exit status 1 when a case fails.
"""

import os
import sys
import tempfile
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import reference_dynamics as ref  # noqa: E402
import simmatch  # noqa: E402


def draw_network(rng):
    """Layers and network settings for one case."""
    layers = []
    depth = int(rng.integers(1, 4))
    spatial = int(rng.integers(0, depth + 1))  # spatial layers come first
    grid = 8
    for p in range(depth):
        layer = {}
        if p < spatial:
            if rng.random() < 0.5 and grid % 2 == 0 and grid > 2:
                layer.update(type="local2d", stride=2, radius=float(rng.choice([1.5, 2.5])))
                grid //= 2
            elif rng.random() < 0.5:
                layer.update(type="local2d", stride=1, radius=float(rng.choice([1.0, 1.5])))
            else:
                layer.update(type="conv2d", kernel=int(rng.choice([1, 3])), stride=1, padding="same")
            lateral = float(rng.choice([0.0, 0.0, 1.0]))
            # Wide sites only without lateral neighbourhoods: 40 per site with radius 1 on the 8 x 8
            # grid is ~1 M lateral synapses, hours of reference integration.
            layer.update(neurons_per_site=int(rng.choice([1, 2, 4, 9] if lateral else [1, 2, 4, 9, 33, 40])),
                         lateral_radius=lateral)
        else:
            layer.update(type="dense", neurons=int(rng.choice([3, 8, 20, 70])))
        layer["activation"] = str(rng.choice(["linear", "tanh", "relu", "clipped_relu"], p=[0.15, 0.4, 0.2, 0.25]))
        if layer["activation"] == "tanh":
            layer["gain"] = float(rng.choice([1.0, 2.0, 4.0]))
        layers.append(layer)
    unbounded = sum(layer["activation"] in ("linear", "relu") for layer in layers)
    params = dict(gamma=float(rng.choice([0.0, 0.1, 0.3, 0.5])) if depth > 1 else 0.0,
                  batch_size=int(rng.choice([1, 8])), eta=0.01 if unbounded else float(rng.choice([0.01, 0.05])))
    if params["gamma"] > 0:
        # Every layer learns at eta (eq. 17's gamma^(p-P) would give the first of three layers at
        # gamma 0.1 a step of 100 eta: its weights grow without bound, as train warns).
        for p, layer in enumerate(layers, start=1):
            layer["eta_scale"] = params["gamma"] ** (depth - p)
    return layers, params


def describe(layers, params):
    parts = []
    for layer in layers:
        size = layer.get("neurons") or layer["neurons_per_site"]
        kind = layer["type"]
        if kind != "dense":
            kind += f"/s{layer['stride']}" + (f"/k{layer['kernel']}" if kind == "conv2d" else "")
            kind += f"/lat{layer['lateral_radius']:g}"
        act = layer["activation"] + (f"{layer['gain']:g}" if "gain" in layer else "")
        parts.append(f"{kind}x{size}:{act}")
    return " ".join(parts) + f" gamma={params['gamma']:g} batch={params['batch_size']}"


def run_case(seed, folder):
    """'ok' / 'skip: ...' / 'FAIL: ...', and the worst distances found."""
    rng = np.random.default_rng(seed)
    layers, params = draw_network(rng)
    X, _ = ref_patterns(seed)
    name = describe(layers, params)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            net = simmatch.Network(input_shape=(8, 8), layers=layers, precision="float64", seed=seed, cost_samples=0,
                                   samples_per_epoch=96, **params)
            net.fit(X, epochs=3)
    except simmatch.Error as error:  # training met NaN / Inf: an unbounded loop
        return name, f"skip: training failed ({str(error).splitlines()[0][:80]})", None
    if any(issubclass(w.category, RuntimeWarning) for w in caught):
        name += " [config warning]"
    path = os.path.join(folder, f"case{seed}.npz")
    net.save(path)
    model = ref.load(path)
    sample = X[:8]
    expected, steps, converged = ref.euler_from_rest(model, sample, tol=1e-10)
    if not converged.all():
        blown = any(not np.isfinite(np.sum(np.square(layer))) for layer in expected)
        return name, "skip: the reference " + ("overflowed" if blown else "did not converge"), None
    worst = {}
    net.set_params(**{"solver.tolerance": 1e-10, "solver.max_steps": 200000})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        together = net.transform(sample, layer="all")
    if any(issubclass(w.category, simmatch.ConvergenceWarning) for w in caught):
        name += " [warned at 1e-10]"
    alone = [net.transform(sample[i:i + 1], layer="all") for i in (0, 5)]
    worst["1e-10"] = largest(ref.relative_distance(a, b) for a, b in zip(together, expected))
    worst["alone"] = largest(ref.relative_distance(a[p], expected[p][i:i + 1])
                             for a, i in zip(alone, (0, 5)) for p in range(len(expected)))
    net.set_params(**{"solver.tolerance": 0.0, "solver.max_steps": 3000})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loose = net.transform(sample, layer="all")
    warned = any(issubclass(w.category, simmatch.ConvergenceWarning) for w in caught)
    worst["default"] = largest(ref.relative_distance(a, b) for a, b in zip(loose, expected))
    verdict = "ok"
    if worst["1e-10"] > 1e-6 or worst["alone"] > 1e-6:
        verdict = "FAIL: at tolerance 1e-10"
    elif worst["default"] > 1e-4 and not warned:
        verdict = "FAIL: at the default tolerance, without a warning"
    name += f" (reference steps {steps.max()})" + (" [warned at the default]" if warned else "")
    return name, verdict, worst


def largest(distances):
    """The largest of the arrays' entries; inf where any is NaN (a NaN compares false with every
    bound and would pass)."""
    values = np.concatenate([np.ravel(d) for d in distances])
    return float("inf") if np.isnan(values).any() else float(values.max())


def ref_patterns(seed):
    rng = np.random.default_rng(1000 + seed)
    prototypes = rng.standard_normal((3, 8, 8))
    X = prototypes[np.arange(96) % 3] + 0.3 * rng.standard_normal((96, 8, 8))
    X = X.reshape(96, -1)
    return X - X.mean(axis=1, keepdims=True), None


def main():
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    tally = {"ok": 0, "skip": 0, "FAIL": 0}
    worst_all = {"1e-10": 0.0, "alone": 0.0, "default": 0.0}
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(first, first + cases):
            name, verdict, worst = run_case(seed, folder)
            tally[verdict.split(":")[0]] += 1
            figures = "" if worst is None else " ".join(f"{k} {v:.2g}" for k, v in worst.items())
            print(f"{seed:4d} {verdict:45s} {figures:40s} {name}", flush=True)
            if worst is not None:
                for k, v in worst.items():
                    worst_all[k] = max(worst_all[k], v)
    print(f"ok {tally['ok']}, skipped {tally['skip']}, failed {tally['FAIL']}; worst "
          + ", ".join(f"{k} {v:.2g}" for k, v in worst_all.items()))
    return 1 if tally["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
