"""Check one layer's hand-written backward against autodiff of a reference, on random cases.

    from dualgrad import check_layer
    result = check_layer(my_forward, my_backward, my_reference,
                         shapes={"x": ("N", "D")}, params={"gamma": ("D",), "beta": ("D",)},
                         examples=200, seed=0)
    result.passed; print(result.message); result.report  # a LayerReport of the shrunk case

The implementation is one of
- a NumPy pair in CS231n's protocol, generalised to several inputs and outputs:
  `out_1, ..., out_k, cache = forward(*inputs, *params, **hyper)` and
  `d_input_1, ..., d_input_m, *dparams = backward(dout_1, ..., dout_k, cache)` (one input, one
  output: `out, cache = forward(x, *params, **hyper)`, `dx, *dparams = backward(dout, cache)`);
  the d_inputs are those of the differentiated inputs only (not ids, not data);
- a `torch.autograd.Function` subclass (no backward argument), run as
  `MyFn.apply(*inputs, *params, *hyper_values)` (positional: the hyperparameters in the order of
  `hyper`), its gradients read with `torch.autograd.grad` (dualgrad/engine/torch_adapter.py);
- a `jax.custom_vjp` function (no backward argument): jax.vjp of it runs its hand-written bwd.

The reference, `reference(*inputs, *params, **hyper)` (third argument; `jax_fn=` is its old name), is
the same math in JAX (gradients by jax.vjp, J v by jax.jvp) or in PyTorch (torch.autograd, J v by
torch.func.jvp), worked out from the names its code uses or given by `reference_framework`, and is
always evaluated in float64. Each example draws the dimensions, the hyperparameters, the inputs, the
parameters and a random upstream gradient for each output (standard normal entries: never all
ones, which hides bugs), and checks, at `dualgrad.compare`'s tolerance:

- every output equals the reference's; every gradient equals the reference's vjp (the leaf is
  named: "dx", "dk", "dgamma", ... with the worst index and both values);
- the adjoint identity Σ ⟨dout_i, J v⟩ = ⟨Jᵀ dout, v⟩ for a random tangent v: J v from forward-mode
  autodiff of the reference (independent of any vjp), Jᵀ dout from the implementation's backward;
- purity (NumPy pairs): forward and backward modify none of their inputs (inputs, params, douts,
  hyper arrays), and no returned array shares memory with an input or with another output.

`dtype="float32"` (and, for a torch Function, "float16" or "bfloat16") runs the implementation at
that precision and judges each leaf by the reference's own error at that precision
(dualgrad/engine/precision.py: `factor` × the yardstick + `floor` × the case's scale; the adjoint
identity is a float64 check and is not run there).

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

- shapes -- the inputs: {name: dims} in forward's order (each name is used in messages: "dx" for
  "x"), or just the dims tuple of one input (named "x"). A dim is a name (drawn, shared by every
  array that uses it) or a fixed int. Every input is differentiated unless it is ids or data.
- data   -- {input name: callable (dims, rng) -> array}: inputs that are not differentiated (a mask,
  labels, targets), drawn by the callable and passed in their place among the inputs.
- params -- {name: dims} in the order forward takes them (default: no parameters).
- dims   -- how each named dim is drawn: (lo, hi) inclusive, a list of values, or an int.
  Names not given are drawn from (1, 6). Keep the sets small: JAX compiles once per shape.
  A dim no array uses is drawn too, for the hyper callables and `valid` (a class count K).
- hyper  -- keyword arguments of forward and the reference (positional, in this order, after the
  params for a torch Function): a fixed value, a list (one value drawn
  per example), a hypothesis strategy, or a callable (dims, rng) -> value for values that
  depend on the shapes (labels, running statistics; rng is a NumPy Generator). Python
  ints, bools, strings, None and tuples are passed to a JAX function as static (compiled in: use them
  for strides and paddings); floats, NumPy scalars and arrays are traced (no recompiling).
- ids    -- the name of a dim V: the first input is then an integer array of ids in 0 .. V − 1
  (repeated ids likely), not differentiated, and backward returns no gradient for it.
- bucket -- {dim: size}: dims along which zero padding changes no real entry of the output or
  of a gradient (rows of a dense layer, columns of batchnorm, not rows of batchnorm). The JAX
  side then runs on arrays padded to `size` along those dims, one compiled program for every
  drawn size (the result is sliced back). Optional; only a speed-up.
- valid  -- a predicate (dims, hyper) -> bool; cases for which it is False are not drawn.
- scale  -- (lo, hi): each float input's entries are N(0, 1)·10^e with e drawn in [lo, hi] (default
  (-1, 1)); some cases set a share of them to exact zeros (kinks, constant columns).
- dtype, factor, floor -- the precision the implementation runs at ("float64" default) and the
  low-precision yardstick's factor (default 8) and floor (relative to the case's scale; default
  256 machine epsilons in float32).
- reference_framework -- "jax" or "torch" (default None: worked out from the reference's code).
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, assume, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from .compare import ATOL, RTOL, LeafError, describe, leaf_error
from .jax_adapter import _compiled as _compiled  # noqa: F401  (benchmarks/layer_throughput.py counts its programs)
from .jax_adapter import cast as jax_cast
from .jax_adapter import is_custom_vjp, jax_side
from .precision import DEFAULT_FACTOR, EPS, precision_error
from .result import CheckResult, search_ended

DEFAULT_DIM = (1, 6)
ZERO_FRACTIONS = (0.0, 0.0, 0.3, 1.0)  # share of x set to exact zeros


# ---------------------------------------------------------------- the configuration


class LayerConfig(NamedTuple):
    """check_layer's arguments, validated and normalised."""

    inputs: Tuple[Tuple[str, tuple], ...]  # every positional input, in order
    params: Tuple[Tuple[str, tuple], ...]
    dims: Dict[str, Any]  # name -> strategy
    hyper: Dict[str, Any]  # name -> strategy or callable (dims, rng) or fixed value
    ids: Optional[str]
    bucket: Dict[str, int]
    valid: Optional[Callable]
    scale: Tuple[float, float]
    data: Dict[str, Callable] = {}  # inputs drawn by a callable (dims, rng), not differentiated

    @property
    def input_name(self) -> str:
        return self.inputs[0][0]

    @property
    def input_dims(self) -> tuple:
        return self.inputs[0][1]

    def differentiated(self) -> Tuple[bool, ...]:
        """One flag per input: differentiated (not ids, not data)."""
        return tuple(not ((i == 0 and self.ids is not None) or n in self.data)
                     for i, (n, _) in enumerate(self.inputs))


