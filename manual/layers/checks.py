"""Checks of what a layer is given, shared by `manual.layers` and `reference.layers`.

Bookkeeping, not math: every forward calls these before it computes anything, so a
bad call raises a TypeError (wrong kind of value) or ValueError (right kind, wrong
shape or value) naming the argument and what was expected, and changes nothing.
Each returns the value as the layer uses it (an ndarray, a float, an int).

The reference twins run them too, on concrete arrays; under jax.jit only the shape
checks can run (`traced` skips the value checks).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..arguments import FLOAT_DTYPES


def _is_traced(x) -> bool:
    """A JAX tracer (under jit, vjp or jvp): its shape is known, its values are not."""
    return any(c.__name__ == "Tracer" for c in type(x).__mro__)  # jax.core.Tracer, without importing jax


def float_array(x, name: str, ndim=None, shape=None, what: str = None):
    """A float32/float64 array (NumPy, or a JAX array on the reference side) of rank `ndim` (an int or
    a tuple of allowed ranks) or of exactly `shape`, with no NaN or ±inf."""
    what = what or (f"shape {tuple(shape)}" if shape is not None else f"{_ranks(ndim)}")
    if not hasattr(x, "shape") or not hasattr(x, "dtype") or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a float array of {what}, got {type(x).__name__}")
    if np.dtype(x.dtype) not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a float32 or float64 array of {what}, got dtype {x.dtype}")
    if ndim is not None and x.ndim not in (ndim if isinstance(ndim, tuple) else (ndim,)):
        raise ValueError(f"{name} must be {what}, got shape {tuple(x.shape)}")
    if shape is not None and tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} must have {what}, got shape {tuple(x.shape)}")
    if not _is_traced(x) and not np.isfinite(np.asarray(x)).all():
        raise ValueError(f"{name} contains NaN or infinite values; expected finite numbers")
    return x


def _ranks(ndim) -> str:
    if ndim is None:
        return "any shape"
    ranks = ndim if isinstance(ndim, tuple) else (ndim,)
    return " or ".join(f"{r}-D" for r in ranks) + " shape"


def id_array(ids, name: str, vocabulary: int):
    """Integer ids of shape (N,) or (N, T), every one in 0 .. vocabulary − 1."""
    if not hasattr(ids, "shape") or not hasattr(ids, "dtype"):
        raise TypeError(f"{name} must be an integer array of shape (N,) or (N, T), got {type(ids).__name__}")
    if np.dtype(ids.dtype).kind not in "iu":
        raise TypeError(f"{name} must be an integer array of shape (N,) or (N, T) with values in "
                        f"0 .. {vocabulary - 1}, got dtype {ids.dtype}")
    if ids.ndim not in (1, 2) or ids.shape[0] < 1:
        raise ValueError(f"{name} must have shape (N,) or (N, T) with N >= 1, got shape {tuple(ids.shape)}")
    if not _is_traced(ids):
        values = np.asarray(ids)
        if values.size and (values.min() < 0 or values.max() >= vocabulary):
            bad = values[(values < 0) | (values >= vocabulary)].flat[0]
            raise ValueError(f"{name} must be in 0 .. {vocabulary - 1} (E has V = {vocabulary} rows), got {bad}")
    return ids


def eps(value, name: str = "eps") -> float:
    """A finite float > 0 (the variance floor of a normalisation)."""
    return _real(value, name, "a finite float > 0", lambda v: 0 < v < math.inf)


def probability(value, name: str = "p") -> float:
    """A drop probability in [0, 1)."""
    return _real(value, name, "a float in [0, 1)", lambda v: 0 <= v < 1)


def momentum(value, name: str = "momentum") -> float:
    return _real(value, name, "a float in [0, 1)", lambda v: 0 <= v < 1)


def _real(value, name, expected, ok):
    if _is_traced(value):
        return value
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu":
            value = value.item()
        else:
            raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    value = float(value)
    if not ok(value):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def seed(value, name: str = "seed") -> int:
    """An int >= 0 (a Python or NumPy integer) from which the dropout mask is drawn."""
    if _is_traced(value):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu":
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int >= 0, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


def same_shape(dout, shape, name: str = "dout"):
    """The upstream gradient: a finite float array of the forward output's shape."""
    return float_array(dout, name, shape=shape, what=f"shape {tuple(shape)} (that of the forward output)")


def cache_of(cache, kind, layer: str):
    if not isinstance(cache, kind):
        raise TypeError(f"cache must be the cache returned by {layer}_forward ({kind.__name__}), "
                        f"got {type(cache).__name__}")
    return cache


def dropout_mask(shape, p: float, seed: int) -> np.ndarray:
    """The kept units, as a bool array of `shape`: uniform(0, 1) >= p from default_rng(seed).

    Data, not math: both sides draw the same mask from the same seed with this one function
    (the reference through jax.pure_callback). Row-major, so entry k of the flattened mask is
    the k-th number drawn.
    """
    return np.random.default_rng(seed).random(tuple(int(s) for s in shape)) >= p


def bool_array(mask, name: str, shape, what: str):
    """A bool array of exactly `shape` (a mask: True = counted / attended)."""
    if not hasattr(mask, "shape") or not hasattr(mask, "dtype") or isinstance(mask, (str, bytes)):
        raise TypeError(f"{name} must be a bool array of {what}, got {type(mask).__name__}")
    if np.dtype(mask.dtype) != np.dtype(bool):
        raise TypeError(f"{name} must be a bool array of {what}, got dtype {mask.dtype}")
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"{name} must have {what}, got shape {tuple(mask.shape)}")
    return mask



def attention_mask(mask, T: int, S: int):
    """None (every key attended) or a bool (T, S) mask, True = attended, every row attending at
    least one key (a row of all False would be a softmax over nothing: 0/0, NaN)."""
    if mask is None:
        return None
    mask = bool_array(mask, "mask", (T, S), f"shape ({T}, {S}) (T queries, S keys; True = attended)")
    if not _is_traced(mask):
        empty = np.flatnonzero(~np.asarray(mask).any(axis=1))
        if empty.size:
            raise ValueError(f"mask row {int(empty[0])} attends no key (every entry False): each of the {T} "
                             f"query rows of the ({T}, {S}) mask needs at least one True")
    return mask
