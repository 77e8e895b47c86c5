"""Check one layer's hand-written backward against jax.vjp of its JAX twin, on random cases.

    from dualgrad import check_layer
    result = check_layer(my_forward, my_backward, my_jax_fn,
                         shapes={"x": ("N", "D")}, params={"gamma": ("D",), "beta": ("D",)},
                         examples=200, seed=0)
    result.passed; print(result.message); result.report  # a LayerReport of the shrunk case

The layer follows CS231n's protocol: `out, cache = forward(x, *params, **hyper)` and
`dx, *dparams = backward(dout, cache)`; `jax_fn(x, *params, **hyper)` is the same layer in
jax.numpy. Each example draws the dimensions, the hyperparameters, x, the parameters and a
random upstream gradient dout (standard normal entries: never all ones, which hides bugs), and
checks, at `dualgrad.compare`'s tolerance:

- out equals jax_fn's output; dx and every dparam equal jax.vjp's (the leaf is named: "dx",
  "dgamma", ... with the worst index and both values);
- the adjoint identity ⟨dout, J v⟩ = ⟨Jᵀ dout, v⟩ for a random tangent v: J v from jax.jvp
  (forward mode, independent of the vjp), Jᵀ dout from the hand-written backward;
- purity: forward and backward modify none of their inputs (x, params, dout, hyper arrays),
  and no returned array (out, dx, dparams) shares memory with an input or with another output.

Hypothesis searches with an explicit seed (`hypothesis.seed`), no example database and no
deadline, so a result depends only on the arguments, not on the test profile; a failure is
shrunk (smaller dimensions, the first listed hyperparameter values, array seed 0) and returned,
never raised. Bad arguments to the check itself raise ValueError or TypeError.

Describing the arrays (this is how a 4-D conv layer with stride and padding is checked too)::

    check_layer(conv_forward, conv_backward, conv_jax,
                shapes={"x": ("N", "C", "H", "W")},
                params={"w": ("F", "C", "HH", "WW"), "b": ("F",)},
                dims={"N": (1, 3), "C": (1, 3), "H": [4, 5, 7], "W": [4, 5, 7], "F": (1, 3),
                      "HH": [1, 3], "WW": [1, 3]},
                hyper={"stride": [1, 2], "pad": [0, 1]},
                valid=lambda d, h: (d["H"] + 2 * h["pad"] - d["HH"]) % h["stride"] == 0)

- shapes -- the input: {name: dims} with one entry (its name is used in messages: "dx" for
  "x"), or just the dims tuple (named "x"). A dim is a name (drawn, shared by every array
  that uses it) or a fixed int.
- params -- {name: dims} in the order forward takes them (default: no parameters).
- dims   -- how each named dim is drawn: (lo, hi) inclusive, a list of values, or an int.
  Names not given are drawn from (1, 6). Keep the sets small: JAX compiles once per shape.
  A dim no array uses is drawn too, for the hyper callables and `valid` (a class count K).
- hyper  -- keyword arguments of forward and jax_fn: a fixed value, a list (one value drawn
  per example), a hypothesis strategy, or a callable (dims, rng) -> value for values that
  depend on the shapes (labels, running statistics; rng is a NumPy Generator). Python
  ints, bools, strings, None and tuples are passed to jax_fn as static (compiled in: use them
  for strides and paddings); floats, NumPy scalars and arrays are traced (no recompiling).
- ids    -- the name of a dim V: x is then an integer array of ids in 0 .. V − 1 (repeated ids
  likely), not differentiated, and backward returns the dparams only (one array if one).
- bucket -- {dim: size}: dims along which zero padding changes no real entry of the output or
  of a gradient (rows of a dense layer, columns of batchnorm, not rows of batchnorm). The JAX
  side then runs on arrays padded to `size` along those dims, one compiled program for every
  drawn size (the result is sliced back). Optional; only a speed-up.
- valid  -- a predicate (dims, hyper) -> bool; cases for which it is False are not drawn.
- scale  -- (lo, hi): x's entries are N(0, 1)·10^e with e drawn in [lo, hi] (default (-1, 1));
  some cases set a share of x to exact zeros (kinks, constant columns).
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, assume, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from .compare import ATOL, RTOL, LeafError, describe, leaf_error
from .result import CheckResult

DEFAULT_DIM = (1, 6)
ZERO_FRACTIONS = (0.0, 0.0, 0.3, 1.0)  # share of x set to exact zeros
_STATIC = (bool, int, str, type(None), tuple)


# ---------------------------------------------------------------- the configuration


class LayerConfig(NamedTuple):
    """check_layer's arguments, validated and normalised."""

    input_name: str
    input_dims: tuple
    params: Tuple[Tuple[str, tuple], ...]
    dims: Dict[str, Any]  # name -> strategy
    hyper: Dict[str, Any]  # name -> strategy or callable (dims, rng) or fixed value
    ids: Optional[str]
    bucket: Dict[str, int]
    valid: Optional[Callable]
    scale: Tuple[float, float]


