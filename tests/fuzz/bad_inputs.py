"""Wrong inputs for every public entry point, as hypothesis strategies.

A *kind* is one way of being wrong at one entry point, e.g.
``"manual.forward | X of rank 1"``. `KINDS` maps each kind's name to a
strategy that draws a `BadCall`: a small valid setting (a spec, parameters,
a batch, an optimizer state, a seed network, ...) with exactly that one thing
broken. The contract a call must keep (tests/test_bad_input.py checks it)::

    case = data.draw(KINDS[kind]())
    before = snapshot(case.state)
    case.call()   # must raise ValueError or TypeError, exactly those types or the
                  # project's own subclasses (never IndexError, numpy's AxisError or
                  # UFuncTypeError, a broadcasting error, a JAX error, a warning);
                  # re.search(case.expect, message) finds what was expected
    assert same(before, snapshot(case.state))   # nothing changed

For the command line the call is `dualgrad.cli.main(argv)`; it counts as a
rejection when it exits 2 with empty stdout and one stderr line
``dualgrad: error: ...``, which `cli_call` turns into ``ValueError(that line)``
so one test checks every kind.

Kinds are grouped by what is wrong (`CORRUPTIONS` for the network functions,
which share their arguments, then per entry point); `count()` reports how many
distinct (entry point, kind) pairs there are and how many distinct corruptions
they come from.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
from typing import Callable, Dict, NamedTuple, Optional

import numpy as np
from hypothesis import strategies as st

from manual.spec import NetworkSpec

from dualgrad.engine import strategies as good

# ---------------------------------------------------------------- the case type


class BadCall(NamedTuple):
    kind: str  # "entry point | what is wrong"
    call: Callable[[], object]  # makes the wrong call
    expect: str  # regex the error message must match: names what was expected
    state: object  # what the call must leave as it was: arrays, lists, objects, paths (see snapshot)
    cleanup: Optional[Callable[[], None]] = None  # removes temporary files the case made


KINDS: Dict[str, Callable[[], st.SearchStrategy]] = {}
GROUPS: Dict[str, str] = {}  # kind -> the corruption it applies (for counting distinct corruptions)


def register(entry: str, what: str, build, group: str = None):
    """Add the kind "entry | what": `build(draw)` returns (call, expect, state[, cleanup])."""
    name = f"{entry} | {what}"
    assert name not in KINDS, name

    @st.composite
    def strategy(draw):
        return BadCall(name, *build(draw))

    KINDS[name] = strategy
    GROUPS[name] = group or what
    return name


def bad_calls(kinds=None) -> st.SearchStrategy:
    """Any registered kind (or one of `kinds`), drawn."""
    return st.sampled_from(sorted(kinds or KINDS)).flatmap(lambda k: KINDS[k]())


def count() -> dict:
    """{'kinds': (entry, kind) pairs, 'corruptions': distinct kinds of wrongness, 'entry_points': ...}."""
    return {
        "kinds": len(KINDS),
        "corruptions": len(set(GROUPS.values())),
        "entry_points": len({k.split(" | ")[0] for k in KINDS}),
    }


# ---------------------------------------------------------------- snapshots


def snapshot(obj):
    """A deep copy of everything `obj` holds: arrays, containers, an object's attributes,
    a file's bytes or a directory's listing (os.PathLike / str paths), np.random's state."""
    if isinstance(obj, np.ndarray):
        return ("array", obj.dtype.str, obj.shape, obj.copy(), bool(obj.flags.writeable))
    if isinstance(obj, os.PathLike):
        path = os.fspath(obj)
        if os.path.isdir(path):
            return ("dir", {n: snapshot(_Path(os.path.join(path, n))) for n in sorted(os.listdir(path))})
        if os.path.exists(path):
            with open(path, "rb") as f:
                return ("file", f.read())
        return ("missing",)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # NamedTuple states
        return (type(obj).__name__, tuple(snapshot(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [snapshot(v) for v in obj])
    if isinstance(obj, dict):
        return ("dict", {k: snapshot(v) for k, v in obj.items()})
    if isinstance(obj, np.random.Generator):
        return ("Generator", snapshot(obj.bit_generator.state))
    if isinstance(obj, type) or callable(obj):
        return ("code", id(obj))  # functions, classes, bound optimizer rules: the same object
    if isinstance(obj, GlobalRandom):
        return ("np.random", snapshot(list(np.random.get_state())))
    if hasattr(obj, "__dict__") and not callable(obj):
        return (type(obj).__name__, {k: snapshot(v) for k, v in vars(obj).items() if k != "_cache"})
    return ("value", copy.deepcopy(obj))


def same(a, b) -> bool:
    """Snapshots equal, arrays bit for bit (NaN equal to NaN, dtype and shape included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return b != b  # NaN equals NaN here
    return bool(a == b)


class _Path(os.PathLike):
    def __init__(self, path):
        self.path = path

    def __fspath__(self):
        return self.path


class GlobalRandom:
    """Put in a case's state to require that np.random's global state is untouched."""


# ---------------------------------------------------------------- valid settings


def small_network(draw, dtype=np.float64, losses=None):
    """(spec, params, X, y): a small valid case (≤ 3 layers, widths ≤ 6, N ≤ 8)."""
    spec = draw(good.specs(max_layers=3, max_width=6, losses=losses))
    params = draw(good.parameters(spec, dtype=dtype))
    X, y = draw(good.batches(spec, max_batch=8))
    return spec, params, X.astype(dtype), y


def _pick(draw, arr):
    """A drawn index into arr (any rank)."""
    return tuple(draw(st.integers(0, s - 1)) for s in arr.shape)


NONFINITE = st.sampled_from([np.nan, np.inf, -np.inf])
NOT_A_NUMBER = st.sampled_from(["0.1", None, [0.1], {"lr": 0.1}, 1j, True])


# ---------------------------------------------------------------- network functions
# A corruption takes (draw, spec, params, X, y) and returns (spec, params, X, y, expect).

CORRUPTIONS = {}


def corruption(name, needs_y=False, manual_only=False):
    def deco(fn):
        CORRUPTIONS[name] = (fn, needs_y, manual_only)
        return fn

    return deco


ROWS_EXPECT = r"2-D of shape \(N, \d+\)"


@corruption("X of rank 0")
def _x_rank0(draw, spec, params, X, y):
    return spec, params, X.ravel()[0], y, ROWS_EXPECT


@corruption("X of rank 1")
def _x_rank1(draw, spec, params, X, y):
    return spec, params, X[0], y, ROWS_EXPECT


@corruption("X of rank 3")
def _x_rank3(draw, spec, params, X, y):
    return spec, params, X[None] if draw(st.booleans()) else X[:, :, None], y, ROWS_EXPECT


@corruption("X of the wrong width")
def _x_width(draw, spec, params, X, y):
    n_in = spec.sizes[0]
    width = draw(st.integers(1, n_in + 3).filter(lambda w: w != n_in))
    X2 = np.resize(X, (X.shape[0], width)).astype(X.dtype)
    return spec, params, X2, y, rf"must have {n_in} columns"


@corruption("X an empty batch")
def _x_empty(draw, spec, params, X, y):
    return spec, params, X[:0], y[:0], r"empty batch.*at least one row"


def _nonfinite_x(draw, spec, params, X, y):
    X = X.copy()
    X[_pick(draw, X)] = draw(NONFINITE)
    return spec, params, X, y, r"X contains NaN or infinite"


corruption("X holding NaN or ±inf")(_nonfinite_x)


@corruption("X of strings")
def _x_strings(draw, spec, params, X, y):
    bad = X.astype(str) if draw(st.booleans()) else "1, 2, 3"
    return spec, params, bad, y, r"X must (hold real numbers|be an array of numbers)"


@corruption("X of dtype object")
def _x_object(draw, spec, params, X, y):
    bad = draw(st.sampled_from(["none", "array", "dict"]))
    bad = {"none": None, "dict": {"X": X}, "array": X.astype(object)}[bad]
    return spec, params, bad, y, r"X must hold real numbers"


@corruption("X complex")
def _x_complex(draw, spec, params, X, y):
    return spec, params, X + 1j * draw(st.sampled_from([0.0, 1.0])), y, r"X must hold real numbers.*complex"


@corruption("X ragged rows")
def _x_ragged(draw, spec, params, X, y):
    rows = X.tolist()
    rows[_pick(draw, X)[0]].append(0.0)
    if X.shape[0] == 1:
        rows.append([0.0])
    return spec, params, rows, y, r"X could not be read as a rectangular array"


@corruption("X overflowing float32 params", manual_only=True)
def _x_float32_overflow(draw, spec, params, X, y):
    params = [(W.astype(np.float32), b.astype(np.float32)) for W, b in params]
    X = X.astype(np.float64)
    X[_pick(draw, X)] = draw(st.sampled_from([1e39, -1e300]))  # finite in float64, inf in float32
    return spec, params, X, y, r"X has values beyond the float32 range"


@corruption("y of the wrong count", needs_y=True)
def _y_count(draw, spec, params, X, y):
    n = X.shape[0]
    m = draw(st.integers(0, n + 2).filter(lambda m: m != n))
    y2 = np.resize(y, (m,) + y.shape[1:])
    return spec, params, X, y2, rf"one label per row of X \(N = {n}\)"


def _label_expect(spec):
    if spec.loss == "cross_entropy":
        return rf"integers in \[0, {spec.sizes[-1]}\)"
    return r"must be 0 or 1"


@corruption("y labels out of range", needs_y=True)
def _y_range(draw, spec, params, X, y):
    spec = NetworkSpec(spec.sizes[:-1] + (draw(st.integers(2, 4)),), spec.hidden, "cross_entropy", spec.l2) \
        if spec.loss == "mse" else spec
    if spec.loss == "cross_entropy":
        params = params[:-1] + [_resize_last(params[-1], spec.sizes[-1])]
        y = np.zeros(X.shape[0], dtype=np.int64)
        y[draw(st.integers(0, X.shape[0] - 1))] = draw(st.sampled_from([-1, spec.sizes[-1], spec.sizes[-1] + 7]))
    else:
        y = np.zeros(X.shape[0])
        y[draw(st.integers(0, X.shape[0] - 1))] = draw(st.sampled_from([-1.0, 2.0]))
    return spec, params, X, y, _label_expect(spec)


@corruption("y labels not integers", needs_y=True)
def _y_fraction(draw, spec, params, X, y):
    if spec.loss == "mse":
        spec = NetworkSpec(spec.sizes[:-1] + (1,), spec.hidden, "binary_cross_entropy", spec.l2)
        params = params[:-1] + [_resize_last(params[-1], 1)]
    y = np.zeros(X.shape[0])
    y[draw(st.integers(0, X.shape[0] - 1))] = draw(st.sampled_from([0.5, 0.999, 1e-9]))
    return spec, params, X, y, _label_expect(spec)


def _resize_last(layer, k):
    W, b = layer
    return np.resize(W, (W.shape[0], k)).astype(W.dtype), np.resize(b, (k,)).astype(b.dtype)


@corruption("y holding NaN or ±inf", needs_y=True)
def _y_nonfinite(draw, spec, params, X, y):
    y = y.astype(np.float64)
    y[_pick(draw, y)] = draw(NONFINITE)
    return spec, params, X, y, r"y contains NaN or infinite"


@corruption("y of strings", needs_y=True)
def _y_strings(draw, spec, params, X, y):
    return spec, params, X, np.asarray(y).astype(str), r"y must hold real numbers"


@corruption("y None or complex", needs_y=True)
def _y_none(draw, spec, params, X, y):
    bad = None if draw(st.booleans()) else np.asarray(y) + 1j
    return spec, params, X, bad, r"y must hold real numbers"


@corruption("y of rank 3", needs_y=True)
def _y_rank3(draw, spec, params, X, y):
    y = np.asarray(y).reshape(X.shape[0], -1)[:, :, None]
    return spec, params, X, y, r"must have shape|labels must have shape|one-hot of shape"


@corruption("y of the wrong width", needs_y=True)
def _y_width(draw, spec, params, X, y):
    k = spec.sizes[-1]
    width = draw(st.integers(2, k + 3).filter(lambda w: w != k))
    y2 = np.zeros((X.shape[0], width))
    y2[:, 0] = 1
    return spec, params, X, y2, rf"shape \({X.shape[0]}, {k}\)|shape \({X.shape[0]},\) or \({X.shape[0]}, 1\)"


@corruption("y one-hot rows not one-hot", needs_y=True)
def _y_onehot(draw, spec, params, X, y):
    if spec.loss != "cross_entropy":
        spec = NetworkSpec(spec.sizes[:-1] + (3,), spec.hidden, "cross_entropy", spec.l2)
        params = params[:-1] + [_resize_last(params[-1], 3)]
    k = spec.sizes[-1]
    Y = np.eye(k)[np.zeros(X.shape[0], dtype=int)]  # (N, K)
    r = draw(st.integers(0, X.shape[0] - 1))
    Y[r] = draw(st.sampled_from([np.ones(k), np.zeros(k), np.full(k, 0.5)]))
    return spec, params, X, Y, r"one-hot cross_entropy labels must be 0/1 with exactly one 1"


@corruption("params with a layer missing or extra")
def _p_count(draw, spec, params, X, y):
    if draw(st.booleans()) or len(params) == 1:
        params = params + [params[-1]]
    else:
        params = params[:-1]
    return spec, params, X, y, rf"params has \d+ layer\(s\) but the spec .* has {spec.n_layers}"


@corruption("params with a W or b of the wrong shape")
def _p_shape(draw, spec, params, X, y):
    params = list(params)
    l = draw(st.integers(0, len(params) - 1))
    W, b = params[l]
    how = draw(st.sampled_from(["W.T", "W+col", "b(1,k)", "b+1"]))
    if how == "W.T" and W.shape[0] != W.shape[1]:
        params[l] = (W.T.copy(), b)
    elif how in ("W.T", "W+col"):
        params[l] = (np.zeros((W.shape[0], W.shape[1] + 1), W.dtype), b)
    elif how == "b(1,k)":
        params[l] = (W, b.reshape(1, -1))  # the seed's layout
    else:
        params[l] = (W, np.zeros(b.shape[0] + 1, b.dtype))
    return spec, params, X, y, rf"layer {l + 1}, [Wb] must have shape \("


@corruption("params of a non-float dtype")
def _p_dtype(draw, spec, params, X, y):
    params = list(params)
    l = draw(st.integers(0, len(params) - 1))
    dtype = draw(st.sampled_from([np.int64, np.float16, np.complex128, np.bool_, object]))
    W, b = params[l]
    params[l] = (W.astype(dtype), b) if draw(st.booleans()) else (W, b.astype(dtype))
    return spec, params, X, y, rf"layer {l + 1}, [Wb] must be float32 or float64"


@corruption("params mixing float32 and float64")
def _p_mixed(draw, spec, params, X, y):
    params = [(W.astype(np.float64), b.astype(np.float64)) for W, b in params]
    l = draw(st.integers(0, len(params) - 1))
    W, b = params[l]
    params[l] = (W.astype(np.float32), b.astype(np.float32)) if len(params) > 1 else (W.astype(np.float32), b)
    return spec, params, X, y, r"params mix dtypes \['float32', 'float64'\]; use one dtype"


@corruption("params holding NaN or ±inf")
def _p_nonfinite(draw, spec, params, X, y):
    params = [(W.copy(), b.copy()) for W, b in params]
    l = draw(st.integers(0, len(params) - 1))
    leaf = draw(st.integers(0, 1))
    arr = params[l][leaf]
    arr[_pick(draw, arr)] = draw(NONFINITE)
    return spec, params, X, y, rf"layer {l + 1}, {'Wb'[leaf]} contains NaN or infinite"


@corruption("params not a list of pairs")
def _p_container(draw, spec, params, X, y):
    how = draw(st.sampled_from(["dict", "none", "array", "triple", "leaf-list"]))
    if how == "dict":
        return spec, dict(enumerate(params)), X, y, r"params must be a list of \(W, b\) pairs"
    if how == "none":
        return spec, None, X, y, r"params must be a list of \(W, b\) pairs"
    if how == "array":
        return spec, params[0][0], X, y, r"params must be a list of \(W, b\) pairs"
    if how == "triple":
        return spec, [(W, b, b) for W, b in params], X, y, r"layer 1 of params must be a \(W, b\) pair"
    return spec, [(W.tolist(), b) for W, b in params], X, y, r"layer 1, W must be a NumPy array"


@corruption("spec not a NetworkSpec")
def _spec_type(draw, spec, params, X, y):
    bad = draw(st.sampled_from([spec.to_dict(), list(spec.sizes), None, "relu"]))
    return bad, params, X, y, r"spec must be a NetworkSpec"


def _network_entries():
    """name -> (function, takes y, is manual)."""
    import manual
    import reference
    from reference import bucketed

    from dualgrad import check_gradients

    return {
        "manual.forward": (manual.forward, False, True),
        "manual.loss": (manual.loss, True, True),
        "manual.loss_and_grads": (manual.loss_and_grads, True, True),
        "reference.forward": (reference.forward, False, False),
        "reference.loss_and_grads": (reference.loss_and_grads, True, False),
        "reference.bucketed.loss_and_grads": (bucketed.loss_and_grads, True, False),
        "dualgrad.check_gradients": (check_gradients, True, False),
    }


NETWORK_ENTRIES = ("manual.forward", "manual.loss", "manual.loss_and_grads", "reference.forward",
                   "reference.loss_and_grads", "reference.bucketed.loss_and_grads", "dualgrad.check_gradients")
_MANUAL_ENTRIES = {"manual.forward", "manual.loss", "manual.loss_and_grads"}
_Y_ENTRIES = set(NETWORK_ENTRIES) - {"manual.forward", "reference.forward"}


def _network_kind(entry, corrupt):
    def build(draw):
        spec, params, X, y = small_network(draw)
        spec, params, X, y, expect = corrupt(draw, spec, params, X, y)
        fn, takes_y, _ = _network_entries()[entry]
        call = (lambda: fn(spec, params, X, y)) if takes_y else (lambda: fn(spec, params, X))
        return call, expect, [params, X, y]

    return build


for _what, (_fn, _needs_y, _manual_only) in CORRUPTIONS.items():
    for _entry in NETWORK_ENTRIES:
        if (_needs_y and _entry not in _Y_ENTRIES) or (_manual_only and _entry not in _MANUAL_ENTRIES):
            continue
        register(_entry, _what, _network_kind(_entry, _fn))


# ---------------------------------------------------------------- NetworkSpec and init_params


def _spec_kind(what, args, expect):
    """NetworkSpec(**kwargs) with kwargs drawn from `args` (a strategy)."""

    def build(draw):
        kwargs = draw(args)
        return (lambda: NetworkSpec(**kwargs)), expect, [kwargs]

    register("NetworkSpec", what, build)


_sizes_ok = st.lists(st.integers(1, 5), min_size=2, max_size=4)
_spec_kind("sizes with a zero or negative size",
           st.tuples(_sizes_ok, st.integers(-3, 0)).map(lambda t: dict(sizes=t[0][:-1] + [t[1]] + t[0][-1:], loss="mse")),
           r"every size must be a positive int")
_spec_kind("sizes not ints", _sizes_ok.flatmap(lambda s: st.sampled_from([2.0, 2.5, "2", None, True]).map(
    lambda v: dict(sizes=[v] + s[1:], loss="mse"))), r"sizes must be ints")
_spec_kind("sizes not a sequence", st.sampled_from([5, "10 64 3", None, {3, 2}, {3: 1, 2: 1}]).map(
    lambda v: dict(sizes=v)), r"sizes must be a sequence of ints")
_spec_kind("sizes with fewer than two entries", st.sampled_from([[], [3]]).map(lambda v: dict(sizes=v, loss="mse")),
           r"sizes needs at least two entries")
_spec_kind("unknown activation name", st.tuples(st.sampled_from(["Relu", "softmax", "", "rellu", 5, None]),
                                                st.integers(1, 3), st.booleans()).map(
    lambda t: dict(sizes=[2] + [3] * t[1] + [2], hidden=t[0] if t[2] and isinstance(t[0], str) else [t[0]] * t[1])),
           r"unknown activation .*valid names: identity")
_spec_kind("hidden list of the wrong length", st.integers(0, 5).filter(lambda k: k != 2).map(
    lambda k: dict(sizes=[2, 3, 3, 2], hidden=["relu"] * k)), r"give one name for all, or exactly 2 names")
_spec_kind("hidden not a name or list", st.sampled_from([5, None, {"relu"}, np.array(["relu"])]).map(
    lambda v: dict(sizes=[2, 3, 2], hidden=v)), r"hidden must be an activation name or a list of names")
_spec_kind("unknown loss name", st.sampled_from(["ce", "bce", "MSE", "", None, ["mse"], 3]).map(
    lambda v: dict(sizes=[2, 3, 2], loss=v)), r"unknown loss .*valid names: binary_cross_entropy")
_spec_kind("loss not fitting the output width",
           st.sampled_from([dict(sizes=[2, 3], loss="binary_cross_entropy"), dict(sizes=[2, 1], loss="cross_entropy")]),
           r"needs (exactly 1 output unit|at least 2 output units)")
_spec_kind("l2 negative or non-finite", st.sampled_from([-0.1, -1e-300, np.nan, np.inf]).map(
    lambda v: dict(sizes=[2, 2], loss="mse", l2=v)), r"l2 must be a finite non-negative float")
_spec_kind("l2 not a number", st.sampled_from(["0.1", None, True, [0.1], 1j]).map(
    lambda v: dict(sizes=[2, 2], loss="mse", l2=v)), r"l2 must be a non-negative float")


def _from_dict(draw):
    d = NetworkSpec([2, 3, 2]).to_dict()
    how = draw(st.sampled_from(["missing", "extra", "not a dict"]))
    bad = {"missing": {k: v for k, v in d.items() if k != "l2"}, "extra": {**d, "version": 2}, "not a dict": [d]}[how]
    return (lambda: NetworkSpec.from_dict(bad)), r"needs exactly the keys sizes, hidden, loss, l2", [bad]


register("NetworkSpec.from_dict", "wrong keys or not a dict", _from_dict)


def _init_kind(what, arg, expect):
    def build(draw):
        import manual

        spec = draw(good.specs(max_layers=3, max_width=6))
        kwargs = draw(arg)
        return (lambda: manual.init_params(spec, **kwargs)), expect, [GlobalRandom()]

    register("init_params", what, build)


_init_kind("seed negative, fractional or not an int", st.sampled_from([-1, 1.5, "0", True, [0]]).map(
    lambda v: dict(seed=v)), r"seed must be an int >= 0 or None")
_init_kind("unknown init name", st.sampled_from(["glorot", "He", "", None]).map(lambda v: dict(init=v)),
           r"unknown init .*valid names: he, xavier")
_init_kind("dtype not float32/float64", st.sampled_from([np.int64, np.float16, "f2", "nonsense", object, complex]).map(
    lambda v: dict(dtype=v)), r"dtype must be np.float32 or np.float64")


def _init_spec(draw):
    import manual

    bad = draw(st.sampled_from([[3, 4, 2], None, {"sizes": [3, 2]}]))
    return (lambda: manual.init_params(bad)), r"spec must be a NetworkSpec", [bad]


register("init_params", "spec not a NetworkSpec", _init_spec, group="spec not a NetworkSpec")


# ---------------------------------------------------------------- optimizers

OPTIMIZER_NAMES = ("sgd", "sgd momentum", "sgd nesterov", "adam", "rmsprop")


def _make_optimizer(name, learning_rate=0.01):
    from manual import optimizers as O

    return {
        "sgd": lambda: O.sgd(learning_rate),
        "sgd momentum": lambda: O.sgd(learning_rate, momentum=0.9),
        "sgd nesterov": lambda: O.sgd(learning_rate, momentum=0.9, nesterov=True),
        "adam": lambda: O.adam(learning_rate),
        "rmsprop": lambda: O.rmsprop(learning_rate),
    }[name]()


def optimizer_setting(draw, names=OPTIMIZER_NAMES, learning_rate=0.01):
    """(opt, params, grads, state): a state after 0–2 updates, so its moments are not all zero."""
    spec = draw(good.specs(max_layers=3, max_width=6))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    params = draw(good.parameters(spec, dtype=dtype))
    opt = _make_optimizer(draw(st.sampled_from(names)), learning_rate)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    grads = [(rng.standard_normal(W.shape).astype(dtype), rng.standard_normal(b.shape).astype(dtype)) for W, b in params]
    state = opt.init(params)
    for _ in range(draw(st.integers(0, 2))):
        state = opt.update_inplace(grads, state, params)
    return opt, params, grads, state


def _tree_copy(tree):
    return [(W.copy(), b.copy()) for W, b in tree]


def _grads_count(draw, opt, params, grads, state):
    grads = grads + grads[-1:] if draw(st.booleans()) or len(grads) == 1 else grads[:-1]
    return grads, state, params, r"grads has \d+ layer\(s\) but params has \d+"


def _grads_shape(draw, opt, params, grads, state):
    grads = _tree_copy(grads)
    l, leaf = draw(st.integers(0, len(grads) - 1)), draw(st.integers(0, 1))
    g = grads[l][leaf]
    grads[l] = (g.T.copy() if g.ndim == 2 and g.shape[0] != g.shape[1] else g[..., None], grads[l][1]) if leaf == 0 \
        else (grads[l][0], np.append(g, g[:1]))
    return grads, state, params, rf"grads, layer {l + 1}, d{'Wb'[leaf]} must have shape"


def _grads_dtype(draw, opt, params, grads, state):
    grads = _tree_copy(grads)
    l = draw(st.integers(0, len(grads) - 1))
    other = draw(st.sampled_from([np.float16, np.int64, np.float32 if grads[0][0].dtype == np.float64 else np.float64]))
    grads[l] = (grads[l][0].astype(other), grads[l][1])
    return grads, state, params, rf"grads, layer {l + 1}, dW must have dtype"


def _grads_nonfinite(draw, opt, params, grads, state):
    grads = _tree_copy(grads)
    l, leaf = draw(st.integers(0, len(grads) - 1)), draw(st.integers(0, 1))
    g = grads[l][leaf]
    g[_pick(draw, g)] = draw(NONFINITE)
    return grads, state, params, rf"grads, layer {l + 1}, d{'Wb'[leaf]} contains NaN or infinite"


def _grads_container(draw, opt, params, grads, state):
    bad = draw(st.sampled_from(["none", "dict", "array"]))
    bad = {"none": None, "dict": dict(enumerate(grads)), "array": grads[0][0]}[bad]
    return bad, state, params, r"grads must be a list of \(W, b\) pairs like params"


def _state_other(draw, opt, params, grads, state):
    from manual import optimizers as O

    other = O.rmsprop(0.1) if isinstance(state, O.AdamState) else O.adam(0.1)
    bad = other.init(params) if draw(st.booleans()) else tuple(state)
    return grads, bad, params, r"state must be a \w+ made by this optimizer's init"


def _state_count(draw, opt, params, grads, state):
    bad = state._replace(count=draw(st.sampled_from([-1, 1.5, "3", None, True])))
    return grads, bad, params, r"state.count must be a non-negative int"


def _state_leaf(draw, opt, params, grads, state):
    fields = [f for f in state._fields[1:] if getattr(state, f) is not None]
    if not fields:  # plain sgd keeps no leaves: corrupt an adam state instead
        opt = _make_optimizer("adam")
        state = opt.init(params)
        fields = ["mu", "nu"]
    f = draw(st.sampled_from(fields))
    tree = _tree_copy(getattr(state, f))
    l = draw(st.integers(0, len(tree) - 1))
    tree[l] = (tree[l][0][:, :0] if draw(st.booleans()) else tree[l][0].astype(np.float16), tree[l][1])
    return grads, state._replace(**{f: tree}), params, (rf"state\.{f}, layer {l + 1}, W must have (shape|dtype)", opt)


def _params_other(draw, opt, params, grads, state):
    how = draw(st.sampled_from(["int", "b", "list", "none"]))
    params = _tree_copy(params)
    if how == "int":
        params[0] = (params[0][0].astype(np.int64), params[0][1])
        return grads, state, params, r"layer 1, W must be float32 or float64"
    if how == "b":
        params[-1] = (params[-1][0], np.zeros(params[-1][1].shape[0] + 1, params[-1][1].dtype))
        return grads, state, params, r"layer \d+: W must be \(fan_in, fan_out\) and b \(fan_out,\)"
    if how == "list":
        params[0] = (params[0][0].tolist(), params[0][1])
        return grads, state, params, r"layer 1, W must be a NumPy array"
    return grads, state, None, r"params must be a list of \(W, b\) pairs"


def _bad_schedule(draw, opt, params, grads, state):
    value = draw(st.sampled_from([np.nan, np.inf, -0.1, "0.1", None]))
    name = draw(st.sampled_from(OPTIMIZER_NAMES))
    opt = _make_optimizer(name, learning_rate=lambda step: value)
    state = opt.init(params)
    return grads, state, params, (r"learning_rate\(0\) must return a (finite rate >= 0|float)", opt)


def _readonly(draw, opt, params, grads, state):
    params = _tree_copy(params)
    l, leaf = draw(st.integers(0, len(params) - 1)), draw(st.integers(0, 1))
    params[l][leaf].flags.writeable = False
    return grads, state, params, r"read-only; update_inplace writes into params"


OPTIMIZER_CORRUPTIONS = {
    "grads with a layer missing or extra": _grads_count,
    "grads with a leaf of the wrong shape": _grads_shape,
    "grads with a leaf of the wrong dtype": _grads_dtype,
    "grads holding NaN or ±inf": _grads_nonfinite,
    "grads not a list of pairs": _grads_container,
    "state of another optimizer": _state_other,
    "state.count negative or not an int": _state_count,
    "state with a leaf of the wrong shape or dtype": _state_leaf,
    "params not fitting (dtype, shapes, container)": _params_other,
    "learning-rate schedule returning NaN, < 0 or not a number": _bad_schedule,
}


def _optimizer_kind(method, corrupt):
    def build(draw):
        opt, params, grads, state = optimizer_setting(draw)
        grads, state, params, expect = corrupt(draw, opt, params, grads, state)
        if isinstance(expect, tuple):
            expect, opt = expect
        fn = getattr(opt, method)
        return (lambda: fn(grads, state, params)), expect, [grads, state, params]

    return build


for _what, _fn in OPTIMIZER_CORRUPTIONS.items():
    for _method in ("update", "update_inplace"):
        register(f"optimizer.{_method}", _what, _optimizer_kind(_method, _fn))
register("optimizer.update_inplace", "params read-only", _optimizer_kind("update_inplace", _readonly))


def _init_bad(draw):
    opt, params, grads, state = optimizer_setting(draw)
    grads, state, params, expect = _params_other(draw, opt, params, grads, state)
    return (lambda: opt.init(params)), expect, [params]


register("optimizer.init", "params not fitting (dtype, shapes, container)", _init_bad)


def _params_nonfinite(draw, opt, params, grads, state):
    params = _tree_copy(params)
    l, leaf = draw(st.integers(0, len(params) - 1)), draw(st.integers(0, 1))
    params[l][leaf].flat[draw(st.integers(0, params[l][leaf].size - 1))] = draw(NONFINITE)
    return grads, state, params, rf"layer {l + 1}, {'Wb'[leaf]} contains NaN or infinite values"


def _init_nonfinite(draw):
    opt, params, grads, state = optimizer_setting(draw)
    grads, state, params, expect = _params_nonfinite(draw, opt, params, grads, state)
    return (lambda: opt.init(params)), expect, [params]


for _method in ("update", "update_inplace"):
    register(f"optimizer.{_method}", "params holding NaN or ±inf", _optimizer_kind(_method, _params_nonfinite))
register("optimizer.init", "params holding NaN or ±inf", _init_nonfinite)


# ---------------------------------------------------------------- TrainStep


def _train_step_kind(what, corrupt):
    """`corrupt(draw, spec, params, X, Y)` -> (params, X, Y, expected message), one thing wrong."""

    def build(draw):
        import manual

        opt, params, _, state = optimizer_setting(draw, names=("sgd", "adam"))
        spec = _spec_of(params)
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        dtype = params[0][0].dtype
        n = draw(st.integers(1, 6))
        X = rng.standard_normal((n, spec.sizes[0])).astype(dtype)  # (N, sizes[0])
        Y = np.eye(spec.sizes[-1], dtype=dtype)[rng.integers(0, spec.sizes[-1], n)]  # (N, K) one-hot
        params, X, Y, expect = corrupt(draw, spec, _tree_copy(params), X, Y)
        step = manual.TrainStep(spec, opt)
        return (lambda: step(params, state, X, Y)), expect, [params, state, X, Y]

    register("TrainStep", what, build)


def _spec_of(params):
    """A spec whose layer shapes are those of params (mse: any output width, identity hidden layers)."""
    from manual import NetworkSpec

    sizes = [params[0][0].shape[0]] + [W.shape[1] for W, _ in params]
    return NetworkSpec(sizes, "identity", "mse")


def _ts_shape(draw, spec, params, X, Y):
    l = draw(st.integers(0, len(params) - 1))
    W, b = params[l]
    params[l] = (np.zeros((W.shape[0] + 1, W.shape[1]), W.dtype), b)
    return params, X, Y, rf"layer {l + 1}, W must be an array of shape \({W.shape[0]}, {W.shape[1]}\)"


def _ts_mixed(draw, spec, params, X, Y):
    other = np.float32 if params[0][0].dtype == np.float64 else np.float64
    params[-1] = (params[-1][0].astype(other), params[-1][1].astype(other))
    if len(params) == 1:
        return params, X.astype(other), Y, r"Y must have the dtype of params"
    return params, X, Y, r"params mix dtypes"


def _ts_width(draw, spec, params, X, Y):
    return params, np.zeros((X.shape[0], X.shape[1] + 1), X.dtype), Y, rf"X must be an array of shape \(N, {X.shape[1]}\)"


def _ts_rows(draw, spec, params, X, Y):
    return params, X, np.concatenate([Y, Y[:1]]), r"X and Y must have the same number of rows"


_train_step_kind("params of the wrong shape", _ts_shape)
_train_step_kind("params mixing float32 and float64", _ts_mixed)
_train_step_kind("X of the wrong width", _ts_width)
_train_step_kind("X and Y of different row counts", _ts_rows)


def _hyper_kind(entry, make, values, expect, group):
    """`make(value)` builds an optimizer or schedule with one hyper-parameter set to a drawn bad value."""

    def build(draw):
        v = draw(st.sampled_from(values))
        return (lambda: make(v)), expect, [v]

    register(entry, group, build, group=group)


def _O():
    from manual import optimizers as O

    return O


_BAD_RATE = [0.0, -0.1, np.nan, np.inf, -np.inf, "0.1", None, True, [0.1], 1j]
_BAD_UNIT = [1.0, 1.5, -0.1, np.nan, "0.9", None, True]
_hyper_kind("optimizers.sgd", lambda v: _O().sgd(v), _BAD_RATE, r"learning_rate must be a finite float > 0 or a schedule",
            "learning_rate not a finite number > 0")
_hyper_kind("optimizers.adam", lambda v: _O().adam(v), _BAD_RATE, r"learning_rate must be a finite float > 0 or a schedule",
            "learning_rate not a finite number > 0")
_hyper_kind("optimizers.rmsprop", lambda v: _O().rmsprop(v), _BAD_RATE,
            r"learning_rate must be a finite float > 0 or a schedule", "learning_rate not a finite number > 0")
_hyper_kind("optimizers.sgd", lambda v: _O().sgd(0.1, momentum=v), _BAD_UNIT, r"momentum must be a float in \[0, 1\)",
            "momentum outside [0, 1)")
_hyper_kind("optimizers.sgd", lambda v: _O().sgd(0.1, 0.9, nesterov=v), ["yes", 1, None], r"nesterov must be True or False",
            "flag not a bool")
_hyper_kind("optimizers.adam", lambda v: _O().adam(0.1, b1=v), _BAD_UNIT, r"b1 must be a float in \[0, 1\)",
            "b1 outside [0, 1)")
_hyper_kind("optimizers.adam", lambda v: _O().adam(0.1, b2=v), _BAD_UNIT, r"b2 must be a float in \[0, 1\)",
            "b2 outside [0, 1)")
_hyper_kind("optimizers.adam", lambda v: _O().adam(0.1, eps=v), [0.0, -1e-8, np.nan, np.inf, "1e-8", None],
            r"eps must be a finite float > 0", "eps not a finite number > 0")
_hyper_kind("optimizers.rmsprop", lambda v: _O().rmsprop(0.1, eps=v), [0.0, -1e-8, np.nan, np.inf, "1e-8", None],
            r"eps must be a finite float > 0", "eps not a finite number > 0")
_hyper_kind("optimizers.rmsprop", lambda v: _O().rmsprop(0.1, decay=v), _BAD_UNIT, r"decay must be a float in \[0, 1\)",
            "decay outside [0, 1)")
_hyper_kind("optimizers.constant", lambda v: _O().constant(v), _BAD_RATE[:-1], r"rate must be a finite float > 0",
            "learning_rate not a finite number > 0")
_hyper_kind("optimizers.exponential_decay", lambda v: _O().exponential_decay(0.1, 0.5, v), [0, -1, 1.5, "10", None, True],
            r"transition_steps must be an int >= 1", "step count zero, negative or not an int")
_hyper_kind("optimizers.exponential_decay", lambda v: _O().exponential_decay(0.1, v, 10), [0.0, -0.5, np.nan, "0.5"],
            r"decay_rate must be a finite float > 0", "decay_rate not a finite number > 0")
_hyper_kind("optimizers.exponential_decay", lambda v: _O().exponential_decay(0.1, 0.5, 10, staircase=v), ["yes", 1, None],
            r"staircase must be True or False", "flag not a bool")
_hyper_kind("optimizers.step_decay", lambda v: _O().step_decay(0.1, v), [{-1: 0.5}, {1.5: 0.5}, {"10": 0.5}, {None: 0.5}],
            r"each boundary \(key\) of boundaries_and_scales must be an int >= 0", "step count zero, negative or not an int")
_hyper_kind("optimizers.step_decay", lambda v: _O().step_decay(0.1, {10: v}), [-0.5, np.nan, np.inf, "0.5", None],
            r"the scale at boundary 10 must be a finite float >= 0", "scale negative or not finite")
_hyper_kind("optimizers.step_decay", lambda v: _O().step_decay(0.1, v), [[(10, 0.5)], None, 0.5],
            r"boundaries_and_scales must be a dict \{step: scale\}", "schedule table not a dict")


# ---------------------------------------------------------------- the seed's classes


def _seed_data(draw, k=1):
    """(X, y) for a seed network with layer_sizes [3, 4, k]: N in 1..8, valid labels."""
    n = draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return rng.standard_normal((n, 3)), rng.integers(0, 2 if k == 1 else k, size=n)


def _seed_net(draw, cls_name):
    from manual.seed import MultiClassNN, NeuralNetwork

    state = np.random.get_state()
    try:
        np.random.seed(draw(st.integers(0, 2**16)))
        if cls_name == "NeuralNetwork":
            net = NeuralNetwork([3, 4, 1], learning_rate=0.1, momentum=draw(st.sampled_from([0.0, 0.9])))
        else:
            net = MultiClassNN([3, 4, 3], learning_rate=0.1)
    finally:
        np.random.set_state(state)
    X, y = _seed_data(draw, 1 if cls_name == "NeuralNetwork" else 3)
    if draw(st.booleans()):  # a network that has trained a little, with history and velocities
        net.fit(X, y, epochs=2, verbose=False)
    return net, X, y


def _seed_constructor(entry, what, kwargs, expect):
    def build(draw):
        from manual import seed

        kw = draw(kwargs)
        cls = getattr(seed, entry)
        return (lambda: cls(**kw)), expect, [kw, GlobalRandom()]

    register(entry, what, build)


for _cls, _k in (("NeuralNetwork", 1), ("MultiClassNN", 3)):
    _seed_constructor(_cls, "sizes with a zero or negative size", st.integers(-2, 0).map(
        lambda v, k=_k: dict(layer_sizes=[3, v, k])), r"every size must be a positive int")
    _seed_constructor(_cls, "sizes not ints", st.sampled_from([[3, 4.0, _k], "3 4 1", None, [3, "4", _k]]).map(
        lambda v: dict(layer_sizes=v)), r"sizes must be (ints|a sequence of ints)")
    _seed_constructor(_cls, "loss not fitting the output width", st.just(dict(layer_sizes=[3, 4, 2 if _k == 1 else 1])),
                      r"needs (exactly 1 output unit|at least 2 output units)")
    _seed_constructor(_cls, "learning_rate not a finite number > 0", st.sampled_from(_BAD_RATE).map(
        lambda v, k=_k: dict(layer_sizes=[3, 4, k], learning_rate=v)), r"learning_rate must be a finite float > 0")
_seed_constructor("NeuralNetwork", "momentum outside [0, 1)", st.sampled_from(_BAD_UNIT).map(
    lambda v: dict(layer_sizes=[3, 4, 1], momentum=v)), r"momentum must be a float in \[0, 1\)")


def _seed_method(cls_name, method, what, corrupt, group=None):
    """net.method(...) with arguments from corrupt(draw, net, X, y) -> (args, kwargs, expect)."""

    def build(draw):
        net, X, y = _seed_net(draw, cls_name)
        args, kwargs, expect = corrupt(draw, net, X, y)
        fn = getattr(net, method)
        return (lambda: fn(*args, **kwargs)), expect, [net, args, kwargs, GlobalRandom()]

    register(f"{cls_name}.{method}", what, build, group=group)


def _seed_x(kind):
    """A seed method's X corrupted by the network corruption `kind` (spec taken from the net)."""
    fn = CORRUPTIONS[kind][0]

    def corrupt(draw, net, X, y):
        params = [(W, b.reshape(-1)) for W, b in zip(net.weights, net.biases)]
        _, _, X2, _, expect = fn(draw, net.spec, params, X, y)
        return X2, expect

    return corrupt


def _seed_y(kind):
    fn = CORRUPTIONS[kind][0]

    def corrupt(draw, net, X, y):
        params = [(W, b.reshape(-1)) for W, b in zip(net.weights, net.biases)]
        spec, _, _, y2, expect = fn(draw, net.spec, params, X, y)
        if spec != net.spec:  # the corruption changed the loss: use a label the net's loss rejects
            y2 = np.full(X.shape[0], net.spec.sizes[-1] if net.spec.loss == "cross_entropy" else 2)
            expect = _label_expect(net.spec)
        return y2, expect

    return corrupt


_SEED_X = ["X of rank 1", "X of rank 3", "X of the wrong width", "X an empty batch", "X holding NaN or ±inf",
           "X of strings", "X of dtype object", "X complex", "X ragged rows"]
_SEED_Y = ["y of the wrong count", "y labels out of range", "y labels not integers", "y holding NaN or ±inf",
           "y of strings"]

for _cls in ("NeuralNetwork", "MultiClassNN"):
    for _what in _SEED_X:
        _seed_method(_cls, "fit", _what, lambda d, n, X, y, c=_seed_x(_what): (lambda r: ((r[0], y), dict(epochs=2, verbose=False), r[1]))(c(d, n, X, y)))
        _seed_method(_cls, "predict", _what, lambda d, n, X, y, c=_seed_x(_what): (lambda r: ((r[0],), {}, r[1]))(c(d, n, X, y)))
        _seed_method(_cls, "forward", _what, lambda d, n, X, y, c=_seed_x(_what): (lambda r: ((r[0],), {}, r[1]))(c(d, n, X, y)))
    for _what in _SEED_Y:
        _seed_method(_cls, "fit", _what, lambda d, n, X, y, c=_seed_y(_what): (lambda r: ((X, r[0]), dict(epochs=2, verbose=False), r[1]))(c(d, n, X, y)))
    _seed_method(_cls, "fit", "epochs zero, negative or not an int",
                 lambda d, n, X, y: ((X, y), dict(epochs=d(st.sampled_from([0, -1, 2.5, "3", None, True])), verbose=False),
                                     r"epochs must be an int >= 1"), group="step count zero, negative or not an int")
_seed_method("NeuralNetwork", "backward", "y labels out of range", lambda d, n, X, y: ((X, y + 2), {}, r"must be 0 or 1"))
_seed_method("NeuralNetwork", "backward", "y of the wrong count",
             lambda d, n, X, y: ((X, np.append(y, 0)), {}, rf"one label per row of X \(N = {X.shape[0]}\)"))
_seed_method("NeuralNetwork", "predict", "threshold not a probability",
             lambda d, n, X, y: ((X,), dict(threshold=d(st.sampled_from([np.nan, 1.5, -0.1, "0.5", None]))),
                                 r"threshold must be a probability in \[0, 1\]"))


def _count_parameters(draw):
    from manual.seed import count_parameters

    bad = draw(st.sampled_from([None, [3], [], [3, 0], [3, -2, 1], [3, 2.5], "3 2", 7]))
    return (lambda: count_parameters(bad)), r"sizes (must be|needs)|every size must be a positive int", [bad]


register("count_parameters", "sizes wrong (type, count, zero or negative)", _count_parameters)


def _activation_kind(fn_name, what, values, expect):
    def build(draw):
        from manual.seed import Activations

        z = draw(values)
        fn = getattr(Activations, fn_name)
        return (lambda: fn(z)), expect, [z]

    register(f"Activations.{fn_name}", what, build)


_Z = st.sampled_from([[-1.0, 0.0, 2.0], [[0.5, -3.0]]]).map(np.array)
for _fn_name in ("sigmoid", "sigmoid_derivative", "relu", "relu_derivative", "tanh", "tanh_derivative", "softmax"):
    _activation_kind(_fn_name, "z of strings", _Z.map(lambda z: z.astype(str)), r"z must hold real numbers")
    _activation_kind(_fn_name, "z None, object or complex",
                     st.sampled_from([None, np.array([1.0, None]), np.array([[1 + 2j, 0j]])]), r"z must hold real numbers")
    _activation_kind(_fn_name, "z holding NaN or ±inf",
                     st.tuples(_Z, NONFINITE).map(lambda t: np.where(t[0] == t[0].flat[-1], t[1], t[0])), r"z contains NaN or infinite")
_activation_kind("softmax", "z not 2-D", st.sampled_from([np.ones(3), np.float64(1.0), np.ones((2, 2, 2))]),
                 r"softmax takes logits of shape \(N, K\)")


# ---------------------------------------------------------------- manual.MLP


def _mlp_constructor(what, kwargs, expect, group=None):
    def build(draw):
        from manual import MLP

        kw = {"sizes": [3, 4, 2], **draw(kwargs)}
        return (lambda: MLP(**kw)), expect, [kw, GlobalRandom()], None

    register("MLP", what, build, group=group)


def _kw(name, values):
    return st.sampled_from(values).map(lambda v: {name: v})


_mlp_constructor("sizes with a zero or negative size", _kw("sizes", [[3, 0, 2], [3, 4, -1], [0, 2]]),
                 r"every size must be a positive int")
_mlp_constructor("sizes not ints", _kw("sizes", [[3, 4.0, 2], "3 4 2", [3, 4, "2"], 5]),
                 r"sizes must be (ints|a list of ints|a sequence of ints)")
_mlp_constructor("sizes with fewer than two entries", _kw("sizes", [[], [3]]), r"sizes (must list|needs) at least")
_mlp_constructor("unknown activation name", _kw("hidden", ["Relu", "softmax", ["relu", "tanh"]]),
                 r"unknown activation|give one name for all")
_mlp_constructor("unknown loss name", _kw("loss", ["ce", "MSE", 3]), r"unknown loss .*valid names")
_mlp_constructor("loss not fitting the output width", _kw("loss", ["binary_cross_entropy"]),
                 r"needs exactly 1 output unit")
_mlp_constructor("unknown optimizer name or type", _kw("optimizer", ["Adam", "lbfgs", 3, None]),
                 r"unknown optimizer .*valid names|optimizer must be 'sgd', 'adam', 'rmsprop' or an Optimizer")
_mlp_constructor("learning_rate not a finite number > 0", _kw("learning_rate", _BAD_RATE),
                 r"learning_rate must be a finite float > 0")
_mlp_constructor("momentum outside [0, 1)", _kw("momentum", _BAD_UNIT), r"momentum must be a float in \[0, 1\)")
_mlp_constructor("momentum with a non-sgd optimizer", st.just(dict(optimizer="adam", momentum=0.9)),
                 r"momentum is a setting of optimizer='sgd'")
_mlp_constructor("batch_size zero, negative or not an int", _kw("batch_size", [0, -4, 2.5, "32", True]),
                 r"batch_size must be 'auto' \(min\(200, N\)\), None \(full batch\) or an int >= 1",
                 group="step count zero, negative or not an int")
_mlp_constructor("hidden_sizes wrong (with sizes, not ints, zero or negative)",
                 st.sampled_from([dict(hidden_sizes=[4]), dict(sizes=None, hidden_sizes=[4, 0]),
                                  dict(sizes=None, hidden_sizes="64"), dict(sizes=None, hidden_sizes=[4.5]),
                                  dict(sizes=None, hidden_sizes=[4], hidden=["relu", "tanh"])]),
                 r"not both|hidden_sizes must be|every hidden size must be a positive int|give one name for all",
                 group="sizes with a zero or negative size")
_mlp_constructor("epochs zero, negative or not an int", _kw("epochs", [0, -1, 2.5, "10", None]),
                 r"epochs must be an int >= 1", group="step count zero, negative or not an int")
_mlp_constructor("patience zero, negative or not an int", _kw("patience", [0, -1, 1.5]), r"patience must be an int >= 1",
                 group="step count zero, negative or not an int")
_mlp_constructor("seed negative, fractional or not an int", _kw("seed", [-1, 1.5, "0", True]),
                 r"seed must be an int >= 0 or None")
_mlp_constructor("dtype not float32/float64", _kw("dtype", [np.int64, np.float16, "nonsense", complex]),
                 r"dtype must be np.float32 or np.float64")
_mlp_constructor("validation_fraction outside (0, 1)", _kw("validation_fraction", [0.0, 1.0, -0.1, np.nan, "0.1"]),
                 r"validation_fraction must be a float in \(0, 1\)")
_mlp_constructor("flag not a bool", st.sampled_from(["shuffle", "early_stopping", "verbose"]).flatmap(
    lambda name: _kw(name, ["yes", 1, None])), r"must be True or False")
_mlp_constructor("unknown init name", _kw("init", ["glorot", "", None]), r"unknown init .*valid names: he, xavier")
_mlp_constructor("l2 negative or non-finite", _kw("l2", [-0.1, np.nan, np.inf]), r"l2 must be a finite non-negative float")


def _mlp_model(draw, fitted=True, classifier=False):
    """A small fitted MLP (classifier of 3 labels, binary, or regressor) and data it accepts."""
    from manual import MLP

    kind = draw(st.sampled_from(["multiclass", "binary"] + ([] if classifier else ["regressor"])))
    n = draw(st.integers(3, 10))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.standard_normal((n, 3))
    if kind == "multiclass":
        model, y = MLP([3, 4, 3], epochs=2, seed=1), np.array(["a", "b", "c"] * n)[:n]
    elif kind == "binary":
        model, y = MLP([3, 4, 1], epochs=2, optimizer="adam", seed=2), np.arange(n) % 2
    else:
        model, y = MLP([3, 4, 2], loss="mse", epochs=2, optimizer="rmsprop", seed=3), rng.standard_normal((n, 2))
    if fitted:
        model.fit(X, y)
    return model, X, y


def _mlp_method(method, what, corrupt, fitted=True, group=None, classifier=False):
    def build(draw):
        model, X, y = _mlp_model(draw, fitted, classifier=classifier or method == "predict_proba")
        args, expect = corrupt(draw, model, X, y)
        fn = getattr(model, method)
        return (lambda: fn(*args)), expect, [model, args, GlobalRandom()], None

    register(f"MLP.{method}", what, build, group=group)


def _mlp_x(kind, with_y):
    fn = CORRUPTIONS[kind][0]

    def corrupt(draw, model, X, y):
        _, _, X2, _, expect = fn(draw, model.spec, model.params, X, y)
        return ((X2, y) if with_y else (X2,)), expect

    return corrupt


for _what in _SEED_X + ["X overflowing float32 params"]:
    if _what == "X overflowing float32 params":
        continue  # the model's dtype is fixed at construction; float32 models are covered in test_float32
    for _method, _with_y in (("fit", True), ("partial_fit", True), ("predict", False), ("score", True)):
        _mlp_method(_method, _what, _mlp_x(_what, _with_y))
    _mlp_method("predict_proba", _what, _mlp_x(_what, False))


def _mlp_y_count(draw, model, X, y):
    m = draw(st.integers(0, len(X) + 2).filter(lambda m: m != len(X)))
    return (X, np.resize(y, (m,) + np.shape(y)[1:])), rf"y must have one label per row of X \(N = {len(X)}\)"


def _mlp_y_nonfinite(draw, model, X, y):
    y = np.asarray(y, dtype=np.float64) if np.asarray(y).dtype.kind in "iuf" else np.zeros(len(X))
    y[_pick(draw, y)] = draw(NONFINITE)
    return (X, y), r"(y contains NaN or infinite|contains NaN or infinite labels)"


def _mlp_y_object(draw, model, X, y):
    bad = draw(st.sampled_from(["none", "object", "complex"]))
    bad = {"none": None, "object": np.array([object()] * len(X)), "complex": np.ones(len(X)) * 1j}[bad]
    return (X, bad), r"must hold (real )?numbers"


def _mlp_unseen(draw, model, X, y):
    if not model.is_classifier:
        return (X, y, np.array([0, 1])), r"classes is for classifiers"
    y = np.array(y, dtype=object if np.asarray(y).dtype.kind == "U" else None).copy()
    y[_pick(draw, y)] = "zzz" if np.asarray(model.classes_).dtype.kind == "U" else 7
    return (X, np.asarray(y, dtype=np.asarray(model.classes_).dtype)), r"y holds labels not in classes_"


for _method in ("fit", "partial_fit", "score"):
    _mlp_method(_method, "y of the wrong count", _mlp_y_count)
    _mlp_method(_method, "y holding NaN or ±inf", _mlp_y_nonfinite)
    _mlp_method(_method, "y None, object or complex", _mlp_y_object, group="y None or complex")
_mlp_method("partial_fit", "y labels unseen (not in classes_)", _mlp_unseen)
_mlp_method("score", "y labels unseen (not in classes_)", _mlp_unseen, classifier=True)
_mlp_method("predict", "model not fitted", lambda d, m, X, y: ((X,), r"no parameters yet: call fit or partial_fit"),
            fitted=False)
_mlp_method("next_batches", "n not an int >= 1", lambda d, m, X, y: (
    (d(st.sampled_from([0, -3, 2.5, "4", None, True])),), r"n must be the number of rows, an int >= 1"))


_mlp_method("fit", "y with fewer classes than the head", lambda d, m, X, y: (
    (X, np.zeros(len(X), dtype=int)), r"has 1 distinct label\(s\) .* needs exactly") if m.is_classifier else
    ((X, np.zeros((len(X), 3))), r"mse targets must have shape"))


def _bad_file(draw, tmp):
    """A file at tmp/model.npz that is not a loadable model, and the message expected."""
    import zipfile

    from manual import MLP

    path = os.path.join(tmp, "model.npz")
    how = draw(st.sampled_from(["pickled", "truncated", "garbage", "version", "format", "npy", "empty", "missing entry"]))
    if how == "pickled":
        with open(path, "wb") as f:
            np.savez(f, format=np.array("dualgrad.MLP"), meta=np.array([{"evil": 1}], dtype=object))
        return path, r"not a readable dualgrad MLP file|pickled"
    if how in ("garbage", "empty"):
        with open(path, "wb") as f:
            f.write(b"" if how == "empty" else bytes(draw(st.binary(min_size=1, max_size=64))))
        return path, r"not a (readable|valid) dualgrad MLP file|not a dualgrad MLP file"
    model = MLP([3, 4, 2], epochs=1, seed=0).fit(np.eye(3)[[0, 1, 2, 0]], [0, 1, 0, 1])
    model.save(path)
    if how == "truncated":
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(draw(st.integers(1, size - 1)))
        return path, r"not a (readable|valid) dualgrad MLP file"
    if how == "npy":
        np.save(path, np.ones(3))
        os.replace(path + ".npy", path) if os.path.exists(path + ".npy") else None
        return path, r"not a dualgrad MLP file: a single .npy array"
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if how == "version":
        arrays["version"] = np.array(99)
        expect = r"format version 99, this dualgrad reads version 1 only"
    elif how == "format":
        arrays["format"] = np.array("something.else")
        expect = r"format tag 'something.else', expected 'dualgrad.MLP'"
    else:
        name = draw(st.sampled_from(sorted(k for k in arrays if k.startswith("params."))))
        del arrays[name]
        expect = rf"missing array '{name}'"
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    assert zipfile.is_zipfile(path)
    return path, expect


def _load_kind(draw):
    import shutil
    import tempfile

    from manual import MLP

    tmp = tempfile.mkdtemp(prefix="dualgrad-bad-")
    path, expect = _bad_file(draw, tmp)
    return (lambda: MLP.load(path)), expect, [_Path(tmp)], lambda: shutil.rmtree(tmp, ignore_errors=True)


register("MLP.load", "file truncated, corrupted, pickled, foreign or of another version", _load_kind)


def _save_refused(draw):
    import shutil
    import tempfile

    from manual import MLP
    from manual import optimizers as O

    tmp = tempfile.mkdtemp(prefix="dualgrad-bad-")
    path = os.path.join(tmp, "model.npz")
    with open(path, "wb") as f:
        f.write(b"the previous file")
    if draw(st.booleans()):
        model = MLP([3, 4, 2], optimizer=O.sgd(0.1), epochs=1).fit(np.eye(3), [0, 1, 0])
        expect = r"cannot save an MLP built with an Optimizer object"
    else:
        model = MLP([3, 4, 2])
        expect = r"no parameters yet: call fit or partial_fit"
    return (lambda: model.save(path)), expect, [_Path(tmp), model], lambda: shutil.rmtree(tmp, ignore_errors=True)


register("MLP.save", "model that cannot be saved (unfitted, custom optimizer)", _save_refused)


# ---------------------------------------------------------------- the command line


class CliRejected(ValueError):
    """`dualgrad.cli.main` exited 2 with one line `dualgrad: error: ...` on stderr and nothing on stdout."""


def cli_call(argv):
    """Run `dualgrad.cli.main(argv)`; raise CliRejected(the error line) if it rejected the input as
    the contract says, else return (status, stdout, stderr) so the test shows what happened."""
    from dualgrad.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    lines = err.getvalue().splitlines()
    if status == 2 and not out.getvalue() and len(lines) == 1 and lines[0].startswith("dualgrad: error: "):
        raise CliRejected(lines[0])
    return status, out.getvalue(), err.getvalue()


def _cli_kind(what, argv, expect, group=None, out_dir=False):
    """argv: a strategy of argument lists. With out_dir, '--out DIR' is added, DIR inside a fresh
    temporary directory that must stay empty."""

    def build(draw):
        args = list(draw(argv))
        if not out_dir:
            return (lambda: cli_call(args)), expect, [args]
        import shutil
        import tempfile

        tmp = tempfile.mkdtemp(prefix="dualgrad-cli-")
        args += ["--out", os.path.join(tmp, "plots")]
        return (lambda: cli_call(args)), expect, [_Path(tmp)], lambda: shutil.rmtree(tmp, ignore_errors=True)

    register("dualgrad CLI", what, build, group=group)


def _with(base, flag, values):
    return st.sampled_from(values).map(lambda v: base + [flag] + (v if isinstance(v, list) else [str(v)]))


_VERIFY = st.sampled_from([["verify"], ["verify", "--sizes", "3", "4", "2"], ["explain", "--sizes", "3", "4", "2"]])
_TRAIN = ["train", "xor", "--epochs", "1"]
_cli_kind("no command or an unknown command", st.sampled_from([[], ["verfy"], ["fit"], ["--sizes", "3", "2"]]),
          r"choose a command|invalid choice|unrecognized arguments")
_cli_kind("unknown option", st.sampled_from([["verify", "--sizez", "3"], ["explain", "--sizes", "3", "2", "--bogus"],
                                             _TRAIN + ["--epochz", "3"]]), r"unrecognized arguments")
_cli_kind("sizes with a zero or negative size", _VERIFY.flatmap(lambda b: _with(b[:1], "--sizes", [["3", "0", "2"], ["-3", "2"]])),
          r"every size must be a positive int")
_cli_kind("sizes not ints", _VERIFY.flatmap(lambda b: _with(b[:1], "--sizes", [["3", "x"], ["3.5", "2"], ["3", "2e1"]])),
          r"--sizes: invalid int value")
_cli_kind("sizes with fewer than two entries", st.sampled_from([["verify", "--sizes", "3"], ["explain", "--sizes", "3"]]),
          r"sizes needs at least two entries")
_cli_kind("sizes missing", st.sampled_from([["explain"], ["explain", "--sizes"]]),
          r"explain needs exactly one of --sizes S S \.\.\. \(an MLP\) or --stack|--sizes: expected at least one argument")
_cli_kind("unknown activation name", _VERIFY.flatmap(lambda b: _with(b, "--hidden", ["Relu", "softmax", ""])),
          r"unknown activation .*valid names")
_cli_kind("hidden list of the wrong length", st.just(["verify", "--sizes", "3", "4", "4", "2", "--hidden", "relu", "tanh", "elu"]),
          r"give one name for all, or exactly 2 names")
_cli_kind("unknown loss name", _VERIFY.flatmap(lambda b: _with(b, "--loss", ["ce", "MSE", "hinge"])),
          r"unknown loss .*valid names")
_cli_kind("loss not fitting the output width",
          st.sampled_from([["verify", "--sizes", "3", "2", "--loss", "binary_cross_entropy"],
                           ["explain", "--sizes", "3", "1", "--loss", "cross_entropy"]]),
          r"needs (exactly 1 output unit|at least 2 output units)")
_cli_kind("batch zero or negative", _VERIFY.flatmap(lambda b: _with(b, "--batch", [0, -5])),
          r"--batch must be a positive int", group="step count zero, negative or not an int")
_cli_kind("count not an int", _VERIFY.flatmap(lambda b: _with(b, "--batch", ["x", "2.5"])),
          r"--batch: invalid int value", group="step count zero, negative or not an int")
_cli_kind("examples zero or with --sizes",
          st.sampled_from([["verify", "--examples", "0"], ["verify", "--examples", "-1"],
                           ["verify", "--sizes", "3", "2", "--examples", "3"]]),
          r"--examples must be a positive int|--examples is for the sweep")
_cli_kind("l2 negative or non-finite", _VERIFY.flatmap(lambda b: _with(b, "--l2", ["-0.1", "nan", "inf"])),
          r"--l2 must be a finite non-negative number")
_cli_kind("l2 not a number", _VERIFY.flatmap(lambda b: _with(b, "--l2", ["x", "1e"])), r"--l2: invalid float value")
_cli_kind("seed negative", _VERIFY.flatmap(lambda b: _with(b, "--seed", [-1])), r"--seed must be a non-negative int")
_cli_kind("format unknown", st.just(["explain", "--sizes", "3", "2", "--format", "pdf"]), r"--format: invalid choice")
_cli_kind("unknown data set or missing CSV", st.sampled_from([["train", "xorr"], ["train", "/nonexistent/data.csv"],
                                                             ["train", "moons.csv"]]),
          r"DATASET|data set|no such file|not found|No such file", out_dir=True)
_cli_kind("train counts zero or negative", st.sampled_from(["--epochs", "--batch-size"]).flatmap(
    lambda f: _with(_TRAIN, f, [0, -3])), r"must be a positive int", group="step count zero, negative or not an int",
    out_dir=True)
_cli_kind("train hidden sizes zero or negative", _with(_TRAIN, "--hidden-sizes", [["0"], ["4", "-1"]]),
          r"--hidden-sizes must be a positive int", group="sizes with a zero or negative size", out_dir=True)
_cli_kind("learning_rate not a finite number > 0", _with(_TRAIN, "--lr", ["0", "-0.1", "nan", "inf"]),
          r"--lr must be a finite number > 0", out_dir=True)
_cli_kind("momentum outside [0, 1)", _with(_TRAIN + ["--optimizer", "sgd"], "--momentum", ["1", "-0.5", "nan"]),
          r"--momentum must be in \[0, 1\)", out_dir=True)
_cli_kind("momentum with a non-sgd optimizer", _with(_TRAIN + ["--optimizer", "adam"], "--momentum", ["0.9"]),
          r"--momentum is for --optimizer sgd", out_dir=True)
_cli_kind("unknown optimizer name or type", _with(_TRAIN, "--optimizer", ["Adam", "lbfgs"]), r"--optimizer: invalid choice",
          out_dir=True)
_cli_kind("train loss unknown or unfit", _with(_TRAIN, "--loss", ["hinge", "ce"]), r"--loss: invalid choice",
          group="unknown loss name", out_dir=True)
_cli_kind("train unknown activation", _with(_TRAIN, "--hidden", ["Relu", "softmax"]), r"unknown activation",
          group="unknown activation name", out_dir=True)

_cli_kind("train test fraction outside [0, 1)", _with(_TRAIN, "--test-fraction", ["1", "-0.1", "nan"]),
          r"--test-fraction must be in \[0, 1\)", out_dir=True)
_cli_kind("train schedule unknown or malformed",
          _with(_TRAIN, "--schedule", ["cosine", "exponential_decay:0.5", "step_decay:x=1", "exponential_decay:-1:10"]),
          r"--schedule", out_dir=True)
_cli_kind("train dtype unknown", _with(_TRAIN, "--dtype", ["float16", "int64"]), r"--dtype: invalid choice", out_dir=True)
_cli_kind("train task or loss contradicting", st.sampled_from([_TRAIN + ["--task", "regression"],
                                                             _TRAIN + ["--task", "classification", "--loss", "mse"]]),
          r"regression|--loss mse is for --task regression", out_dir=True)
_cli_kind("train CSV options on a built-in data set",
          st.sampled_from([["--delimiter", ";"], ["--header"], ["--label-column", "0"], ["--drop-columns", "a"],
                           ["--drop-missing"]]).map(lambda extra: _TRAIN + extra), r"are for CSV files", out_dir=True)
_cli_kind("train save path in a missing directory", st.just(_TRAIN + ["--save", "/nonexistent/dir/m.npz"]),
          r"--save .*existing directory", out_dir=True)


def _csv_cli_kind(draw):
    """A CSV file with one thing wrong for `train` (or a model file for `predict`); nothing may be written."""
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="dualgrad-cli-csv-")
    data = os.path.join(tmp, "data.csv")
    good = "a,b,species\n" + "".join(f"{i % 5}.5,{i % 3}.25,{'xy'[i % 2]}\n" for i in range(24))
    text, extra, expect = draw(st.sampled_from([
        (good.replace(",", ";"), [], r"--delimiter ';'"),
        (good, ["--label-column", "nope"], r"--label-column 'nope' is not a column name"),
        (good, ["--label-column", "7"], r"out of range"),
        (good, ["--drop-columns", "species"], r"is the label column"),
        (good, ["--delimiter", "ab"], r"--delimiter must be one character"),
        (good.replace("1.25,", "NA,", 1), [], r"missing value 'NA'.*--drop-missing"),
        (good, ["--task", "regression"], r"needs numbers in the label column"),
        ("a,b,y\n" + "".join(f"{i}.5,{i % 3}.5,{i % 2}.0\n" for i in range(24)), [], r"--task classification or --task regression"),
    ]))
    with open(data, "w") as f:
        f.write(text)
    args = ["train", data, "--epochs", "1", "--out", os.path.join(tmp, "plots"), "--save", os.path.join(tmp, "m.npz")] + extra
    return (lambda: cli_call(args)), expect, [_Path(tmp)], lambda: shutil.rmtree(tmp, ignore_errors=True)


register("dualgrad CLI", "train CSV malformed for its options (delimiter, label, missing, task)", _csv_cli_kind)


def _predict_kind(draw):
    """`dualgrad predict` with a missing, damaged or foreign model file, or data whose columns do not match."""
    import shutil
    import tempfile

    from manual import MLP

    tmp = tempfile.mkdtemp(prefix="dualgrad-predict-")
    model, data = os.path.join(tmp, "m.npz"), os.path.join(tmp, "data.csv")
    train = os.path.join(tmp, "train.csv")
    with open(train, "w") as f:
        f.write("a,b,y\n" + "".join(f"{i % 5}.5,{i % 3}.25,{i % 2}\n" for i in range(24)))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from dualgrad.cli import main

        assert main(["train", train, "--epochs", "1", "--hidden-sizes", "3", "--no-plots", "--save", model]) == 0
    with open(data, "w") as f:
        f.write("a,b\n1.5,2.5\n")
    case = draw(st.sampled_from(["missing model", "damaged model", "plain MLP file", "wrong columns", "too few columns",
                                 "proba of a regressor"]))
    args = ["predict", model, data]
    if case == "missing model":
        args[1], expect = os.path.join(tmp, "none.npz"), r"no such file"
    elif case == "damaged model":
        blob = open(model, "rb").read()
        with open(model, "wb") as f:
            f.write(blob[: draw(st.integers(0, len(blob) - 1))])
        expect = r"not a (readable|valid) dualgrad MLP file|not a dualgrad MLP file"
    elif case == "plain MLP file":
        MLP([2, 3, 2], epochs=1).fit(np.eye(2), [0, 1]).save(model)
        expect = r"without the data of `dualgrad train --save`"
    elif case == "wrong columns":
        with open(data, "w") as f:
            f.write("a,c\n1.5,2.5\n")
        expect = r"lacks the model's feature column\(s\) b"
    elif case == "too few columns":
        with open(data, "w") as f:
            f.write("1.5\n2.5\n")
        expect = r"has 1 feature column\(s\), the model takes 2"
    else:
        with open(train, "w") as f:
            f.write("a,b,y\n" + "".join(f"{i % 5}.5,{i % 3}.25,{i * 1.37:.2f}\n" for i in range(24)))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            from dualgrad.cli import main

            assert main(["train", train, "--epochs", "1", "--hidden-sizes", "3", "--no-plots", "--save", model]) == 0
        args.append("--proba")
        expect = r"--proba is for classifiers"
    out = os.path.join(tmp, "pred.csv")
    args += ["--out", out]
    return (lambda: cli_call(args)), expect, [_Path(tmp)], lambda: shutil.rmtree(tmp, ignore_errors=True)


register("dualgrad CLI", "predict with a missing, damaged or foreign model, or unmatched columns", _predict_kind)


# ---------------------------------------------------------------- data sets


def _dataset_kind(what, make, expect, group=None):
    def build(draw):
        from manual import datasets

        fn, kwargs = draw(make)
        f = getattr(datasets, fn)
        return (lambda: f(**kwargs)), expect, [kwargs, GlobalRandom()]

    register("manual.datasets", what, build, group=group)


_dataset_kind("sizes zero, negative or not an int", st.sampled_from([
    ("moons", dict(n_samples=0)), ("moons", dict(n_samples=-5)), ("circles", dict(n_samples=2.5)),
    ("blobs", dict(n_per_class=0)), ("spirals", dict(n_classes=0)), ("spirals", dict(n_samples="300"))]).map(tuple),
    r"must be an int >= \d|must be at least", group="step count zero, negative or not an int")
_dataset_kind("noise negative or not finite", st.sampled_from([
    ("moons", dict(noise=-0.1)), ("circles", dict(noise=np.nan)), ("spirals", dict(noise=np.inf))]).map(tuple),
    r"noise must be a finite float >= 0")
_dataset_kind("circles factor outside (0, 1)", st.sampled_from([("circles", dict(factor=v)) for v in (0.0, 1.0, -1, 2.0)]),
              r"factor must be a float in \(0, 1\)")
_dataset_kind("seed negative, fractional or not an int", st.sampled_from([
    ("moons", dict(seed=-1)), ("blobs", dict(seed=1.5)), ("circles", dict(seed="0"))]).map(tuple),
    r"seed must be an int >= 0 or None")


def _csv_kind(draw):
    import shutil
    import tempfile

    from manual.datasets import load_csv

    tmp = tempfile.mkdtemp(prefix="dualgrad-csv-")
    path = os.path.join(tmp, "data.csv")
    text, expect = draw(st.sampled_from([
        ("", r"empty file"),
        ("a,b,label\n", r"no data rows"),
        ("1,2,0\n3,0\n", r"line 2: 2 fields, expected 3 .*ragged"),
        ("1,2,0\n3,x,1\n", r"line 2, column 2: feature 'x' is not a number"),
        ("1,2,0\n2,nan,1\n", r"line 2, column 2: feature 'nan' is not finite"),
        ("1,2,\n", r"line 1: empty label"),
        ("5\n6\n", r"expected at least 2 columns"),
    ]))
    with open(path, "w") as f:
        f.write(text)
    return (lambda: load_csv(path)), expect, [_Path(tmp)], lambda: shutil.rmtree(tmp, ignore_errors=True)


register("manual.datasets.load_csv", "CSV empty, ragged, non-numeric, non-finite or unlabeled", _csv_kind)


# ---------------------------------------------------------------- convolution and pooling layers (issue 13)


def _conv_args(draw):
    """A valid small conv setting: x (N, C, H, W), W (F, C, k, k), b (F,)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    N, C, F, k = (draw(st.integers(1, 3)) for _ in range(4))
    H, W = (draw(st.integers(k, 6)) for _ in range(2))
    return rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, k, k)), rng.standard_normal(F)


def _conv_entry(side):
    if side == "manual":
        from manual.layers import conv2d_forward as f
    else:
        import reference  # noqa: F401  (float64)
        from reference.layers import conv2d as f
    return f


def _conv_kind(what, corrupt, expect):
    """corrupt(draw, x, W, b) -> (args, kwargs) with exactly one thing wrong."""
    for side, entry in (("manual", "manual.layers.conv2d_forward"), ("reference", "reference.layers.conv2d")):
        def build(draw, side=side):
            x, W, b = _conv_args(draw)
            args, kwargs = corrupt(draw, x, W, b)
            f = _conv_entry(side)
            return (lambda: f(*args, **kwargs)), expect, [x, W, b, list(args), dict(kwargs)]

        register(entry, what, build)


def _kernel_too_large(draw, x, W, b):
    H = x.shape[2]
    p = draw(st.integers(0, 2))
    k = H + 2 * p + draw(st.integers(1, 3))  # one row more than the padded input at least
    return (x, np.zeros((W.shape[0], x.shape[1], k, 1)), b), dict(padding=p)


_conv_kind("kernel larger than the padded input", _kernel_too_large,
           r"kernel height \d+ is larger than the padded input height")
_conv_kind("stride zero, negative or not an int",
           lambda draw, x, W, b: ((x, W, b), dict(stride=draw(st.sampled_from([0, -1, (1, 0), 1.5, "2", (1, 2, 3)])))),
           r"stride must be an int >= 1 or an \(h, w\) pair")
_conv_kind("padding negative or not an int",
           lambda draw, x, W, b: ((x, W, b), dict(padding=draw(st.sampled_from([-1, (0, -2), 0.5, None])))),
           r"padding must be an int >= 0 or an \(h, w\) pair")
_conv_kind("channels of x and W differ",
           lambda draw, x, W, b: ((np.concatenate([x, x[:, :1]], axis=1), W, b), {}),
           r"x must have C = \d+ channels")
_conv_kind("x not 4-D", lambda draw, x, W, b: ((draw(st.sampled_from([x[0], x[..., None], x[0, 0]])), W, b), {}),
           r"x must be 4-D shape \(N, C, H, W\)")
_conv_kind("W not 4-D or b of the wrong length",
           lambda draw, x, W, b: draw(st.sampled_from([((x, W[0], b), {}), ((x, W, np.append(b, 0.0)), {})])),
           r"W must be 4-D shape \(F, C, HH, WW\)|b must have shape \(\d+,\)")


def _pool_kind(what, corrupt, expect):
    for side in ("manual", "reference"):
        for name in ("maxpool2d", "avgpool2d"):
            entry = f"manual.layers.{name}_forward" if side == "manual" else f"reference.layers.{name}"

            def build(draw, side=side, name=name):
                x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(
                    (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(2, 5)), draw(st.integers(2, 5))))
                args = corrupt(draw, x)
                if side == "manual":
                    from manual import layers as ML
                    f = getattr(ML, f"{name}_forward")
                else:
                    import reference  # noqa: F401
                    from reference import layers as RL
                    f = getattr(RL, name)
                return (lambda: f(*args)), expect, [x, list(args)]

            register(entry, what, build)


_pool_kind("pool size larger than the input", lambda draw, x: (x, max(x.shape[2:]) + draw(st.integers(1, 2)), 1),
           r"pool size (height|width) \d+ is larger than the padded input")
_pool_kind("stride zero, negative or not an int",
           lambda draw, x: (x, 1, draw(st.sampled_from([0, -2, (1, 0), 1.0]))), r"stride must be an int >= 1")
_pool_kind("x not 4-D", lambda draw, x: (draw(st.sampled_from([x[0], x[..., None]])), 1, 1),
           r"x must be 4-D shape \(N, C, H, W\)")


def _flatten_rank(draw):
    from manual.layers import flatten_forward

    x = np.zeros(draw(st.sampled_from([(3,), (), (1, 1, 1, 1, 1, 1)])))
    return (lambda: flatten_forward(x)), r"x must be shape \(N, \.\.\.\) of rank 2 to 5", [x]


register("manual.layers.flatten_forward", "x not 4-D", _flatten_rank)


def _conv_dout(draw):
    from manual.layers import conv2d_forward, conv2d_backward

    x, W, b = _conv_args(draw)
    out, cache = conv2d_forward(x, W, b)
    dout = np.zeros(out.shape[:-1] + (out.shape[-1] + 1,))
    return (lambda: conv2d_backward(dout, cache)), r"dout must have shape \(\d+, \d+, \d+, \d+\)", [dout, x, W, b]


register("manual.layers.conv2d_backward", "dout of the wrong shape", _conv_dout)


# ---------------------------------------------------------------- the layers (issue 12)


def _layer_batch(draw):
    """A small valid (x (N, D), gamma (D,), beta (D,))."""
    n, d = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return rng.standard_normal((n, d)), rng.standard_normal(d), rng.standard_normal(d)


def _layer_kind(entry, what, make, expect, group=None):
    """`make(draw, x, gamma, beta)` returns (call, arrays to keep unchanged)."""

    def build(draw):
        call, state = make(draw, *_layer_batch(draw))
        return call, expect, state

    register(entry, what, build, group=group)


def _ML():
    import manual.layers as ML

    return ML


def _RL():
    import reference.layers as RL

    return RL


_BAD_EPS = [0.0, -1e-5, np.nan, np.inf, "1e-5", None]
_BAD_P = [1.0, 1.5, -0.1, np.nan, "0.5", None]
_BAD_SEED = [-1, 1.5, "3", None, True]

for _entry, _fn in (("manual.layers.batchnorm_forward", lambda: _ML().batchnorm_forward),
                    ("manual.layers.layernorm_forward", lambda: _ML().layernorm_forward),
                    ("reference.layers.batchnorm", lambda: _RL().batchnorm),
                    ("reference.layers.layernorm", lambda: _RL().layernorm)):
    _layer_kind(_entry, "eps not a finite number > 0",
                lambda draw, x, g, b, fn=_fn: ((lambda e=draw(st.sampled_from(_BAD_EPS)): fn()(x, g, b, eps=e)), [x, g, b]),
                r"eps must be a finite float > 0", "eps not a finite number > 0")
    _layer_kind(_entry, "gamma of the wrong shape",
                lambda draw, x, g, b, fn=_fn: ((lambda: fn()(x, np.append(g, 1.0), b)), [x, g, b]),
                r"gamma must have shape \(\d+,\)")
    _layer_kind(_entry, "x containing NaN or inf",
                lambda draw, x, g, b, fn=_fn: ((lambda xb=_layer_with(x, draw(NONFINITE)): fn()(xb, g, b)), [x, g, b]),
                r"x contains NaN or infinite values; expected finite", "NaN or inf in X")
_layer_kind("manual.layers.batchnorm_forward", "x not 2-D",
            lambda draw, x, g, b: ((lambda: _ML().batchnorm_forward(x[0], g, b)), [x, g, b]), r"x must be 2-D shape \(N, D\)")
_layer_kind("manual.layers.batchnorm_eval_forward", "running_var negative",
            lambda draw, x, g, b: ((lambda: _ML().batchnorm_eval_forward(x, g, b, np.zeros_like(g), -np.ones_like(g))),
                                   [x, g, b]), r"running_var must be >= 0")
_layer_kind("manual.layers.dense_forward", "x of the wrong width",
            lambda draw, x, g, b: ((lambda: _ML().dense_forward(x, np.ones((x.shape[1] + 1, 2)), np.ones(2))), [x]),
            r"x must have shape \(N, \d+\) to match W")
_layer_kind("manual.layers.dense_forward", "b of the wrong shape",
            lambda draw, x, g, b: ((lambda: _ML().dense_forward(x, np.ones((x.shape[1], 2)), np.ones(3))), [x]),
            r"b must have shape \(2,\)")

for _entry, _fn in (("manual.layers.dropout_forward", lambda: _ML().dropout_forward),
                    ("reference.layers.dropout", lambda: _RL().dropout)):
    _layer_kind(_entry, "p outside [0, 1)",
                lambda draw, x, g, b, fn=_fn: ((lambda p=draw(st.sampled_from(_BAD_P)): fn()(x, p, 0)), [x]),
                r"p must be a float in \[0, 1\)")
    _layer_kind(_entry, "seed negative or not an int",
                lambda draw, x, g, b, fn=_fn: ((lambda s=draw(st.sampled_from(_BAD_SEED)): fn()(x, 0.5, s)), [x]),
                r"seed must be an int >= 0")


def _layer_with(x, value):
    bad = x.copy()
    bad.flat[0] = value
    return bad


def _ids_kind(entry, fn, what, make_ids, expect):
    def build(draw):
        v, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        E = np.random.default_rng(draw(st.integers(0, 99))).standard_normal((v, d))
        ids = make_ids(draw, v)
        return (lambda: fn()(ids, E)), expect, [ids, E]

    register(entry, what, build)


for _entry, _fn in (("manual.layers.embedding_forward", lambda: _ML().embedding_forward),
                    ("reference.layers.embedding", lambda: _RL().embedding)):
    _ids_kind(_entry, _fn, "negative ids", lambda draw, v: np.array([0, -draw(st.integers(1, 3))]),
              r"ids must be in 0 \.\. \d+ \(E has V = \d+ rows\)")
    _ids_kind(_entry, _fn, "ids >= V", lambda draw, v: np.array([v + draw(st.integers(0, 3))]),
              r"ids must be in 0 \.\. \d+ \(E has V = \d+ rows\)")
    _ids_kind(_entry, _fn, "non-integer ids", lambda draw, v: np.array(draw(st.sampled_from([[0.0], [0.5], [True]]))),
              r"ids must be an integer array of shape \(N,\) or \(N, T\)")
    _ids_kind(_entry, _fn, "ids of rank 0 or 3", lambda draw, v: np.zeros(draw(st.sampled_from([(), (1, 1, 1)])), int),
              r"ids must have shape \(N,\) or \(N, T\)")


def _loss_kind(name, what, make, expect):
    def build(draw):
        n, k = draw(st.integers(1, 4)), draw(st.integers(2, 4))
        logits = np.random.default_rng(draw(st.integers(0, 99))).standard_normal((n, k))
        y = make(draw, n, k)
        return (lambda: getattr(_ML(), name)(logits, y)), expect, [logits, y]

    register(f"manual.layers.{name}", what, build)


for _name in ("cross_entropy_loss", "hinge_loss"):
    _loss_kind(_name, "class id out of range", lambda draw, n, k: np.full(n, draw(st.sampled_from([-1, k, k + 2]))),
               r"y must hold class ids in 0 \.\. \d+")
    _loss_kind(_name, "y of the wrong shape", lambda draw, n, k: np.zeros(n + 1, int), r"y must have shape \(\d+,\)")
    _loss_kind(_name, "non-integer labels", lambda draw, n, k: np.zeros(n) + 0.5, r"y must be an integer array")


def _backward_dout(draw):
    x, g, b = _layer_batch(draw)
    name = draw(st.sampled_from(["batchnorm", "layernorm", "dense"]))
    ML = _ML()
    out, cache = (ML.dense_forward(x, np.ones((x.shape[1], 2)), np.ones(2)) if name == "dense"
                  else getattr(ML, f"{name}_forward")(x, g, b))
    dout = np.zeros((out.shape[0] + 1, out.shape[1]))
    return (lambda: getattr(ML, f"{name}_backward")(dout, cache)), r"dout must have shape \(\d+, \d+\) \(that of the forward output\)", [dout, x, g, b]


register("manual.layers.<layer>_backward", "dout of the wrong shape", _backward_dout)


def _stack_spec(draw):
    from manual.stack_spec import StackSpec

    layers = draw(st.sampled_from([(("dense", 0),), (("relu",), ("embedding", 2)), (("dropout", 1.0),),
                                   (("conv",),), (("dense", 2.5),)]))
    return (lambda: StackSpec(3, layers)), r"layer \d+: ", [list(layers)]


register("manual.stack_spec.StackSpec", "bad layer", _stack_spec)


def _check_layer_args(draw):
    from dualgrad.engine.layer_check import check_layer

    kwargs = draw(st.sampled_from([dict(shapes=None), dict(shapes=("N",), examples=0), dict(shapes=("N", 0)),
                                   dict(shapes=("N",), seed=-1), dict(shapes=("N",), dims={"N": (3, 1)})]))
    return (lambda: check_layer(lambda x: (x, None), lambda d, c: (d,), lambda x: x, **kwargs)), r"must|is required", [kwargs]


register("dualgrad.check_layer", "bad description or count", _check_layer_args)


# ---- checking a user's own backprop (check_implementation, check_gradients(impl=...), register_loss)


def _article_fn(params, X, y):
    """A correct user function for a 1-hidden-layer relu/bce network, b as (1, fan_out) rows."""
    (W1, b1), (W2, b2) = params
    z1 = X @ W1 + b1
    a1 = np.maximum(z1, 0)
    p = 1 / (1 + np.exp(-(a1 @ W2 + b2)))
    n = X.shape[0]
    loss = -np.mean(y * np.log(p[:, 0]) + (1 - y) * np.log(1 - p[:, 0]))
    d2 = (p - y.reshape(-1, 1)) / n
    d1 = (d2 @ W2.T) * (z1 > 0)
    return loss, [(X.T @ d1, d1.sum(0, keepdims=True)), (a1.T @ d2, d2.sum(0, keepdims=True))]


def _impl_case(draw):
    spec = NetworkSpec([3, 4, 1], "relu", "binary_cross_entropy")
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    params = [(rng.standard_normal((3, 4)), rng.standard_normal((1, 4))), (rng.standard_normal((4, 1)), rng.standard_normal((1, 1)))]
    X = rng.standard_normal((5, 3))
    y = (rng.random(5) < 0.5).astype(float)
    return spec, params, X, y


def _impl_returns(what, wrap, expect):
    def build(draw):
        from dualgrad import check_gradients

        spec, params, X, y = _impl_case(draw)

        def fn(p, X_, y_):
            return wrap(*_article_fn(p, X_, y_))

        return (lambda: check_gradients(spec, params, X, y, impl=fn, bias="row")), expect, [params, X, y]

    register("dualgrad.check_gradients(impl=)", what, build)


_impl_returns("returns a non-tuple", lambda loss, g: loss, r"must return \(loss, grads\)")
_impl_returns("returns grads of the wrong count", lambda loss, g: (loss, g[:1]), r"one \(dW, db\) pair per layer")
_impl_returns("returns grads of the wrong shape", lambda loss, g: (loss, [(dW.T, db) for dW, db in g]),
              r"has shape \(\d+, \d+\), expected \(\d+, \d+\)")
_impl_returns("returns NaN grads", lambda loss, g: (loss, [(dW * np.nan, db) for dW, db in g]), r"expected finite gradients")
_impl_returns("returns a non-numeric loss", lambda loss, g: ("0.5", g), r"loss must be a real number")
_impl_returns("returns a NaN loss", lambda loss, g: (np.nan, g), r"expected a finite number")


def _impl_raises(draw):
    from dualgrad import check_gradients

    spec, params, X, y = _impl_case(draw)

    def fn(p, X_, y_):
        raise KeyError("W3")

    return (lambda: check_gradients(spec, params, X, y, impl=fn, bias="row")), r"raised KeyError", [params, X, y]


register("dualgrad.check_gradients(impl=)", "the function raises", _impl_raises)


def _impl_params_layout(draw):
    from dualgrad import check_gradients

    spec, params, X, y = _impl_case(draw)
    bias = draw(st.sampled_from(["vector", "column"]))  # params hold (1, fan_out) rows
    return (lambda: check_gradients(spec, params, X, y, impl=_article_fn, bias=bias)), r"b must have shape", [params, X, y]


register("dualgrad.check_gradients(impl=)", "params not in the named bias layout", _impl_params_layout)


def _impl_args(draw):
    from dualgrad import check_gradients
    from dualgrad import check_implementation

    spec, params, X, y = _impl_case(draw)
    call, expect = draw(st.sampled_from([
        (lambda: check_implementation(_article_fn, hidden="relu", loss="binary_cross_entropy", layout="pytorch"),
         r"layout must be one of"),
        (lambda: check_implementation(_article_fn, hidden="relu", loss="binary_cross_entropy", reduce="sum"),
         r"unknown convention"),
        (lambda: check_implementation(_article_fn, loss="binary_cross_entropy"), r"pass hidden"),
        (lambda: check_implementation(_article_fn, hidden="relu", loss="binary_cross_entropy", examples=0),
         r"examples must be a positive int"),
        (lambda: check_implementation(_article_fn, hidden="relu", loss="binary_cross_entropy", scale=(0, 1)),
         r"scale must be"),
        (lambda: check_implementation(_article_fn, hidden="relu", loss="binary_cross_entropy", mse="halved"),
         r"mse must be one of"),
        (lambda: check_implementation(lambda p: 0, hidden="relu", loss="binary_cross_entropy"), r"three arguments"),
        (lambda: check_implementation(None, hidden="relu", loss="binary_cross_entropy"), r"needs a function"),
        (lambda: check_gradients(spec, params, X, y, bias="row"), r"pass it as impl=fn"),
    ]))
    return call, expect, [params, X, y]


register("dualgrad.check_implementation", "bad argument or convention", _impl_args)


def _register_loss_args(draw):
    from dualgrad.engine.registry import register_loss

    def value(s, Y):
        return 0.0, s * 0

    args, expect = draw(st.sampled_from([
        (("mse", value, value), r"built-in loss"),
        (("two words", value, value), r"identifier"),
        (("mine", None, value), r"callable value_and_dlogits"),
        (("mine", value, "jnp.mean"), r"callable jax_fn"),
    ]))
    from manual import spec as _spec

    return (lambda: register_loss(*args)), expect, [_spec.LOSS_NAMES]


register("dualgrad.register_loss", "bad name or function", _register_loss_args)



# ---- a user's own layer: register_layer, check_layer(name), StackSpec and explain with it


def _layer_fns():
    def forward(x, gamma):
        return x * gamma, (x, gamma)

    def backward(dout, cache):
        return dout * cache[1], (dout * cache[0]).sum(axis=0)

    return forward, backward, (lambda x, gamma: x * gamma)


def _layer_tables():
    from manual.layers import registered as m
    from reference.layers import registered as r

    return [m.LAYERS, r.LAYERS]


def _register_layer_args(draw):
    from dualgrad.engine.registry import register_layer

    f, b, j = _layer_fns()
    shapes = lambda D: [(D,)]  # noqa: E731
    args, options, expect = draw(st.sampled_from([
        (("dense", f, b, j), {}, r"built-in layer"),
        (("tanh", f, b, j), {}, r"built-in layer or an activation"),
        (("two words", f, b, j), {}, r"identifier"),
        (("mine", None, b, j), {}, r"callable forward"),
        (("mine", f, b, "x * gamma"), {}, r"callable jax_fn"),
        (("mine", f, b, j), {"param_shapes": [(3,)]}, r"param_shapes\(D, \*\*hyper\) must be callable"),
        (("mine", f, b, j), {"param_shapes": lambda D: (D,)}, r"must return a list of shape tuples"),
        (("mine", f, b, j), {"param_shapes": shapes, "out_width": lambda D: 0}, r"out_width\(1\) must return an int >= 1"),
        (("mine", f, b, j), {"param_shapes": shapes, "param_names": ("a", "b")}, r"gives 1 shapes but param_names"),
        (("mine", f, b, j), {"hyper": "M"}, r"hyper must be a tuple"),
    ]))
    return (lambda: register_layer(*args, **options)), expect, _layer_tables()


register("dualgrad.register_layer", "bad name, function or declaration", _register_layer_args)


def _check_layer_name(draw):
    from dualgrad.engine.layer_check import check_layer

    f, b, j = _layer_fns()
    args, kwargs, expect = draw(st.sampled_from([
        (("no_such_layer",), {}, r"not a registered layer"),
        (("mine", b), {}, r"give no backward"),
        (("mine",), {"dims": {"D": [0]}}, r"dims\['D'\] must be"),
        (("mine",), {"dims": {"T": 2}}, r"dims may give 'N' and 'D' only"),
        (("mine",), {"hyper": {"M": 2}}, r"hyper must give a value"),
        (("mine",), {"examples": 0}, r"examples must be an int >= 1"),
    ]))

    def call():
        from dualgrad.engine.registry import registered_layer

        with registered_layer("mine", f, b, j, param_shapes=lambda D: [(D,)]):
            return check_layer(*args, **kwargs)

    return call, expect, _layer_tables()


register("dualgrad.check_layer", "a registered layer's name, wrongly used", _check_layer_name)


def _stack_spec_user_layer(draw):
    from manual.stack_spec import StackSpec

    f, b, j = _layer_fns()
    layers, expect = draw(st.sampled_from([
        ((("mine", 2), ("dense", 2)), r"layer 1: the registered layer \('mine'\) takes 0 finite number"),
        ((("dense", 2), ("mine", "2")), r"layer 2: the registered layer"),
        ((("wide", float("nan")),), r"takes 1 finite number"),
        ((("wide", 0),), r"out_width\(3\) must return an int >= 1"),
    ]))

    def call():
        from dualgrad.engine.registry import registered_layer

        with registered_layer("mine", f, b, j, param_shapes=lambda D: [(D,)]), \
                registered_layer("wide", f, b, j, hyper=("M",), out_width=lambda D, M: M,
                                 param_shapes=lambda D, M: [(D,)]):
            return StackSpec(3, layers)

    return call, expect, [list(layers)] + _layer_tables()


register("manual.stack_spec.StackSpec", "a registered layer with wrong arguments", _stack_spec_user_layer)

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository
_LAYER_FILE = os.path.join(_ROOT, "docs", "examples",
                           "rmsnorm_layer.py")
_cli_kind("explain --stack with a registered layer wrongly written",
          st.sampled_from([["explain", "--stack", "dense:4 rmsnorm:2 dense:2", "--input", "3", "--import", _LAYER_FILE],
                           ["explain", "--stack", "rmsnorm:x dense:2", "--input", "3", "--import", _LAYER_FILE],
                           ["explain", "--stack", "dense:4 no_such_layer dense:2", "--input", "3"],
                           ["explain", "--stack", "rmsnorm dense:2", "--input", "1", "8", "8", "--import", _LAYER_FILE]]),
          r"takes 0 finite number|must be numbers|unknown layer 'no_such_layer'|needs rows \(N, D\)")

_IMPL_FILE = os.path.join(_ROOT, "docs", "examples", "my_net.py")
_IMPL = ["verify", "--hidden", "relu", "--loss", "binary_cross_entropy", "--bias", "row", "--examples", "2"]
_cli_kind("--impl target that does not load",
          st.sampled_from([_IMPL + ["--impl", "no_such_file.py:fn"], _IMPL + ["--impl", "no_such_module_xyz:fn"],
                           _IMPL + ["--impl", f"{_IMPL_FILE}:no_such_function"], _IMPL + ["--impl", _IMPL_FILE],
                           _IMPL + ["--impl", f"{_IMPL_FILE}:np"]]),
          r"--impl .*(does not import|has no|expected FILE\.py:FUNCTION|not a function)")
_cli_kind("--impl conventions without --impl or out of range",
          st.sampled_from([["verify", "--layout", "out_in"], ["verify", "--kink", "either"],
                           _IMPL + ["--impl", f"{_IMPL_FILE}:loss_and_grads", "--layout", "torch"],
                           _IMPL + ["--impl", f"{_IMPL_FILE}:loss_and_grads", "--scale", "1", "0"],
                           _IMPL + ["--impl", f"{_IMPL_FILE}:loss_and_grads", "--max-width", "0"],
                           _IMPL + ["--impl", f"{_IMPL_FILE}:loss_and_grads", "--fd"]]),
          r"use with --impl|invalid choice|scale must be|--max-width must be a positive int|--fd is for")