def layer_config(shapes=None, params=None, dims=None, hyper=None, ids=None, bucket=None, valid=None,
                 scale=(-1.0, 1.0), data=None) -> LayerConfig:
    """Validate check_layer's description arguments (ValueError/TypeError naming the bad one)."""
    if shapes is None:
        raise TypeError("shapes is required: the inputs' dims, e.g. shapes={'x': ('N', 'D')} or ('N', 'D')")
    if isinstance(shapes, dict):
        if not shapes:
            raise ValueError("shapes must describe at least one input, e.g. {'x': ('N', 'D')}, got {}")
        items = list(shapes.items())
    else:
        items = [("x", shapes)]
    inputs = tuple((_name(k, "shapes"), _dims_tuple(v, f"shapes[{k!r}]")) for k, v in items)
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict {{name: dims}} in forward's order, e.g. {{'W': ('D', 'M')}}, "
                        f"got {type(params).__name__}")
    param_items = tuple((_name(k, "params"), _dims_tuple(v, f"params[{k!r}]")) for k, v in params.items())
    both = [k for k, _ in inputs if k in params]
    if both:
        raise ValueError(f"the input {both[0]!r} is also listed in params; give it another name")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise TypeError(f"data must be a dict {{input name: callable (dims, rng) -> array}}, got {type(data).__name__}")
    for k, v in data.items():
        if k not in dict(inputs):
            raise ValueError(f"data names {k!r}, which is not an input of shapes ({[n for n, _ in inputs]})")
        if not callable(v):
            raise TypeError(f"data[{k!r}] must be a callable (dims, rng) -> array (a mask, labels), "
                            f"got {type(v).__name__}")
    if ids is not None and inputs[0][0] in data:
        raise ValueError(f"the first input {inputs[0][0]!r} is ids (ids={ids!r}) and also in data: choose one")
    if all(n in data for n, _ in inputs) and not param_items and ids is None:
        raise ValueError("nothing to differentiate: every input is in data and there are no params")
    names = []
    for d in tuple(d for _, ds in inputs for d in ds) + tuple(d for _, ds in param_items for d in ds):
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
    clash = set(hyper) & ({n for n, _ in inputs} | set(params))
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
    return LayerConfig(inputs, param_items, dim_strategies, hyper_items, ids, dict(bucket), valid,
                       (float(scale[0]), float(scale[1])), dict(data))


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
    """One drawn example: the dims, the inputs, the parameters, the hyperparameters and the seed of
    the upstream gradients and tangents."""

    dims: Dict[str, int]
    inputs: Tuple[Tuple[str, np.ndarray], ...]
    params: Tuple[Tuple[str, np.ndarray], ...]
    hyper: Dict[str, Any]
    seed: int  # of the douts and the tangents (drawn once the outputs' shapes are known)

    @property
    def x(self) -> np.ndarray:
        """The first input."""
        return self.inputs[0][1]

    @property
    def input_name(self) -> str:
        return self.inputs[0][0]

    def __repr__(self):
        hyper = {k: (f"array{tuple(np.shape(v))}" if isinstance(v, np.ndarray) and v.size > 8 else v)
                 for k, v in self.hyper.items()}
        arrays = ", ".join(f"{k}{tuple(np.shape(v))}" for k, v in self.inputs + self.params)
        return f"LayerCase(dims={self.dims}, {arrays}, hyper={hyper})"

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
        inputs = []
        for i, (name, ds) in enumerate(config.inputs):
            shape = _shape(ds, dims)
            if i == 0 and config.ids is not None:
                a = rng.integers(0, dims[config.ids], size=shape)
            elif name in config.data:
                a = np.asarray(config.data[name](dict(dims), rng))
            else:
                a = np.asarray(rng.standard_normal(shape) * 10.0 ** draw(exponents))
                a[rng.random(shape) < draw(zero_shares)] = 0.0
            inputs.append((name, a))
        params = tuple((k, rng.standard_normal(_shape(ds, dims))) for k, ds in config.params)
        return LayerCase(dims, tuple(inputs), params, hyper, draw(seeds))

    return cases()


