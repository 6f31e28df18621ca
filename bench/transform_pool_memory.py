#!/usr/bin/python3
"""Memory that Network.transform(X, pool=...) holds, against the unpooled layer's size.

    PYTHONPATH=build/python bench/transform_pool_memory.py [--samples 2000] [--filters 16] [--pool max:4]

A conv2d layer (5 x 5 filters, stride 1, "same" padding) on 28 x 28 inputs, initialised with
--seed, transforms --samples uniform random images in batches of 100. NumPy reports its buffers to
tracemalloc, so the traced peak is what the binding allocated for the result; the process's peak
RSS includes the interpreter, NumPy and the solver's workspace.
"""
import argparse
import resource
import tracemalloc

import numpy as np

import simmatch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--pool", default="max:4")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    layer = dict(type="conv2d", kernel=5, stride=1, padding="same", neurons_per_site=args.filters)
    net = simmatch.Network(input_shape=(28, 28), layers=[layer], seed=args.seed)
    X = np.random.default_rng(args.seed).random((args.samples, 28 * 28), dtype=np.float32)
    tracemalloc.start()
    Y = net.transform(X, pool=args.pool, batch_size=100)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    unpooled = args.samples * net.layers[0].size * X.itemsize
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"pooled output {Y.shape} {Y.nbytes / 1e6:.1f} MB; unpooled layer {unpooled / 1e6:.1f} MB; "
          f"traced peak {peak / 1e6:.1f} MB; peak RSS {rss / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
