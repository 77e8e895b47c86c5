"""TrainStep (the fast step `fit` takes) against the plain path, and its contract.

The plain path is `manual.loss_and_grads` (forward_with_cache, loss, backward) followed by the
pure `optimizer.update`; TrainStep computes the same derivation into preallocated buffers.

Tolerance, per leaf, elementwise: |fast − plain| ≤ RTOL·|plain| + RTOL·max|plain over the leaf|
+ RTOL·max(1, max|plain over the whole tree|). The last term is for a leaf whose entries all cancel
to rounding: a bias of one entry at 0 whose gradient, a sum of terms of both signs, rounds to 0 on
one path and to 1e-17 on the other, in the params and in the momentum velocity (found by hypothesis:
binary cross-entropy, W = 0). The 1 stands for the gradient terms' own scale (|p − y| ≤ 1 for the
classification losses), which a tree whose every entry cancelled no longer shows.
float64, RTOL = 1e-12: the in-place forms repeat the plain operations in the same order, so params
come out bit for bit equal in practice (measured: 0 difference over every activation × loss × l2);
only the loss value and some sums run in another order (one dot product instead of a product array
and a mean), an ulp-level difference. 1e-12 still catches any real slip: a derivative taken at the
wrong side of a kink, a missing λW or 1/N, a stale buffer from the previous batch size, all O(1).
float32, RTOL = 1e-4: the same operations again (params come out equal in practice), but the loss
value's sums in another order now differ by float32 ulps (~1e-7), and the margin is kept as wide as
for float64 relative to the dtype's precision; the slips above are still far outside.
The in-place forms themselves are compared bit for bit, point by point, in both dtypes.
"""

import copy
import tracemalloc

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import manual
from dualgrad.engine.compare import assert_trees_close
from dualgrad.engine.strategies import batches, parameters, specs
from manual import activations as A
from manual import inplace_activations as IA
from manual import optimizers as mo
from manual import spec as _spec
from manual.train_step import NonFiniteError, TrainStep
from manual.validation import encode_targets

