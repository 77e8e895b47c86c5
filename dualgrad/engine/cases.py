"""Random cases for the network checks: (params, X, y) from one seed, labels valid for a loss,
and the sweep of `dualgrad verify`."""


from __future__ import annotations

import numpy as np

import manual
from manual import spec as _spec
from manual.spec import NetworkSpec

def random_case(spec: NetworkSpec, batch: int, seed: int = 0, zeros: float = 0.0):
    """(params, X, y) for `spec` from one seed: He weights, small random biases, X ~ N(0, 1),
    labels valid for the loss. `zeros` is the fraction of X set to exactly 0 (kinks on purpose)."""
    rng = np.random.default_rng(seed)
    params = []
    for W, b in manual.init_params(spec, seed=seed):
        params.append((W, rng.standard_normal(b.shape) * 0.1))  # W (fan_in, fan_out), b (fan_out,)
    X = rng.standard_normal((batch, spec.sizes[0]))  # (N, n_in)
    X[rng.random(X.shape) < zeros] = 0.0
    return params, X, random_labels(spec, batch, rng)


def random_labels(spec: NetworkSpec, n: int, rng: np.random.Generator, scale: float = 1.0):
    """n labels valid for the loss, from rng: class indices (N,) for cross_entropy, 0/1 floats (N,)
    for binary_cross_entropy, real targets (N, K) ~ N(0, scale²) for mse."""
    k = spec.sizes[-1]
    kind = _spec.LOSS_TARGETS[spec.loss]
    if kind == "classes":
        return rng.integers(0, k, size=n)  # (N,) class indices
    if kind == "binary":
        return rng.integers(0, 2, size=n).astype(np.float64)  # (N,) 0/1
    return rng.standard_normal((n, k)) * scale  # (N, K) real targets


def sweep_cases(n: int, seed: int = 0, activations=None, losses=None, l2=None, batch=None):
    """`n` random (spec, params, X, y) cases from one seed, small enough for one compiled bucket
    (≤ 4 layers, widths ≤ 32, batch ≤ 64).

    Case i uses activation i mod A (A activations) in its first hidden layer and loss
    (i + i // A) mod 3, so the first max(A, 3) cases cover every activation and every loss, and
    3·A cases every (activation, loss) pair; further hidden layers draw any activation. Some cases
    carry exact zeros in X and a silent hidden unit (zero incoming weights and bias: z = 0 exactly,
    every row on the kink of relu and leaky_relu). l2 and batch are drawn unless given.
    """
    activations = list(activations or _spec.ACTIVATION_NAMES)
    losses = list(losses or _spec.LOSS_NAMES)
    rng = np.random.default_rng(seed)
    for i in range(n):
        act = activations[i % len(activations)]
        loss = losses[(i + i // len(activations)) % len(losses)]
        n_hidden = int(rng.integers(1, 4))
        hidden = [act] + [activations[int(rng.integers(len(activations)))] for _ in range(n_hidden - 1)]
        n_out = {"binary_cross_entropy": 1, "cross_entropy": int(rng.integers(2, 11))}.get(loss, int(rng.integers(1, 6)))
        sizes = [int(rng.integers(1, 17))] + [int(rng.integers(1, 33)) for _ in range(n_hidden)] + [n_out]
        strength = float(rng.choice([0.0, 0.0, 0.01])) if l2 is None else l2
        spec = NetworkSpec(sizes, hidden, loss, strength)
        n_rows = int(rng.integers(1, 65)) if batch is None else batch
        params, X, y = random_case(spec, n_rows, seed=int(rng.integers(2**31)), zeros=float(rng.choice([0.0, 0.3])))
        if rng.random() < 0.25:
            for W, b in params[:-1]:
                W[:, 0], b[0] = 0.0, 0.0  # a silent unit: z = 0 for every row
        yield spec, params, X, y
