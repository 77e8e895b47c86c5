"""Mistakes of the fast path, the optimizers and the estimator (issue 16), each hunted and shrunk.

The network catalog (dualgrad/bugs.py) mutates the plain derivation and hunts with the
network-gradient property. The code that keeps state or works in place needs other properties,
each comparing two ways of computing the same thing:

    fast step   TrainStep (in-place forms, buffers reused per batch size and dtype, one optimizer
                object's scratch) == the plain path (loss_and_grads + update of a fresh optimizer),
                over a drawn program of batches of changing size and dtype;
    optimizer   manual.optimizers (update and update_inplace) == optax, step by step, on gradients
                of scales 1e-6 .. 10 (one fixed parameter shape: JAX compiles once);
    estimator   MLP through fit / partial_fit / batch-size changes == the training manual/mlp.py's
                docstring describes (one generator: init seed, split, one permutation per
                shuffled epoch), written with the plain path.

    python -m dualgrad.state_bugs      # this table alone
    python -m dualgrad.bugs            # the network catalog, the layers', then this one

Mutations are installed with dualgrad.bugs.injected (the same Patch), hunted with a
derandomized hypothesis search, and shrunk.
"""

from __future__ import annotations

import copy
from typing import Callable, NamedTuple, Tuple

import numpy as np
from hypothesis import strategies as st

import manual
from manual import inplace_activations as IA
from manual import inplace_losses as IL
from manual import optimizers as mo
from manual.initializers import init_params
from manual.mlp import MLP
from manual.train_step import TrainStep
from manual.validation import encode_targets

from . import patching
from .patching import Patch, Result, failure_of, family_main, hunt_with, injected, summary
from ..engine.check import random_labels
from ..engine.compare import assert_trees_close
from ..engine.strategies import specs

RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-4}  # tests/test_train_step.py's
OPTIMIZERS = {
    "sgd": lambda m: m.sgd(0.05),
    "momentum": lambda m: m.sgd(0.05, momentum=0.9),
    "nesterov": lambda m: m.sgd(0.05, momentum=0.9, nesterov=True),
    "adam": lambda m: m.adam(1e-2),
    "rmsprop": lambda m: m.rmsprop(1e-3),
}
DTYPES = st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])


# ---- the three properties ------------------------------------------------------------------------


def cast_tree(tree, dtype):
    return None if tree is None else [(W.astype(dtype), b.astype(dtype)) for W, b in tree]


def cast_state(state, dtype):
    return type(state)(*[cast_tree(v, dtype) if isinstance(v, list) else v for v in state])


def _same(fast, plain, dtype, what):
    (fp, fs), (pp, ps) = fast, plain
    rtol = RTOL[np.dtype(dtype)]
    assert fs.count == ps.count, f"{what}: count {fs.count} vs {ps.count}"
    assert_trees_close(fp, pp, f"{what}: params", rtol, ("fast", "plain"), check_dtype=True)
    for f, p in zip(fs[1:], ps[1:]):
        if f is not None:
            assert_trees_close(f, p, f"{what}: optimizer state", rtol, ("fast", "plain"), check_dtype=True)


@st.composite
def fast_cases(draw, activations=None, losses=None):
    """(spec, optimizer kind, seed, [(N, dtype), ...]): one network, a program of batches."""
    spec = draw(specs(max_layers=3, max_width=5, activations=activations, losses=losses))
    kind = draw(st.sampled_from(sorted(OPTIMIZERS)))
    program = draw(st.lists(st.tuples(st.sampled_from([1, 2, 3, 5]), DTYPES), min_size=1, max_size=5))
    return spec, kind, draw(st.integers(0, 2**16)), program