def _shape(ds, dims):
    return tuple(d if isinstance(d, int) else dims[d] for d in ds)


# ---------------------------------------------------------------- the sides: implementation, reference


class Sides(NamedTuple):
    """How the implementation and the reference are run (check_layer works this out once)."""

    kind: str  # "numpy" (forward, backward), "torch" (an autograd.Function), "jax" (a custom_vjp function)
    forward: Callable
    backward: Optional[Callable]
    reference: Callable
    reference_framework: str  # "jax" or "torch"
    dtype: str = "float64"
    factor: float = DEFAULT_FACTOR
    floor: Optional[float] = None


def reference_side(sides: Sides, config: LayerConfig, case: LayerCase, douts_of, dtype="float64", jvp=True):
    """(outs, grads, J v, douts, tangents) of the reference (float64 unless dtype says otherwise)."""
    arrays = [a for _, a in case.inputs] + [p for _, p in case.params]
    diff = list(config.differentiated()) + [True] * len(case.params)
    if sides.reference_framework == "torch":
        from . import torch_adapter

        return torch_adapter.torch_side(sides.reference, arrays, diff, case.hyper, douts_of, dtype, jvp=jvp)
    names = [ds for _, ds in config.inputs] + [ds for _, ds in config.params]
    return jax_side(sides.reference, arrays, diff, case.hyper, douts_of, dtype, names, config.bucket, jvp)


