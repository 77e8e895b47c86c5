"""manual.optimizers against optax (reference.optimizers), step by step, and the contract around them."""

import copy
import re

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import manual.optimizers as mo
import reference.optimizers as ro
from dualgrad.engine.compare import assert_trees_close

# Tolerance, per leaf, elementwise: |manual − optax| ≤ RTOL·|optax| + RTOL·max|optax over the leaf|.
# Both sides run the same elementwise float64 formulas in the same order, so they differ only where
# XLA and NumPy/libm round one operation differently (rsqrt in rmsprop, pow in adam's bias correction
# and in exponential_decay): an ulp or so per step. Measured over 20 steps: sgd and adam are bit-equal,
# rmsprop ~2e-15 relative. RTOL = 1e-12 leaves a margin of ~500× and still catches any rule that is
# not optax's: eps outside instead of inside rmsprop's square root changes updates by ~ε/v ≥ 1e-8,
# a missing bias correction or a schedule read one step off by O(η). The leaf-max term is for
# entries where w and the step nearly cancel: their error is the rounding of w, not of the result.
RTOL = 1e-12
MAX_STEPS = 20


def assert_trees_equal(actual, expected, what):
    """Bit for bit, and the same dtype."""
    for l, (pair, expected_pair) in enumerate(zip(actual, expected), start=1):
        for name, a, e in zip("Wb", pair, expected_pair):
            assert a.dtype == e.dtype and np.array_equal(a, e), f"{what}, layer {l}, {name} differs"


def state_trees(state):
    return [field for field in state[1:] if field is not None]


# ---------------------------------------------------------------- strategies


