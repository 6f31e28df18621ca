#!/usr/bin/env python3
"""Which minimum each way of following eq. 15's trajectory reaches, for a site that passes near a saddle.

An independent float64 NumPy re-derivation (docs/theory.md, "Not provably unique"). It trains the
two-layer tanh conv2d network of gain 3 that `tests/python/test_conv2d.py` checks (data seed 10,
network seed 8; its uniqueness certificate fails; training runs simmatch's solver, so the network
depends on the build). Each first-layer site of the first 12 samples is an independent system,
u_s' = -F(u_s) = d_s - u_s - (L_s - I) tanh(3 u_s); all are followed from rest by the reference
Euler schedule to a residual of 1e-10 (the fixed point the dynamics reach). The site whose
pseudo-transient continuation from the switch state (implicit Euler steps grown by switched
evolution relaxation and cut by 4 where their matrix is not positive definite, from the Euler
state whose residual first falls below 1e-2: the solver's second phase before 2026-12-05, less
its reuse of factorisations) ends farthest from it is then followed by:

- SciPy's LSODA from rest at rtol 1e-10 (the continuous dynamics), then Newton;
- from the switch state: Newton, the continuation, error-controlled linearly implicit Euler
  (the error estimated by the difference from the explicit step) and error-controlled ROS2 (the
  solver's second phase since) at several error tolerances.

Prints, for each, the steps taken, the largest distance in r = tanh(3 u) from the Euler schedule's
fixed point and the energy E there.

    /usr/bin/python3 bench/trajectory_integrator.py     (needs the simmatch module on PYTHONPATH)
"""
import pathlib
import sys
import tempfile

import numpy as np
from scipy.integrate import solve_ivp

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "python"))
import reference_dynamics as ref  # noqa: E402
import simmatch  # noqa: E402
from _helpers import patterns  # noqa: E402

GAIN, K, SITES, SAMPLES = 3.0, 40, 64, 12
ROS2_GAMMA = 1.0 + 1.0 / np.sqrt(2.0)


def trained_sites():
    """L_s (tied: one for every site) and d_s for each of the first 12 samples and 64 sites of the
    first layer of the network test_conv2d trains: (L_s, d of shape samples x sites x k)."""
    X, _ = patterns(samples=64, side=8, clusters=3, noise=0.3, seed=10, dtype=np.float64)
    X = X.reshape(len(X), -1)
    X = X - X.mean(axis=1, keepdims=True)
    layers = [dict(type="conv2d", kernel=3, stride=s, padding=pad, neurons_per_site=n, lateral_radius=0.0)
              for s, pad, n in ((1, "same", 40), (2, "same", 36))]
    net = simmatch.Network(input_shape=(8, 8), layers=layers, gamma=0.0, precision="float64", seed=8,
                           cost_samples=0, eta=0.05, samples_per_epoch=64, batch_size=8, gain=GAIN)
    net.fit(X, epochs=6)
    with tempfile.TemporaryDirectory() as folder:
        path = str(pathlib.Path(folder) / "model.npz")
        net.save(path)
        model = ref.load(path)
    first = model["layers"][0]
    drives = (first["W"] @ X[:SAMPLES].T).T.reshape(SAMPLES, SITES, K)
    return first["L"].toarray()[:K, :K], drives


def euler_schedule(L, D):
    """The reference Euler schedule from rest for every row of D at once (each row one site's
    system), each row to a residual of 1e-10: (fixed points, steps, switch states, switch steps),
    the switch state being the first with residual below 1e-2."""
    eye = np.eye(K)
    U, rows = np.zeros_like(D), len(D)
    steps, switch, switch_step = np.zeros(rows, dtype=int), np.zeros_like(D), np.full(rows, -1)
    active = np.ones(rows, dtype=bool)
    n = 0
    while active.any() and n < 10**6:
        F = U - D + np.tanh(GAIN * U) @ (L - eye).T
        res = np.linalg.norm(F, axis=1) / np.maximum(np.linalg.norm(U, axis=1), 1e-300)
        newly = (switch_step < 0) & (res < 1e-2)
        switch[newly], switch_step[newly] = U[newly], n
        done = active & (res <= 1e-10)
        steps[done], active[done] = n, False
        U[active] -= max(0.2 / (1 + 0.005 * n), 0.05) * F[active]
        n += 1
    return U, steps, switch, switch_step


