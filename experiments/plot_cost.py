"""Cost curve of a training run: metrics.jsonl (one JSON line per epoch) -> CSV and PNG line plot.

    /usr/bin/python3 experiments/plot_cost.py METRICS.jsonl OUT.csv OUT.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(metrics: str, csv_path: str, png_path: str) -> None:
    rows = [json.loads(line) for line in open(metrics) if line.strip()]
    rows = [r for r in rows if r.get("cost") is not None]
    if not rows:
        sys.exit(f"{metrics}: no epoch with a cost (was train.cost_samples 0?)")
    seen = 0
    with open(csv_path, "w") as out:
        out.write("epoch,samples_seen,learning_rate,cost\n")
        xs, ys = [], []
        for r in rows:
            seen += r["samples"]
            out.write(f"{r['epoch']},{seen},{r['learning_rate']},{r['cost']}\n")
            xs.append(seen)
            ys.append(r["cost"])
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(xs, ys, marker="o", ms=3)
    ax.set_xlabel("training samples seen")
    ax.set_ylabel("structured deep cost (eq. 11)")
    ax.set_title("cost on held training samples, after each epoch", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)
    print(f"{len(rows)} epochs: cost {ys[0]:.4g} -> {ys[-1]:.4g}; wrote {csv_path} and {png_path}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
