"""One measured node of a derivation (`dualgrad.explain.sequence`, `attention`): manual's value against JAX's."""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from ..engine.compare import leaf_error
from ..engine.report import _num


class Row(NamedTuple):
    """One measured node: manual's value against JAX's."""

    name: str  # "dnext_h", "dz", "dx", "dprev_h", "Σ dWx", ...
    equation: str  # how manual computes it, e.g. "dh[:, 2] + dprev_h from t = 4"
    shape: tuple
    manual: Optional[np.ndarray]  # None: not observed (the backward did not call the step function)
    max_abs: float
    max_rel: float
    passed: bool


def _row(name, equation, manual, ref, scale) -> Row:
    if manual is None:
        return Row(name, equation, tuple(np.shape(ref)), None, 0.0, 0.0, True)
    e = leaf_error(name, manual, ref, scale=scale)
    return Row(name, equation, tuple(np.shape(manual)), np.asarray(manual, np.float64), e.max_abs, e.max_rel,
               e.passed)


def _shape(shape) -> str:
    shape = tuple(shape)
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def _measure(r: Row) -> str:
    if r.manual is None:
        return "not observed"
    return f"max |manual − jax| = {_num(r.max_abs)}  {'pass' if r.passed else 'FAIL'}"
