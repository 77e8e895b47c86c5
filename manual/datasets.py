"""Small classification data sets, made in code from a seed (no downloads), and a CSV loader.

Every function returns (X, y):

    X  (N, D) float64   features; D = 2 for every synthetic set
    y  (N,)   int64     class labels 0 .. K−1 (load_csv: as in the file, see there)

Synthetic sets draw from np.random.default_rng(seed) only (no global state),
so one seed always gives the same data. Rows come grouped by class, in label
order: shuffle before you cut mini-batches.

NumPy only.
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from . import arguments


def xor():
    """The seed's 4 points: y = x₁ XOR x₂, not linearly separable. X (4, 2), y (4,)."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)  # (4, 2)
    y = np.array([0, 1, 1, 0], dtype=np.int64)  # (4,)
    return X, y


BLOB_CENTERS = np.array([[0.0, 0.0], [3.0, 3.0], [6.0, 0.0]])  # (3, 2), the seed's


def blobs(n_per_class=50, seed=42):
    """Three Gaussian blobs, N(center, I) around (0, 0), (3, 3), (6, 0): the seed's 3-class data.

    NOTE: the seed drew with the global np.random.seed(42); we draw from
    default_rng(seed): same distribution, different numbers.
    X (3·n_per_class, 2), y (3·n_per_class,) in {0, 1, 2}.
    """
    n = _count(n_per_class, "n_per_class")
    rng = _rng(seed)
    X = np.concatenate([rng.standard_normal((n, 2)) + c for c in BLOB_CENTERS])  # (3n, 2)
    y = np.repeat(np.arange(3), n)  # (3n,)
    return X, y