@st.composite
def param_trees(draw, max_layers=3, max_width=4, dtype=np.float64):
    """[(W, b), ...] with sizes drawn first, then entries ~ N(0, 1) from a drawn seed."""
    sizes = draw(st.lists(st.integers(1, max_width), min_size=2, max_size=max_layers + 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return [(rng.standard_normal((m, n)).astype(dtype), rng.standard_normal(n).astype(dtype))
            for m, n in zip(sizes[:-1], sizes[1:])]


@st.composite
def gradient_sequences(draw, params, max_steps=MAX_STEPS):
    """1..max_steps gradients in params' layout, entries ~ N(0, 1)·10^e for e in [-3, 3], some exactly 0."""
    k = draw(st.integers(1, max_steps))
    scale = 10.0 ** draw(st.integers(-3, 3))
    zero_fraction = draw(st.sampled_from([0.0, 0.0, 0.3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def leaf(a):
        g = rng.standard_normal(a.shape) * scale
        g[rng.random(a.shape) < zero_fraction] = 0.0
        return g.astype(a.dtype)

    return [[(leaf(W), leaf(b)) for W, b in params] for _ in range(k)]


@st.composite
def runs(draw, dtype=np.float64):
    """(params, [grads at step 1, 2, ...])."""
    params = draw(param_trees(dtype=dtype))
    return params, draw(gradient_sequences(params))


def unit(lo, hi, default):
    """A decay rate in [lo, hi], or the default (no subnormals: XLA on CPU flushes them to zero)."""
    return st.one_of(st.just(default), st.floats(lo, hi))


rates = st.floats(1e-3, 1.0)
epsilons = st.sampled_from([1e-8, 1e-4])

# (case id, constructor, strategy for its keyword arguments other than learning_rate)
OPTIMIZERS = [
    ("sgd", "sgd", st.just({})),
    ("sgd_momentum", "sgd", st.fixed_dictionaries({"momentum": unit(0.01, 0.99, 0.9)})),
    ("sgd_nesterov", "sgd", st.fixed_dictionaries({"momentum": unit(0.01, 0.99, 0.9), "nesterov": st.just(True)})),
    ("adam", "adam", st.fixed_dictionaries({"b1": unit(0.01, 0.99, 0.9), "b2": unit(0.5, 0.9999, 0.999),
                                            "eps": epsilons})),
    ("rmsprop", "rmsprop", st.fixed_dictionaries({"decay": unit(0.01, 0.99, 0.9), "eps": epsilons})),
]
OPTIMIZER_IDS = [case[0] for case in OPTIMIZERS]

# schedule kind -> strategy for its arguments; "float" is a plain learning rate
SCHEDULES = {
    "float": st.fixed_dictionaries({"rate": rates}),
    "constant": st.fixed_dictionaries({"rate": rates}),
    "exponential_decay": st.fixed_dictionaries({
        "init_value": rates, "decay_rate": st.floats(0.1, 1.5),
        "transition_steps": st.integers(1, 10), "staircase": st.booleans()}),
    "step_decay": st.fixed_dictionaries({
        "init_value": rates,
        "boundaries_and_scales": st.dictionaries(st.integers(0, MAX_STEPS), st.just(0.0) | st.floats(0.1, 2.0),
                                                 max_size=3)}),
}


def learning_rate(module, kind, args):
    """The same schedule description built by `module` (manual.optimizers or reference.optimizers)."""
    return args["rate"] if kind == "float" else getattr(module, kind)(**args)


def build(module, case, kind, args, kwargs):
    return getattr(module, case[1])(learning_rate(module, kind, args), **kwargs)


# ---------------------------------------------------------------- parity with optax


@pytest.mark.parametrize("kind", list(SCHEDULES))
@pytest.mark.parametrize("case", OPTIMIZERS, ids=OPTIMIZER_IDS)
@settings(max_examples=10)
@given(data=st.data())
def test_matches_optax(case, kind, data):
    kwargs = data.draw(case[2], label="hyper-parameters")
    args = data.draw(SCHEDULES[kind], label=f"{kind} schedule")
    params, grad_sequence = data.draw(runs(), label="params, grads")
    manual, reference = build(mo, case, kind, args, kwargs), build(ro, case, kind, args, kwargs)
    m_params, m_state = params, manual.init(params)
    r_params, r_state = params, reference.init(params)
    for k, grads in enumerate(grad_sequence, start=1):
        m_params, m_state = manual.update(grads, m_state, m_params)
        r_params, r_state = reference.update(grads, r_state, r_params)
        assert_trees_close(m_params, r_params, f"step {k}", RTOL, ("manual", "optax"))
    assert m_state.count == len(grad_sequence)


@pytest.mark.parametrize("case", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_schedule_is_read_where_optax_reads_it(case):
    """η is read once per update, at the count before the update: 0, 1, 2, ..."""
    manual_steps, optax_steps = [], []
    manual = getattr(mo, case[1])(lambda step: manual_steps.append(step) or 0.1)
    reference = getattr(ro, case[1])(lambda step: optax_steps.append(int(step)) or 0.1)
    params = [(np.ones((2, 3)), np.ones(3))]
    grads = [(np.full((2, 3), 0.5), np.full(3, -0.5))]
    m_state, r_state = manual.init(params), reference.init(params)
    for _ in range(4):
        _, m_state = manual.update(grads, m_state, params)
        _, r_state = reference.update(grads, r_state, params)
    assert manual_steps == optax_steps == [0, 1, 2, 3]


@settings(max_examples=50)
@given(kind=st.sampled_from(["constant", "exponential_decay", "step_decay"]), data=st.data())
def test_schedules_match_optax(kind, data):
    args = data.draw(SCHEDULES[kind], label="args")
    manual, reference = learning_rate(mo, kind, args), learning_rate(ro, kind, args)
    steps = np.arange(3 * MAX_STEPS)
    np.testing.assert_allclose([manual(int(k)) for k in steps], [float(reference(k)) for k in steps], rtol=1e-14)


def test_optax_exponential_decay_is_float32_on_its_own_step_count():
    """NOTE: optax's step count is int32 and jnp makes int32 / int a float32, even under x64, so
    optax alone computes exponential_decay in float32. Ours is float64; reference.optimizers hands
    optax a float64 step. Raw optax agrees with ours to float32 precision only."""
    raw = optax.exponential_decay(0.1, transition_steps=7, decay_rate=0.7)
    assert raw(jnp.asarray(5, jnp.int32)).dtype == jnp.float32
    ours = mo.exponential_decay(0.1, 0.7, 7)
    for k in range(200):
        assert ours(k) == pytest.approx(float(raw(jnp.asarray(k, jnp.int32))), rel=1e-6, abs=0)


# ---------------------------------------------------------------- the seed's momentum


def classical_momentum(params, grad_sequence, lr, mu):
    """The seed's rule: v ← μ v − η g;  w ← w + v."""
    params = copy.deepcopy(params)
    velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    for k, grads in enumerate(grad_sequence):
        eta = lr(k) if callable(lr) else lr
        for (W, b), (vW, vb), (dW, db) in zip(params, velocity, grads):
            vW[...] = mu * vW - eta * dW
            vb[...] = mu * vb - eta * db
            W += vW
            b += vb
    return params


def run_manual(opt, params, grad_sequence):
    state = opt.init(params)
    for grads in grad_sequence:
        params, state = opt.update(grads, state, params)
    return params


@settings(max_examples=50)
@given(run=runs(), lr=rates, mu=unit(0.01, 0.99, 0.9))
def test_classical_momentum_is_sgd_at_a_constant_rate(run, lr, mu):
    """v = −η t: the same rule while η is constant (rounded differently, so to RTOL, not bit for bit)."""
    params, grad_sequence = run
    assert_trees_close(run_manual(mo.sgd(lr, mu), params, grad_sequence),
                       classical_momentum(params, grad_sequence, lr, mu), "after the run", RTOL)


def test_classical_momentum_differs_under_a_schedule():
    """Under a schedule optax (and we) scale the whole trace by the current η; the seed does not."""
    params = [(np.zeros((1, 1)), np.zeros(1))]
    grad_sequence = [[(np.ones((1, 1)), np.ones(1))]] * 2
    schedule = mo.step_decay(1.0, {1: 0.5})  # η = 1, then 0.5
    ours = run_manual(mo.sgd(schedule, 0.9), params, grad_sequence)[0][0]
    seed = classical_momentum(params, grad_sequence, schedule, 0.9)[0][0]
    # ours: t = 1 then 1.9;  w = −1·1 − 0.5·1.9 = −1.95.   seed: v = −1 then −0.9 − 0.5;  w = −1 − 1.4 = −2.4
    assert ours.item() == pytest.approx(-1.95) and seed.item() == pytest.approx(-2.4)


# ---------------------------------------------------------------- purity and the in-place variant


@pytest.mark.parametrize("case", OPTIMIZERS, ids=OPTIMIZER_IDS)
@settings(max_examples=25)
@given(data=st.data())
def test_update_is_pure(case, data):
    kwargs = data.draw(case[2], label="hyper-parameters")
    params, grad_sequence = data.draw(runs(), label="params, grads")
    opt = getattr(mo, case[1])(0.1, **kwargs)
    state = opt.init(params)
    for grads in grad_sequence:
        before = copy.deepcopy((grads, state, params))
        new_params, new_state = opt.update(grads, state, params)
        for tree, kept, what in zip([grads, params, *state_trees(state)],
                                    [before[0], before[2], *state_trees(before[1])], ["grads", "params", "state"]):
            assert_trees_equal(tree, kept, f"{what} after update")
        assert state.count == before[1].count
        for new, old in zip(mo._leaves(new_params + sum(state_trees(new_state), [])),
                            mo._leaves(params + sum(state_trees(state), []))):
            assert not np.shares_memory(new, old), "update returned an array that shares memory with its input"
        params, state = new_params, new_state


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", OPTIMIZERS, ids=OPTIMIZER_IDS)
@settings(max_examples=25)
@given(data=st.data())
def test_update_inplace_equals_update_bit_for_bit(case, dtype, data):
    kwargs = data.draw(case[2], label="hyper-parameters")
    params, grad_sequence = data.draw(runs(dtype=dtype), label="params, grads")
    opt = getattr(mo, case[1])(mo.exponential_decay(0.1, 0.5, 3), **kwargs)
    pure_params, pure_state = params, opt.init(params)
    live_params = copy.deepcopy(params)
    live_state = opt.init(live_params)
    arrays = list(mo._leaves(live_params + sum(state_trees(live_state), [])))
    for k, grads in enumerate(grad_sequence, start=1):
        kept_grads = copy.deepcopy(grads)
        pure_params, pure_state = opt.update(grads, pure_state, pure_params)
        live_state = opt.update_inplace(grads, live_state, live_params)
        assert_trees_equal(grads, kept_grads, "grads after update_inplace")
        assert_trees_equal(live_params, pure_params, f"step {k}, params")
        for live, pure in zip(state_trees(live_state), state_trees(pure_state)):
            assert_trees_equal(live, pure, f"step {k}, state")
        assert live_state.count == pure_state.count == k
    # the same arrays, written in place, in params' dtype
    assert all(a is b for a, b in zip(arrays, mo._leaves(live_params + sum(state_trees(live_state), []))))
    assert all(a.dtype == dtype for a in arrays)


# ---------------------------------------------------------------- bad calls

BAD_HYPERPARAMETERS = [
    (mo.sgd, dict(learning_rate=0.0), ValueError, "learning_rate must be a finite float > 0"),
    (mo.sgd, dict(learning_rate=-0.1), ValueError, "learning_rate must be a finite float > 0"),
    (mo.sgd, dict(learning_rate=float("nan")), ValueError, "learning_rate must be a finite float > 0"),
    (mo.sgd, dict(learning_rate=float("inf")), ValueError, "learning_rate must be a finite float > 0"),
    (mo.sgd, dict(learning_rate="0.1"), TypeError, "learning_rate must be a finite float > 0 or a schedule"),
    (mo.sgd, dict(learning_rate=True), TypeError, "learning_rate must be"),
    (mo.sgd, dict(learning_rate=0.1, momentum=1.0), ValueError, "momentum must be a float in [0, 1)"),
    (mo.sgd, dict(learning_rate=0.1, momentum=-0.5), ValueError, "momentum must be a float in [0, 1)"),
    (mo.sgd, dict(learning_rate=0.1, momentum=None), TypeError, "momentum must be a float in [0, 1)"),
    (mo.sgd, dict(learning_rate=0.1, momentum=0.9, nesterov="yes"), TypeError, "nesterov must be True or False"),
    (mo.adam, dict(b1=1.0), ValueError, "b1 must be a float in [0, 1)"),
    (mo.adam, dict(b2=-0.1), ValueError, "b2 must be a float in [0, 1)"),
    (mo.adam, dict(b2=1.5), ValueError, "b2 must be a float in [0, 1)"),
    (mo.adam, dict(eps=0.0), ValueError, "eps must be a finite float > 0"),
    (mo.adam, dict(eps=None), TypeError, "eps must be a finite float > 0"),
    (mo.adam, dict(learning_rate=-1e-3), ValueError, "learning_rate must be a finite float > 0"),
    (mo.rmsprop, dict(learning_rate=0.1, decay=1.0), ValueError, "decay must be a float in [0, 1)"),
    (mo.rmsprop, dict(learning_rate=0.1, eps=-1e-8), ValueError, "eps must be a finite float > 0"),
    (mo.constant, dict(rate=0), ValueError, "rate must be a finite float > 0"),
    (mo.exponential_decay, dict(init_value=-0.1, decay_rate=0.5, transition_steps=10), ValueError,
     "init_value must be a finite float > 0"),
    (mo.exponential_decay, dict(init_value=0.1, decay_rate=0.0, transition_steps=10), ValueError,
     "decay_rate must be a finite float > 0"),
    (mo.exponential_decay, dict(init_value=0.1, decay_rate=0.5, transition_steps=0), ValueError,
     "transition_steps must be an int >= 1"),
    (mo.exponential_decay, dict(init_value=0.1, decay_rate=0.5, transition_steps=2.5), TypeError,
     "transition_steps must be an int >= 1"),
    (mo.exponential_decay, dict(init_value=0.1, decay_rate=0.5, transition_steps=2, staircase="no"), TypeError,
     "staircase must be True or False"),
    (mo.step_decay, dict(init_value=0.1, boundaries_and_scales={10: -0.5}), ValueError,
     "the scale at boundary 10 must be a finite float >= 0"),
    (mo.step_decay, dict(init_value=0.1, boundaries_and_scales={-1: 0.5}), ValueError,
     "each boundary (key) of boundaries_and_scales must be an int >= 0"),
    (mo.step_decay, dict(init_value=0.1, boundaries_and_scales={"a": 0.5, 1: 0.1}), TypeError,
     "each boundary (key) of boundaries_and_scales must be an int >= 0"),
    (mo.step_decay, dict(init_value=0.1, boundaries_and_scales=[(10, 0.5)]), TypeError,
     "boundaries_and_scales must be a dict"),
]


@pytest.mark.parametrize("factory, kwargs, error, message", BAD_HYPERPARAMETERS,
                         ids=[f"{f.__name__}-{'-'.join(kw)}" for f, kw, _, _ in BAD_HYPERPARAMETERS])
def test_bad_hyperparameters_raise(factory, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        factory(**kwargs)


def two_layers(dtype=np.float64):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((2, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)),
            (rng.standard_normal((3, 2)).astype(dtype), rng.standard_normal(2).astype(dtype))]


def good_grads(params):
    return [(np.full_like(W, 0.5), np.full_like(b, -0.5)) for W, b in params]


def with_leaf(grads, layer, index, value):
    """grads with leaf (layer, 0 for dW / 1 for db) replaced by `value`."""
    grads = [list(pair) for pair in grads]
    grads[layer][index] = value
    return [tuple(pair) for pair in grads]


# (case id, grads from params, error, message)
BAD_GRADS = [
    ("one-layer-short", lambda p: good_grads(p)[:1], ValueError, "grads has 1 layer(s) but params has 2"),
    ("dW-transposed", lambda p: with_leaf(good_grads(p), 1, 0, np.zeros((2, 3))), ValueError,
     "grads, layer 2, dW must have shape (3, 2)"),
    ("db-as-row", lambda p: with_leaf(good_grads(p), 1, 1, np.zeros((1, 2))), ValueError,
     "grads, layer 2, db must have shape (2,)"),
    ("db-float32", lambda p: with_leaf(good_grads(p), 1, 1, np.zeros(2, np.float32)), TypeError,
     "grads, layer 2, db must have dtype float64"),
    ("dW-list", lambda p: with_leaf(good_grads(p), 1, 0, [[0.0] * 2] * 3), TypeError,
     "grads, layer 2, dW must be a NumPy array"),
    ("layer-not-a-pair", lambda p: good_grads(p)[:1] + [p[1][0]], TypeError, "layer 2 of grads must be a (W, b) pair"),
    ("not-a-list", lambda p: np.zeros(3), TypeError, "grads must be a list of (W, b) pairs"),
]


@pytest.mark.parametrize("inplace", [False, True], ids=["update", "update_inplace"])
@pytest.mark.parametrize("case", OPTIMIZERS, ids=OPTIMIZER_IDS)
@pytest.mark.parametrize("bad", BAD_GRADS, ids=[b[0] for b in BAD_GRADS])
def test_mismatched_grads_raise_and_modify_nothing(bad, case, inplace):
    _, make_grads, error, message = bad
    opt = getattr(mo, case[1])(0.1, **({"momentum": 0.9} if case[0] != "sgd" and case[1] == "sgd" else {}))
    params = two_layers()
    state = opt.update_inplace(good_grads(params), opt.init(params), params)  # non-zero state
    grads = make_grads(params)
    before = copy.deepcopy((grads, state, params))
    with pytest.raises(error, match=re.escape(message)):
        (opt.update_inplace if inplace else opt.update)(grads, state, params)
    assert_trees_equal(params, before[2], "params after a failed update")
    for tree, kept in zip(state_trees(state), state_trees(before[1])):
        assert_trees_equal(tree, kept, "state after a failed update")
    assert state.count == 1


def test_mismatched_state_raises():
    opt = mo.adam()
    params, other = two_layers(), [(np.zeros((2, 2)), np.zeros(2))]
    with pytest.raises(ValueError, match=re.escape("state.mu has 1 layer(s) but params has 2")):
        opt.update(good_grads(params), opt.init(other), params)
    with pytest.raises(TypeError, match="state must be a AdamState"):
        opt.update(good_grads(params), mo.sgd(0.1).init(params), params)
    with pytest.raises(TypeError, match=re.escape("state.trace must be a list of (W, b) pairs")):
        mo.sgd(0.1, 0.9).update(good_grads(params), mo.sgd(0.1).init(params), params)


def test_read_only_params_are_refused_in_place_only():
    opt = mo.sgd(0.1, 0.9)
    params = two_layers()
    state = opt.init(params)
    params[1][1].flags.writeable = False
    before = copy.deepcopy(params)
    with pytest.raises(ValueError, match=re.escape("layer 2, b is read-only")):
        opt.update_inplace(good_grads(params), state, params)
    assert_trees_equal(params, before, "params after a refused update_inplace")
    new_params, _ = opt.update(good_grads(params), state, params)  # the pure update copies: fine
    assert new_params[1][1].flags.writeable


@pytest.mark.parametrize("bad_rate, error", [(-0.1, ValueError), (float("nan"), ValueError), ("fast", TypeError)])
def test_bad_schedule_value_raises_before_any_write(bad_rate, error):
    opt = mo.sgd(lambda step: 0.1 if step == 0 else bad_rate, 0.9)
    params = two_layers()
    state = opt.update_inplace(good_grads(params), opt.init(params), params)
    before = copy.deepcopy((state, params))
    with pytest.raises(error, match=re.escape("learning_rate(1) must return")):
        opt.update_inplace(good_grads(params), state, params)
    assert_trees_equal(params, before[1], "params after a failed update")
    assert_trees_equal(state.trace, before[0].trace, "trace after a failed update")
