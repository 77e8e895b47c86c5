"""Checks of scalar arguments — hyper-parameters, counts, flags, dtypes, seeds — in one message format.

Each returns the value normalised (float, int, bool, np.dtype) or raises a
TypeError (wrong type) or ValueError (right type, wrong value) that names the
argument and what was expected:

    learning_rate must be a finite float > 0, got str 'x'        (TypeError)
    momentum must be a float in [0, 1), got 1.5                   (ValueError)

Arrays are checked in `validation`; this module is for the single values around them.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, Optional

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def real(value, name: str, expected: str = "a finite float", ok: Callable[[float], bool] = math.isfinite) -> float:
    """A real number (bools refused) for which ok(value) holds."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    value = float(value)
    if not ok(value):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def positive(value, name: str) -> float:
    """A finite float > 0."""
    return real(value, name, "a finite float > 0", lambda v: 0 < v < math.inf)


def non_negative(value, name: str) -> float:
    """A finite float >= 0."""
    return real(value, name, "a finite float >= 0", lambda v: 0 <= v < math.inf)


def unit_interval(value, name: str) -> float:
    """A float in [0, 1) (a decay or momentum)."""
    return real(value, name, "a float in [0, 1)", lambda v: 0 <= v < 1)


def integer(value, name: str, minimum: int = 0, expected: Optional[str] = None) -> int:
    """An int >= minimum (bools refused)."""
    expected = expected or f"an int >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def flag(value, name: str) -> bool:
    """True or False (not 0/1, not a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def float_dtype(value, name: str = "dtype") -> np.dtype:
    """np.float32 or np.float64 (as a type, a dtype or its name). NOTE: np.dtype(None) is float64,
    so None is refused here explicitly."""
    try:
        dt = np.dtype(value) if isinstance(value, (type, np.dtype, str)) else None
    except TypeError:
        dt = None
    if dt is None or dt not in FLOAT_DTYPES:  # `None in FLOAT_DTYPES` is True: np.dtype compares None as float64
        raise TypeError(f"{name} must be np.float32 or np.float64, got {value!r}")
    return dt


def seed(value, name: str = "seed") -> Optional[int]:
    """An int >= 0 for a reproducible generator, or None for fresh entropy."""
    return None if value is None else integer(value, name, 0, "an int >= 0 or None")