def _numpy_side(sides: Sides, config: LayerConfig, case: LayerCase, douts, grad_names):
    """(outs, grads, purity problems) or an error string, for a NumPy forward/backward pair."""
    cast_ = (lambda a: a) if sides.dtype == "float64" else (lambda a: jax_cast(a, sides.dtype))
    inputs = [(n, cast_(a)) for n, a in case.inputs] + [(n, cast_(a)) for n, a in case.params]
    hyper = {k: (cast_(v) if isinstance(v, np.ndarray) else v) for k, v in case.hyper.items()}
    arrays = inputs + [(k, v) for k, v in hyper.items() if isinstance(v, np.ndarray)]
    before = [(k, v.copy()) for k, v in arrays]
    given = [cast_(d) for d in douts]
    douts_copy = [d.copy() for d in given]
    k = len(douts)
    try:
        returned = sides.forward(*[a for _, a in inputs], **hyper)
    except Exception as err:  # noqa: BLE001
        return _error("forward", err)
    if not isinstance(returned, (tuple, list)) or len(returned) != k + 1:
        got = len(returned) if isinstance(returned, (tuple, list)) else type(returned).__name__
        what = "out, cache" if k == 1 else ", ".join(f"out_{i}" for i in range(1, k + 1)) + ", cache"
        return f"forward must return {what} ({k + 1} values: the reference has {k} output{'s' * (k > 1)}), got {got}"
    outs, cache = list(returned[:k]), returned[k]
    try:
        grads = sides.backward(*given, cache)
    except Exception as err:  # noqa: BLE001
        return _error("backward", err)
    if len(grad_names) == 1 and isinstance(grads, np.ndarray):
        grads = (grads,)
    if not isinstance(grads, (tuple, list)) or len(grads) != len(grad_names):
        count = len(grads) if isinstance(grads, (tuple, list)) else type(grads).__name__
        return f"backward must return {', '.join(grad_names)} ({len(grad_names)} arrays), got {count}"
    problems = _purity(before, arrays, douts_copy, given, outs, list(grads), grad_names)
    return outs, list(grads), problems


def implementation_side(sides: Sides, config: LayerConfig, case: LayerCase, douts, tangents, grad_names):
    """(outs, grads, purity problems) of the implementation at sides.dtype, or an error string."""
    fixed = lambda shapes: (douts, tangents)  # noqa: E731  drawn already, from the reference's shapes
    arrays = [a for _, a in case.inputs] + [p for _, p in case.params]
    diff = list(config.differentiated()) + [True] * len(case.params)
    if sides.kind == "numpy":
        return _numpy_side(sides, config, case, douts, grad_names)
    problems = []
    try:
        if sides.kind == "torch":
            from . import torch_adapter

            names = [n for n, _ in case.inputs] + [n for n, _ in case.params]
            outs, grads, _, _, _ = torch_adapter.torch_side(sides.forward, arrays, diff, case.hyper, fixed,
                                                           sides.dtype, function=True, jvp=False, names=names,
                                                           purity=problems)
        else:  # JAX arrays are immutable: nothing a custom_vjp does can change its inputs
            outs, grads, _, _, _ = jax_side(sides.forward, arrays, diff, case.hyper, fixed, sides.dtype, jvp=False)
        if len(outs) != len(douts):
            return f"the implementation returns {len(outs)} outputs, the reference {len(douts)}"
    except Exception as err:  # noqa: BLE001  a broken implementation is reported, not raised
        return _error("the implementation", err)
    return outs, grads, problems


# ---------------------------------------------------------------- the comparison


@dataclass(frozen=True)
class LayerReport:
    """How one case compares: every output and gradient vs the reference, the adjoint identity, purity.

    rows     -- LeafError per leaf: "out" (or "out_1", "out_2", ...), then "d<input>" for each
                differentiated input and "d<param>" (a PrecisionLeafError at float32 and below)
    adjoint  -- (Σ ⟨dout, J v⟩ from the reference's jvp, ⟨Jᵀ dout, v⟩ from your backward, passed)
    purity   -- the purity violations found, one sentence each
    error    -- "" or what raised (forward, backward, or a return of the wrong form)
    case     -- the LayerCase compared
    """

    rows: Tuple[LeafError, ...] = ()
    adjoint: Optional[Tuple[float, float, bool]] = None
    purity: Tuple[str, ...] = ()
    error: str = ""
    case: Optional[LayerCase] = field(default=None, compare=False)
    labels: Tuple[str, str] = field(default=("jax.jvp", "manual backward"), compare=False)  # the adjoint's two sides

    @property
    def passed(self) -> bool:
        return (not self.error and all(r.passed for r in self.rows) and not self.purity
                and (self.adjoint is None or self.adjoint[2]))

    def findings(self) -> list:
        """One line per problem, the most telling first (an error, a leaf, the adjoint, purity)."""
        out = [self.error] if self.error else []
        out += [(r.describe() if hasattr(r, "describe") else describe(r)) for r in self.rows if not r.passed]
        if self.adjoint is not None and not self.adjoint[2]:
            out.append(f"adjoint identity: ⟨dout, J v⟩ = {self.adjoint[0]!r} ({self.labels[0]}) but "
                       f"⟨Jᵀ dout, v⟩ = {self.adjoint[1]!r} ({self.labels[1]})")
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


