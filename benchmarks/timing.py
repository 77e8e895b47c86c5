"""Interleaved timing: contenders take turns round by round, so a slow moment of the (shared)
machine hits them all alike; each round times `reps` consecutive steps of each.

    times = interleaved({"a": step_a, "b": step_b}, rounds=30, reps=5)   # {name: [s per step, ...]}
    ratio(times, "b", "a")   # median over rounds of t_b / t_a, each ratio from one round
"""

from __future__ import annotations

import time

import numpy as np


def interleaved(steps: dict, rounds: int, reps: int) -> dict:
    names = list(steps)
    times = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
        for name in order:
            step = steps[name]
            t0 = time.perf_counter()
            for _ in range(reps):
                step()
            times[name].append((time.perf_counter() - t0) / reps)
    return times


def median_ms(times, name) -> float:
    return 1e3 * float(np.median(times[name]))


def ratio(times, name, base) -> float:
    """Median over rounds of time[name] / time[base] in the same round."""
    return float(np.median(np.asarray(times[name]) / np.asarray(times[base])))