def layer_config(shapes=None, params=None, dims=None, hyper=None, ids=None, bucket=None, valid=None,
                 scale=(-1.0, 1.0)) -> LayerConfig:
    """Validate check_layer's description arguments (ValueError/TypeError naming the bad one)."""
    if shapes is None:
        raise TypeError("shapes is required: the input's dims, e.g. shapes={'x': ('N', 'D')} or ('N', 'D')")
    if isinstance(shapes, dict):
        if len(shapes) != 1:
            raise ValueError(f"shapes must describe exactly one input, e.g. {{'x': ('N', 'D')}}, got {len(shapes)} entries")
        (input_name, input_dims), = shapes.items()
    else:
        input_name, input_dims = "x", shapes
    _name(input_name, "shapes")
    input_dims = _dims_tuple(input_dims, f"shapes[{input_name!r}]")
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict {{name: dims}} in forward's order, e.g. {{'W': ('D', 'M')}}, "
                        f"got {type(params).__name__}")
    param_items = tuple((_name(k, "params"), _dims_tuple(v, f"params[{k!r}]")) for k, v in params.items())
    if input_name in params:
        raise ValueError(f"the input {input_name!r} is also listed in params; give it another name")
    names = []
    for d in input_dims + tuple(d for _, ds in param_items for d in ds):
        if isinstance(d, str) and d not in names:
            names.append(d)
    dims = {} if dims is None else dims
    if not isinstance(dims, dict):
        raise TypeError(f"dims must be a dict {{name: (lo, hi) | [values] | int}}, got {type(dims).__name__}")
    if ids is not None:
        if not isinstance(ids, str) or ids not in set(names) | set(dims):
            raise ValueError(f"ids must name a dim (the vocabulary V), one of {names + list(dims)}, got {ids!r}")
        names += [ids] if ids not in names else []
    for k in dims:
        _name(k, "dims")
        if k not in names:
            names.append(k)  # drawn for the hyper callables and `valid` only
    dim_strategies = {n: _dim_strategy(dims.get(n, DEFAULT_DIM), n) for n in names}
    hyper = {} if hyper is None else hyper
    if not isinstance(hyper, dict) or not all(isinstance(k, str) and k.isidentifier() for k in hyper):
        raise TypeError(f"hyper must be a dict of keyword arguments {{name: value}}, got {hyper!r}")
    hyper_items = {k: _hyper_strategy(v) for k, v in hyper.items()}
    clash = set(hyper) & ({input_name} | set(params))
    if clash:
        raise ValueError(f"hyper names {sorted(clash)} are also arrays of shapes/params")
    bucket = {} if bucket is None else bucket
    if not isinstance(bucket, dict):
        raise TypeError(f"bucket must be a dict {{dim: size}}, got {type(bucket).__name__}")
    for k, size in bucket.items():
        if k not in dim_strategies:
            raise ValueError(f"bucket names {k!r}, which is not a dim in use ({names})")
        top = _dim_max(dims.get(k, DEFAULT_DIM))
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < top:
            raise ValueError(f"bucket[{k!r}] must be an int >= the largest {k} that is drawn ({top}), got {size!r}")
    if valid is not None and not callable(valid):
        raise TypeError(f"valid must be a callable (dims, hyper) -> bool, got {type(valid).__name__}")
    if (not isinstance(scale, tuple) or len(scale) != 2
            or not all(isinstance(s, numbers.Real) and math.isfinite(s) for s in scale) or scale[0] > scale[1]):
        raise ValueError(f"scale must be a pair (lo, hi) of finite exponents with lo <= hi, got {scale!r}")
    return LayerConfig(input_name, input_dims, param_items, dim_strategies, hyper_items, ids,
                       dict(bucket), valid, (float(scale[0]), float(scale[1])))


