"""Trajectory parity: k ≤ 20 steps of manual.MLP training leave the params that jax.grad + optax leave.

Manual side: `MLP.partial_fit` on one batch per call (batch_size=None, so one TrainStep per call: the
hand-written backprop and manual.optimizers, in place). Reference side: gradients from
`reference.bucketed.loss_and_grads` (jax.value_and_grad, one compiled program for every shape here) and
updates from `reference.optimizers` (optax itself), starting from the MLP's initial params.
A second property runs the fit path itself: epochs of shuffled mini-batches (the last one smaller)
under learning-rate schedules, the reference stepping through the same batches.
"""

import copy

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import manual.optimizers as mo
import reference.bucketed as rb
import reference.optimizers as ro
from dualgrad.engine.compare import assert_trees_close
from dualgrad.engine.strategies import batches, specs
from manual import MLP, NonFiniteError

MAX_STEPS = 20

# Tolerance, per leaf, elementwise: |manual − reference| ≤ rtol·|ref| + rtol·max|ref over the leaf|.
# The two sides compute the same float64 math in different orders (NumPy matmuls and sums vs XLA's),
# so each step's gradient differs by a few ulps, and 20 steps carry that forward. The optimizers'
# denominators magnify it where a gradient is ~0 in exact arithmetic and each side holds a different
# rounding residue δ ~ 1e-16: sgd passes δ through (step η δ), rmsprop divides by √(v + ε) ≥ √ε = 1e-4
# (step ≤ η δ / 1e-4), adam by √v̂ + ε ≥ ε = 1e-8 (step ≤ η δ / 1e-8 ≈ 3e-10 at η = 0.03).
# Measured before choosing, 1,500 examples of this property: worst sgd 1.9e-13, rmsprop 7.4e-13,
# adam 2.1e-10 (eps = 1e-8; mostly ≤ 1e-15). RTOLS leave ≥ 50× margin and still fails on any wrong
# rule: a missed L2 term, bias correction, Nesterov look-ahead or ε inside/outside the root changes a
# step by ≥ 1e-6 relative, a wrong gradient or a skipped batch by O(1) (see test_a_wrong_rule_is_caught).
RTOLS = {"sgd": 1e-10, "rmsprop": 1e-10, "adam": 1e-8}


# ---------------------------------------------------------------- strategies


@st.composite
def optimizer_cases(draw):
    """(kind, kwargs): an optimizer and its hyper-parameters, the same for manual.optimizers and optax."""
    kind = draw(st.sampled_from(["sgd", "sgd", "adam", "rmsprop"]))
    lr = 10.0 ** draw(st.floats(-3, -1 if kind == "sgd" else -1.5))
    if kind == "sgd":
        momentum = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]))
        return kind, dict(learning_rate=lr, momentum=momentum, nesterov=draw(st.booleans()) if momentum else False)
    eps = 10.0 ** draw(st.sampled_from([-8, -6, -4]))
    if kind == "adam":
        return kind, dict(learning_rate=lr, b1=draw(st.sampled_from([0.0, 0.5, 0.9])),
                          b2=draw(st.sampled_from([0.9, 0.99, 0.999])), eps=eps)
    return kind, dict(learning_rate=lr, decay=draw(st.sampled_from([0.5, 0.9, 0.99])), eps=eps)


def by_name(kind, kwargs):
    """MLP's own optimizer= and momentum= when these hyper-parameters are the named optimizer's, else None."""
    if kind == "sgd" and not kwargs["nesterov"]:
        return dict(optimizer="sgd", learning_rate=kwargs["learning_rate"], momentum=kwargs["momentum"])
    if kind == "adam" and (kwargs["b1"], kwargs["b2"], kwargs["eps"]) == (0.9, 0.999, 1e-8):
        return dict(optimizer="adam", learning_rate=kwargs["learning_rate"])
    if kind == "rmsprop" and (kwargs["decay"], kwargs["eps"]) == (0.9, 1e-8):
        return dict(optimizer="rmsprop", learning_rate=kwargs["learning_rate"])
    return None


@st.composite
def trajectory_cases(draw):
    """(spec, optimizer case, MLP seed, [(X, y), ...] one batch per step, 1..MAX_STEPS of them)."""
    spec = draw(specs(max_layers=3, max_width=8))
    optimizer = draw(optimizer_cases())
    seed = draw(st.integers(0, 2**32 - 1))
    k = draw(st.integers(1, MAX_STEPS))
    steps = [draw(batches(spec, max_batch=16, min_scale=-1.0, max_scale=0.5)) for _ in range(k)]
    return spec, optimizer, seed, steps


