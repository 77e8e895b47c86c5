"""Properties of the convolution, pooling and flatten layers, and the cases they are drawn on.

Each property takes one case and raises AssertionError naming the leaf (out, dx, dW, db,
the adjoint identity, purity) with both values at the worst entry:

- `conv_matches`, `maxpool_matches`, `avgpool_matches`, `flatten_matches`: manual's fast form
  (the contract names, looked up in their module at call time, so the bug catalog's patches
  take effect) against jax.vjp of the reference twin, for a random upstream gradient; the
  adjoint identity ⟨dout, J v⟩ = ⟨Jᵀ dout, v⟩; purity (no input modified, no returned array
  sharing memory with an input or another output);
- `conv_naive_equals_fast`, `pool_naive_equals_fast`: the naive loops against the fast form
  (and, for conv, dx by the flipped-kernel correlation).

Cases are drawn valid by construction (never filtered): per axis the kernel, dilation and
padding first, then an input size from the smallest the (dilated) kernel fits in, then the
stride; arrays from a drawn seed. So the edge cases come up on their own and shrink towards
them: kernel = input size, 1×1 kernels, stride > kernel, H ≠ W, padding ≥ kernel − 1.
Values: normal, small integers (ties in max pooling on purpose) or with exact zeros.
The reference goes through `reference.layers.bucketed_windows` (a few compiled programs).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple, Tuple

import numpy as np
from hypothesis import strategies as st

from manual.layers import conv as CV
from manual.layers import flatten as FL
from manual.layers import pool as PL
from reference.layers import bucketed_windows as BW

from .compare import assert_close

VALUES = ("normal", "integers", "zeros")  # integers: ties; zeros: 30% exact zeros
ADJOINT_RTOL = 1e-10  # of the sum of |terms|: both sides are exact sums of the same products


class ConvCase(NamedTuple):
    x: np.ndarray  # (N, C, H, W)
    W: np.ndarray  # (F, C, HH, WW)
    b: np.ndarray  # (F,)
    stride: Tuple[int, int]
    padding: Tuple[int, int]
    dilation: Tuple[int, int]
    dout: np.ndarray  # (N, F, Ho, Wo), random, never all ones
    v: Tuple[np.ndarray, np.ndarray, np.ndarray]  # directions for the adjoint identity: like x, W, b


class PoolCase(NamedTuple):
    x: np.ndarray  # (N, C, H, W)
    size: Tuple[int, int]
    stride: Tuple[int, int]
    dout: np.ndarray  # (N, C, Ho, Wo)
    v: np.ndarray  # like x


class FlattenCase(NamedTuple):
    x: np.ndarray
    dout: np.ndarray
    v: np.ndarray


def describe(case) -> str:
    """One line: every size of the case."""
    if isinstance(case, FlattenCase):
        return f"x {case.x.shape}"
    shape = "N={} C={} H={} W={}".format(*case.x.shape)
    if isinstance(case, ConvCase):
        F, _, HH, WW = case.W.shape
        return (f"{shape} F={F} kernel={(HH, WW)} stride={case.stride} padding={case.padding} "
                f"dilation={case.dilation}")
    return f"{shape} size={case.size} stride={case.stride}"


def _values(rng, shape, kind):
    if kind == "integers":
        return rng.integers(-1, 2, size=shape).astype(np.float64)
    x = rng.standard_normal(shape)
    if kind == "zeros":
        x[rng.random(shape) < 0.3] = 0.0
    return x


_SEEDS = st.integers(0, 2**32 - 1)


@st.composite
def conv_cases(draw, max_batch=BW.NB, max_channels=BW.CB, max_filters=BW.FB, max_kernel=BW.KB,
               max_padding=3, max_stride=4, max_dilation=2, max_size=9):
    """A valid convolution case inside the bucket of `reference.layers.bucketed_windows`."""
    N = draw(st.integers(1, max_batch))
    C = draw(st.integers(1, max_channels))
    F = draw(st.integers(1, max_filters))
    kernel, dilation, padding, hw, stride = [], [], [], [], []
    for _ in range(2):  # height, then width: drawn independently, so H ≠ W and HH ≠ WW come up
        k = draw(st.integers(1, max_kernel))
        d = draw(st.integers(1, max_dilation)) if k > 1 else 1
        p = draw(st.integers(0, max_padding))
        span = (k - 1) * d + 1
        lo = max(1, span - 2 * p)  # the smallest input the dilated kernel fits in once padded
        n = draw(st.integers(lo, max(lo, min(max_size, BW.HB - 2 * p))))
        s = draw(st.integers(1, max_stride))
        kernel.append(k), dilation.append(d), padding.append(p), hw.append(n), stride.append(s)
    kind = draw(st.sampled_from(VALUES))
    rng = np.random.default_rng(draw(_SEEDS))
    x = _values(rng, (N, C, *hw), kind)
    W = _values(rng, (F, C, *kernel), kind)
    b = rng.standard_normal(F)
    Ho, Wo = CV.windows.output_hw(tuple(hw), tuple(kernel), tuple(stride), tuple(padding), tuple(dilation))
    dout = rng.standard_normal((N, F, Ho, Wo))
    v = (rng.standard_normal(x.shape), rng.standard_normal(W.shape), rng.standard_normal(F))
    return ConvCase(x, W, b, tuple(stride), tuple(padding), tuple(dilation), dout, v)


@st.composite
def pool_cases(draw, max_batch=BW.NB, max_channels=BW.CB, max_size=3, max_stride=4, max_input=10):
    """A valid pooling case: window size per axis first, then an input at least that large."""
    N = draw(st.integers(1, max_batch))
    C = draw(st.integers(1, max_channels))
    size, hw, stride = [], [], []
    for _ in range(2):
        k = draw(st.integers(1, max_size))
        hw.append(draw(st.integers(k, max(k, max_input))))
        size.append(k)
        stride.append(draw(st.integers(1, max_stride)))
    kind = draw(st.sampled_from(VALUES))
    rng = np.random.default_rng(draw(_SEEDS))
    x = _values(rng, (N, C, *hw), kind)
    Ho, Wo = CV.windows.output_hw(tuple(hw), tuple(size), tuple(stride))
    return PoolCase(x, tuple(size), tuple(stride), rng.standard_normal((N, C, Ho, Wo)), rng.standard_normal(x.shape))


# a fixed set of shapes (JAX compiles once per shape): ranks 2 to 5, sizes 1 and not 1 on every axis
FLATTEN_SHAPES = ((1, 1), (3, 2), (1, 1, 1, 1), (2, 1, 3, 3), (1, 3, 2, 1), (2, 3, 1, 4), (3, 2, 4, 3),
                  (1, 4, 5), (2, 2, 3), (2, 1, 2, 2, 3), (1, 2, 3, 4, 1))


@st.composite
def flatten_cases(draw, shapes=FLATTEN_SHAPES):
    shape = draw(st.sampled_from(shapes))
    rng = np.random.default_rng(draw(_SEEDS))
    x = rng.standard_normal(shape)
    return FlattenCase(x, rng.standard_normal((shape[0], int(np.prod(shape[1:])))), rng.standard_normal(shape))


# ---------------------------------------------------------------- the checks every property runs


def _adjoint(name, lhs_terms, rhs_terms):
    """Σ lhs = Σ rhs, each a list of (a, b) pairs meaning ⟨a, b⟩, within rounding of Σ |a|·|b|."""
    lhs = sum(float(np.vdot(a, b)) for a, b in lhs_terms)
    rhs = sum(float(np.vdot(a, b)) for a, b in rhs_terms)
    scale = sum(float(np.vdot(np.abs(a), np.abs(b))) for a, b in lhs_terms + rhs_terms)
    if not abs(lhs - rhs) <= ADJOINT_RTOL * scale + 1e-300:
        raise AssertionError(f"adjoint identity ({name}): ⟨dout, J v⟩ = {lhs!r} but ⟨Jᵀ dout, v⟩ = {rhs!r} "
                             f"(difference {abs(lhs - rhs):.3g}, allowed {ADJOINT_RTOL * scale:.3g})")


def _pure(inputs: dict, before: dict, outputs: dict):
    for name, arr in inputs.items():
        if not np.array_equal(arr, before[name]):
            raise AssertionError(f"purity: the call modified its input {name}")
    names = list(outputs)
    for i, name in enumerate(names):
        out = outputs[name]
        if not isinstance(out, np.ndarray):
            raise AssertionError(f"purity: {name} is a {type(out).__name__}, expected a NumPy array")
        for inp, arr in inputs.items():
            if np.shares_memory(out, arr):
                raise AssertionError(f"purity: the returned {name} shares memory with the input {inp}")
        for other in names[i + 1:]:
            if np.shares_memory(out, outputs[other]):
                raise AssertionError(f"purity: the returned {name} shares memory with the returned {other}")


def _snapshot(inputs: dict) -> dict:
    return {k: v.copy() for k, v in inputs.items()}


def _close(pairs):
    for name, m, r in pairs:
        assert_close(name, m, r)


# ---------------------------------------------------------------- manual = jax.vjp


def conv_matches(case: ConvCase) -> None:
    x, W, b, stride, padding, dilation, dout, (vx, vW, vb) = case
    inputs = dict(x=x, W=W, b=b, dout=dout)
    before = _snapshot(inputs)
    out, cache = CV.conv2d_forward(x, W, b, stride, padding, dilation)
    dx, dW, db = CV.conv2d_backward(dout, cache)
    _pure(inputs, before, dict(out=out, dx=dx, dW=dW, db=db))
    out_r, dx_r, dW_r, db_r = BW.conv2d_vjp(x, W, b, dout, stride, padding, dilation)
    _close([("out", out, out_r), ("dx", dx, dx_r), ("dW", dW, dW_r), ("db", db, db_r)])
    # J (vx, vW, vb) = conv(vx, W) + conv(x, vW) + vb: out is affine in each argument
    zero = np.zeros_like(b)
    jx = CV.conv2d_forward(vx, W, zero, stride, padding, dilation)[0]
    jW = CV.conv2d_forward(x, vW, zero, stride, padding, dilation)[0]
    _adjoint("dx", [(dout, jx)], [(dx, vx)])
    _adjoint("dW", [(dout, jW)], [(dW, vW)])
    _adjoint("db", [(dout.sum(axis=(0, 2, 3)), vb)], [(db, vb)])


def maxpool_matches(case: PoolCase) -> None:
    x, size, stride, dout, _ = case
    before = _snapshot(dict(x=x, dout=dout))
    out, cache = PL.maxpool2d_forward(x, size, stride)
    (dx,) = PL.maxpool2d_backward(dout, cache)
    _pure(dict(x=x, dout=dout), before, dict(out=out, dx=dx))
    out_r, dx_r = BW.pool2d_vjp("max", x, dout, size, stride)
    _close([("out", out, out_r), ("dx", dx, dx_r)])
    # max pooling is positively homogeneous (J x = out, ties included) and shifts with a constant
    # (J 1 = 1): ⟨dx, x⟩ = ⟨dout, out⟩ and Σ dx = Σ dout, whatever entry a tie's gradient goes to
    _adjoint("dx, v = x", [(dout, out)], [(dx, x)])
    _adjoint("dx, v = 1", [(dout, np.ones_like(dout))], [(dx, np.ones_like(dx))])


def avgpool_matches(case: PoolCase) -> None:
    x, size, stride, dout, v = case
    before = _snapshot(dict(x=x, dout=dout))
    out, cache = PL.avgpool2d_forward(x, size, stride)
    (dx,) = PL.avgpool2d_backward(dout, cache)
    _pure(dict(x=x, dout=dout), before, dict(out=out, dx=dx))
    out_r, dx_r = BW.pool2d_vjp("avg", x, dout, size, stride)
    _close([("out", out, out_r), ("dx", dx, dx_r)])
    _adjoint("dx", [(dout, PL.avgpool2d_forward(v, size, stride)[0])], [(dx, v)])


def flatten_matches(case: FlattenCase, vjp=None) -> None:
    """`vjp(x, dout) -> (out, dx)` of the reference; jax.vjp of reference.layers.flatten by default."""
    x, dout, v = case
    before = _snapshot(dict(x=x, dout=dout))
    out, cache = FL.flatten_forward(x)
    (dx,) = FL.flatten_backward(dout, cache)
    _pure(dict(x=x, dout=dout), before, dict(out=out, dx=dx))
    out_r, dx_r = (vjp or _flatten_vjp)(x, dout)
    _close([("out", out, out_r), ("dx", dx, dx_r)])
    _adjoint("dx", [(dout, FL.flatten_forward(v)[0])], [(dx, v)])


def _flatten_vjp(x, dout):
    out, dx = _flatten_program()(x, dout)  # one compile per shape: few shapes are drawn
    return np.asarray(out), np.asarray(dx)


@lru_cache(maxsize=None)
def _flatten_program():
    import jax

    from reference.layers.flatten import flatten

    def run(x, dout):
        out, vjp = jax.vjp(flatten, x)
        return out, vjp(dout)[0]

    return jax.jit(run)


# ---------------------------------------------------------------- naive = fast


def conv_naive_equals_fast(case: ConvCase) -> None:
    x, W, b, stride, padding, dilation, dout, _ = case
    out, cache = CV.conv2d_forward(x, W, b, stride, padding, dilation)
    out_n, cache_n = CV.conv2d_forward_naive(x, W, b, stride, padding, dilation)
    grads = CV.conv2d_backward(dout, cache)
    grads_n = CV.conv2d_backward_naive(dout, cache_n)
    dx_c = CV.conv2d_dx_by_correlation(dout, W, x.shape, stride, padding, dilation)
    _close([("out (naive vs fast)", out_n, out)] +
           [(f"{n} (naive vs fast)", m, f) for n, m, f in zip(("dx", "dW", "db"), grads_n, grads)] +
           [("dx (flipped-kernel correlation vs fast)", dx_c, grads[0])])


def pool_naive_equals_fast(case: PoolCase) -> None:
    x, size, stride, dout, _ = case
    for kind, fwd, bwd, fwd_n, bwd_n in (
            ("max", PL.maxpool2d_forward, PL.maxpool2d_backward, PL.maxpool2d_forward_naive, PL.maxpool2d_backward_naive),
            ("avg", PL.avgpool2d_forward, PL.avgpool2d_backward, PL.avgpool2d_forward_naive, PL.avgpool2d_backward_naive)):
        out, cache = fwd(x, size, stride)
        out_n, cache_n = fwd_n(x, size, stride)
        _close([(f"{kind} out (naive vs fast)", out_n, out),
                (f"{kind} dx (naive vs fast)", bwd_n(dout, cache_n)[0], bwd(dout, cache)[0])])