RTOL = {np.float64: 1e-12, np.float32: 1e-4}
OPTIMIZERS = {
    "sgd": lambda: mo.sgd(0.05),
    "momentum": lambda: mo.sgd(0.05, momentum=0.9),
    "nesterov": lambda: mo.sgd(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: mo.adam(1e-2),
    "rmsprop": lambda: mo.rmsprop(1e-3),
    "sgd_schedule": lambda: mo.sgd(mo.exponential_decay(0.1, 0.5, 2), momentum=0.5),
}


def assert_trees_equal(actual, expected, what):
    for l, (pair, expected_pair) in enumerate(zip(actual, expected), start=1):
        for name, a, e in zip("Wb", pair, expected_pair):
            assert a.dtype == e.dtype and np.array_equal(a, e, equal_nan=True), f"{what}, layer {l}, {name} changed"


def state_trees(state):
    return [field for field in state[1:] if field is not None]


def plain_step(spec, opt, params, state, X, y, adaptive=False):
    """The readable path: loss_and_grads, then the pure update.

    adaptive: the optimizer divides by √v (adam, rmsprop). A gradient entry that cancels to the
    rounding level of its sum (float32: db = Σₙ dz with terms of opposite signs) is then normalised
    into a full step of about lr on one path and of 0 on the other, whose sum rounded to exactly 0:
    both are right to rounding, yet their parameters differ by lr. Such a case is not comparable entry
    by entry, and is rejected (hypothesis draws another)."""
    value, grads = manual.loss_and_grads(spec, params, X, y)
    if adaptive:
        scale = max(float(np.max(np.abs(g), initial=0.0)) for pair in grads for g in pair)
        rounding = 1e3 * np.finfo(X.dtype).eps * scale
        assume(not any(np.any(np.abs(g) <= rounding) for pair in grads for g in pair))
    params, state = opt.update(grads, state, params)
    return value, params, state


def tree_scale(tree) -> float:
    """max(1, max |entry| over every leaf of a params-layout tree [(W, b), ...])."""
    return max([1.0] + [float(np.max(np.abs(leaf), initial=0.0)) for pair in tree for leaf in pair])


def run_both(spec, opt, params, batch_list, dtype, step=None, adaptive=False):
    """Both paths over the same batches; compares loss, params and state after every step."""
    step = step or TrainStep(spec, opt, max_shapes=2)  # 2: a third batch size evicts a buffer set
    fast_params, fast_state = copy.deepcopy(params), opt.init(params)
    plain_params, plain_state = copy.deepcopy(params), opt.init(params)
    rtol = RTOL[dtype]
    for k, (X, y) in enumerate(batch_list, start=1):
        X = X.astype(dtype)
        Y = encode_targets(spec, y, X.shape[0], dtype=dtype)
        try:
            value, plain_params, plain_state = plain_step(spec, opt, plain_params, plain_state, X, y,
                                                          adaptive=adaptive)
        except ValueError:  # the plain path reports an overflow: the fast one must refuse, writing nothing
            before = copy.deepcopy((fast_params, fast_state))
            with pytest.raises(NonFiniteError):
                step(fast_params, fast_state, X, Y)
            assert_trees_equal(fast_params, before[0], f"step {k}: params after NonFiniteError")
            return
        fast_value, fast_state = step(fast_params, fast_state, X, Y)
        assert fast_value == pytest.approx(value, rel=rtol, abs=rtol * 1e-6), f"step {k}: loss"
        assert fast_state.count == plain_state.count == k
        assert_trees_close(fast_params, plain_params, f"step {k}: params", rtol, ("fast", "plain"),
                           check_dtype=True, atol=rtol * tree_scale(plain_params))
        for f, p in zip(state_trees(fast_state), state_trees(plain_state)):
            assert_trees_close(f, p, f"step {k}: state", rtol, ("fast", "plain"), check_dtype=True,
                               atol=rtol * tree_scale(p))


@st.composite
def training_cases(draw, activations=None):
    """(spec, params, [(X, y), ...]): 1..4 consecutive batches of varying sizes, moderate scales."""
    spec = draw(specs(max_layers=4, max_width=12, activations=activations))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    params = draw(parameters(spec, dtype=dtype))
    batch_list = draw(st.lists(batches(spec, max_batch=12, min_scale=-2.0, max_scale=1.0), min_size=1, max_size=4))
    return spec, params, batch_list, dtype


@settings(max_examples=150)
@given(training_cases(), st.sampled_from(sorted(OPTIMIZERS)))
def test_fast_step_equals_plain_path(case, optimizer):
    spec, params, batch_list, dtype = case
    run_both(spec, OPTIMIZERS[optimizer](), params, batch_list, dtype, adaptive=optimizer in ("adam", "rmsprop"))


# ---------------------------------------------------------------- the in-place forms, point by point

POINTS = np.array([-1.0, 0.0, -0.0, 1.0, 1e-8, -1e-8, 30.0, -30.0, 1e3, -1e3] + list(np.linspace(-5, 5, 23)))


@pytest.mark.parametrize("name", list(A.BUILT_IN))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inplace_activation_equals_table_entry(name, dtype):
    """forward and backward of each in-place form against activations.py at kinks and far out, bit for bit."""
    act, fast = A.ACTIVATIONS[name], IA.INPLACE[name]
    z = POINTS.astype(dtype).reshape(3, -1)  # (N, n)
    da = np.linspace(-2, 2, z.size).astype(dtype).reshape(z.shape)
    with np.errstate(over="ignore"):
        a_plain = act.forward(z)
        dz_plain = da * act.derivative(z, a_plain)
        zb, a = z.copy(), np.empty_like(z)
        work = IA.Work(np.empty_like(z), np.empty_like(z), np.zeros_like(z), np.empty(z.shape, bool))
        a = a if fast.keeps_z else zb  # an activation that keeps a only writes a over z
        fast.forward(zb, a, work)
        a_fast = a.copy()
        dz = da.copy()
        fast.backward(dz, zb if fast.keeps_z else None, a, work)
    # the same operations in the same order: bit for bit (NaN nowhere, signed zeros included)
    assert a_fast.dtype == a_plain.dtype and np.array_equal(a_fast, a_plain), f"{name} forward"
    assert dz.dtype == dz_plain.dtype and np.array_equal(dz, dz_plain), f"{name} backward"
    assert np.array_equal(np.signbit(dz), np.signbit(dz_plain)), f"{name} backward, sign of zero"


# ---------------------------------------------------------------- registered and replaced activations


@pytest.fixture
def restore_activation_tables():
    """Registration changes module-level tables: put them back so no other test sees our names."""
    names, table = list(_spec.ACTIVATION_NAMES), dict(A.ACTIVATIONS)
    yield
    _spec.ACTIVATION_NAMES[:] = names
    A.ACTIVATIONS.clear()
    A.ACTIVATIONS.update(table)


def test_registered_activation_uses_the_generic_fallback(restore_activation_tables):
    manual.register_activation("softsign_t5", lambda z: z / (1 + np.abs(z)), lambda z, a: 1 / (1 + np.abs(z)) ** 2)
    assert IA.fused("softsign_t5").keeps_z  # generic: z and a
    spec = manual.NetworkSpec([3, 5, 4, 2], ["softsign_t5", "relu"], "cross_entropy", 0.01)
    rng = np.random.default_rng(0)
    batch_list = [(rng.standard_normal((n, 3)), rng.integers(0, 2, n)) for n in (6, 6, 2)]
    for dtype in (np.float64, np.float32):
        run_both(spec, mo.sgd(0.1, momentum=0.9), manual.init_params(spec, seed=1, dtype=dtype), batch_list, dtype)


def test_a_replaced_table_entry_is_followed(monkeypatch):
    """A test that swaps relu's derivative in the table (a planted bug) must see it in TrainStep too."""
    wrong = A.Activation("relu", A.relu, lambda z, a: (z >= 0).astype(z.dtype))  # relu'(0) = 1
    monkeypatch.setitem(A.ACTIVATIONS, "relu", wrong)
    assert IA.fused("relu").keeps_z
    spec = manual.NetworkSpec([2, 3, 2], "relu", "cross_entropy")
    params = [(np.zeros((2, 3)), np.zeros(3)), (np.array([[1.0, -1.0], [2.0, 0.0], [0.0, 1.0]]), np.zeros(2))]  # z = 0: the kink
    batch_list = [(np.ones((4, 2)), np.array([0, 1, 0, 0]))]
    run_both(spec, mo.sgd(0.5), params, batch_list, np.float64)
    step_params, opt = copy.deepcopy(params), mo.sgd(0.5)
    TrainStep(spec, opt)(step_params, opt.init(params), np.ones((4, 2)), np.eye(2)[[0, 1, 0, 0]])
    assert not np.array_equal(step_params[0][0], params[0][0])  # the planted relu'(0) = 1 moved W1


# ---------------------------------------------------------------- the contract


def assert_refused(spec, X, Y):
    """After two good steps (a non-zero trace), a step on (X, Y) raises NonFiniteError, writes
    nothing, and the next good step still works."""
    opt = mo.sgd(0.1, momentum=0.9)
    params = manual.init_params(spec, seed=0)
    state, step = opt.init(params), TrainStep(spec, opt)
    good_X = np.linspace(-1, 1, X.size).reshape(X.shape)
    for _ in range(2):
        _, state = step(params, state, good_X, Y)
    before = copy.deepcopy((params, state))
    with pytest.raises(NonFiniteError):
        step(params, state, X, Y)
    assert_trees_equal(params, before[0], "params")
    assert state.count == before[1].count == 2
    assert_trees_equal(state.trace, before[1].trace, "trace")
    loss, state = step(params, state, good_X, Y)
    assert np.isfinite(loss) and state.count == 3


def test_non_finite_loss_raises_and_writes_nothing():
    Y = np.eye(3)[[0, 1, 2, 0, 1]]
    assert_refused(manual.NetworkSpec([4, 6, 3], "tanh", "cross_entropy", 0.1), np.full((5, 4), np.nan), Y)
    assert_refused(manual.NetworkSpec([4, 6, 3], "relu", "mse"), np.full((5, 4), 1e200), Y)  # (1e200)² overflows


def test_non_finite_gradient_with_finite_loss_raises_and_writes_nothing(monkeypatch):
    """Only dW₁ overflows here (a derivative of inf), the loss stays finite: the optimizer's refusal
    of a non-finite gradient becomes NonFiniteError, and still nothing is written."""
    monkeypatch.setitem(A.ACTIVATIONS, "tanh", A.Activation("tanh", A.tanh, lambda z, a: np.where(z > 5, np.inf, 1 - a * a)))
    spec = manual.NetworkSpec([4, 6, 3], "tanh", "cross_entropy")
    assert_refused(spec, np.full((5, 4), 50.0), np.eye(3)[[0, 1, 2, 0, 1]])


@pytest.mark.parametrize("bad, error, message", [
    (lambda X, Y: (X[:, :3], Y), ValueError, r"X must be an array of shape \(N, 4\)"),
    (lambda X, Y: (X.astype(np.float32), Y), TypeError, "X must have the dtype of params"),
    (lambda X, Y: (X, Y[:4]), ValueError, "same number of rows"),
    (lambda X, Y: (X, Y[:, :2]), ValueError, r"Y must be an array of shape \(N, 3\)"),
    (lambda X, Y: (X.tolist(), Y), ValueError, "got list"),
])
def test_bad_batches_raise_and_write_nothing(bad, error, message):
    spec = manual.NetworkSpec([4, 6, 3], "relu", "cross_entropy")
    opt = mo.sgd(0.1)
    params = manual.init_params(spec, seed=0)
    before = copy.deepcopy(params)
    with pytest.raises(error, match=message):
        TrainStep(spec, opt)(params, opt.init(params), *bad(np.ones((5, 4)), np.eye(3)[[0, 1, 2, 0, 1]]))
    assert_trees_equal(params, before, "params")


def test_cache_keeps_z_only_where_the_derivative_needs_it():
    spec = manual.NetworkSpec([3, 4, 5, 6, 7, 2], ["relu", "gelu", "tanh", "softplus"], "cross_entropy")
    step = TrainStep(spec, mo.sgd(0.1))
    params = manual.init_params(spec, seed=0)
    step(params, step.optimizer.init(params), np.ones((3, 3)), np.eye(2)[[0, 1, 0]])
    (buffers,) = step._buffers.values()
    assert [z is not None for z in buffers.z] == [False, True, False, True, False]


# ---------------------------------------------------------------- memory

CASES = [(act, "cross_entropy") for act in A.BUILT_IN] + [("relu", "binary_cross_entropy"), ("relu", "mse")]
SIZES = [128, 256, 160]  # W₁ (128, 256) and W₂ (256, 160): 128 KB and more even in float32
# What a step may allocate at its peak: NumPy's ufunc iterator buffer (8192 elements, used when an
# operand broadcasts, as b in z += b, or is cast, as a bool mask) and Python's small objects.
# Any array of a batch's or a parameter's size (the old step made dozens) is well above it.
BOUND = 8192 * 8 + 16 * 1024


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_steady_state_allocates_no_large_array(optimizer, dtype):
    """After warm-up (both batch sizes seen once), no step allocates more than BOUND at any moment."""
    rng = np.random.default_rng(0)
    for act, loss in CASES:
        spec = manual.NetworkSpec(SIZES + [1 if loss == "binary_cross_entropy" else 40], act, loss, 0.01)
        opt = OPTIMIZERS[optimizer]()
        params = manual.init_params(spec, seed=0, dtype=dtype)
        state, step = opt.init(params), TrainStep(spec, opt)
        data = []
        for n in (64, 45):  # a full batch and a smaller last one
            y = rng.integers(0, 2, n) if loss != "mse" else rng.standard_normal((n, spec.sizes[-1]))
            data.append((rng.standard_normal((n, SIZES[0])).astype(dtype), encode_targets(spec, y, n, dtype=dtype)))
        for X, Y in data:  # warm-up: buffers for both sizes, the optimizer's scratch
            _, state = step(params, state, X, Y)
        tracemalloc.start()
        try:
            for X, Y in data:
                tracemalloc.reset_peak()
                current = tracemalloc.get_traced_memory()[0]
                _, state = step(params, state, X, Y)
                peak = tracemalloc.get_traced_memory()[1] - current
                assert peak < BOUND, f"{act}, {loss}, {optimizer}, N = {X.shape[0]}: a step allocated {peak} B"
        finally:
            tracemalloc.stop()


def test_the_memory_test_can_fail():
    """The same measurement sees the plain path's temporaries (a (64, 256) activation is 128 KB)."""
    spec = manual.NetworkSpec(SIZES + [40], "relu", "cross_entropy")
    params = manual.init_params(spec, seed=0)
    X, y = np.ones((64, SIZES[0])), np.zeros(64, dtype=int)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        current = tracemalloc.get_traced_memory()[0]
        manual.loss_and_grads(spec, params, X, y)
        assert tracemalloc.get_traced_memory()[1] - current > 4 * BOUND
    finally:
        tracemalloc.stop()