# ---------------------------------------------------------------- the reference's optimizer, padded


def padded_optax(kind, kwargs, spec):
    """reference.optimizers over one fixed-shape tree: W's and b's zero-padded to (L, D, D) and (L, D).

    optax runs eagerly, and an eager op compiles once per array shape: on each example's own shapes
    the first step costs seconds. Every rule here is elementwise (no norms, nothing mixes entries),
    and a padded entry has w = g = 0, so its trace/moments stay 0 and its update is 0 (adam:
    0 / (√0 + ε), rmsprop: 0 / √(0 + ε)): the real entries get exactly the updates they would
    unpadded, and padded ones stay 0 (checked below).
    """
    L, D, _ = rb.bucket_for(spec, 1)
    shapes = [w for w, _ in spec.layer_shapes()]
    opt = getattr(ro, kind)(**kwargs)

    def pad(tree):
        Ws, bs = np.zeros((L, D, D)), np.zeros((L, D))
        for l, (W, b) in enumerate(tree):
            Ws[l, : W.shape[0], : W.shape[1]] = W
            bs[l, : b.shape[0]] = b
        return [(Ws, bs)]

    def unpad(tree):
        (Ws, bs), = tree
        Ws, bs = np.asarray(Ws), np.asarray(bs)
        W_pad, b_pad = np.ones((L, D, D), bool), np.ones((L, D), bool)
        for l, (i, o) in enumerate(shapes):
            W_pad[l, :i, :o] = False
            b_pad[l, :o] = False
        assert not Ws[W_pad].any() and not bs[b_pad].any(), "a padded entry moved"
        return [(Ws[l, :i, :o], bs[l, :o]) for l, (i, o) in enumerate(shapes)]

    def init(params):
        return opt.init(pad(params))

    def update(grads, state, params):
        new, state = opt.update(pad(grads), state, pad(params))
        return unpad(new), state

    return init, update


# ---------------------------------------------------------------- the property


@settings(max_examples=40)  # pinned: the ci profile's 2,000 examples are meant for the cheap properties
@given(trajectory_cases(), st.booleans())
def test_manual_training_follows_jax_and_optax(case, use_name):
    spec, (kind, kwargs), seed, steps = case
    named = by_name(kind, kwargs) if use_name else None
    optimizer = named or dict(optimizer=getattr(mo, kind)(**kwargs))
    model = MLP(spec.sizes, hidden=list(spec.hidden), loss=spec.loss, l2=spec.l2, seed=seed, batch_size=None, **optimizer)
    k_out = spec.sizes[-1]
    classes = {"cross_entropy": range(k_out), "binary_cross_entropy": [0, 1]}.get(spec.loss)
    model.initialize(classes)
    params = copy.deepcopy(model.params)  # the reference starts where the MLP starts
    init, update = padded_optax(kind, kwargs, spec)
    state = init(params)
    losses = []
    for X, y in steps:
        try:
            model.partial_fit(X, y)
        except NonFiniteError:  # diverged (a large rate on a deep identity net): no trajectory to compare
            assume(False)
        value, grads = rb.loss_and_grads(spec, params, X, y)
        params, state = update(grads, state, params)
        losses.append(value)
    assert model.t_ == len(steps)
    rtol = RTOLS[kind]
    np.testing.assert_allclose(model.loss_history, losses, rtol=rtol, atol=rtol * max(1.0, max(map(abs, losses))))
    assert_trees_close(model.params, params, f"after {len(steps)} steps of {kind}{' (by name)' if named else ''}", rtol,
                       ("manual", "reference"))