def _name(k, where):
    if not isinstance(k, str) or not k.isidentifier():
        raise TypeError(f"the array names of {where} must be identifiers such as 'x' or 'gamma', got {k!r}")
    return k


def _dims_tuple(ds, where):
    if isinstance(ds, (str, bytes)) or not isinstance(ds, (tuple, list)):
        raise TypeError(f"{where} must be a tuple of dims (names or ints), e.g. ('N', 'D'), got {ds!r}")
    for d in ds:
        ok_int = isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1
        if not (ok_int or (isinstance(d, str) and d.isidentifier())):
            raise ValueError(f"{where} must hold dim names or ints >= 1, got {d!r} in {tuple(ds)}")
    return tuple(int(d) if not isinstance(d, str) else d for d in ds)


def _dim_strategy(spec, name):
    if isinstance(spec, numbers.Integral) and not isinstance(spec, bool) and spec >= 1:
        return st.just(int(spec))
    if isinstance(spec, tuple) and len(spec) == 2 and all(isinstance(v, numbers.Integral) for v in spec):
        lo, hi = spec
        if 1 <= lo <= hi:
            return st.integers(int(lo), int(hi))
    if isinstance(spec, list) and spec and all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                               and v >= 1 for v in spec):
        return st.sampled_from([int(v) for v in spec])
    raise ValueError(f"dims[{name!r}] must be (lo, hi) with 1 <= lo <= hi, a non-empty list of ints >= 1, "
                     f"or an int >= 1, got {spec!r}")


def _dim_max(spec):
    if isinstance(spec, tuple):
        return spec[1]
    if isinstance(spec, list):
        return max(spec)
    return spec


class _Computed(NamedTuple):
    make: Callable  # (dims, rng) -> value


def _hyper_strategy(value):
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, list):
        if not value:
            raise ValueError("a hyper list must hold at least one value to draw from")
        return st.sampled_from(value)
    if callable(value) and not isinstance(value, type):
        return _Computed(value)
    return st.just(value)


# ---------------------------------------------------------------- the cases


@dataclass(frozen=True, repr=False)
class LayerCase:
    """One drawn example: the dims, the input, the parameters, the hyperparameters and dout's seed."""

    dims: Dict[str, int]
    x: np.ndarray
    params: Tuple[Tuple[str, np.ndarray], ...]
    hyper: Dict[str, Any]
    seed: int  # of dout and the tangents (drawn once the output's shape is known)
    input_name: str = "x"

    def __repr__(self):
        hyper = {k: (f"array{tuple(np.shape(v))}" if isinstance(v, np.ndarray) and v.size > 8 else v)
                 for k, v in self.hyper.items()}
        ps = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params)
        return (f"LayerCase(dims={self.dims}, {self.input_name}{tuple(self.x.shape)}"
                f"{', ' + ps if ps else ''}, hyper={hyper})")

    def describe(self) -> str:
        """One line: the dims and the hyperparameters (what a shrunk counterexample says)."""
        hyper = {k: (f"array{tuple(np.shape(v))}" if isinstance(v, np.ndarray) else v) for k, v in self.hyper.items()}
        dims = " ".join(f"{k}={v}" for k, v in self.dims.items())
        hyp = " ".join(f"{k}={_short(v)}" for k, v in hyper.items())
        return f"{dims}{' ' + hyp if hyp else ''}"