def main():
    L, drives = trained_sites()
    fixed_all, steps_all, switch_all, switch_steps = euler_schedule(L, drives.reshape(-1, K))
    eye = np.eye(K)
    d = None

    def f(u):
        return np.tanh(GAIN * u)

    def F(u):
        return u - d + (L - eye) @ f(u)

    def jac(u):
        return eye + (L - eye) * (GAIN * (1.0 - f(u) ** 2))

    def energy(u):
        r = f(u)
        return 0.5 * r @ L @ r - d @ r + (r * np.arctanh(r) / GAIN + np.log(1 - r * r) / (2 * GAIN) - r * r / 2).sum()

    def residual(u):
        return np.linalg.norm(F(u)) / max(np.linalg.norm(u), 1e-300)

    def newton(u, steps=60):
        for _ in range(steps):
            u = u - np.linalg.solve(jac(u), F(u))
        return u

    def euler_step(u, n):
        return u - max(0.2 / (1 + 0.005 * n), 0.05) * F(u)

    def definite(u, delta):
        """Whether the step's matrix in r, H + diag(1 / (delta f')), H = L + diag(1 / f' - 1), is
        positive definite."""
        slope = np.maximum(GAIN * (1.0 - f(u) ** 2), 1e-200)  # the solver's floor for saturated units
        try:
            np.linalg.cholesky(L + np.diag(1.0 / slope - 1.0 + 1.0 / (delta * slope)))
            return True
        except np.linalg.LinAlgError:
            return False

    def continuation(start, start_step):
        u, delta, fn, steps = start.copy(), max(0.2 / (1 + 0.005 * start_step), 0.05), np.linalg.norm(F(start)), 0
        while residual(u) > 1e-10 and steps < 10**5:
            while not definite(u, delta):  # the solver's cut where E is not convex at the step's scale
                delta *= 0.25
            u = u + np.linalg.solve(eye / delta + jac(u), -F(u))
            fn, fn_old = np.linalg.norm(F(u)), fn
            delta = min(delta * max(4.0, fn_old / fn), 1e12)
            steps += 1
        return u, steps

    # The site whose continuation from the switch state ends farthest from Euler's fixed point.
    worst, row = -1.0, 0
    for i in range(len(fixed_all)):
        d = drives.reshape(-1, K)[i]
        u, _ = continuation(switch_all[i], switch_steps[i])
        gap = np.abs(f(u) - f(fixed_all[i])).max()
        if gap > worst:
            worst, row = gap, i
    d = drives.reshape(-1, K)[row]
    fixed, start, start_step = fixed_all[row], switch_all[row], switch_steps[row]
    rows = [("Euler schedule from rest", steps_all[row], fixed)]
    ode = solve_ivp(lambda _, y: -F(y), (0, 5000), np.zeros(K), method="LSODA", rtol=1e-10, atol=1e-12)
    rows.append(("LSODA from rest, then Newton", ode.nfev, newton(ode.y[:, -1])))
    rows.append((f"Newton from the switch state (step {start_step})", 60, newton(start)))
    rows.append(("pseudo-transient continuation", *reversed(continuation(start, start_step))))

    for order, name in ((1, "linearly implicit Euler"), (2, "ROS2")):
        for tol in (1e-2, 1e-3, 1e-4, 1e-5):
            u, h, steps = start.copy(), 0.05, 0
            while residual(u) > 1e-10 and steps < 10**5:
                Fu = F(u)
                if order == 1:
                    du = np.linalg.solve(eye / h + jac(u), -Fu)
                    error, trial = np.abs(du + h * Fu).max(), u + du  # implicit minus explicit step
                else:
                    M = eye + ROS2_GAMMA * h * jac(u)
                    k1 = np.linalg.solve(M, -Fu)
                    k2 = np.linalg.solve(M, -F(u + h * k1) - 2 * k1)
                    error, trial = np.abs(0.5 * h * (k1 + k2)).max(), u + h * (1.5 * k1 + 0.5 * k2)
                ratio = error / (tol * max(np.abs(u).max(), np.abs(trial).max()))
                if ratio > 1:
                    h *= max(0.2, 0.9 / np.sqrt(ratio))
                    continue
                u, steps = trial, steps + 1
                h = min(h * min(4.0, 0.9 / np.sqrt(max(ratio, 1e-300))), 1e12)
            rows.append((f"{name}, error tolerance {tol:g}", steps, u))

    print(f"sample {row // SITES}, site {row % SITES} (of {len(fixed_all)} site systems, the one whose continuation ends "
          f"farthest from Euler's fixed point): smallest eigenvalue of L_s + (1/gain - 1) I = "
          f"{np.linalg.eigvalsh(L + (1 / GAIN - 1) * eye)[0]:.3f}; switch at Euler step {start_step}")
    print(f"{'method':55s} {'steps':>7s} {'max |r - r_euler|':>18s} {'E':>10s}")
    for name, steps, u in rows:
        print(f"{name:55s} {steps:7d} {np.abs(f(u) - f(fixed)).max():18.2e} {energy(u):10.5f}")


if __name__ == "__main__":
    main()
