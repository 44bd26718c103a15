"""Speed of the vectorized trajectory generator against a per-trajectory Python RK4 loop.

Workload: 2000 damped harmonic oscillators (the E2 DHO settings), 1024 RK4 steps of 0.01 each.
The vectorized generator (:func:`contlaws.data.dynamics.simulate`) integrates all trajectories at
once; the baseline is the straightforward loop over trajectories and steps with the same equations
in plain Python floats. The loop is timed on a subset and scaled linearly to the full count (its
cost is exactly proportional to the number of trajectories). Goal: at least 50x.

    python benchmarks/bench_datagen.py [--n 2000] [--steps 1024] [--loop-subset 50]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from contlaws.data.dynamics import REGRESSION_SETTINGS, simulate

GOAL = 50.0


def dho_field(x: float, v: float, omega: float, zeta: float) -> tuple[float, float]:
    return v, -2.0 * zeta * omega * v - omega * omega * x


def loop_trajectory(omega: float, zeta: float, x: float, v: float, dt: float, steps: int) -> np.ndarray:
    """One trajectory by classical RK4 in plain Python; the state after each step. Returns (steps, 2)."""
    out = np.empty((steps, 2))
    for k in range(steps):
        k1x, k1v = dho_field(x, v, omega, zeta)
        k2x, k2v = dho_field(x + 0.5 * dt * k1x, v + 0.5 * dt * k1v, omega, zeta)
        k3x, k3v = dho_field(x + 0.5 * dt * k2x, v + 0.5 * dt * k2v, omega, zeta)
        k4x, k4v = dho_field(x + dt * k3x, v + dt * k3v, omega, zeta)
        x = x + (dt / 6.0) * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        v = v + (dt / 6.0) * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
        out[k] = x, v
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="trajectories")
    parser.add_argument("--steps", type=int, default=1024, help="RK4 steps per trajectory")
    parser.add_argument("--loop-subset", type=int, default=50, help="trajectories timed with the Python loop")
    parser.add_argument("--dt", type=float, default=0.01)
    args = parser.parse_args()

    system = REGRESSION_SETTINGS["dho"]
    params, y0 = system.draw(np.random.default_rng(0), args.n)

    start = time.perf_counter()
    states = simulate(system, params, y0, args.dt, args.steps)  # (n T 2)
    vectorized_s = time.perf_counter() - start

    m = min(args.loop_subset, args.n)
    start = time.perf_counter()
    looped = [
        loop_trajectory(params["omega"][i], params["zeta"][i], y0[i, 0], y0[i, 1], args.dt, args.steps)
        for i in range(m)
    ]
    loop_subset_s = time.perf_counter() - start
    loop_s = loop_subset_s * args.n / m

    max_diff = max(np.abs(states[i] - looped[i]).max() for i in range(m))
    ratio = loop_s / vectorized_s
    print(f"workload: {args.n} damped-oscillator trajectories x {args.steps} RK4 steps (dt {args.dt}), float64")
    print(f"vectorized simulate():      {vectorized_s:8.3f} s")
    print(f"per-trajectory Python loop: {loop_s:8.3f} s  (timed on {m} trajectories: {loop_subset_s:.3f} s, "
          f"scaled x{args.n / m:g})")
    print(f"max |difference| on the timed subset: {max_diff:.2e}")
    print(f"speed-up: {ratio:.1f}x (goal >= {GOAL:g}x: {'met' if ratio >= GOAL else 'NOT met'})")


if __name__ == "__main__":
    main()