def _short(v):
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def layer_cases(config: LayerConfig) -> st.SearchStrategy:
    """The hypothesis strategy of `LayerCase`s for a config (dims first, arrays from a drawn seed)."""
    seeds = st.integers(0, 2**32 - 1)
    exponents = st.floats(*config.scale, allow_nan=False)
    zero_shares = st.sampled_from(ZERO_FRACTIONS)

    @st.composite
    def cases(draw):
        dims = {n: draw(s) for n, s in config.dims.items()}
        rng = np.random.default_rng(draw(seeds))
        hyper = {}
        for k, s in config.hyper.items():
            hyper[k] = s.make(dict(dims), rng) if isinstance(s, _Computed) else draw(s)
        if config.valid is not None:
            assume(bool(config.valid(dict(dims), dict(hyper))))
        shape = _shape(config.input_dims, dims)
        if config.ids is not None:
            x = rng.integers(0, dims[config.ids], size=shape)
        else:
            x = rng.standard_normal(shape) * 10.0 ** draw(exponents)
            x[rng.random(shape) < draw(zero_shares)] = 0.0
        params = tuple((k, rng.standard_normal(_shape(ds, dims))) for k, ds in config.params)
        return LayerCase(dims, x, params, hyper, draw(seeds), config.input_name)

    return cases()


def _shape(ds, dims):
    return tuple(d if isinstance(d, int) else dims[d] for d in ds)


# ---------------------------------------------------------------- the reference side


def _static_key(hyper):
    """(static items, traced names): Python ints, bools, strings, None and tuples are compiled in."""
    static = tuple(sorted((k, v) for k, v in hyper.items() if isinstance(v, _STATIC)))
    traced = tuple(sorted(k for k, v in hyper.items() if not isinstance(v, _STATIC)))
    return static, traced


@lru_cache(maxsize=256)
def _compiled(jax_fn, n_params, has_dx, static, traced):
    """One jitted (out, vjp(dout), jvp(tangents)) per layer and static hyperparameters;
    jax.jit caches per input shape."""
    import jax

    def run(x, params, traced_values, dout, tangents):
        hyper = dict(static)
        hyper.update(zip(traced, traced_values))
        if has_dx:
            f, primals = (lambda x_, *ps: jax_fn(x_, *ps, **hyper)), (x, *params)
        else:
            f, primals = (lambda *ps: jax_fn(x, *ps, **hyper)), tuple(params)
        out, vjp = jax.vjp(f, *primals)
        grads = vjp(dout)
        _, jv = jax.jvp(f, primals, tuple(tangents))
        return out, grads, jv

    try:  # tiny arrays: XLA's optimisation passes cost far more compile time than they save
        return jax.jit(run, compiler_options=_FAST_COMPILE)
    except TypeError:  # a JAX without compiler_options
        return jax.jit(run)


_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


@lru_cache(maxsize=4096)
def _out_shape(jax_fn, shapes, has_dx, static, traced, traced_shapes):
    import jax
    import jax.numpy as jnp

    x_shape, x_dtype = shapes[0]
    params = [jax.ShapeDtypeStruct(s, jnp.float64) for s, _ in shapes[1:]]
    x = jax.ShapeDtypeStruct(x_shape, x_dtype)
    values = [jax.ShapeDtypeStruct(s, d) for s, d in traced_shapes]

    def f(x, params, values):
        hyper = dict(static)
        hyper.update(zip(traced, values))
        return jax_fn(x, *params, **hyper)

    return tuple(jax.eval_shape(f, x, params, values).shape)


def _pad(a, names, dims, bucket, real_shape=None):
    """a zero-padded along the axes whose dim is bucketed (real_shape: the axes' real sizes)."""
    if not bucket:
        return a
    widths = [(0, bucket[n] - a.shape[i]) if isinstance(n, str) and n in bucket else (0, 0)
              for i, n in enumerate(names)]
    if not any(w for _, w in widths):
        return a
    return np.pad(a, widths)


