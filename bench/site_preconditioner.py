#!/usr/bin/env python3
"""Evaluations per site of Anderson on the plain and the preconditioned site map, in float64.

An independent NumPy re-derivation of the site-by-site solve (docs/theory.md, "The fast solver"):
for a trained conv2d model (lateral neighbourhood 0, one layer) every site's fixed point of
eq. 15, u_s = d_s - (L_s - I) f(u_s), is found from rest by type II Anderson (depth 5, mixing 1)
on the plain map g_s and on the preconditioned map u + J_a^{-1} (g_s(u) - u), J_a = (1 - a) I +
a L_s, both stopped by ||g_s - u_s|| <= tol ||u_s||. Prints the mean and largest evaluations per
site and the largest distance between the two fixed points, for the model's L and for two
synthetic L_s of wider spectrum, with tanh, the rectifiers and linear units.

    /usr/bin/python3 bench/site_preconditioner.py runs/c64/model.npz data/mnist/package/src/digits
"""
import argparse
import json
import pathlib

import numpy as np


def load_digits(directory, count, seed):
    images = np.concatenate(
        [np.asarray(json.loads((directory / f"{d}.json").read_text())["data"], dtype=np.float64).reshape(-1, 784)
         for d in range(10)])
    rng = np.random.default_rng(seed)
    return images[rng.choice(len(images), count, replace=False)] - images.mean(axis=0)


def site_drives(image, bank, side):
    """d_s = W_bank patch_s for every site of a 'same' padded, stride-1 convolution: sites x k."""
    k, kh, kw, _ = bank.shape
    padded = np.pad(image.reshape(side, side), ((kh // 2, kh // 2), (kw // 2, kw // 2)))
    patches = np.stack([padded[i:i + side, j:j + side] for i in range(kh) for j in range(kw)], axis=-1)
    return patches.reshape(side * side, kh * kw) @ bank.reshape(k, kh * kw).T


def anderson(step, residual, d, depth=5, tol=3e-7, max_steps=500):
    """Evaluations per site (rows of d) until ||residual|| <= tol ||u||; the sites' final u."""
    u = np.zeros_like(d)
    done = np.zeros(len(d), bool)
    evaluations = np.full(len(d), max_steps)
    result = np.zeros_like(d)
    dx, df = [], []
    previous = None
    for n in range(max_steps):
        r = residual(u, d)
        ok = ~done & (np.sum(r * r, axis=1) <= tol * tol * np.sum(u * u, axis=1))
        evaluations[ok] = n + 1
        result[ok] = u[ok]
        done |= ok
        if done.all():
            break
        f = step(u, d, r)
        if previous is not None:
            dx.append(u - previous[0])
            df.append(f - previous[1])
            if len(dx) > depth:
                dx.pop(0)
                df.pop(0)
        previous = (u.copy(), f.copy())
        if dx:
            x_hist, f_hist = np.stack(dx, -1), np.stack(df, -1)
            gram = np.einsum("skm,skn->smn", f_hist, f_hist)
            # A relative ridge keeps the finished sites' (frozen, zero-difference) systems regular.
            ridge = 1e-12 * np.max(np.diagonal(gram, axis1=1, axis2=2), axis=1) + 1e-300
            gram = gram + ridge[:, None, None] * np.eye(len(dx))
            gamma = np.linalg.solve(gram, np.einsum("skm,sk->sm", f_hist, f)[..., None])[..., 0]
            moved = u + f - np.einsum("skm,sm->sk", x_hist + f_hist, gamma)
        else:
            moved = u + f
        u = np.where(done[:, None], u, moved)
    result[~done] = u[~done]
    return evaluations, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=pathlib.Path, help="a trained one-layer conv2d model.npz (28 x 28 inputs)")
    parser.add_argument("digits", type=pathlib.Path, help="directory of the MNIST json digits")
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drive-scale", type=float, default=1.0, help="multiplies every drive (saturation)")
    args = parser.parse_args()
    model = np.load(args.model)
    bank = model["W1_bank"].astype(np.float64)
    trained = model["L1_bank"][0].astype(np.float64)
    k = trained.shape[0]
    rng = np.random.default_rng(args.seed)
    q, _ = np.linalg.qr(rng.standard_normal((k, k)))
    laterals = {
        "trained": trained,
        "spectrum [0.1, 3]": q @ np.diag(np.linspace(0.1, 3.0, k)) @ q.T,
        "spectrum [0.02, 1.5]": q @ np.diag(np.linspace(0.02, 1.5, k)) @ q.T,
    }
    activations = {
        "tanh": (np.tanh, 1.0),
        "relu": (lambda u: np.maximum(u, 0.0), 1.0),
        "clipped_relu": (lambda u: np.clip(u, 0.0, 1.0), 1.0),
        "linear": (lambda u: u, 1.0),
    }
    drives = [args.drive_scale * site_drives(x, bank, 28) for x in load_digits(args.digits, args.images, args.seed)]
    drives = [d[np.abs(d).sum(axis=1) > 0] for d in drives]
    eye = np.eye(k)
    print("| L_s | activation | plain: mean / most evaluations | preconditioned: mean / most | largest distance |")
    print("|---|---|---|---|---|")
    for lname, lateral in laterals.items():
        for aname, (f, a) in activations.items():
            precondition = np.linalg.inv((1 - a) * eye + a * lateral)
            residual = lambda u, d, f=f, lateral=lateral: d + f(u) @ (eye - lateral).T - u
            plain_step = lambda u, d, r: r
            pre_step = lambda u, d, r, p=precondition: r @ p.T
            plain, pre, distance = [], [], 0.0
            for d in drives:
                e0, u0 = anderson(plain_step, residual, d)
                e1, u1 = anderson(pre_step, residual, d)
                plain.append(e0)
                pre.append(e1)
                norm = np.maximum(np.linalg.norm(u0, axis=1), 1e-300)
                distance = max(distance, float(np.max(np.linalg.norm(u1 - u0, axis=1) / norm)))
            plain, pre = np.concatenate(plain), np.concatenate(pre)
            print(f"| {lname} | {aname} | {plain.mean():.2f} / {plain.max()} | {pre.mean():.2f} / {pre.max()} | {distance:.1e} |")


if __name__ == "__main__":
    main()
