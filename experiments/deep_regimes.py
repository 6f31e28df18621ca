"""Which settings let the deeper layers of the three-layer network learn distinct features.

    /usr/bin/python3 experiments/deep_regimes.py [fashion|photos] [--only NAME ...] [--epochs E]
        [--samples S] [--out DIR] [--simmatch build/simmatch] [--list] [--reuse]

Trains experiments/hierarchical.toml (fashion) or experiments/hierarchical_photos.toml (photos:
whitened 28x28 patches of skimage's photographs, made once by `simmatch patches`) once per
regime below (its overrides on top of the config), encodes the first 2,000 training images (and
1,000 test images for the read-out) through every layer and measures, per layer:
  - saturated: fraction of activities at the activation's bound (|r| > 0.99 for tanh, r > 0.99 clip
    for clipped_relu; "-" for unbounded activations),
  - constant: fraction of neurons whose activity never changes over the samples (std < 1e-6:
    silent at 0, or stuck at a bound),
  - within-site |corr|: mean absolute correlation of the activities of two live neurons of one
    site (1 when a site's neurons are copies of one neuron up to sign),
  - random-basis |corr| and input top-1 share (layers 2-3): what the spectrum of a site's input
    forces on its neurons, and how much one direction dominates it (input_spectrum),
  - read-out: test accuracy of a linear SVM (scikit-learn LinearSVC, C = 0.01, standardised
    features) trained on the layer's activities of 2,000 training images (--train-samples; the
    statistics above use the same images), tested on 1,000 test images (--test-samples;
    Fashion-MNIST only),
and whether the cost (metrics.jsonl) decreased from the first to the last epoch. The solver is the
config's (Euler: the dynamics of eq. 15 themselves, and on these feedback networks the cheapest).
The success criterion (docs/results.md, section 4): layers 2 and 3 with within-site |corr| < 0.5
and saturated < 10 %, cost decreasing. Prints one markdown row per regime and layer, and appends
them to DIR/table.md. Every random choice is seeded (the configs' seed, the patches' seed).
"""
import argparse
import gzip
import json
import os
import subprocess
import sys

import numpy as np

from layer_activity import w_rows

# name -> (what it changes, overrides on top of the committed config). Layer indices are 0-based
# (layers.1 = layer 2). The committed configs scale C^W of layers 2-3 by 0.05, the outcome of this
# search; the other regimes were measured from C^W x 1 (the configs before it), which they restore.
BEFORE = ["layers.1.cw_scale=1", "layers.2.cw_scale=1"]
REGIMES = {
    "cw1": ("C^W x 1 in every layer (the committed configs before this search)", BEFORE),
    "gain0.25": ("tanh gain 0.25 in layers 2-3", BEFORE + ["layers.1.gain=0.25", "layers.2.gain=0.25"]),
    "cw0.05": ("C^W x 0.05 in layers 2-3 (the committed configs)", []),
    "gamma0": ("no feedback (gamma 0)", BEFORE + ["network.gamma=0"]),
    "lateral1": ("lateral radius 1 site in layers 2-3",
                 BEFORE + ["layers.1.lateral_radius=1", "layers.2.lateral_radius=1"]),
    "crelu": ("clipped_relu (clip 1) in layers 2-3",
              BEFORE + ["layers.1.activation=clipped_relu", "layers.2.activation=clipped_relu"]),
    "crelu_cw0.05": ("clipped_relu in layers 2-3, C^W x 0.05",
                     ["layers.1.activation=clipped_relu", "layers.2.activation=clipped_relu"]),
    "relu_gamma0": ("relu in layers 2-3, no feedback",
                    BEFORE + ["layers.1.activation=relu", "layers.2.activation=relu", "network.gamma=0"]),
    "relu_cw0.05_gamma0": ("relu in layers 2-3, C^W x 0.05, no feedback",
                           ["layers.1.activation=relu", "layers.2.activation=relu", "network.gamma=0"]),
    "tau4_cw0.05": ("L's step x 4 (lateral_rate) in layers 2-3, C^W x 0.05",
                    ["layers.1.lateral_rate=4", "layers.2.lateral_rate=4"]),
    "tau6_cw0.05": ("L's step x 6 (lateral_rate) in layers 2-3, C^W x 0.05",
                    ["layers.1.lateral_rate=6", "layers.2.lateral_rate=6"]),
    "tau10_cw0.05": ("L's step x 10 (lateral_rate) in layers 2-3, C^W x 0.05",
                     ["layers.1.lateral_rate=10", "layers.2.lateral_rate=10"]),
    "tau40_cw0.05": ("L's step x 40 (lateral_rate) in layers 2-3, C^W x 0.05",
                     ["layers.1.lateral_rate=40", "layers.2.lateral_rate=40"]),
    "eta0.1_cw0.05": ("learning rate x 0.1 in layers 2-3, C^W x 0.05",
                      ["layers.1.eta_scale=0.1", "layers.2.eta_scale=0.1"]),
    "nps4_cw0.05": ("4 neurons per site in layers 2-3, C^W x 0.05",
                    ["layers.1.neurons_per_site=4", "layers.2.neurons_per_site=4"]),
    "nps16_cw0.05": ("16 neurons per site in layers 2-3, C^W x 0.05",
                     ["layers.1.neurons_per_site=16", "layers.2.neurons_per_site=16"]),
}