def moons(n_samples=200, noise=0.1, seed=0):
    """Two interleaved half circles: class 0 the upper arc of the unit circle, class 1 the
    lower arc shifted to (1, 0.5), plus N(0, noise²) on each coordinate.
    X (n_samples, 2), y (n_samples,) in {0, 1}, ⌈n/2⌉ of class 0."""
    n = _count(n_samples, "n_samples", minimum=2)
    noise = _noise(noise)
    rng = _rng(seed)
    n0 = n - n // 2
    t0 = np.linspace(0, np.pi, n0)  # (n0,)
    t1 = np.linspace(0, np.pi, n // 2)  # (n1,)
    X = np.concatenate([
        np.stack([np.cos(t0), np.sin(t0)], axis=1),  # (n0, 2)
        np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1),  # (n1, 2)
    ])
    X += noise * rng.standard_normal(X.shape)
    return X, _labels([n0, n // 2])


def circles(n_samples=200, noise=0.05, factor=0.5, seed=0):
    """Two concentric circles: class 0 of radius 1, class 1 of radius `factor` (0 < factor < 1),
    evenly spaced angles, plus N(0, noise²) on each coordinate.
    X (n_samples, 2), y (n_samples,) in {0, 1}, ⌈n/2⌉ of class 0."""
    n = _count(n_samples, "n_samples", minimum=2)
    noise = _noise(noise)
    factor = arguments.real(factor, "factor", "a float in (0, 1) (the inner radius)", lambda v: 0 < v < 1)
    rng = _rng(seed)
    n0 = n - n // 2
    t0 = np.linspace(0, 2 * np.pi, n0, endpoint=False)  # (n0,)
    t1 = np.linspace(0, 2 * np.pi, n // 2, endpoint=False)  # (n1,)
    X = np.concatenate([
        np.stack([np.cos(t0), np.sin(t0)], axis=1),  # (n0, 2)
        factor * np.stack([np.cos(t1), np.sin(t1)], axis=1),  # (n1, 2)
    ])
    X += noise * rng.standard_normal(X.shape)
    return X, _labels([n0, n // 2])


def spirals(n_samples=300, n_classes=3, noise=0.2, seed=0):
    """n_classes interleaved spiral arms (CS231n's): arm j has radius r ∈ [0, 1] and angle
    4j + 4r + N(0, noise²), point (r sin θ, r cos θ); the noise is on the angle.
    X (n_samples, 2), y (n_samples,) in 0 .. n_classes−1, the arms' sizes differing by at most 1."""
    n = _count(n_samples, "n_samples")
    k = _count(n_classes, "n_classes")
    if n < k:
        raise ValueError(f"n_samples must be at least n_classes ({k}) so every class has a point, got {n}")
    noise = _noise(noise)
    rng = _rng(seed)
    sizes = [n // k + (j < n % k) for j in range(k)]
    arms = []
    for j, m in enumerate(sizes):
        r = np.linspace(0.0, 1.0, m)  # (m,)
        theta = 4.0 * j + 4.0 * r + noise * rng.standard_normal(m)  # (m,)
        arms.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))  # (m, 2)
    return np.concatenate(arms), _labels(sizes)


DATASETS = {"xor": xor, "blobs": blobs, "moons": moons, "circles": circles, "spirals": spirals}


def load_csv(path, delimiter=","):
    """(X, y) from a CSV file: every column but the last a numeric feature, the last the label.

    A first row whose features are not all numbers is taken as a header and
    skipped. Blank lines are skipped. X is float64 (N, D) with D ≥ 1. y is int64
    if every label reads as an integer-valued number ("3", "1.0"), else the
    labels as strings (dtype str), as written. Raises ValueError naming the line
    for ragged rows, non-numeric or non-finite features and empty labels, and
    for a file without data rows.
    """
    with open(os.fspath(path), newline="", encoding="utf-8-sig") as f:
        rows = [(i, [field.strip() for field in row]) for i, row in enumerate(csv.reader(f, delimiter=delimiter), start=1)]
    rows = [(i, row) for i, row in rows if any(row)]  # skip blank lines
    if not rows:
        raise ValueError(f"{path}: empty file, expected rows of numeric features and a label")
    first, width = rows[0][0], len(rows[0][1])
    if width < 2:
        raise ValueError(f"{path}, line {first}: expected at least 2 columns (features, then a label), got {width}")
    for i, row in rows:
        if len(row) != width:
            raise ValueError(f"{path}, line {i}: {len(row)} fields, expected {width} like line {first} (ragged rows)")
    if not all(_is_number(field) for field in rows[0][1][:-1]):
        rows = rows[1:]  # a header
    if not rows:
        raise ValueError(f"{path}: no data rows (only a header)")
    features, labels = [], []
    for i, row in rows:
        values = []
        for j, field in enumerate(row[:-1], start=1):
            if not _is_number(field):
                raise ValueError(f"{path}, line {i}, column {j}: feature {field!r} is not a number "
                                 "(only the last column, the label, may be text)")
            value = float(field)
            if not math.isfinite(value):
                raise ValueError(f"{path}, line {i}, column {j}: feature {field!r} is not finite")
            values.append(value)
        if not row[-1]:
            raise ValueError(f"{path}, line {i}: empty label in the last column")
        features.append(values)
        labels.append(row[-1])
    X = np.array(features, dtype=np.float64)  # (N, D)
    if all(_is_number(v) and float(v).is_integer() for v in labels):
        return X, np.array([int(v) if v.lstrip("+-").isdigit() else int(float(v)) for v in labels], dtype=np.int64)
    return X, np.array(labels, dtype=str)  # (N,)


# ---------------------------------------------------------------- helpers


def _labels(sizes):
    """0 repeated sizes[0] times, 1 repeated sizes[1] times, ... as int64."""
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)


def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True


def _noise(noise):
    return arguments.real(noise, "noise", "a finite float >= 0 (a standard deviation)", lambda v: 0 <= v < math.inf)


def _count(value, name, minimum=1):
    return arguments.integer(value, name, minimum)


def _rng(seed):
    return np.random.default_rng(arguments.seed(seed))