def compare_layer(sides, backward=None, jax_fn=None, config: LayerConfig = None, case: LayerCase = None) -> LayerReport:
    """Run both sides on `case` and compare (never raises for a wrong layer).

    compare_layer(sides, config=..., case=...) with a `Sides`, or, as before, compare_layer(forward,
    backward, jax_fn, config, case) for a NumPy pair against a JAX function in float64."""
    if not isinstance(sides, Sides):
        sides = Sides("numpy", sides, backward, jax_fn, "jax")
    diff = config.differentiated()
    grad_names = [f"d{n}" for (n, _), d in zip(case.inputs, diff) if d] + [f"d{k}" for k, _ in case.params]
    rng = np.random.default_rng(case.seed)
    drawn = {}

    def douts_of(shapes):
        drawn["douts"] = [rng.standard_normal(s) for s in shapes]
        arrays = [a for (_, a), d in zip(case.inputs, diff) if d] + [p for _, p in case.params]
        drawn["tangents"] = [rng.standard_normal(np.shape(a)) for a in arrays]
        return drawn["douts"], drawn["tangents"]

    low = sides.dtype != "float64"
    try:
        outs_r, grads_r, jv, douts, tangents = reference_side(sides, config, case, douts_of, jvp=not low)
    except Exception as err:  # noqa: BLE001  a broken reference is reported, not raised
        return LayerReport(error=_error("the reference", err), case=case)
    side = implementation_side(sides, config, case, douts, tangents, grad_names)
    if isinstance(side, str):
        return LayerReport(error=side, case=case)
    outs_m, grads_m, purity = side
    if len(grads_m) != len(grad_names):
        return LayerReport(error=f"backward must return {', '.join(grad_names)} ({len(grad_names)} arrays), "
                                 f"got {len(grads_m)}", case=case)
    out_names = ["out"] if len(outs_r) == 1 else [f"out_{i}" for i in range(1, len(outs_r) + 1)]
    scale = max([1.0] + [float(np.max(np.abs(g), initial=0.0)) for g in grads_r])
    out_scales = [max(1.0, float(np.max(np.abs(o), initial=0.0))) for o in outs_r]
    if low:
        fixed = lambda shapes: (douts, tangents)  # noqa: E731
        try:
            outs_b, grads_b, _, _, _ = reference_side(sides, config, case, fixed, sides.dtype, jvp=False)
        except Exception as err:  # noqa: BLE001
            return LayerReport(error=_error(f"the reference in {sides.dtype}", err), case=case)
        try:
            outs_s, grads_s = _perturbed_reference(sides, config, case, douts, tangents)
        except Exception as err:  # noqa: BLE001
            return LayerReport(error=_error("the reference on rounded inputs", err), case=case)
        rows = [precision_error(n, _array(m), r, b, sides.dtype, s, sides.factor, sides.floor, p)
                for n, m, r, b, s, p in zip(out_names, outs_m, outs_r, outs_b, out_scales, outs_s)]
        rows += [precision_error(n, _array(g), r, b, sides.dtype, scale, sides.factor, sides.floor, p)
                 for n, g, r, b, p in zip(grad_names, grads_m, grads_r, grads_b, grads_s)]
        return LayerReport(tuple(rows), None, tuple(purity), "", case)
    rows = [leaf_error(n, _array(m), r, scale=s) for n, m, r, s in zip(out_names, outs_m, outs_r, out_scales)]
    rows += [leaf_error(n, _array(g), r, scale=scale) for n, g, r in zip(grad_names, grads_m, grads_r)]
    adjoint = None
    if all(r.shape_ok for r in rows) and len(jv) == len(douts):
        lhs_terms = [np.asarray(d) * j for d, j in zip(douts, jv)]
        rhs_terms = [np.asarray(g, np.float64) * t for g, t in zip(grads_m, tangents)]
        lhs, rhs = float(sum(np.sum(t) for t in lhs_terms)), float(sum(np.sum(t) for t in rhs_terms))
        gross = float(sum(np.sum(np.abs(t)) for t in lhs_terms) + sum(np.sum(np.abs(t)) for t in rhs_terms))
        allowed = 4 * RTOL * gross + ATOL * scale * float(sum(np.sum(np.abs(t)) for t in tangents))
        adjoint = (lhs, rhs, bool(abs(lhs - rhs) <= allowed))
    labels = ("jax.jvp" if sides.reference_framework == "jax" else "torch.func.jvp",
              {"numpy": "manual backward", "torch": "your Function's backward", "jax": "your custom_vjp bwd"}[sides.kind])
    return LayerReport(tuple(rows), adjoint, tuple(purity), "", case, labels)