FASHION = "/usr/share/datasets/fashion-mnist"


def run(cmd):
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-2000:]}")
    return result.stdout


def idx_labels(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    return np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)


def layer_stats(r, per_site, activation, clip):
    """Saturated fraction, silent fraction and within-site |corr| of activities r (samples x neurons)."""
    std = r.std(axis=0)
    live = std > 1e-6
    if activation == "tanh":
        saturated = float((np.abs(r) > 0.99).mean())
    elif activation == "clipped_relu":
        saturated = float((r > 0.99 * clip).mean())
    else:
        saturated = float("nan")
    z = (r - r.mean(axis=0)) / np.where(live, std, 1.0)
    total, pairs = 0.0, 0
    for s in range(r.shape[1] // per_site):
        idx = [i for i in range(s * per_site, (s + 1) * per_site) if live[i]]
        if len(idx) < 2:
            continue
        c = np.abs(z[:, idx].T @ z[:, idx] / r.shape[0])
        total += c.sum() - np.trace(c)
        pairs += len(idx) * (len(idx) - 1)
    return saturated, float(1.0 - live.mean()), (total / pairs if pairs else float("nan"))


def input_spectrum(model, layer, below, per_site, seed=0):
    """Two numbers from the covariance of each site's feedforward input (the activities `below` of
    the layer under it, on the union of the site's W supports), averaged over sites:
    - the share lambda_1 / (lambda_1 + ... + lambda_k) of its largest principal direction in the top
      k (k = neurons per site);
    - the within-site |corr| that k neurons spanning exactly that top-k principal subspace (linear
      similarity matching's optimum) would have in a random basis of it (100 seeded random
      rotations): what the input's spectrum alone forces. Measured correlations far above it mean
      the neurons have not spread over the subspace: they are copies, not a forced outcome."""
    rng = np.random.default_rng(seed)
    support = np.abs(w_rows(model, layer)) > 0
    shares, forced = [], []
    for s in range(support.shape[0] // per_site):
        cols = np.flatnonzero(support[s * per_site:(s + 1) * per_site].any(axis=0))
        x = below[:, cols] - below[:, cols].mean(axis=0)
        lam = np.sort(np.linalg.eigvalsh(x.T @ x / x.shape[0]))[::-1][:per_site]
        if not lam.sum() > 0 or per_site < 2:
            continue
        shares.append(lam[0] / lam.sum())
        total = 0.0
        for _ in range(100):
            q, _ = np.linalg.qr(rng.standard_normal((len(lam), per_site)))
            c = q.T @ np.diag(lam) @ q
            d = np.sqrt(np.maximum(np.diag(c), 1e-300))
            total += (np.abs(c / np.outer(d, d)).sum() - per_site) / (per_site * (per_site - 1))
        forced.append(total / 100)
    if not shares:
        return float("nan"), float("nan")
    return float(np.mean(shares)), float(np.mean(forced))


def readout_accuracy(train_r, train_y, test_r, test_y):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC
    clf = make_pipeline(StandardScaler(), LinearSVC(C=0.01, dual=False, tol=1e-3, max_iter=1000))
    clf.fit(train_r, train_y)
    return float(clf.score(test_r, test_y))


def layer_settings(weights):
    """Per layer: (neurons per site, activation, clip) from the model's stored config."""
    config = json.loads(bytes(weights["config"]).decode())
    net = config.get("network", {})
    out = []
    for layer in config["layers"]:
        out.append((int(layer["neurons_per_site"]), layer.get("activation") or net.get("activation", "tanh"),
                    float(layer.get("clip") or net.get("clip", 1.0))))
    return out


def measure(args, name, overrides, config, data_overrides, encode_train, encode_test, labels):
    out = os.path.join(args.out, name)
    os.makedirs(out, exist_ok=True)
    reuse = args.reuse and os.path.exists(os.path.join(out, "train.layer0.npy"))
    if not reuse:
        run([args.simmatch, "train", config, *data_overrides, f"train.epochs={args.epochs}",
             f"train.samples_per_epoch={args.samples}", *overrides, f"output.dir={out}"])
    with open(os.path.join(out, "metrics.jsonl")) as f:
        epochs = [json.loads(line) for line in f if line.strip()]
    costs = [e["cost"] for e in epochs]
    seconds = sum(e["seconds"] for e in epochs)
    model = os.path.join(out, "model.npz")
    if not reuse:
        run([args.simmatch, "encode", model, encode_train, os.path.join(out, "train.npy"), "--all", "--limit",
             str(args.train_samples)])
    if encode_test and not reuse:
        run([args.simmatch, "encode", model, encode_test, os.path.join(out, "test.npy"), "--all", "--limit",
             str(args.test_samples)])
    rows = []
    weights = np.load(model)
    below = None
    for p, (per_site, activation, clip) in enumerate(layer_settings(weights)):
        r = np.load(os.path.join(out, f"train.layer{p}.npy")).astype(np.float64)
        saturated, silent, corr = layer_stats(r, per_site, activation, clip)
        share, forced = input_spectrum(weights, p, below, per_site) if below is not None else (float("nan"),) * 2
        below = r
        accuracy = float("nan")
        if encode_test:
            rt = np.load(os.path.join(out, f"test.layer{p}.npy")).astype(np.float64)
            accuracy = readout_accuracy(r, labels[0][:r.shape[0]], rt, labels[1][:rt.shape[0]])
        rows.append((p + 1, activation, saturated, silent, corr, forced, share, accuracy))
    decreasing = len(costs) > 1 and costs[-1] < costs[0]
    return rows, costs, decreasing, seconds


def fmt(x, pct=False):
    if x != x:  # NaN
        return "-"
    return f"{100 * x:.1f} %" if pct else f"{x:.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default="fashion", choices=["fashion", "photos"])
    ap.add_argument("--only", nargs="*", help="regimes to run (default: all)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--samples", type=int, default=1000, help="training samples per epoch")
    ap.add_argument("--train-samples", type=int, default=2000,
                    help="training images encoded for the statistics and the read-out's training")
    ap.add_argument("--test-samples", type=int, default=1000, help="test images for the read-out")
    ap.add_argument("--out", default=None)
    ap.add_argument("--simmatch", default="build/simmatch")
    ap.add_argument("--set", nargs="*", default=[], help="overrides for every regime (key=value)")
    ap.add_argument("--list", action="store_true", help="list the regimes and exit")
    ap.add_argument("--reuse", action="store_true",
                    help="measure again the runs already in DIR (no training or encoding where they exist)")
    args = ap.parse_args()
    if args.list:
        for name, (what, overrides) in REGIMES.items():
            print(f"{name}: {what}: {' '.join(overrides) or '(none)'}")
        return
    unknown = [n for n in (args.only or []) if n not in REGIMES]
    if unknown:
        sys.exit(f"deep_regimes.py: unknown regime(s) {', '.join(unknown)} (see --list)")
    args.out = args.out or f"runs/deep_regimes/{args.data}"
    os.makedirs(args.out, exist_ok=True)
    if args.data == "fashion":
        config = "experiments/hierarchical.toml"
        data_overrides = []
        encode_train = f"{FASHION}/train-images-idx3-ubyte.gz"
        encode_test = f"{FASHION}/t10k-images-idx3-ubyte.gz"
        labels = (idx_labels(f"{FASHION}/train-labels-idx1-ubyte.gz"), idx_labels(f"{FASHION}/t10k-labels-idx1-ubyte.gz"))
    else:
        config = "experiments/hierarchical_photos.toml"
        patches = os.path.join(args.out, "patches.npy")
        if not os.path.exists(patches):
            run([args.simmatch, "patches", "/usr/lib/python3/dist-packages/skimage/data", patches, "--size", "28",
                 "--count", "20000", "--downsample", "2", "--seed", "1", "--skip-unreadable", "--whiten"])
        data_overrides = ["data.format=npy", f"data.path={patches}", "data.labels="]
        encode_train, encode_test, labels = patches, None, None
    table = os.path.join(args.out, "table.md")
    header = ("| regime | overrides | layer | activation | saturated | constant neurons | within-site abs(corr) | "
              "abs(corr) in a random basis of the input's top-k subspace | input top-1 share | read-out accuracy | "
              "cost first -> last epoch | train s |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(header)
    with open(table, "a") as t:
        t.write(header + "\n")
    for name in args.only or REGIMES:
        what, overrides = REGIMES[name]
        try:
            rows, costs, decreasing, seconds = measure(args, name, overrides + args.set, config, data_overrides,
                                                          encode_train, encode_test, labels)
        except RuntimeError as e:
            line = f"| {name} | `{' '.join(overrides + args.set)}` | - | - | - | - | - | - | - | - | failed: {str(e).splitlines()[-1][:120]} | - |"
            print(line)
            with open(table, "a") as t:
                t.write(line + "\n")
            continue
        cost = f"{costs[0]:.4g} -> {costs[-1]:.4g} ({'down' if decreasing else 'NOT down'})"
        for layer, activation, saturated, silent, corr, forced, share, accuracy in rows:
            first = layer == 1
            line = (f"| {name if first else ''} | {('`' + ' '.join(overrides + args.set) + '`') if first and (overrides or args.set) else ''} "
                    f"| {layer} | {activation} | {fmt(saturated, True)} | {fmt(silent, True)} | {fmt(corr)} | {fmt(forced)} | {fmt(share)} | "
                    f"{fmt(accuracy, True)} | {cost if first else ''} | {f'{seconds:.0f}' if first else ''} |")
            print(line, flush=True)
            with open(table, "a") as t:
                t.write(line + "\n")


if __name__ == "__main__":
    main()
