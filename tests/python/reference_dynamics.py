"""An independent float64 re-derivation of the neural dynamics (eq. 15 of docs/theory.md).

Written from the equations alone, with NumPy and scipy.sparse, sharing no code with simmatch:
it reads a model NPZ (docs/formats.md) and integrates

    du^(p)/ds = -u^(p) + W^(p) r^(p-1) - (L^(p) - I) r^(p) + gamma W^(p+1)T r^(p+1),  r = f(u)

from rest (u = 0) with the reference Euler schedule h_n = max(0.2 / (1 + 0.005 n), 0.05), until
every layer's residual ||du/ds|| / ||u|| is below `tol` (checked at the current state, before a
step), sample by sample; a sample whose state overflows is stopped there, not converged. It is the yardstick the tests hold simmatch's solvers to.

Usable as a script: reference_dynamics.py MODEL.npz INPUTS.npy OUT.npy [TOL] writes the top
layer's activities (samples x N_P) for inputs of shape (samples, K).
"""

import json
import sys

import numpy as np
import scipy.sparse as sp


def load(path):
    """The network of a model NPZ: gamma and per layer W, L (CSR float64) and the activation."""
    m = np.load(path)
    net = json.loads(m["network"].tobytes())

    def csr(name):
        return sp.csr_matrix((m[name + "_data"].astype(np.float64), m[name + "_indices"], m[name + "_indptr"]),
                             shape=tuple(int(s) for s in m[name + "_shape"]))

    layers = []
    for p, spec in enumerate(net["layers"], start=1):
        if "conv2d" in spec:
            W, L = conv_matrices(spec["conv2d"], m[f"W{p}_bank"], m[f"L{p}_bank"])
        else:
            W, L = csr(f"W{p}"), csr(f"L{p}")
        layers.append(dict(W=W, L=L, activation=spec["activation"], gain=float(spec["gain"]), clip=float(spec["clip"])))
    return dict(gamma=float(net["gamma"]), layers=layers)


