"""Optimizers as pure functions over the params layout, rule for rule optax's.

An optimizer is a triple of functions (as in jax.example_libraries.optimizers
and optax)::

    opt = adam(1e-3)
    state = opt.init(params)                          # count 0, every moment 0
    params, state = opt.update(grads, state, params)  # pure: new arrays, inputs untouched
    state = opt.update_inplace(grads, state, params)  # fast: writes into params and state

Contract and invariants:

* `params`, `grads` and every per-parameter field of a state share one layout:
  a list with one (W, b) pair per layer, W (fan_in, fan_out), b (fan_out,);
  a grad or state leaf has the shape and dtype (float32 or float64) of its
  parameter.
* `state.count` is the number of updates taken so far (a Python int). The
  learning rate of an update is η_k = learning_rate(count), read *before*
  count is incremented (η at step 0 on the first update), exactly where optax's
  `scale_by_learning_rate` reads it; adam's bias correction uses k = count + 1.
* `update` never modifies its arguments and shares no array with them.
  `update_inplace` writes the new values into the arrays of `params` and of
  `state` and returns the state with count + 1 (holding those same arrays);
  it never modifies `grads`.
* Every check runs before anything is written: a bad call raises a ValueError
  or TypeError that names the argument (or the layer and leaf) and what was
  expected, and leaves every array as it was. NaN or ±inf in params or grads
  is refused (one read of each leaf, `validation.all_finite`).
* Each rule is written once, as an in-place step on one leaf; `update` copies
  params and state, then runs that same step. The step writes its temporaries
  into scratch arrays kept by the optimizer (one set per leaf shape), so
  `update_inplace` allocates nothing once it has seen a shape.

Rules are optax's (`optax.sgd`, `optax.adam`, `optax.rmsprop`, default extra
arguments) down to the order of operations, so the two agree to rounding (see
tests/test_optimizers.py). Schedules are computed in float64; the rate is cast
to the parameter's dtype before it multiplies, as optax does. Notation: g a gradient leaf, w its parameter, η_k the
learning rate of this update.

NumPy only: this module never imports jax.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, NamedTuple, Optional

import numpy as np

from . import arguments
from .arguments import FLOAT_DTYPES
from .validation import all_finite


class Optimizer(NamedTuple):
    init: Callable  # params -> state
    update: Callable  # (grads, state, params) -> (new_params, new_state); pure
    update_inplace: Callable  # (grads, state, params) -> new_state; writes into params' and state's arrays


class SgdState(NamedTuple):
    count: int  # updates taken so far
    trace: Optional[list]  # [(t_W (fan_in, fan_out), t_b (fan_out,)), ...], None when momentum == 0


class AdamState(NamedTuple):
    count: int  # updates taken so far: k − 1 during the k-th update
    mu: list  # [(m_W (fan_in, fan_out), m_b (fan_out,)), ...]  EMA of g
    nu: list  # [(v_W (fan_in, fan_out), v_b (fan_out,)), ...]  EMA of g²


class RmspropState(NamedTuple):
    count: int  # updates taken so far
    nu: list  # [(v_W (fan_in, fan_out), v_b (fan_out,)), ...]  EMA of g²


# ---------------------------------------------------------------- schedules
# A schedule is any callable step -> rate (step = 0, 1, 2, ...), plain Python math.
# Those made here carry `.config`, a JSON-able dict {"name": ..., arguments} that
# `schedule_from_config` turns back into the same schedule (MLP.save stores it).


def constant(rate) -> Callable[[int], float]:
    """η_k = rate   (= optax.constant_schedule(rate))."""
    rate = arguments.positive(rate, "rate")
    schedule = lambda step: rate  # noqa: E731
    schedule.config = {"name": "constant", "rate": rate}
    return schedule


def exponential_decay(init_value, decay_rate, transition_steps, staircase=False) -> Callable[[int], float]:
    """η_k = η₀ · r^(k / T), the exponent floored when staircase
    (= optax.exponential_decay(init_value, transition_steps, decay_rate, staircase=staircase)).

    NOTE: optax takes transition_steps before decay_rate. And optax's step count
    is an int32, and k / T of an int32 is float32 in jnp even under x64, so optax
    alone computes this rate in float32; we compute it in float64 (the two agree
    to ~1e-7 relative; reference.optimizers hands optax a float64 step).
    """
    init_value = arguments.positive(init_value, "init_value")
    decay_rate = arguments.positive(decay_rate, "decay_rate")
    transition_steps = arguments.integer(transition_steps, "transition_steps", 1)
    staircase = arguments.flag(staircase, "staircase")

    def schedule(step):
        p = step / transition_steps
        return init_value * decay_rate ** (math.floor(p) if staircase else p)

    schedule.config = {"name": "exponential_decay", "init_value": init_value, "decay_rate": decay_rate,
                       "transition_steps": transition_steps, "staircase": staircase}
    return schedule


def step_decay(init_value, boundaries_and_scales) -> Callable[[int], float]:
    """η_k = η₀ · Π_{b ≤ k} s_b for {b: s_b} in boundaries_and_scales
    (= optax.piecewise_constant_schedule(init_value, boundaries_and_scales))."""
    init_value = arguments.positive(init_value, "init_value")
    if not isinstance(boundaries_and_scales, dict):
        raise TypeError(f"boundaries_and_scales must be a dict {{step: scale}}, got {type(boundaries_and_scales).__name__}")
    items = sorted(
        (arguments.integer(boundary, "each boundary (key) of boundaries_and_scales", 0),
         arguments.non_negative(scale, f"the scale at boundary {boundary!r}"))
        for boundary, scale in boundaries_and_scales.items()
    )

    def schedule(step):
        rate = init_value
        for boundary, scale in items:
            if step >= boundary:
                rate = scale * rate
        return rate

    # NOTE: JSON object keys are strings: the boundaries are kept as [step, scale] pairs
    schedule.config = {"name": "step_decay", "init_value": init_value,
                       "boundaries_and_scales": [[b, s] for b, s in items]}
    return schedule


SCHEDULES = {"constant": constant, "exponential_decay": exponential_decay, "step_decay": step_decay}


def schedule_from_config(config) -> Callable[[int], float]:
    """The schedule a `.config` dict describes (every argument checked again), or a ValueError."""
    if not isinstance(config, dict) or config.get("name") not in SCHEDULES:
        raise ValueError(f"a schedule config is a dict with 'name' one of {', '.join(SCHEDULES)}, got {config!r}")
    kwargs = {k: v for k, v in config.items() if k != "name"}
    if config["name"] == "step_decay":
        pairs = kwargs.get("boundaries_and_scales")
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ValueError(f"step_decay's boundaries_and_scales must be [[step, scale], ...], got {pairs!r}")
        kwargs["boundaries_and_scales"] = {b: s for b, s in pairs}
    try:
        return SCHEDULES[config["name"]](**kwargs)
    except TypeError as err:
        raise ValueError(f"schedule config {config!r}: {err}") from None


# ---------------------------------------------------------------- optimizers


def sgd(learning_rate, momentum=0.0, nesterov=False) -> Optimizer:
    """Stochastic gradient descent with optional (Nesterov) momentum (= optax.sgd).

        t ← g + μ t;   w ← w − η_k t            (nesterov: w ← w − η_k (g + μ t), with the new t)

    With μ = 0 no trace is kept: w ← w − η_k g.

    NOTE: the seed's classical momentum, v ← μ v − η g; w ← w + v, is the same
    rule written with v = −η t, but only while η is constant. Under a schedule
    the two differ: optax (and we) scale the whole accumulated trace by the
    current rate, w ← w − η_k t, while the classical form keeps each past step
    at the rate it was taken with. We follow optax.
    """
    _learning_rate(learning_rate)
    momentum = arguments.unit_interval(momentum, "momentum")
    nesterov = arguments.flag(nesterov, "nesterov")

    def init(params):
        params = _check_params(params, finite=True)
        return SgdState(count=0, trace=_zeros_like(params) if momentum else None)

    def step(rate, g, w, t=None, *, work):
        u = work[0]  # scratch of w's shape: the step η t before it is subtracted
        if t is None:
            np.multiply(g, rate, out=u)
            w -= u  # w ← w − η g
            return
        t *= momentum
        t += g  # t ← g + μ t
        if nesterov:
            np.multiply(t, momentum, out=u)
            u += g  # g + μ t
            u *= rate
        else:
            np.multiply(t, rate, out=u)  # η t
        w -= u  # w ← w − η (g + μ t)  or  w − η t

    return _optimizer(learning_rate, SgdState, init, step, fields=("trace",) if momentum else ())


def adam(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8) -> Optimizer:
    """Adam (= optax.adam; eps outside the square root, eps_root = 0).

        m ← (1−β₁) g + β₁ m;   v ← (1−β₂) g² + β₂ v;   w ← w − η_k · (m / (1−β₁ᵏ)) / (√(v / (1−β₂ᵏ)) + ε)

    k = count + 1 counts this update, so the bias corrections 1 − βᵏ are never 0;
    the learning rate is still read at count (η₀ on the first update).
    """
    _learning_rate(learning_rate)
    b1 = arguments.unit_interval(b1, "b1")
    b2 = arguments.unit_interval(b2, "b2")
    eps = arguments.positive(eps, "eps")

    def init(params):
        params = _check_params(params, finite=True)
        return AdamState(count=0, mu=_zeros_like(params), nu=_zeros_like(params))

    def step(rate, g, w, m, v, k, *, work):
        u, m_hat = work  # scratch of w's shape
        m *= b1
        np.multiply(g, 1 - b1, out=u)
        m += u  # m ← (1−β₁) g + β₁ m
        v *= b2
        np.square(g, out=u)
        u *= 1 - b2
        v += u  # v ← (1−β₂) g² + β₂ v
        np.divide(v, 1 - b2**k, out=u)  # v̂
        np.sqrt(u, out=u)
        u += eps  # √v̂ + ε
        np.divide(m, 1 - b1**k, out=m_hat)  # m̂
        np.divide(m_hat, u, out=u)  # m̂ / (√v̂ + ε)
        u *= rate
        w -= u  # w ← w − η m̂ / (√v̂ + ε)

    return _optimizer(learning_rate, AdamState, init, step, with_k=True, n_work=2)


def rmsprop(learning_rate, decay=0.9, eps=1e-8) -> Optimizer:
    """RMSprop (= optax.rmsprop: not centered, no momentum, nu starts at 0).

        v ← (1−ρ) g² + ρ v;   w ← w − η_k g / √(v + ε)

    NOTE: ε sits *inside* the square root (optax's eps_in_sqrt=True), unlike
    PyTorch, which uses √v + ε. There is no bias correction.
    NOTE: optax multiplies g by XLA's rsqrt(v + ε), which rounds differently
    from g / √(v + ε); the two agree to a few ulps, not bit for bit.
    """
    _learning_rate(learning_rate)
    decay = arguments.unit_interval(decay, "decay")
    eps = arguments.positive(eps, "eps")

    def init(params):
        params = _check_params(params, finite=True)
        return RmspropState(count=0, nu=_zeros_like(params))

    def step(rate, g, w, v, *, work):
        u = work[0]  # scratch of w's shape
        v *= decay
        np.square(g, out=u)
        u *= 1 - decay
        v += u  # v ← (1−ρ) g² + ρ v
        np.add(v, eps, out=u)
        np.sqrt(u, out=u)
        np.divide(g, u, out=u)  # g / √(v + ε)
        u *= rate
        w -= u  # w ← w − η g / √(v + ε)

    return _optimizer(learning_rate, RmspropState, init, step)


def _optimizer(learning_rate, state_type, init, step, fields=None, with_k=False, n_work=1) -> Optimizer:
    """The Optimizer around one in-place leaf step `step(rate, g, w, *state_leaves[, k], work=...)`,
    the state leaves taken from `fields` (default: every field after count), `work` a list of
    `n_work` scratch arrays of w's shape and dtype that the step may overwrite."""
    schedule = learning_rate if callable(learning_rate) else constant(learning_rate)
    fields = state_type._fields[1:] if fields is None else fields  # per-parameter fields, params layout
    scratch = _Scratch(n_work)

    def apply(grads, state, params, rate):
        # the only place a rule runs; everything has been checked
        trees = [getattr(state, f) for f in fields]
        extra = (state.count + 1,) if with_k else ()
        for g, w, *s in zip(_leaves(grads), _leaves(params), *map(_leaves, trees)):
            step(w.dtype.type(rate), g, w, *s, *extra, work=scratch.like(w))
        return state._replace(count=state.count + 1)

    def check(grads, state, params, inplace):
        """η for this update, after checking every argument: nothing is written before this returns."""
        params = _check_params(params, writeable=inplace, finite=True)
        _check_like(grads, params, "grads", "d", finite=True)
        if not isinstance(state, state_type):
            raise TypeError(f"state must be a {state_type.__name__} made by this optimizer's init, got {type(state).__name__}")
        if isinstance(state.count, bool) or not isinstance(state.count, numbers.Integral) or state.count < 0:
            raise ValueError(f"state.count must be a non-negative int, got {state.count!r}")
        for f in fields:
            _check_like(getattr(state, f), params, f"state.{f}", "", writeable=inplace)
        return _rate_at(schedule, state.count)  # read once per update, at count

    def update_inplace(grads, state, params):
        rate = check(grads, state, params, inplace=True)
        return apply(grads, state, params, rate)

    def update(grads, state, params):
        rate = check(grads, state, params, inplace=False)
        state = state._replace(**{f: _copy(getattr(state, f)) for f in fields})
        params = _copy(params)
        return params, apply(grads, state, params, rate)

    return Optimizer(init, update, update_inplace)


# ---------------------------------------------------------------- helpers


class _Scratch:
    """Scratch arrays for the leaf steps, made once per (shape, dtype) and reused, so that a
    steady stream of updates allocates nothing. Their contents never leave a step.

    NOTE: one optimizer object therefore must not run two updates at the same time (threads);
    give each thread its own optimizer. Leaves of one shape share their scratch (updates run
    leaf after leaf). At most `limit` shapes are kept: a new shape past that starts afresh.
    """

    def __init__(self, n_work, limit=64):
        self.n_work, self.limit, self.arrays = n_work, limit, {}

    def like(self, w):
        key = (w.shape, w.dtype)
        work = self.arrays.get(key)
        if work is None:
            if len(self.arrays) >= self.limit:
                self.arrays.clear()
            work = self.arrays[key] = [np.empty(w.shape, w.dtype) for _ in range(self.n_work)]
        return work


def _leaves(tree):
    """W₁, b₁, W₂, b₂, ... of a params-layout tree."""
    for W, b in tree:
        yield W
        yield b


def _zeros_like(params):
    return [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]


def _copy(tree):
    return None if tree is None else [(W.copy(), b.copy()) for W, b in tree]


def _rate_at(schedule, count):
    rate = schedule(count)
    if isinstance(rate, bool) or not isinstance(rate, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"learning_rate({count}) must return a float, got {type(rate).__name__}")
    if not (math.isfinite(rate) and rate >= 0):
        raise ValueError(f"learning_rate({count}) must return a finite rate >= 0, got {rate!r}")
    return float(rate)


def _check_params(params, writeable=False, finite=False):
    """params as a list of (W, b) float ndarrays, W 2-D, b of shape (W.shape[1],), one dtype
    (and, with finite=True, no NaN or ±inf)."""
    if not isinstance(params, (list, tuple)):
        raise TypeError(f"params must be a list of (W, b) pairs, got {type(params).__name__}")
    for l, layer in enumerate(params, start=1):
        if not isinstance(layer, (list, tuple)) or len(layer) != 2:
            raise TypeError(f"layer {l} of params must be a (W, b) pair, got {type(layer).__name__}")
        for name, arr in zip("Wb", layer):
            if not isinstance(arr, np.ndarray):
                raise TypeError(f"layer {l}, {name} must be a NumPy array, got {type(arr).__name__}")
            if arr.dtype not in FLOAT_DTYPES:
                raise TypeError(f"layer {l}, {name} must be float32 or float64, got {arr.dtype}")
            if writeable and not arr.flags.writeable:
                raise ValueError(f"layer {l}, {name} is read-only; update_inplace writes into params (use update)")
        W, b = layer
        if W.ndim != 2 or b.shape != W.shape[1:]:
            raise ValueError(f"layer {l}: W must be (fan_in, fan_out) and b (fan_out,), got W {W.shape} and b {b.shape}")
    if finite and not all_finite(*_leaves(params)):  # one check of every leaf; which one, only on failure
        l, name = _first_non_finite(params)
        raise ValueError(f"layer {l}, {name} contains NaN or infinite values; expected finite parameters")
    return params


def _check_like(tree, params, name, prefix, writeable=False, finite=False):
    """`tree` has the layout of `params`: as many layers, each leaf of its parameter's shape and dtype
    (and, with finite=True, no NaN or ±inf: a NaN gradient would silently poison params and state)."""
    if not isinstance(tree, (list, tuple)):
        raise TypeError(f"{name} must be a list of (W, b) pairs like params, got {type(tree).__name__}")
    if len(tree) != len(params):
        raise ValueError(f"{name} has {len(tree)} layer(s) but params has {len(params)}")
    for l, (layer, pair) in enumerate(zip(tree, params), start=1):
        if not isinstance(layer, (list, tuple)) or len(layer) != 2:
            raise TypeError(f"layer {l} of {name} must be a (W, b) pair, got {type(layer).__name__}")
        for leaf, arr, like in zip("Wb", layer, pair):
            where = f"{name}, layer {l}, {prefix}{leaf}"
            if not isinstance(arr, np.ndarray):
                raise TypeError(f"{where} must be a NumPy array, got {type(arr).__name__}")
            if arr.shape != like.shape:
                raise ValueError(f"{where} must have shape {like.shape} (that of layer {l}'s {leaf}), got {arr.shape}")
            if arr.dtype != like.dtype:
                raise TypeError(f"{where} must have dtype {like.dtype} (that of layer {l}'s {leaf}), got {arr.dtype}")
            if writeable and not arr.flags.writeable:
                raise ValueError(f"{where} is read-only; update_inplace writes into the state (use update)")
    if finite and not all_finite(*_leaves(tree)):
        l, leaf = _first_non_finite(tree)
        raise ValueError(f"{name}, layer {l}, {prefix}{leaf} contains NaN or infinite values; expected finite gradients")


def _first_non_finite(tree):
    """(layer number from 1, "W" or "b") of the first leaf of `tree` with NaN or ±inf."""
    return next((l, name) for l, layer in enumerate(tree, start=1)
                for name, arr in zip("Wb", layer) if not all_finite(arr))


def _learning_rate(value):
    if callable(value):
        return value
    return arguments.real(value, "learning_rate", "a finite float > 0 or a schedule (a callable step -> rate)",
                          lambda v: 0 < v < math.inf)
