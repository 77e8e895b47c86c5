"""Low precision judged fairly: an implementation run in float32 (float16, bfloat16) against the float64
reference, with the error of the reference itself run at that precision as the yardstick.

For each leaf (an output, a gradient), with ref64 the float64 reference, base the reference run at the
implementation's precision (the same-precision autodiff baseline) and yours the implementation's value:

    max |yours − ref64|  ≤  factor · max |base − ref64|  +  floor · scale

over the leaf's entries (FlashAttention's criterion for a low-precision backward, with its factor 2 and a
floor). `scale` is the case's scale, as in the float64 tolerance of `dualgrad.engine.compare`: for the
gradients max(1, the largest |gradient| of any leaf of the case), for an output max(1, its largest |entry|).
A floor relative to each leaf's own size would fail correct code: LayerNorm's dx at D = 2 nearly cancels
(it is tiny next to dγ), and a correct textbook backward then errs by several times `F.layer_norm`'s own
float32 error, both far below the rounding of the case's larger gradients.

DEFAULT_FACTOR and DEFAULT_FLOOR (in units of the precision's machine epsilon) are overridable per call
(check_layer's `factor=` and `floor=`, the latter relative to the scale). Measured with
tests/test_float32_layers.py: the built-in layers in float32, correct, stay within these on thousands of
examples; a dropped term or a misplaced ε is off by orders of magnitude more.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import numpy as np

DEFAULT_FACTOR = 4.0
DEFAULT_FLOOR_EPS = 16.0  # the floor, in machine epsilons of the precision, times the case's scale
EPS = {"float32": float(np.finfo(np.float32).eps), "float16": float(np.finfo(np.float16).eps),
       "bfloat16": 2.0 ** -7}


def default_floor(dtype: str) -> float:
    return DEFAULT_FLOOR_EPS * EPS[dtype]


class PrecisionLeafError(NamedTuple):
    """How one leaf compares at low precision (the fields LeafError has, and the baseline)."""

    name: str
    shape_ok: bool
    max_abs: float  # max |yours − ref64|
    max_rel: float  # max_abs / the case's scale
    worst_index: Optional[Tuple[int, ...]]
    manual_value: float  # yours at the worst index
    ref_value: float  # the float64 reference there
    passed: bool
    base_value: float = float("nan")  # the same-precision reference there
    base_max_abs: float = 0.0  # max |base − ref64|
    allowed: float = 0.0
    dtype: str = "float32"
    factor: float = DEFAULT_FACTOR
    floor: float = 0.0  # absolute (floor · scale)

    def describe(self) -> str:
        if not self.shape_ok:
            return f"{self.name}: shapes differ"
        return (f"{self.name}: max |yours − float64| = {self.max_abs:.3g} > allowed {self.allowed:.3g} "
                f"(= {self.factor:g} × {self.base_max_abs:.3g}, the {self.dtype} reference's own error, "
                f"+ floor {self.floor:.3g}); at index {self.worst_index}: yours = {self.manual_value!r}, "
                f"float64 = {self.ref_value!r}, {self.dtype} reference = {self.base_value!r}")


def precision_error(name, mine, ref64, base, dtype, scale, factor=DEFAULT_FACTOR, floor=None) -> PrecisionLeafError:
    floor = default_floor(dtype) if floor is None else floor
    mine, ref64, base = (np.asarray(a, np.float64) for a in (mine, ref64, base))
    if mine.shape != ref64.shape:
        return PrecisionLeafError(name, False, np.inf, np.inf, None, np.nan, np.nan, False, dtype=dtype)
    if mine.size == 0:
        return PrecisionLeafError(name, True, 0.0, 0.0, None, 0.0, 0.0, True, dtype=dtype)
    diff = np.abs(mine - ref64)
    diff = np.where(np.isnan(diff) & ~(np.isnan(mine) & np.isnan(ref64)), np.inf, diff)
    base_diff = np.abs(base - ref64)
    base_max = float(np.max(np.where(np.isnan(base_diff), 0.0, base_diff)))
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    max_abs = float(diff[worst])
    allowed = factor * base_max + floor * scale
    return PrecisionLeafError(name, True, max_abs, max_abs / scale, tuple(int(i) for i in worst),
                              float(mine[worst]), float(ref64[worst]), bool(max_abs <= allowed),
                              float(base[worst]), base_max, allowed, dtype, factor, floor * scale)
