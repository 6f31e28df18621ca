"""How each layer of a trained model responds: saturation and within-site diversity.

    /usr/bin/python3 experiments/layer_activity.py MODEL.npz ENCODED_PREFIX

ENCODED_PREFIX is what `simmatch encode MODEL DATA PREFIX.npy --all` wrote (PREFIX.layer0.npy, ...).
A site is the neurons_per_site consecutive neurons of a local2d layer (the model's stored config);
a dense layer is one site, a layer from files has none. Prints a markdown
table per layer: mean |r|, the median over neurons of |mean r| (near 1 for a tanh neuron pinned at
one sign) and of the standard deviation of r over samples, the mean absolute correlation between
the activities of two neurons of the same site, and the mean absolute cosine between their W rows
(both 1 when a site's neurons are copies of one neuron up to sign).
"""
import json
import sys

import numpy as np


def within_site_mean(matrix: np.ndarray, per_site: int) -> float:
    """Mean absolute off-diagonal entry of the per-site blocks of a square similarity matrix."""
    if per_site < 2:
        return float("nan")
    sites = matrix.shape[0] // per_site
    total = 0.0
    for s in range(sites):
        block = np.abs(matrix[s * per_site:(s + 1) * per_site, s * per_site:(s + 1) * per_site])
        total += (block.sum() - np.trace(block)) / (per_site * (per_site - 1))
    return total / sites


def w_rows(model, layer: int) -> np.ndarray:
    """Dense W of layer `layer` (0-based) from the model's CSR arrays, rows normalised."""
    p = layer + 1
    data, indices, indptr = model[f"W{p}_data"], model[f"W{p}_indices"], model[f"W{p}_indptr"]
    rows, cols = model[f"W{p}_shape"]
    dense = np.zeros((rows, cols))
    for i in range(rows):
        dense[i, indices[indptr[i]:indptr[i + 1]]] = data[indptr[i]:indptr[i + 1]]
    return dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-300)


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model = np.load(sys.argv[1])
    prefix = sys.argv[2]
    config = json.loads(bytes(model["config"]).decode())
    per_site = []
    for index, layer in enumerate(config["layers"]):
        kind = layer.get("type", "local2d")
        per_site.append(layer["neurons_per_site"] if kind == "local2d" else
                        model[f"W{index + 1}_shape"][0] if kind == "dense" else 1)
    print("| layer | neurons | mean abs(r) | median abs(mean r) | median std(r) | within-site abs(activity correlation) | within-site abs(W cosine) |")
    print("|---|---|---|---|---|---|---|")
    for layer, n_site in enumerate(per_site):
        r = np.load(f"{prefix}.layer{layer}.npy").astype(np.float64)  # samples x neurons
        mean, std = r.mean(axis=0), r.std(axis=0)
        z = (r - mean) / np.maximum(std, 1e-12)
        corr = z.T @ z / r.shape[0]
        w = w_rows(model, layer)
        n_site = int(n_site)
        print(f"| {layer + 1} | {r.shape[1]} | {np.abs(r).mean():.3f} | {np.median(np.abs(mean)):.3f} | "
              f"{np.median(std):.3f} | {within_site_mean(corr, n_site):.3f} | {within_site_mean(w @ w.T, n_site):.3f} |")


if __name__ == "__main__":
    main()