def reference_side(jax_fn, config: LayerConfig, case: LayerCase, dout_of):
    """(out, grads, J v, dout, tangents) from JAX, NumPy float64, on the real (unpadded) shapes.

    dout_of(out_shape) -> (dout, tangents): drawn once the output's shape is known."""
    import jax

    has_dx = config.ids is None
    static, traced = _static_key(case.hyper)
    traced_values = [np.asarray(case.hyper[k]) for k in traced]
    params = [p for _, p in case.params]
    x_dtype = np.int64 if not has_dx else np.float64
    x = np.asarray(case.x, x_dtype)
    shapes = ((x.shape, x_dtype),) + tuple((p.shape, np.float64) for p in params)
    traced_shapes = tuple((v.shape, v.dtype) for v in traced_values)
    out_shape = _out_shape(jax_fn, shapes, has_dx, static, traced, traced_shapes)
    dout, tangents = dout_of(out_shape)
    names = [config.input_dims] + [ds for _, ds in config.params]
    bucket = config.bucket
    if bucket:
        xp = _pad(x, names[0], case.dims, bucket)
        pp = [_pad(p, ds, case.dims, bucket) for p, ds in zip(params, names[1:])]
        padded_shapes = ((xp.shape, x_dtype),) + tuple((p.shape, np.float64) for p in pp)
        out_pad = _out_shape(jax_fn, padded_shapes, has_dx, static, traced, traced_shapes)
        doutp = np.zeros(out_pad)
        doutp[tuple(slice(0, s) for s in out_shape)] = dout
        tan_names = names if has_dx else names[1:]
        tanp = [_pad(t, ds, case.dims, bucket) for t, ds in zip(tangents, tan_names)]
    else:
        xp, pp, doutp, tanp = x, params, dout, tangents
    fn = _compiled(jax_fn, len(params), has_dx, static, traced)
    out, grads, jv = jax.device_get(fn(xp, list(pp), traced_values, doutp, list(tanp)))
    out, jv = np.asarray(out), np.asarray(jv)
    grads = [np.asarray(g) for g in grads]
    if bucket:
        real = tuple(slice(0, s) for s in out_shape)
        out, jv = out[real], jv[real]
        arrays = ([x] if has_dx else []) + params
        grads = [g[tuple(slice(0, s) for s in a.shape)] for g, a in zip(grads, arrays)]
    return out, grads, jv, dout, tangents


# ---------------------------------------------------------------- the comparison


@dataclass(frozen=True)
class LayerReport:
    """How one case compares: out, dx and every dparam vs JAX, the adjoint identity, purity.

    rows     -- LeafError per leaf: "out", then "dx" (named after the input) and "d<param>"
    adjoint  -- (⟨dout, J v⟩ from jax.jvp, ⟨Jᵀ dout, v⟩ from the manual backward, passed)
    purity   -- the purity violations found, one sentence each
    error    -- "" or what raised (forward, backward, or a return of the wrong form)
    case     -- the LayerCase compared
    """

    rows: Tuple[LeafError, ...] = ()
    adjoint: Optional[Tuple[float, float, bool]] = None
    purity: Tuple[str, ...] = ()
    error: str = ""
    case: Optional[LayerCase] = field(default=None, compare=False)

    @property
    def passed(self) -> bool:
        return (not self.error and all(r.passed for r in self.rows) and not self.purity
                and (self.adjoint is None or self.adjoint[2]))

    def findings(self) -> list:
        """One line per problem, the most telling first (an error, a leaf, the adjoint, purity)."""
        out = [self.error] if self.error else []
        out += [describe(r) for r in self.rows if not r.passed]
        if self.adjoint is not None and not self.adjoint[2]:
            out.append(f"adjoint identity: ⟨dout, J v⟩ = {self.adjoint[0]!r} (jax.jvp) but "
                       f"⟨Jᵀ dout, v⟩ = {self.adjoint[1]!r} (manual backward)")
        return out + list(self.purity)

    @property
    def message(self) -> str:
        lines = self.findings()
        if lines and self.case is not None:
            lines.append(f"case: {self.case.describe()}")
        return "\n".join(lines)

    def table(self) -> str:
        """One line per leaf (out, dx, dparams) with its errors against JAX, then the adjoint and purity."""
        lines = [f"{'leaf':<10} {'max abs err':>11} {'max rel err':>11}  result"]
        for r in self.rows:
            lines.append(f"{r.name:<10} {r.max_abs:>11.1e} {r.max_rel:>11.1e}  {'pass' if r.passed else 'FAIL'}")
        if self.adjoint is not None:
            lines.append(f"adjoint    {abs(self.adjoint[0] - self.adjoint[1]):>11.1e} {'':>11}  "
                         f"{'pass' if self.adjoint[2] else 'FAIL'}")
        lines += list(self.purity) + ([self.error] if self.error else [])
        return "\n".join(lines)


