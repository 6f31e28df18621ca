"""Figure and table of result 2 from the folders written by experiments/feedback_rsm.sh.

    /usr/bin/python3 experiments/feedback_rsm.py OUT GAMMA0 GAMMA1
Writes OUT/feedback_rsm.png (rows: gamma, columns: input / layer 1 / layer 2 for test sets A and B)
and prints a markdown table of separation indices and RSM correlations.
"""
import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

LEVELS = (("input", "input"), ("layer0", "layer 1"), ("layer1", "layer 2"))


def separation(rsm: np.ndarray, labels: np.ndarray) -> float:
    """(within - between) / mean |S| over off-diagonal pairs, as simmatch::cluster_separation."""
    off = ~np.eye(len(labels), dtype=bool)
    same = (labels[:, None] == labels[None, :]) & off
    diff = (labels[:, None] != labels[None, :])
    return (rsm[same].mean() - rsm[diff].mean()) / np.abs(rsm[off]).mean()


def main(out: str, gammas: list) -> None:
    root = pathlib.Path(out)
    fig, axes = plt.subplots(len(gammas), 6, figsize=(13, 2.4 * len(gammas) + 0.6))
    print("| gamma | test set | cluster sep. input / layer 1 / layer 2 | super-cluster sep. input / layer 1 / layer 2 "
          "| corr(RSM1, RSM2) |")
    print("|---|---|---|---|---|")
    results = {}
    for row, g in enumerate(gammas):
        for s_i, s in enumerate("ab"):
            folder = root / f"gamma{g}" / f"rsm_{s}"
            summary = {e["name"]: e for e in json.loads((folder / "rsm_summary.json").read_text())["levels"]}
            labels = np.sort(np.load(root / "data" / f"test_{s}_labels.npy"))  # RSMs are grouped by label
            sup = {}
            for l_i, (name, title) in enumerate(LEVELS):
                rsm = np.load(folder / f"rsm_{name}.npy")
                sup[name] = separation(rsm, labels // 2)
                ax = axes[row, 3 * s_i + l_i]
                ax.imshow(rsm, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{s.upper()}: {title}\nsep. {summary[name]['separation_index']:.2f} / "
                             f"super {sup[name]:.2f}", fontsize=9)
                if l_i == 0 and s_i == 0:
                    ax.set_ylabel(f"gamma = {g}")
            sep = " / ".join(f"{summary[n]['separation_index']:.2f}" for n, _ in LEVELS)
            sups = " / ".join(f"{sup[n]:.2f}" for n, _ in LEVELS)
            corr = summary["layer1"]["correlation_with_previous"]
            print(f"| {g} | {s.upper()} | {sep} | {sups} | {corr:.3f} |")
            results[f"gamma{g}_{s}"] = {"separation": {n: summary[n]["separation_index"] for n, _ in LEVELS},
                                         "super_separation": sup, "rsm_correlation_12": corr}
    (root / "feedback_summary.json").write_text(json.dumps(results, indent=2) + "\n")
    fig.suptitle("RSMs (samples grouped by cluster): A = training distribution, B = different input distribution")
    fig.tight_layout()
    fig.savefig(root / "feedback_rsm.png", dpi=60)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
