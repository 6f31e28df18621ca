"""Markdown table of the neurons-per-site runs in a folder written by experiments/nps_table.sh."""
import json
import pathlib
import sys

PAPER = {4: 3.87, 8: 2.41, 16: 1.73, 32: 1.60, 64: 1.47, 100: 1.40}  # full MNIST, 60k training images


def main(out: str, data: str) -> None:
    root = pathlib.Path(out)
    rows = []
    for run in sorted(root.glob("nps*/eval.json"), key=lambda p: int(p.parent.name[3:])):
        k = int(run.parent.name[3:])
        ev = json.loads(run.read_text())
        metrics = [json.loads(l) for l in (run.parent / "metrics.jsonl").read_text().splitlines() if l.strip()]
        samples = sum(m.get("samples", 0) for m in metrics)
        paper = f"{PAPER[k]:.2f}" if data == "mnist" and k in PAPER else "-"
        rows.append(f"| {k} | {samples} | {100 * ev['test_error']:.2f} | {100 * ev['train_accuracy']:.2f} | "
                    f"{ev['c']:g} | {paper} |")
    print("| neurons per site | training samples seen | test error % | train accuracy % | C | paper error % (full MNIST) |")
    print("|---|---|---|---|---|---|")
    raw = root / "raw.json"
    if raw.exists():
        ev = json.loads(raw.read_text())
        print(f"| raw pixels | - | {100 * ev['test_error']:.2f} | {100 * ev['train_accuracy']:.2f} | {ev['c']:g} | - |")
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