def _error(where, err) -> str:
    return f"{where} raised {type(err).__name__}: {(str(err).splitlines() or [''])[0]}"


def compare_layer(forward, backward, jax_fn, config: LayerConfig, case: LayerCase) -> LayerReport:
    """Run both sides on `case` and compare (never raises for a wrong layer)."""
    has_dx = config.ids is None
    x = case.x
    params = [p for _, p in case.params]
    hyper = dict(case.hyper)
    inputs = [(case.input_name, x)] + list(case.params) + [(k, v) for k, v in hyper.items()
                                                           if isinstance(v, np.ndarray)]
    before = [(k, v.copy()) for k, v in inputs]
    rng = np.random.default_rng(case.seed)
    drawn = {}

    def dout_of(shape):
        drawn["dout"] = rng.standard_normal(shape)
        arrays = ([x] if has_dx else []) + params
        drawn["tangents"] = [rng.standard_normal(a.shape) for a in arrays]
        return drawn["dout"], drawn["tangents"]

    try:
        out_r, grads_r, jv, dout, tangents = reference_side(jax_fn, config, case, dout_of)
    except Exception as err:  # noqa: BLE001  a broken jax_fn is reported, not raised
        return LayerReport(error=_error("jax_fn", err), case=case)
    dout_given = dout.copy()
    try:
        returned = forward(x, *params, **hyper)
        out_m, cache = returned
    except Exception as err:  # noqa: BLE001
        return LayerReport(error=_error("forward", err), case=case)
    try:
        grads_m = backward(dout_given, cache)
    except Exception as err:  # noqa: BLE001
        return LayerReport(error=_error("backward", err), case=case)
    grad_names = ([f"d{case.input_name}"] if has_dx else []) + [f"d{k}" for k, _ in case.params]
    if not has_dx and len(grad_names) == 1 and isinstance(grads_m, np.ndarray):
        grads_m = (grads_m,)
    if not isinstance(grads_m, (tuple, list)) or len(grads_m) != len(grad_names):
        count = len(grads_m) if isinstance(grads_m, (tuple, list)) else type(grads_m).__name__
        return LayerReport(error=f"backward must return {', '.join(grad_names)} ({len(grad_names)} arrays), "
                                 f"got {count}", case=case)
    scale = max([1.0] + [float(np.max(np.abs(g), initial=0.0)) for g in grads_r])
    rows = [leaf_error("out", _array(out_m), out_r, scale=max(1.0, float(np.max(np.abs(out_r), initial=0.0))))]
    rows += [leaf_error(n, _array(g), r, scale=scale) for n, g, r in zip(grad_names, grads_m, grads_r)]
    adjoint = None
    if all(r.shape_ok for r in rows):
        lhs_terms = np.asarray(dout) * jv
        rhs_terms = [np.asarray(g, np.float64) * t for g, t in zip(grads_m, tangents)]
        lhs, rhs = float(np.sum(lhs_terms)), float(sum(np.sum(t) for t in rhs_terms))
        gross = float(np.sum(np.abs(lhs_terms)) + sum(np.sum(np.abs(t)) for t in rhs_terms))
        allowed = 4 * RTOL * gross + ATOL * scale * float(sum(np.sum(np.abs(t)) for t in tangents))
        adjoint = (lhs, rhs, bool(abs(lhs - rhs) <= allowed))
    purity = _purity(before, inputs, dout_given, dout, out_m, list(grads_m), grad_names)
    return LayerReport(tuple(rows), adjoint, tuple(purity), "", case)


def _array(a):
    try:
        return np.asarray(a, np.float64)
    except Exception:  # noqa: BLE001  a non-numeric return fails the shape check
        return np.full((0,) * 7, np.nan)


