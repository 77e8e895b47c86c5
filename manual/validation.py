"""Checks of what users pass in, shared by `manual` and `reference`.

Every public entry point calls these before it computes or changes anything,
so a bad call fails with a message that names the argument and the expected
shape or value, and leaves all state as it was. Like `spec`, this module holds
no math of the network (the target encoding below is bookkeeping, tested on
its own in tests/test_validation.py).
"""

from __future__ import annotations

import math

import numpy as np

from .arguments import FLOAT_DTYPES
from .spec import NetworkSpec


def check_spec(spec) -> NetworkSpec:
    if not isinstance(spec, NetworkSpec):
        raise TypeError(f"spec must be a NetworkSpec, got {type(spec).__name__}; build one with NetworkSpec(sizes, ...)")
    return spec


def as_real_array(value, name: str) -> np.ndarray:
    """`value` as an ndarray of real numbers (bools and ints allowed), or a TypeError."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got a string")
    try:
        arr = np.asarray(value)
    except Exception as err:  # ragged nested lists and the like
        raise ValueError(f"{name} could not be read as a rectangular array of numbers: {err}") from None
    if arr.dtype.kind not in "biuf":
        kind = {"c": "complex", "O": "object", "U": "string", "S": "bytes"}.get(arr.dtype.kind, str(arr.dtype))
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype} ({kind})")
    return arr


# OpenBLAS computes a dot product of more than 10,000 entries on several threads (kernel/x86_64/
# ddot.c: `n <= 10000` runs on one). Waking them costs more than the sum itself, and on a busy
# machine far more: 426 × 30 rows (12,780 entries) took 2 ms in one dot, 3 µs in two of 8,192.
_DOT_CHUNK = 8192


def all_finite(*arrays) -> bool:
    """No NaN or ±inf in any of the arrays, in one read of each that allocates nothing.

    The dot product x·x meets every inf or NaN (inf² = inf, NaN propagates, and a sum of
    non-negative terms never cancels an inf), so a finite x·x proves every entry finite.
    It runs in BLAS (1.3–3× faster than x.sum() here) on an array whose memory is contiguous,
    in chunks of _DOT_CHUNK entries that BLAS keeps on one thread; any other array is summed
    instead (a sum meets inf and NaN the same way). A non-finite result may also be an overflow
    of large finite entries (|x| > 1e154 in float64, 1e19 in float32), and only then are the
    chunk's entries looked at.
    """
    with np.errstate(all="ignore"):  # overflow is expected (see above), underflow harmless
        for arr in arrays:
            arr = np.asarray(arr)  # np.matrix and other subclasses as plain arrays
            if arr.flags.c_contiguous or arr.flags.f_contiguous:
                flat = arr.ravel(order="K")  # a view, in memory order
                for start in range(0, flat.size, _DOT_CHUNK):
                    part = flat[start:start + _DOT_CHUNK]  # a view
                    if not (math.isfinite(np.dot(part, part)) or np.isfinite(part).all()):
                        return False
            elif not (math.isfinite(arr.sum()) or np.isfinite(arr).all()):
                return False
    return True


def check_finite(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind == "f" and not all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or infinite values (first at index {tuple(int(i) for i in bad)})")


def check_inputs(spec: NetworkSpec, X, dtype=np.float64) -> np.ndarray:
    """X as a finite float array of shape (N, sizes[0]) with N >= 1."""
    arr = as_real_array(X, "X")
    n_in = spec.sizes[0]
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D of shape (N, {n_in}), got {arr.ndim}-D of shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"X is an empty batch (shape {arr.shape}); expected at least one row of width {n_in}")
    if arr.shape[1] != n_in:
        raise ValueError(f"X must have {n_in} columns (sizes[0]), got shape {arr.shape}")
    check_finite(arr, "X")
    if arr.dtype != dtype:
        with np.errstate(over="ignore"):  # float64 -> float32 may overflow: reported below
            arr = arr.astype(dtype)
        if not all_finite(arr):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise ValueError(f"X has values beyond the {np.dtype(dtype)} range (±{np.finfo(dtype).max:.2e}), "
                             f"first at index {bad}; rescale X or use float64 parameters")
    return arr


def check_params(spec: NetworkSpec, params) -> list:
    """params as a list of (W, b) pairs whose shapes and dtypes fit `spec`."""
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"params must be a list of (W, b) pairs, got {type(params).__name__}")
    if len(params) != spec.n_layers:
        raise ValueError(f"params has {len(params)} layer(s) but the spec {list(spec.sizes)} has {spec.n_layers}")
    dtypes = set()
    for l, (layer, (w_shape, b_shape)) in enumerate(zip(params, spec.layer_shapes()), start=1):
        if not isinstance(layer, (list, tuple)) or len(layer) != 2:
            raise TypeError(f"layer {l} of params must be a (W, b) pair, got {type(layer).__name__}")
        for name, arr, shape in (("W", layer[0], w_shape), ("b", layer[1], b_shape)):
            if not isinstance(arr, np.ndarray):
                raise TypeError(f"layer {l}, {name} must be a NumPy array, got {type(arr).__name__}")
            if arr.dtype not in FLOAT_DTYPES:
                raise TypeError(f"layer {l}, {name} must be float32 or float64, got {arr.dtype}")
            if arr.shape != shape:
                raise ValueError(f"layer {l}, {name} must have shape {shape}, got {arr.shape}")
            check_finite(arr, f"layer {l}, {name}")
            dtypes.add(arr.dtype)
    if len(dtypes) > 1:
        raise TypeError(f"params mix dtypes {sorted(str(d) for d in dtypes)}; use one dtype for every W and b")
    return list(params)


def params_dtype(params) -> np.dtype:
    return params[0][0].dtype


def encode_targets(spec: NetworkSpec, y, n: int, dtype=np.float64) -> np.ndarray:
    """Labels as the float target matrix Y of shape (N, sizes[-1]) that the loss compares with.

    binary_cross_entropy: labels 0/1 of shape (N,) or (N, 1)      -> Y (N, 1)
    cross_entropy:        integer labels in [0, K) of shape (N,)  -> one-hot Y (N, K)
                          or one-hot rows of shape (N, K)         -> Y as given
    mse:                  real targets (N, K), or (N,) when K = 1 -> Y (N, K)
    """
    from .spec import LOSS_TARGETS

    k = spec.sizes[-1]
    kind = LOSS_TARGETS[spec.loss]  # "binary", "classes" or "real"
    loss = spec.loss
    arr = as_real_array(y, "y")
    if arr.ndim == 0 or arr.shape[0] != n:
        raise ValueError(f"y must have one label per row of X (N = {n}), got shape {arr.shape}")
    if kind == "binary":
        if arr.shape not in ((n,), (n, 1)):
            raise ValueError(f"{loss} labels must have shape ({n},) or ({n}, 1), got {arr.shape}")
        check_finite(arr.astype(np.float64), "y")
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{loss} labels must be 0 or 1, got values {_some(arr[~np.isin(arr, (0, 1))])}")
        return arr.reshape(n, 1).astype(dtype)
    if kind == "classes":
        if arr.ndim == 1:
            check_finite(arr.astype(np.float64), "y")
            if not (np.equal(np.mod(arr, 1), 0).all() and (arr >= 0).all() and (arr < k).all()):
                bad = arr[~(np.equal(np.mod(arr, 1), 0) & (arr >= 0) & (arr < k))]
                raise ValueError(f"{loss} labels must be integers in [0, {k}), got {_some(bad)}")
            Y = np.zeros((n, k), dtype=dtype)
            Y[np.arange(n), arr.astype(np.int64)] = 1
            return Y
        if arr.shape != (n, k):
            raise ValueError(f"{loss} labels must be integers of shape ({n},) or one-hot of shape ({n}, {k}), got {arr.shape}")
        if not (np.isin(arr, (0, 1)).all() and (arr.sum(axis=1) == 1).all()):
            raise ValueError(f"one-hot {loss} labels must be 0/1 with exactly one 1 in each row")
        return arr.astype(dtype)
    # real targets (mse)
    if arr.shape == (n,) and k == 1:
        arr = arr.reshape(n, 1)
    if arr.shape != (n, k):
        raise ValueError(f"{loss} targets must have shape ({n}, {k})" + (f" or ({n},)" if k == 1 else "") + f", got {arr.shape}")
    arr = arr.astype(dtype)
    check_finite(arr, "y")
    return arr


def check_sample_weight(sample_weight, n: int, dtype=np.float64) -> np.ndarray:
    """sample_weight as a finite array w (N,) in dtype with every wₙ ≥ 0 and Σ wₙ > 0.

    Zeros are allowed (the row counts for nothing); a list, a column (N, 1) is not: one weight
    per row of X, shape (N,).
    """
    arr = as_real_array(sample_weight, "sample_weight")
    if arr.shape != (n,):
        raise ValueError(f"sample_weight must have one weight per row of X, shape ({n},), got shape {arr.shape}")
    arr = arr.astype(np.float64)
    check_finite(arr, "sample_weight")
    if (arr < 0).any():
        raise ValueError(f"sample_weight must be >= 0, got negative weights {_some(arr[arr < 0])}")
    if not arr.sum() > 0:
        raise ValueError("sample_weight must not be all zero: their sum must be positive (the loss divides by it)")
    return arr.astype(dtype)


def _some(values, limit: int = 5) -> str:
    values = np.unique(np.asarray(values).ravel())
    shown = ", ".join(repr(v.item()) for v in values[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}]"
