"""Low precision judged fairly: an implementation run in float32 (float16, bfloat16) against the float64
reference, with the error of the reference itself run at that precision as the yardstick.

For each leaf (an output, a gradient), with ref64 the float64 reference, base the reference run at the
implementation's precision (the same-precision autodiff baseline) and yours the implementation's value,
over the leaf's entries:

    max |yours − ref64|  ≤  factor · max(max |base − ref64|, max |rounded − ref64|)  +  floor · scale

- the first yardstick is FlashAttention's criterion for a low-precision backward (its factor is 2);
- `rounded` is the float64 reference at the case's inputs and upstream gradients a each moved by
  ε·max|a|·u, u uniform in [−1, 1], ε the precision's machine epsilon: how much a rounding error of the
  size of each array's largest entry moves the leaf (the case's conditioning, normwise). It is needed
  because autodiff of the reference in float32 is
  sometimes far more accurate than a textbook formula can be: LayerNorm at D = 2 with |x| ≫ σ loses the
  digits of x − μ, and the textbook dx divides them by σ (measured: 1.4e-5 off where the float32 twin
  is 1e-7 off, the right dx 0.0228);
- `scale` is the case's scale, as in the float64 tolerance of `dualgrad.engine.compare`: for the
  gradients max(1, the largest |gradient| of any leaf of the case), for an output max(1, its largest
  |entry|). A floor relative to each leaf's own size would fail correct code: LayerNorm's dx at D = 2
  nearly cancels (tiny next to dγ), and a correct backward then errs by several times the twin's own
  float32 error, both far below the rounding of the case's larger gradients.

DEFAULT_FACTOR (8) and DEFAULT_FLOOR_EPS (the floor in machine epsilons: 256 for float32, i.e. 3.1e-5
of the case's scale; 4 for float16 and bfloat16, whose inputs alone round by 2⁻¹¹ and 2⁻⁸) are
overridable per call: check_layer's `factor=` and `floor=` (the latter relative to the case's scale).
How they were chosen (LayerNorm, the least stable built-in backward, 30,000 random cases drawn as
tests/test_layers.py draws them, 90,000 leaves, the textbook float32 backward against the float64
one and JAX's float32 autodiff): its error reached 1,409 ε·scale where the twin's was 204 ε·scale,
and 164 ε where the twin's was 6 ε, all at D = 2; false failures with factor 2 / 4 / 8 and a floor of
16 ε: 51 / 11 / 4 leaves, with 256 ε: 3 / 1 / 0. A dropped term or a misplaced ε (at ε ≥ 1e-3) is off
by 1e-3 of the scale or more, 30 times the floor.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import numpy as np

DEFAULT_FACTOR = 8.0
# the floor, in machine epsilons of the precision, times the case's scale (float32: 3.1e-5)
DEFAULT_FLOOR_EPS = {"float32": 256.0, "float16": 4.0, "bfloat16": 4.0}
EPS = {"float32": float(np.finfo(np.float32).eps), "float16": float(np.finfo(np.float16).eps),
       "bfloat16": 2.0 ** -7}


def default_floor(dtype: str) -> float:
    return DEFAULT_FLOOR_EPS[dtype] * EPS[dtype]


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
    rounding_max_abs: float = 0.0  # max |ref64 at rounded inputs − ref64|
    allowed: float = 0.0
    dtype: str = "float32"
    factor: float = DEFAULT_FACTOR
    floor: float = 0.0  # absolute (floor · scale)

    def describe(self) -> str:
        if not self.shape_ok:
            return f"{self.name}: shapes differ"
        if self.rounding_max_abs > self.base_max_abs:
            yardstick = f"{self.rounding_max_abs:.3g}, the float64 reference's change when the inputs are rounded"
        else:
            yardstick = f"{self.base_max_abs:.3g}, the {self.dtype} reference's own error"
        return (f"{self.name}: max |yours − float64| = {self.max_abs:.3g} > allowed {self.allowed:.3g} "
                f"(= {self.factor:g} × {yardstick}, + floor {self.floor:.3g}); at index {self.worst_index}: "
                f"yours = {self.manual_value!r}, float64 = {self.ref_value!r}, "
                f"{self.dtype} reference = {self.base_value!r}")


def _max_abs(a, b):
    d = np.abs(np.asarray(a, np.float64) - b)
    return float(np.max(np.where(np.isfinite(d), d, 0.0), initial=0.0)) if np.shape(a) == np.shape(b) else 0.0


def precision_error(name, mine, ref64, base, dtype, scale, factor=DEFAULT_FACTOR, floor=None,
                    rounded=None) -> PrecisionLeafError:
    """rounded: the float64 reference at inputs rounded to the precision (optional): the yardstick is
    the larger of its change and the baseline's error."""
    floor = default_floor(dtype) if floor is None else floor
    mine, ref64, base = (np.asarray(a, np.float64) for a in (mine, ref64, base))
    if mine.shape != ref64.shape:
        return PrecisionLeafError(name, False, np.inf, np.inf, None, np.nan, np.nan, False, dtype=dtype)
    if mine.size == 0:
        return PrecisionLeafError(name, True, 0.0, 0.0, None, 0.0, 0.0, True, dtype=dtype)
    diff = np.abs(mine - ref64)
    diff = np.where(np.isnan(diff) & ~(np.isnan(mine) & np.isnan(ref64)), np.inf, diff)
    base_max = _max_abs(base, ref64)
    rounding_max = 0.0 if rounded is None else _max_abs(rounded, ref64)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    max_abs = float(diff[worst])
    allowed = factor * max(base_max, rounding_max) + floor * scale
    return PrecisionLeafError(name, True, max_abs, max_abs / scale, tuple(int(i) for i in worst),
                              float(mine[worst]), float(ref64[worst]), bool(max_abs <= allowed),
                              float(base[worst]), base_max, rounding_max, allowed, dtype, factor, floor * scale)
