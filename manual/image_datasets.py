"""Small image data sets made in code (no download), for the convolution layers. NumPy only.

    X, y = bars(n_samples=600, seed=0)   # X (N, 1, 9, 9) float64, y (N,) int64 in 0 .. 3

Rows come in random class order (already shuffled), drawn from np.random.default_rng(seed) only.
"""

from __future__ import annotations

import numpy as np

from . import arguments

BAR_CLASSES = ("horizontal", "vertical", "diagonal", "anti-diagonal")
_STEPS = ((0, 1), (1, 0), (1, 1), (1, -1))  # (row, column) step along the bar, per class


def bars(n_samples=600, size=9, length=3, noise=0.3, seed=0):
    """Oriented bars at random positions: the class is the bar's direction, not where it is.

    Each image is N(0, noise²) background with one bar of `length` pixels of value 1 along
    one of 4 directions (horizontal, vertical, ↘ diagonal, ↙ anti-diagonal), placed
    uniformly among the positions where it fits. A convolution's shared 3×3 filters see a
    direction anywhere; a dense layer must learn it at every position separately.
    X (n_samples, 1, size, size) float64, y (n_samples,) int64 in 0 .. 3.
    """
    n = arguments.integer(n_samples, "n_samples", 1)
    size = arguments.integer(size, "size", 2)
    length = arguments.integer(length, "length", 2)
    if length > size:
        raise ValueError(f"length must be at most size ({size}), got {length}")
    noise = arguments.non_negative(noise, "noise")
    rng = np.random.default_rng(arguments.seed(seed))
    y = rng.integers(0, 4, size=n)  # (N,)
    X = noise * rng.standard_normal((n, 1, size, size))  # (N, 1, size, size)
    span = length - 1
    for i, label in enumerate(y):
        dr, dc = _STEPS[label]
        r0 = rng.integers(0, size - span * dr)  # the bar's rows r0 .. r0 + span·dr stay inside
        c_lo = span if dc < 0 else 0  # a bar going left starts at column >= span
        c0 = rng.integers(c_lo, size - (span if dc > 0 else 0))
        for t in range(length):
            X[i, 0, r0 + t * dr, c0 + t * dc] = 1.0
    return X, y.astype(np.int64)