def fast_step_matches_plain(case):
    """One TrainStep and one optimizer object through the program; after every batch, params and
    optimizer state equal the plain path's (a fresh optimizer object per update, so no scratch
    carries over; continued from the fast values at a change of dtype)."""
    spec, kind, seed, program = case
    rng = np.random.default_rng(seed)
    opt = OPTIMIZERS[kind](mo)
    step = TrainStep(spec, opt, max_shapes=2)
    dtype = program[0][1]
    params = init_params(spec, seed=seed, dtype=dtype)
    fast = (copy.deepcopy(params), opt.init(params))
    plain = (copy.deepcopy(params), opt.init(params))
    for k, (n, new_dtype) in enumerate(program, start=1):
        if new_dtype != dtype:
            dtype = new_dtype
            fast = (cast_tree(fast[0], dtype), cast_state(fast[1], dtype))
            plain = (cast_tree(fast[0], dtype), cast_state(fast[1], dtype))
        X = rng.normal(size=(n, spec.sizes[0])).astype(dtype)
        y = random_labels(spec, n, rng)
        value, grads = manual.loss_and_grads(spec, plain[0], X, y)
        plain = OPTIMIZERS[kind](mo).update(grads, plain[1], plain[0])  # a fresh object: no scratch history
        fast_value, state = step(fast[0], fast[1], X, encode_targets(spec, y, n, dtype=dtype))
        fast = (fast[0], state)
        rtol = RTOL[dtype]
        assert abs(fast_value - value) <= rtol * abs(value) + rtol * 1e-6, f"batch {k}: loss {fast_value} vs {value}"
        _same(fast, plain, dtype, f"batch {k} (N={n}, {dtype.name})")


@st.composite
def optimizer_cases(draw, kinds=None):
    """(kind, seed, [gradient scale per step]): params of one fixed shape (JAX compiles once)."""
    kind = draw(st.sampled_from(kinds or sorted(OPTIMIZERS)))
    scales = draw(st.lists(st.sampled_from([1e-6, 1e-4, 1e-2, 1.0, 10.0]), min_size=1, max_size=4))
    return kind, draw(st.integers(0, 2**16)), scales


def optimizer_matches_optax(case):
    """update and update_inplace (through one optimizer object) == optax, after every step."""
    import reference.optimizers as ro

    kind, seed, scales = case
    rng = np.random.default_rng(seed)
    params = [(rng.normal(size=(3, 2)), rng.normal(size=2))]
    m, r = OPTIMIZERS[kind](mo), OPTIMIZERS[kind](ro)
    pure, inplace, ref = (params, m.init(params)), (copy.deepcopy(params), m.init(params)), (params, r.init(params))
    for k, scale in enumerate(scales, start=1):
        grads = [(rng.normal(size=(3, 2)) * scale, rng.normal(size=2) * scale)]
        pure = m.update(grads, pure[1], pure[0])
        inplace = (inplace[0], m.update_inplace(grads, inplace[1], inplace[0]))
        ref = r.update(grads, ref[1], ref[0])
        assert_trees_close(pure[0], ref[0], f"step {k} (|g| ~ {scale:g}), update", 1e-6, ("manual", "optax"))
        assert_trees_close(inplace[0], ref[0], f"step {k} (|g| ~ {scale:g}), update_inplace", 1e-6, ("manual", "optax"))


class Replica:
    """manual/mlp.py's docstring, with the plain path: what fit and partial_fit must compute."""

    def __init__(self, model, optimizer):
        self.model, self.opt, self.params = model, optimizer, None

    def start(self):
        m = self.model
        self.rng = np.random.default_rng(m.seed)
        self.params = init_params(m.spec, seed=int(self.rng.integers(2**63)), init=m.init, dtype=m.dtype)
        self.state, self.history = self.opt.init(self.params), []

    def epoch(self, X, y):
        m, n = self.model, X.shape[0]
        X = X.astype(m.dtype)
        size = n if m.batch_size is None else min(m.batch_size, n)
        order = self.rng.permutation(n) if m.shuffle and size < n else np.arange(n)
        total = 0.0
        for i in range(0, n, size):
            rows = order[i:i + size]
            value, grads = manual.loss_and_grads(m.spec, self.params, X[rows], y[rows])
            self.params, self.state = self.opt.update(grads, self.state, self.params)
            total += value * rows.size
        self.history.append(total / n)


CALLS = st.one_of(st.tuples(st.just("fit"), st.sampled_from([3, 7, 16]), st.integers(1, 3)),
                  st.tuples(st.just("partial_fit"), st.sampled_from([3, 7, 16]), st.just(1)),
                  st.tuples(st.just("batch_size"), st.sampled_from([1, 2, 3, 8]), st.just(0)))