def _purity(before, inputs, dout_given, dout, out_m, grads_m, grad_names):
    problems = []
    for (name, copy), (_, arr) in zip(before, inputs):
        if not np.array_equal(copy, arr, equal_nan=True):
            problems.append(f"purity: {name} was modified by forward or backward")
    if not np.array_equal(dout_given, dout, equal_nan=True):
        problems.append("purity: dout was modified by backward")
    outputs = [("out", out_m)] + list(zip(grad_names, grads_m))
    given = [(n, a) for n, a in inputs if isinstance(a, np.ndarray)] + [("dout", dout_given)]
    for i, (name, arr) in enumerate(outputs):
        if not isinstance(arr, np.ndarray):
            continue
        for other, inp in given:
            if np.shares_memory(arr, inp):
                problems.append(f"purity: the returned {name} shares memory with the input {other}")
        for other, arr2 in outputs[:i]:
            if isinstance(arr2, np.ndarray) and np.shares_memory(arr, arr2):
                problems.append(f"purity: the returned {name} shares memory with the returned {other}")
    return problems


# ---------------------------------------------------------------- the check


class _LayerFailure(AssertionError):
    pass


def _int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise (TypeError if not isinstance(value, numbers.Integral) or isinstance(value, bool) else ValueError)(
            f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_layer(forward, backward=None, jax_fn=None, shapes=None, params=None, examples=200, seed=0, *,
                dims=None, hyper=None, ids=None, bucket=None, valid=None, scale=(-1.0, 1.0)) -> CheckResult:
    """Run the layer property on (forward, backward) against jax.vjp of `jax_fn` (see the module
    docstring for the arguments). Returns a `dualgrad.result.CheckResult`: passed, examples run
    (up to and including the first failing one), the shrunk counterexample (a LayerCase), its
    message (the failing leaf — "dx", "dgamma", ... — with the worst index and both values) and
    its LayerReport. Never raises for a wrong layer; ValueError/TypeError for bad arguments.

    check_layer(name, examples=200, seed=0, dims=..., hyper=...) checks a layer registered with
    `dualgrad.registry.register_layer` by its name (see `check_registered_layer` below)."""
    if isinstance(forward, str):
        if backward is not None or jax_fn is not None or shapes is not None or params is not None:
            raise TypeError(f"check_layer({forward!r}) checks the registered layer {forward!r}: give no "
                            "backward, jax_fn, shapes or params (they were registered), only examples, seed, "
                            "dims, hyper, scale")
        if ids is not None or bucket is not None or valid is not None:
            raise TypeError(f"check_layer({forward!r}): ids, bucket and valid are not for registered layers")
        return check_registered_layer(forward, examples, seed, dims=dims, hyper=hyper, scale=scale)
    for fn, what in ((forward, "forward(x, *params, **hyper)"), (backward, "backward(dout, cache)"),
                     (jax_fn, "jax_fn(x, *params, **hyper)")):
        if not callable(fn):
            raise TypeError(f"check_layer needs a callable {what}, got {type(fn).__name__}")
    examples = _int(examples, "examples", 1)
    seed = _int(seed, "seed", 0)
    config = layer_config(shapes, params, dims, hyper, ids, bucket, valid, scale)
    return run_check(forward, backward, jax_fn, config, examples, seed)


def run_check(forward, backward, jax_fn, config: LayerConfig, examples: int, seed: int,
              phases=(Phase.generate, Phase.shrink)) -> CheckResult:
    calls = [0, None]  # examples run, the first failing one
    last = [None]

    @hypothesis_seed(seed)
    @settings(settings.get_profile("default"), max_examples=examples, database=None, deadline=None,
              derandomize=False, phases=phases, suppress_health_check=list(HealthCheck), print_blob=False,
              verbosity=Verbosity.quiet, report_multiple_bugs=False)
    @given(layer_cases(config))
    def prop(case):
        calls[0] += 1
        report = compare_layer(forward, backward, jax_fn, config, case)
        if not report.passed:
            if calls[1] is None:
                calls[1] = calls[0]
            last[0] = report
            raise _LayerFailure(report.message)

    try:
        prop()
    except _LayerFailure:
        report = last[0]
        return CheckResult(False, calls[1], report.case, report.message, report, seed)
    except Unsatisfiable:
        raise ValueError("no valid case could be drawn: `valid` rejects (almost) every drawn shape") from None
    return CheckResult(True, calls[0], seed=seed)


# ---------------------------------------------------------------- a registered layer, by name


def check_registered_layer(name: str, examples: int = 200, seed: int = 0, *, dims=None, hyper=None,
                           scale=(-1.0, 1.0)):
    """`check_layer(name)`: the layer property on the registered layer `name` (its forward and backward
    against jax.vjp of its jax_fn; random upstream gradient, adjoint identity, purity).

    dims   -- {"N": (lo, hi) | [values] | int, "D": [values] | (lo, hi) | int}: the batch and the
              incoming widths (default N (1, 4), D [1, 2, 3, 5]). Each D gives its own parameter shapes
              (param_shapes(D)), so the examples are shared out over the widths, smallest first.
    hyper  -- {name: value or [values]} for each of the layer's hyperparameters (required if it has any).
    Returns a CheckResult; a failure's message ends with the case, D included ("case: D=2 N=1 ...")."""
    from manual.layers import registered as _manual_layers
    from reference.layers import registered as _reference_layers

    if not isinstance(name, str) or name not in _manual_layers.LAYERS or name not in _reference_layers.LAYERS:
        known = ", ".join(_manual_layers.LAYERS) or "none registered"
        raise ValueError(f"check_layer({name!r}): not a registered layer (registered: {known}); "
                         "register it with dualgrad.registry.register_layer, or pass forward, backward, jax_fn")
    entry = _manual_layers.LAYERS[name]
    jax_fn = _reference_layers.LAYERS[name][0]
    examples = _int(examples, "examples", 1)
    seed = _int(seed, "seed", 0)
    dims = {} if dims is None else dims
    if not isinstance(dims, dict) or set(dims) - {"N", "D"}:
        raise ValueError(f"check_layer({name!r}): dims may give 'N' and 'D' only, got {dims!r}")
    widths = _values(dims.get("D", [1, 2, 3, 5]), "dims['D']")
    hyper = {} if hyper is None else hyper
    if not isinstance(hyper, dict) or set(hyper) != set(entry.hyper):
        raise ValueError(f"check_layer({name!r}): hyper must give a value (or a list of values) for each of "
                         f"{list(entry.hyper)}, got {hyper!r}")
    choices = [hyper[h] if isinstance(hyper[h], list) else [hyper[h]] for h in entry.hyper]
    if any(not c for c in choices):
        raise ValueError(f"check_layer({name!r}): a hyper list must hold at least one value")
    configs = []
    for D, values in itertools.product(widths, itertools.product(*choices)):
        args = tuple(values)
        shapes = _manual_layers.shapes_of(name, D, args)
        names = _manual_layers.names_of(name, len(shapes))
        config = layer_config({"x": ("N", D)}, dict(zip(names, shapes)), {"N": dims.get("N", (1, 4))},
                              dict(zip(entry.hyper, args)), scale=scale)
        configs.append((D, config))
    per = max(1, -(-examples // len(configs)))
    ran = 0
    for D, config in configs:
        result = run_check(entry.forward, entry.backward, jax_fn, config, per, seed)
        ran += result.examples
        if not result.passed:
            message = result.message.replace("case: ", f"case: D={D} ", 1)
            return CheckResult(False, ran, result.counterexample, message, result.report, seed)
    return CheckResult(True, ran, seed=seed)


def _values(spec, where):
    import numbers

    ok = lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1  # noqa: E731
    if ok(spec):
        return [int(spec)]
    if isinstance(spec, tuple) and len(spec) == 2 and all(ok(v) for v in spec) and spec[0] <= spec[1]:
        return list(range(int(spec[0]), int(spec[1]) + 1))
    if isinstance(spec, list) and spec and all(ok(v) for v in spec):
        return sorted(set(int(v) for v in spec))
    raise ValueError(f"{where} must be an int >= 1, (lo, hi) with 1 <= lo <= hi, or a non-empty list of ints >= 1, "
                     f"got {spec!r}")