def conv_geometry(geometry, channels):
    """Output height, width and the padding before the first row / column of a conv2d layer."""
    H, Wd, _ = geometry["input"]
    K, s = geometry["kernel"], geometry["stride"]
    sizes, before = [], []
    for n in (H, Wd):
        if geometry["padding"] == "valid":
            out, pad = (n - K) // s + 1, 0
        else:
            out = -(-n // s)
            pad = max((out - 1) * s + K - n, 0) // 2
        sizes.append(out)
        before.append(pad)
    return sizes, before


def conv_matrices(geometry, w_bank, l_bank):
    """Dense W and L of a conv2d layer from its banks, as docs/formats.md defines them: W's entry
    from channel c of the pixel at kernel position (dy, dx) to filter n of a site is
    w_bank[n, dy, dx, c]; L between neuron a of a site and neuron b of the site at offset d is
    l_bank[d, a, b], the offsets within lateral_radius in row-major order."""
    H, Wd, C = geometry["input"]
    K, s = geometry["kernel"], geometry["stride"]
    k = w_bank.shape[0]
    (oh, ow), (top, left) = conv_geometry(geometry, k)
    W = np.zeros((oh * ow * k, H * Wd * C))
    for i in range(oh):
        for j in range(ow):
            for dy in range(K):
                for dx in range(K):
                    y, x = i * s - top + dy, j * s - left + dx
                    if 0 <= y < H and 0 <= x < Wd:
                        rows = (i * ow + j) * k + np.arange(k)
                        cols = (y * Wd + x) * C + np.arange(C)
                        W[np.ix_(rows, cols)] = w_bank[:, dy, dx, :]
    radius = min(float(geometry["lateral_radius"]), float(np.hypot(oh, ow)))
    reach = int(np.floor(radius))
    offsets = [(di, dj) for di in range(-min(reach, oh - 1), min(reach, oh - 1) + 1)
               for dj in range(-min(reach, ow - 1), min(reach, ow - 1) + 1) if di * di + dj * dj <= radius * radius]
    assert len(offsets) == l_bank.shape[0], (len(offsets), l_bank.shape)
    L = np.zeros((oh * ow * k, oh * ow * k))
    for i in range(oh):
        for j in range(ow):
            for d, (di, dj) in enumerate(offsets):
                if 0 <= i + di < oh and 0 <= j + dj < ow:
                    rows = (i * ow + j) * k + np.arange(k)
                    cols = ((i + di) * ow + j + dj) * k + np.arange(k)
                    L[np.ix_(rows, cols)] = l_bank[d]
    return sp.csr_matrix(W), sp.csr_matrix(L)


def activate(layer, u):
    kind = layer["activation"]
    if kind == "linear":
        return u.copy()
    if kind == "tanh":
        return np.tanh(layer["gain"] * u)
    if kind == "relu":
        return np.maximum(u, 0.0)
    if kind == "clipped_relu":
        return np.clip(u, 0.0, layer["clip"])
    raise ValueError(kind)


def velocity(net, x, r, u):
    """du/ds of every layer (columns are samples)."""
    P = len(net["layers"])
    out = []
    for p, layer in enumerate(net["layers"]):
        below = x if p == 0 else r[p - 1]
        g = layer["W"] @ below - layer["L"] @ r[p] + r[p]
        if p + 1 < P and net["gamma"] != 0.0:
            g = g + net["gamma"] * (net["layers"][p + 1]["W"].T @ r[p + 1])
        out.append(g - u[p])
    return out


REFERENCE_SCHEDULE = (0.2, 0.005, 0.05)  # (initial, decay, floor) of the reference code's Euler steps


def step_size(n, schedule=REFERENCE_SCHEDULE):
    """The Euler step at iteration n: max(initial / (1 + decay n), floor)."""
    initial, decay, floor = schedule
    return max(initial / (1.0 + decay * n), floor)


def euler_from_rest(net, X, tol=1e-10, max_steps=200000, schedule=REFERENCE_SCHEDULE):
    """Fixed points reached from rest for the samples X (samples x K). Returns (r, steps, converged):
    r a list of (samples x N_p) arrays, steps and converged per sample. The step at iteration n is
    max(initial / (1 + decay n), floor) for schedule = (initial, decay, floor): the reference
    schedule by default; a small constant step (decay 0) follows the continuous dynamics."""
    x = np.asarray(X, dtype=np.float64).T
    B = x.shape[1]
    u = [np.zeros((layer["W"].shape[0], B)) for layer in net["layers"]]
    r = [activate(layer, up) for layer, up in zip(net["layers"], u)]
    active = np.arange(B)
    r_out = [np.zeros((B, layer["W"].shape[0])) for layer in net["layers"]]
    steps = np.zeros(B, dtype=np.int64)
    converged = np.zeros(B, dtype=bool)
    n = 0
    while active.size > 0:
        xa = x[:, active]
        v = velocity(net, xa, r, u)
        done = np.ones(active.size, dtype=bool)
        blown = np.zeros(active.size, dtype=bool)
        with np.errstate(over="ignore", invalid="ignore"):
            for vp, up in zip(v, u):
                num = np.sum(vp * vp, axis=0)
                den = np.sum(up * up, axis=0)
                # inf <= tol^2 inf holds: a state that overflowed is stopped, not converged.
                finite = np.isfinite(num) & np.isfinite(den)
                done &= finite & (num <= tol * tol * den)
                blown |= ~finite
        last = n >= max_steps
        finish = done | blown | last
        if finish.any():
            idx = active[finish]
            for p in range(len(u)):
                r_out[p][idx] = r[p][:, finish].T
            steps[idx] = n
            converged[idx] = done[finish]
            keep = ~finish
            active = active[keep]
            u = [up[:, keep] for up in u]
            r = [rp[:, keep] for rp in r]
            v = [vp[:, keep] for vp in v]
        if active.size == 0:
            break
        h = step_size(n, schedule)
        u = [up + h * vp for up, vp in zip(u, v)]
        r = [activate(layer, up) for layer, up in zip(net["layers"], u)]
        n += 1
    return r_out, steps, converged


def relative_distance(a, b):
    """Per-sample ||a - b|| / ||b|| for (samples x N) arrays."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-300)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: reference_dynamics.py MODEL.npz INPUTS.npy OUT.npy [TOL]")
    network = load(sys.argv[1])
    inputs = np.load(sys.argv[2]).reshape(np.load(sys.argv[2]).shape[0], -1)
    tolerance = float(sys.argv[4]) if len(sys.argv) == 5 else 1e-10
    activities, taken, ok = euler_from_rest(network, inputs, tolerance)
    np.save(sys.argv[3], activities[-1])
    print(f"{int(ok.sum())} of {ok.size} converged, steps {int(taken.min())}..{int(taken.max())}")