@st.composite
def estimator_cases(draw):
    """(settings of the MLP, [calls]): the calls start with a fit or a partial_fit."""
    setup = dict(loss=draw(st.sampled_from(["cross_entropy", "binary_cross_entropy", "mse"])),
                 hidden=draw(st.lists(st.integers(1, 4), max_size=2)), kind=draw(st.sampled_from(["momentum", "adam"])),
                 batch_size=draw(st.sampled_from([None, 2, 3])), shuffle=draw(st.booleans()),
                 init=draw(st.sampled_from(["he", "xavier"])), seed=draw(st.integers(0, 2**16)), dtype=draw(DTYPES))
    first = draw(CALLS.filter(lambda c: c[0] != "batch_size"))
    return setup, [first] + draw(st.lists(CALLS, max_size=4))


def estimator_matches_replica(case):
    setup, calls = case
    n_out = {"cross_entropy": 3, "binary_cross_entropy": 1, "mse": 2}[setup["loss"]]
    kind = setup["kind"]
    model = MLP([3, *setup["hidden"], n_out], loss=setup["loss"], optimizer="sgd" if kind == "momentum" else kind,
                learning_rate=0.05 if kind == "momentum" else 0.01, momentum=0.9 if kind == "momentum" else 0.0,
                batch_size=setup["batch_size"], shuffle=setup["shuffle"], seed=setup["seed"], dtype=setup["dtype"],
                init=setup["init"])
    replica = Replica(model, OPTIMIZERS[kind](mo))
    classes = None if setup["loss"] == "mse" else np.arange(max(n_out, 2))
    rng = np.random.default_rng(setup["seed"])
    for k, (call, n, epochs) in enumerate(calls, start=1):
        if call == "batch_size":
            model.batch_size = n
            continue
        X = rng.normal(size=(n, 3))
        y = rng.normal(size=(n, n_out)) if classes is None else rng.permutation(np.arange(n) % classes.size)
        if call == "fit":
            model.epochs = epochs
            model.fit(X, y)
            replica.start()
        else:
            model.partial_fit(X, y, classes=classes)
            if replica.params is None:
                replica.start()
        for _ in range(epochs):
            replica.epoch(X, y)
        what = f"after call {k} ({call}, N={n})"
        rtol = RTOL[np.dtype(model.dtype)]
        assert model.t_ == replica.state.count, f"{what}: {model.t_} updates, documented {replica.state.count}"
        assert len(model.loss_history) == len(replica.history), f"{what}: loss_history length"
        for e, (a, b) in enumerate(zip(model.loss_history, replica.history), start=1):
            assert abs(a - b) <= rtol * abs(b) + rtol * 1e-6, f"{what}: loss_history[{e}] {a} vs documented {b}"
        _same((model.params, model._state), (replica.params, replica.state), model.dtype, what)


# ---- the wrong code, one function per mistake ----------------------------------------------------


def _inplace(name, **fields):
    return Patch(IA.INPLACE, name, lambda act: act._replace(**fields))


def relu_backward_mask_ge(da, z, a, work):
    """dz = da ⊙ [a ≥ 0]   (a = relu(z) is never negative: every unit passes its gradient)"""
    np.greater_equal(a, work.zeros, out=work.mask)
    np.multiply(da, work.mask, out=da)


def tanh_backward_half(da, z, a, work):
    """dz = da ⊙ (1 − a)   (the factor (1 + a) of 1 − a² forgotten)"""
    np.subtract(1.0, a, out=work.t)
    da *= work.t


def sigmoid_backward_a(da, z, a, work):
    """dz = da ⊙ a   (σ' = a(1 − a) without the (1 − a))"""
    da *= a


def ce_inplace_without_1_over_n(original):
    def wrong(s, Y, ds, row):
        """ds = softmax(s) − Y   (the in-place form forgets ds /= N)"""
        value = original(s, Y, ds, row)
        ds *= s.shape[0]
        return value

    return wrong


def mse_inplace_without_2(original):
    def wrong(s, Y, ds, row):
        value = original(s, Y, ds, row)
        ds /= 2.0  # dL/ds = (s − Y) / (N K)
        return value

    return wrong


def grads_for_first_dtype(original):
    def wrong(self, dtype):
        """the gradient arrays made once, for the first dtype, and reused for any other"""
        return original(self, next(iter(self._grads), dtype))

    return wrong


def buffers_not_keyed_by_dtype(original):
    def wrong(self, N, dtype, layout):
        """the buffers of batch size N reused whatever their dtype"""
        for (n, dt, lay), buf in self._buffers.items():
            if n == N and lay == layout:
                return buf
        return original(self, N, dtype, layout)

    return wrong