def test_a_wrong_rule_is_caught():
    """The tolerance sees optax's rmsprop (ε inside the root) against ε outside it, one step."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)  # (8, 3), (8,)
    model = MLP([3, 4, 2], optimizer="rmsprop", learning_rate=0.01).initialize(classes=[0, 1])
    params = copy.deepcopy(model.params)
    model.partial_fit(X, y)
    _, grads = rb.loss_and_grads(model.spec, params, X, y)
    init, update = padded_optax("rmsprop", dict(learning_rate=0.01), model.spec)
    right, _ = update(grads, init(params), params)
    assert_trees_close(model.params, right, "rmsprop", RTOLS["rmsprop"])
    wrong = [(W - 0.01 * dW / (np.sqrt(0.1 * dW**2) + 1e-8), b - 0.01 * db / (np.sqrt(0.1 * db**2) + 1e-8))
             for (W, b), (dW, db) in zip(params, grads)]  # √v + ε instead of √(v + ε)
    with pytest.raises(AssertionError, match="rtol"):
        assert_trees_close(model.params, wrong, "rmsprop", RTOLS["rmsprop"])


# ---------------------------------------------------------------- mini-batches, shuffling, schedules


@st.composite
def schedule_cases(draw):
    """(manual schedule, reference schedule): constant, exponential or step decay, the same on both sides."""
    lr = 10.0 ** draw(st.floats(-2.5, -1.5))
    kind = draw(st.sampled_from(["constant", "exponential", "step"]))
    if kind == "constant":
        return mo.constant(lr), ro.constant(lr)
    if kind == "exponential":
        args = (lr, draw(st.sampled_from([0.5, 0.9])), draw(st.integers(1, 4)), draw(st.booleans()))
        return mo.exponential_decay(*args), ro.exponential_decay(*args)
    boundaries = {draw(st.integers(1, 6)): 0.5, draw(st.integers(7, 12)): 0.1}
    return mo.step_decay(lr, boundaries), ro.step_decay(lr, boundaries)


@settings(max_examples=25)  # pinned, as above
@given(specs(max_layers=3, max_width=8), st.sampled_from(["sgd", "adam"]), schedule_cases(),
       st.integers(1, 8), st.integers(1, 3), st.integers(0, 2**32 - 1), st.data())
def test_minibatch_epochs_with_shuffling_and_schedules_follow_jax_and_optax(spec, kind, schedules, batch_size,
                                                                            epochs, seed, data):
    """The fit path — epochs of shuffled mini-batches, a smaller last batch, a learning-rate schedule — is
    optax's trajectory on the same batches. (E partial_fit calls equal fit(epochs=E) bit for bit,
    tests/test_mlp.py; `next_batches` names the rows each epoch takes, tests/test_mlp.py.)
    sgd with momentum under a schedule is where optax's form (w ← w − η_k t) and the seed's classical
    momentum (v ← μ v − η_k g) part ways: following optax is what is checked here."""
    manual_schedule, reference_schedule = schedules
    X, y = data.draw(batches(spec, max_batch=16, min_scale=-1.0, max_scale=0.5))
    optimizer = (mo.sgd(manual_schedule, momentum=0.9) if kind == "sgd" else mo.adam(manual_schedule))
    model = MLP(spec.sizes, hidden=list(spec.hidden), loss=spec.loss, l2=spec.l2, optimizer=optimizer,
                batch_size=batch_size, shuffle=True, seed=seed)
    classes = {"cross_entropy": range(spec.sizes[-1]), "binary_cross_entropy": [0, 1]}.get(spec.loss)
    model.initialize(classes)
    params = copy.deepcopy(model.params)
    reference_kwargs = dict(learning_rate=reference_schedule, momentum=0.9) if kind == "sgd" else \
        dict(learning_rate=reference_schedule)
    opt = getattr(ro, kind)(**reference_kwargs)
    state = opt.init(params)
    n, history = X.shape[0], []
    for _ in range(epochs):
        planned = model.next_batches(n)
        # the plan, checked on its own: every row once, in batches of batch_size and a smaller last one
        sizes = [len(range(n)[rows]) if isinstance(rows, slice) else len(rows) for rows in planned]
        covered = np.concatenate([np.arange(n)[rows] for rows in planned])
        assert sorted(covered) == list(range(n))
        assert all(size == min(batch_size, n) for size in sizes[:-1]) and 0 < sizes[-1] <= batch_size
        try:
            model.partial_fit(X, y)
        except NonFiniteError:
            assume(False)
        total = 0.0
        for rows in planned:
            value, grads = rb.loss_and_grads(spec, params, X[rows], y[rows])
            params, state = opt.update(grads, state, params)
            total += value * X[rows].shape[0]
        history.append(total / n)
    rtol = RTOLS[kind]
    np.testing.assert_allclose(model.loss_history, history, rtol=rtol, atol=rtol * max(1.0, max(map(abs, history))))
    assert_trees_close(model.params, params, f"after {epochs} epoch(s) of {kind} with a schedule", rtol)
