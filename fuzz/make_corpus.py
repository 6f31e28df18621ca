#!/usr/bin/env python3
"""Writes the small seed inputs of fuzz/corpus/<target>/ (run from anywhere; needs NumPy).

The config seeds are copies of experiments/*.toml plus two hand-written ones; model and
checkpoint seeds for the npz target are written by `simmatch train` (see fuzz/README.md)."""
import gzip
import io
import json
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
C = HERE / "corpus"
SEP = b"\n@@\n"  # fuzz_common.hpp's kSeparator


def w(target, name, data):
    (C / target).mkdir(parents=True, exist_ok=True)
    (C / target / name).write_bytes(data)


def npy(a, **kw):
    b = io.BytesIO()
    np.lib.format.write_array(b, a, **kw)
    return b.getvalue()


def savez(arrays, compressed=False):
    b = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(b, **arrays)
    return b.getvalue()


def idx(a, code):
    hdr = bytes([0, 0, code, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
    dt = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    return hdr + a.astype(dt).tobytes()


rng = np.random.default_rng(0)
w("npy", "f4_2d.npy", npy(rng.standard_normal((3, 4)).astype("<f4")))
w("npy", "f8_3d.npy", npy(rng.standard_normal((2, 2, 3)).astype("<f8")))
w("npy", "u1_4d.npy", npy(np.arange(24, dtype="u1").reshape(2, 2, 3, 2)))
w("npy", "i8_be.npy", npy(np.arange(6, dtype=">i8").reshape(3, 2)))
w("npy", "i2_fortran.npy", npy(np.asfortranarray(np.arange(6, dtype="<i2").reshape(2, 3))))
w("npy", "b1_1d.npy", npy(np.array([True, False, True])))
w("npy", "scalar_f4.npy", npy(np.float32(1.5)))
w("npy", "v2_u4.npy", npy(np.arange(4, dtype="<u4").reshape(2, 2), version=(2, 0)))
w("npy", "empty.npy", npy(np.zeros((0, 5), dtype="<f4")))

w("npz", "two.npz", savez({"a": np.arange(5, dtype="<f4"), "b": np.ones((2, 2), dtype="<f8")}))
w("npz", "compressed.npz", savez({"x": np.arange(6, dtype="<i4").reshape(2, 3)}, True))
w("npz", "empty.npz", savez({}))
w("npz", "text.npz", savez({"network": np.frombuffer(b'{"format":"simmatch-model"}', dtype="u1")}))

imgs = np.arange(3 * 4 * 4).reshape(3, 4, 4) % 256
labels = np.array([1, 2, 3])
w("idx", "ubyte3.idx", idx(imgs, 0x08))
w("idx", "ubyte3_labels.idx", idx(imgs, 0x08) + SEP + idx(labels, 0x08))
w("idx", "gz_labels.idx", gzip.compress(idx(imgs, 0x08), mtime=0) + SEP + gzip.compress(idx(labels, 0x08), mtime=0))
w("idx", "float4d.idx", idx(np.ones((2, 2, 2, 3)), 0x0D))
w("idx", "double2d.idx", idx(np.ones((2, 5)), 0x0E))
w("idx", "int_labels.idx", idx(np.ones((2, 3)), 0x0C) + SEP + idx(np.array([7, -1]), 0x0C))
w("idx", "short1d.idx", idx(np.arange(4), 0x0B))

w("mnist_json", "one_image.json", json.dumps({"data": [round(float(v), 3) for v in rng.random(784)]}).encode())
w("mnist_json", "five_images_ints.json", json.dumps({"data": [int(v) for v in rng.integers(0, 2, 784 * 5)]}).encode())
w("mnist_json", "empty.json", b'{"data": []}')
w("mnist_json", "bad.json", b'{"data": [1, 2, "x"]}')

for toml in sorted((HERE.parent / "experiments").glob("*.toml")):
    shutil.copy(toml, C / "config" / toml.name)
w("config", "dense_overrides.toml",
  b'seed = 3\n[[layers]]\ntype = "dense"\nneurons = 4\n' + SEP +
  b"train.eta=0.5\nlayers.0.neurons=3\nlayers.1.type=dense\nlayers.1.neurons=2\n")
w("config", "two_layers.toml",
  b'[network]\nactivation = "relu"\n[[layers]]\ntype = "local2d"\nstride = 3\nradius = 1.5\n'
  b'neurons_per_site = 2\nlateral_radius = 1.0\n[[layers]]\ntype = "dense"\nneurons = 5\n'
  b'activation = "linear"\n[train]\nepochs = 1\n')

# Hostile inputs of issue 15 (memory budget, finite models, no silent overflow), each a regression
# seed: the readers must refuse them with a simmatch::Error.
v11 = bytearray(npy(np.arange(3, dtype="<f4")))
v11[7] = 1  # version 1.1: NumPy writes and reads only x.0
w("npy", "regression_version_1_1.npy", bytes(v11))
liar = bytearray(npy(np.zeros(4, dtype="<f4")))
hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }"
hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
w("npy", "oversized_declaration.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + bytes(16))


def rezip(entries, method=zipfile.ZIP_STORED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        for name, data in entries.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data, compress_type=method)
    return b.getvalue()


with zipfile.ZipFile(C / "npz" / "model.npz") as z:
    model = {name: z.read(name) for name in z.namelist()}
nan_model = dict(model)
weights = np.load(io.BytesIO(model["W1_data.npy"]))
weights[0] = np.nan
nan_model["W1_data.npy"] = npy(weights)
w("npz", "regression_nan_weight.npz", rezip(nan_model))
grid_model = dict(model)
net = json.loads(np.load(io.BytesIO(model["network.npy"])).tobytes())
n = int(np.prod(net["layers"][0]["grid"]))
net["layers"][0]["grid"] = [n * pow(3, -1, 2**64) % 2**64, 3, 1]  # the product wraps to n
grid_model["network.npy"] = npy(np.frombuffer(json.dumps(net).encode(), dtype="u1"))
w("npz", "regression_grid_overflow.npz", rezip(grid_model))
lying = bytearray(rezip(model))
for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
    at = lying.find(signature)
    while at >= 0:
        name_at = at + (30 if signature == b"PK\x03\x04" else 46)
        if lying[name_at:name_at + 11] == b"W1_data.npy":
            lying[at + size_at:at + size_at + 4] = struct.pack("<I", 3 << 30)  # declares 3 GiB
        at = lying.find(signature, at + 4)
w("npz", "regression_lying_size.npz", bytes(lying))
w("npz", "unused_bomb.npz", rezip({"a.npy": npy(np.arange(3, dtype="<f4")), "bomb.npy": npy(np.zeros(1 << 18, "<f4"))},
                                  zipfile.ZIP_DEFLATED))

w("idx", "regression_gzip_trailing.idx", gzip.compress(idx(imgs, 0x08), mtime=0) + b"trailing bytes")
w("idx", "gzip_oversized_declaration.idx",
  gzip.compress(bytes([0, 0, 8, 2]) + struct.pack(">II", 60000, 100000) + bytes(100), mtime=0))

w("config", "regression_huge_layers.toml",
  b'[[layers]]\nneurons_per_site = 10000000\n[[layers]]\ntype = "dense"\nneurons = 100000\n' + SEP +
  b"train.batch_size=9223372036854775807\nmemory_budget_gib=0.5\n")