def _perturbed_reference(sides, config, case, douts, tangents):
    """The float64 reference at the case's float arrays (and douts) a each moved by ε·max|a|·u, u uniform
    in [−1, 1], ε the low precision's machine epsilon: how much a rounding of the size of each array's
    largest entry moves each leaf (the case's conditioning, normwise). A float32 algorithm that rounds an
    intermediate (x − μ at |x| ≫ σ) pays this; the twin's own float32 autodiff sometimes does not."""
    eps = EPS[sides.dtype]
    rng = np.random.default_rng([case.seed, 19])

    def nudge(a):
        a = np.asarray(a)
        if a.dtype.kind != "f" or a.size == 0:
            return a
        return a + eps * float(np.max(np.abs(a))) * rng.uniform(-1.0, 1.0, a.shape)

    nudged = replace(case, inputs=tuple((n, nudge(a)) for n, a in case.inputs),
                     params=tuple((n, nudge(a)) for n, a in case.params))
    fixed = lambda shapes: ([nudge(d) for d in douts], tangents)  # noqa: E731
    outs, grads, _, _, _ = reference_side(sides, config, nudged, fixed, "float64", jvp=False)
    return outs, grads


def _array(a):
    try:
        return np.asarray(a, np.float64)
    except Exception:  # noqa: BLE001  a non-numeric return fails the shape check
        return np.full((0,) * 7, np.nan)


def _purity(before, inputs, douts_given, douts, outs_m, grads_m, grad_names):
    problems = []
    for (name, copy), (_, arr) in zip(before, inputs):
        if not np.array_equal(copy, arr, equal_nan=True):
            problems.append(f"purity: {name} was modified by forward or backward")
    dout_names = ["dout"] if len(douts) == 1 else [f"dout_{i}" for i in range(1, len(douts) + 1)]
    for name, copy, arr in zip(dout_names, douts_given, douts):
        if not np.array_equal(copy, arr, equal_nan=True):
            problems.append(f"purity: {name} was modified by backward")
    out_names = ["out"] if len(outs_m) == 1 else [f"out_{i}" for i in range(1, len(outs_m) + 1)]
    names = grad_names or [f"gradient {i}" for i in range(1, len(grads_m) + 1)]
    outputs = list(zip(out_names, outs_m)) + list(zip(names, grads_m))
    given = [(n, a) for n, a in inputs if isinstance(a, np.ndarray)] + list(zip(dout_names, douts))
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


_UNSET = object()


def check_layer(forward, backward=None, reference=None, shapes=None, params=None, examples=200, seed=0, *,
                dims=None, hyper=None, ids=None, bucket=None, valid=None, scale=(-1.0, 1.0), data=None,
                dtype="float64", factor=None, floor=None, reference_framework=None, jax_fn=_UNSET) -> CheckResult:
    """Run the layer property on an implementation against a reference (see the module docstring
    for the arguments). The implementation is a NumPy pair (forward, backward), a
    `torch.autograd.Function` subclass or a `jax.custom_vjp` function (then no backward); the
    reference a JAX or a PyTorch function (`reference_framework`, default: worked out from the
    names its code uses), always run in float64. `jax_fn=` is the old name of `reference`.

    Returns a `dualgrad.result.CheckResult`: passed, examples run (up to and including the first
    failing one), the shrunk counterexample (a LayerCase), its message (the failing leaf — "dx",
    "dgamma", ... — with the worst index and both values, then the case) and its LayerReport.
    Never raises for a wrong layer; ValueError/TypeError for bad arguments.

    check_layer(name, examples=200, seed=0, dims=..., hyper=...) checks a layer registered with
    `dualgrad.registry.register_layer` by its name (see `check_registered_layer` below)."""
    if jax_fn is not _UNSET:
        if reference is not None:
            raise TypeError("check_layer: give the reference once, as reference= (jax_fn= is its old name)")
        reference = jax_fn
    if isinstance(forward, str):
        if backward is not None or reference is not None or shapes is not None or params is not None:
            raise TypeError(f"check_layer({forward!r}) checks the registered layer {forward!r}: give no "
                            "backward, reference, shapes or params (they were registered), only examples, seed, "
                            "dims, hyper, scale")
        if ids is not None or bucket is not None or valid is not None or data is not None or dtype != "float64":
            raise TypeError(f"check_layer({forward!r}): ids, bucket, valid, data and dtype are not for "
                            "registered layers")
        return check_registered_layer(forward, examples, seed, dims=dims, hyper=hyper, scale=scale)
    sides = make_sides(forward, backward, reference, dtype, factor, floor, reference_framework)
    examples = _int(examples, "examples", 1)
    seed = _int(seed, "seed", 0)
    config = layer_config(shapes, params, dims, hyper, ids, bucket, valid, scale, data)
    return run_check(sides, None, None, config, examples, seed)


