#!/usr/bin/python3
"""Feature matrices the size of the 100-neurons-per-site read-out, for measuring the read-out.

    bench/readout_features.py OUT_DIR [--samples 60000] [--neurons 100] [--seed 0]

Writes OUT_DIR/{train,test}.npy (float32, samples x sites*neurons) and {train,test}_labels.npy
(int32) from Fashion-MNIST (/usr/share/datasets/fashion-mnist, or $FASHION_DIR): each image is
preprocessed as experiments/fashion_local.toml does (bytes / 255, each sample's mean subtracted)
and passed through a random locally connected tanh layer of the reference geometry (28 x 28 input,
stride 2 -> 14 x 14 sites, radius 4, `--neurons` per site): r = tanh(W x) with W's non-zeros drawn
N(0, 3^2 / patch size), seeded. A trained layer's fixed points are what `simmatch evaluate` reads
in practice; these have the same shape, dtype, value range and local structure without the hours
of training and encoding a 100-per-site model takes on 2 cores. `--samples` cuts the training set
(the first N images) for scaling measurements; the test set is always the 10,000 test images.
"""
import argparse
import gzip
import os

import numpy as np


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def local_weights(neurons, rng):
    """(196 * neurons, 784): site (i, j) at pixel (2i, 2j), inputs within distance 4."""
    rows = []
    yy, xx = np.mgrid[0:28, 0:28]
    for i in range(14):
        for j in range(14):
            mask = ((yy - 2 * i) ** 2 + (xx - 2 * j) ** 2 <= 16).ravel()
            w = np.zeros((neurons, 784), np.float32)
            w[:, mask] = rng.normal(0.0, 3.0 / np.sqrt(mask.sum()), (neurons, mask.sum()))
            rows.append(w)
    return np.concatenate(rows)


def write(path, images, weights, chunk=2000):
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(len(images), weights.shape[0]))
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].reshape(-1, 784).astype(np.float32) / 255.0
        x -= x.mean(axis=1, keepdims=True)
        out[start:start + chunk] = np.tanh(x @ weights.T)
    out.flush()
    del out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--neurons", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    src = os.environ.get("FASHION_DIR", "/usr/share/datasets/fashion-mnist")
    os.makedirs(a.out, exist_ok=True)
    weights = local_weights(a.neurons, np.random.default_rng(a.seed))
    for part, prefix, limit in (("train", "train", a.samples), ("test", "t10k", None)):
        images = idx(f"{src}/{prefix}-images-idx3-ubyte.gz")[:limit]
        labels = idx(f"{src}/{prefix}-labels-idx1-ubyte.gz")[:limit].astype(np.int32)
        write(f"{a.out}/{part}.npy", images, weights)
        np.save(f"{a.out}/{part}_labels.npy", labels)
        print(f"{a.out}/{part}.npy: {len(images)} x {weights.shape[0]} float32")


if __name__ == "__main__":
    main()
