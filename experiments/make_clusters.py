"""Synthetic clustered patterns for experiments/feedback_rsm.sh (result 2).

Four clusters in two super-clusters: centre = super-centre (norm about 2) + sub-offset (norm about
1.2), so that a small top layer keeps mostly the super-cluster and the larger first layer keeps all
four. Writes to OUT: train.npy / train_labels.npy (the training distribution), test_a.npy (new samples of
the same distribution) and test_b.npy (a different first-layer input distribution: the cluster
centres shrunk and buried in stronger, anisotropic noise), each with its labels.
    /usr/bin/python3 experiments/make_clusters.py OUT [--train N] [--seed S]
"""
import argparse
import pathlib

import numpy as np

DIM, CLUSTERS = 40, 4


def draw(rng, centres, n, scale, noise):
    labels = np.arange(n) % len(centres)
    x = scale * centres[labels] + noise(rng, (n, DIM))
    return x.astype(np.float32), labels.astype(np.int32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    unit = lambda n: rng.normal(0.0, 1.0, (n, DIM)) / np.sqrt(DIM)
    centres = 2.0 * unit(2)[np.arange(CLUSTERS) // 2] + 1.2 * unit(CLUSTERS)
    iso = lambda r, shape: r.normal(0.0, 0.35 / np.sqrt(DIM) * 2.0, shape)
    mixing = rng.normal(0.0, 1.0, (DIM, DIM)) / np.sqrt(DIM)
    aniso = lambda r, shape: r.normal(0.0, 0.8 / np.sqrt(DIM) * 2.0, shape) @ mixing
    for name, n, scale, noise in (("train", args.train, 1.0, iso), ("test_a", args.test, 1.0, iso),
                                  ("test_b", args.test, 0.6, aniso)):
        x, y = draw(rng, centres, n, scale, noise)
        np.save(out / f"{name}.npy", x)
        np.save(out / f"{name}_labels.npy", y)


if __name__ == "__main__":
    main()