def make_sides(forward, backward, reference, dtype="float64", factor=None, floor=None, reference_framework=None):
    """Work out the kinds of implementation and reference; TypeError/ValueError for bad ones."""
    from . import torch_adapter

    if torch_adapter.is_torch_function(forward):
        kind = "torch"
    elif is_custom_vjp(forward):
        kind = "jax"
    else:
        kind = "numpy"
    if kind != "numpy":
        if reference is None and callable(backward):
            backward, reference = None, backward  # check_layer(MyFn, ref, shapes=...)
        if backward is not None:
            what = "a torch.autograd.Function" if kind == "torch" else "a jax.custom_vjp function"
            raise TypeError(f"check_layer: forward is {what}, which carries its own backward: give no backward, "
                            "and the reference as reference=")
    for fn, what in ((forward, "forward(*inputs, *params, **hyper)"),
                     (backward if kind == "numpy" else forward, "backward(*douts, cache)"),
                     (reference, "reference(*inputs, *params, **hyper)")):
        if not callable(fn):
            raise TypeError(f"check_layer needs a callable {what}, got {type(fn).__name__}")
    if reference_framework is None:
        found = torch_adapter._framework_names(reference)
        if torch_adapter.is_torch_function(reference) or found == {"torch"}:
            reference_framework = "torch"
        elif found == {"jax"} or kind != "torch":
            reference_framework = "jax"
        else:
            reference_framework = "torch"
    if reference_framework not in ("jax", "torch"):
        raise ValueError(f"reference_framework must be 'jax' or 'torch' (or None: worked out), got {reference_framework!r}")
    if reference_framework == "torch" or kind == "torch":
        torch_adapter.require_torch()
    allowed = ("float64", "float32", "float16", "bfloat16") if kind == "torch" else ("float64", "float32")
    if dtype not in allowed:
        raise ValueError(f"dtype must be one of {', '.join(allowed)} for "
                         f"{'a torch.autograd.Function' if kind == 'torch' else 'this implementation'}, got {dtype!r}")
    if factor is None:
        factor = DEFAULT_FACTOR
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not factor >= 1:
        raise ValueError(f"factor must be a number >= 1 (the multiple of the reference's own error allowed), "
                         f"got {factor!r}")
    if floor is not None and (isinstance(floor, bool) or not isinstance(floor, numbers.Real) or not floor >= 0):
        raise ValueError(f"floor must be a number >= 0 (relative to the case's gradient scale), got {floor!r}")
    return Sides(kind, forward, backward, reference, reference_framework, dtype, float(factor),
                 None if floor is None else float(floor))


def run_check(forward, backward, jax_fn, config: LayerConfig, examples: int, seed: int,
              phases=(Phase.generate, Phase.shrink)) -> CheckResult:
    """The property, searched and shrunk by hypothesis. `forward` is a `Sides`, or (as before) a NumPy
    forward with its backward and a JAX reference."""
    sides = forward if isinstance(forward, Sides) else Sides("numpy", forward, backward, jax_fn, "jax")
    calls = [0, None]  # examples run, the first failing one
    last = [None]

    @hypothesis_seed(seed)
    @settings(settings.get_profile("default"), max_examples=examples, database=None, deadline=None,
              derandomize=False, phases=phases, suppress_health_check=list(HealthCheck), print_blob=False,
              verbosity=Verbosity.quiet, report_multiple_bugs=False)
    @given(layer_cases(config))
    def prop(case):
        calls[0] += 1
        report = compare_layer(sides, config=config, case=case)
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
    return search_ended(calls[0], seed)


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
    return search_ended(ran, seed)


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