def scratch_not_keyed_by_dtype(original):
    def wrong(self, w):
        """the optimizer's scratch looked up by shape only: a float32 scratch for float64 leaves"""
        for (shape, _), work in self.arrays.items():
            if shape == w.shape:
                return work
        return original(self, w)

    return wrong


def _leaf_optimizer(state_type, init, step, **options):
    return lambda learning_rate: mo._optimizer(learning_rate, state_type, init, step, **options)


def adam_without_bias_correction(original):
    def factory(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        """w ← w − η m / (√v + ε)   (m and v not divided by 1 − βᵏ)"""

        def init(params):
            return mo.AdamState(0, mo._zeros_like(params), mo._zeros_like(params))

        def step(rate, g, w, m, v, *, work):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            w -= rate * m / (np.sqrt(v) + eps)

        return mo._optimizer(learning_rate, mo.AdamState, init, step)

    return factory


def rmsprop_eps_outside_sqrt(original):
    def factory(learning_rate, decay=0.9, eps=1e-8):
        """w ← w − η g / (√v + ε)   (PyTorch's ε; optax's is inside the root)"""

        def init(params):
            return mo.RmspropState(0, mo._zeros_like(params))

        def step(rate, g, w, v, *, work):
            v *= decay
            v += (1 - decay) * g * g
            w -= rate * g / (np.sqrt(v) + eps)

        return mo._optimizer(learning_rate, mo.RmspropState, init, step)

    return factory


def nesterov_with_the_old_trace(original):
    def factory(learning_rate, momentum=0.0, nesterov=False):
        """nesterov: w ← w − η (g + μ t) with t before its update"""
        if not nesterov:
            return original(learning_rate, momentum, nesterov)

        def init(params):
            return mo.SgdState(0, mo._zeros_like(params))

        def step(rate, g, w, t, *, work):
            look_ahead = g + momentum * t  # t of the previous step
            t *= momentum
            t += g
            w -= rate * look_ahead

        return mo._optimizer(learning_rate, mo.SgdState, init, step, fields=("trace",))

    return factory


def one_order_every_epoch(original):
    def wrong(self, n, rng):
        """the epoch's order drawn from a copy of the generator: the same order every epoch"""
        return original(self, n, copy.deepcopy(rng))

    return wrong


def optimizer_state_reset_every_epoch(original):
    def wrong(self, X, Y):
        """the optimizer state started afresh every epoch (momentum and Adam's moments lost)"""
        self._state = self._opt.init(self._params)
        return original(self, X, Y)

    return wrong


def last_partial_batch_dropped(original):
    def wrong(self, n, rng):
        """the last, smaller batch of an epoch skipped"""
        batches = original(self, n, rng)
        size = n if self.batch_size is None else min(self.batch_size, n)
        return batches if n % size == 0 else batches[:-1]

    return wrong


def init_option_ignored(original):
    def wrong(self, classes):
        """parameters always drawn with init='he'"""
        init, self.init = self.init, "he"
        try:
            return original(self, classes)
        finally:
            self.init = init

    return wrong


# ---- the catalog ---------------------------------------------------------------------------------


class StateMutation(NamedTuple):
    name: str
    mistake: str
    patches: Tuple[Patch, ...]
    check: Callable  # the property that must fail
    cases: Callable  # () -> its hypothesis strategy
    drawn_from: str  # for the table


def _fast(activations=None, losses=None):
    return lambda: fast_cases(activations, losses)


FAST = "fast step == plain"
CATALOG: Tuple[StateMutation, ...] = (
    StateMutation("in-place relu backward with a ≥ 0", "dz = da ⊙ [a ≥ 0]", (_inplace("relu", backward=relu_backward_mask_ge),),
                  fast_step_matches_plain, _fast(("relu",)), f"{FAST}, relu"),
    StateMutation("in-place tanh backward missing 1 + a", "dz = da ⊙ (1 − a)", (_inplace("tanh", backward=tanh_backward_half),),
                  fast_step_matches_plain, _fast(("tanh",)), f"{FAST}, tanh"),
    StateMutation("in-place sigmoid backward missing 1 − a", "dz = da ⊙ a", (_inplace("sigmoid", backward=sigmoid_backward_a),),
                  fast_step_matches_plain, _fast(("sigmoid",)), f"{FAST}, sigmoid"),
    StateMutation("in-place cross-entropy without 1/N", "ds = P − Y", (Patch(IL.INPLACE, "cross_entropy", ce_inplace_without_1_over_n),),
                  fast_step_matches_plain, _fast(losses=("cross_entropy",)), f"{FAST}, cross_entropy"),
    StateMutation("in-place mse without the 2", "ds = (s − Y) / NK", (Patch(IL.INPLACE, "mse", mse_inplace_without_2),),
                  fast_step_matches_plain, _fast(losses=("mse",)), f"{FAST}, mse"),
    StateMutation("TrainStep gradients of the first dtype", "grads[dtype₁] reused for dtype₂",
                  (Patch(TrainStep, "_grads_for", grads_for_first_dtype),), fast_step_matches_plain, _fast(), FAST),
    StateMutation("TrainStep buffers not keyed by dtype", "buffers[(N, layout)]",
                  (Patch(TrainStep, "_buffers_for", buffers_not_keyed_by_dtype),), fast_step_matches_plain, _fast(), FAST),
    StateMutation("optimizer scratch not keyed by dtype", "scratch[shape]",
                  (Patch(mo._Scratch, "like", scratch_not_keyed_by_dtype),), fast_step_matches_plain, _fast(), FAST),
    StateMutation("adam without bias correction", "w ← w − η m / (√v + ε)", (Patch(mo, "adam", adam_without_bias_correction),),
                  optimizer_matches_optax, lambda: optimizer_cases(["adam"]), "optimizer == optax, adam"),
    StateMutation("rmsprop ε outside the root", "w ← w − η g / (√v + ε)", (Patch(mo, "rmsprop", rmsprop_eps_outside_sqrt),),
                  optimizer_matches_optax, lambda: optimizer_cases(["rmsprop"]), "optimizer == optax, rmsprop"),
    StateMutation("nesterov with the old trace", "w ← w − η (g + μ t_old)", (Patch(mo, "sgd", nesterov_with_the_old_trace),),
                  optimizer_matches_optax, lambda: optimizer_cases(["nesterov"]), "optimizer == optax, nesterov"),
    StateMutation("one shuffle order for every epoch", "order = copy(rng).permutation(N)",
                  (Patch(MLP, "_batches", one_order_every_epoch),), estimator_matches_replica, estimator_cases,
                  "MLP == documented training"),
    StateMutation("optimizer state reset every epoch", "state = init(params) per epoch",
                  (Patch(MLP, "_epoch", optimizer_state_reset_every_epoch),), estimator_matches_replica, estimator_cases,
                  "MLP == documented training"),
    StateMutation("last smaller batch dropped", "batches[:-1] when N mod B ≠ 0",
                  (Patch(MLP, "_batches", last_partial_batch_dropped),), estimator_matches_replica, estimator_cases,
                  "MLP == documented training"),
    StateMutation("init option ignored", "init = 'he' always", (Patch(MLP, "_initialize", init_option_ignored),),
                  estimator_matches_replica, estimator_cases, "MLP == documented training"),
)


def describe(case) -> str:
    if isinstance(case[0], manual.NetworkSpec):
        spec, kind, _, program = case
        return f"sizes={list(spec.sizes)} {spec.loss} {kind} batches={[(n, d.name) for n, d in program]}"
    if isinstance(case[0], str):
        return f"{case[0]} gradient scales {case[2]}"
    setup, calls = case
    return f"{setup['loss']} {setup['kind']} batch_size={setup['batch_size']} calls={calls}"


def hunt(mutation: StateMutation, max_examples: int = 100) -> Result:
    """Search for a case on which the code as currently installed fails the mutation's property."""
    return hunt_with(mutation.name, mutation.drawn_from, mutation.cases(),
                     lambda case: failure_of(mutation.check, case), describe, max_examples)


def run(mutation: StateMutation, max_examples: int = 100) -> Result:
    with injected(mutation):
        return hunt(mutation, max_examples)


def table(results) -> str:
    return patching.table(results, "property", lambda r: r.drawn_from)


def run_all(max_examples: int = 100, messages: bool = False):
    """(the table as text, whether every mutation was caught)."""
    results = [run(m, max_examples) for m in CATALOG]
    return summary(table(results), results, "mistakes of the fast path, optimizers and estimator", messages)


main = family_main(run_all, "Inject each fast-path, optimizer and estimator mistake and hunt it.", max_examples=100)

if __name__ == "__main__":
    raise SystemExit(main())
