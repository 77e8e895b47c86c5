"""Objects that keep state across calls, driven by hypothesis state machines and compared with the
plain path after every step.

What keeps state between calls:
  * TrainStep: buffers per (batch size, dtype, layout), at most `max_shapes` of them (least recently
    used evicted); gradients and λW scratch per dtype;
  * an optimizer object: scratch arrays per (leaf shape, dtype), shared by every network and every
    TrainStep that uses the object;
  * MLP: parameters, optimizer state, its generator, the reused gather buffers (per batch size),
    histories and counters, between fit and partial_fit calls.

FastStepMachine keeps up to three networks of different widths, activations, losses, l2 and
optimizers alive at once, one optimizer *object* per kind shared by all of them, and interleaves
steps with changing batch sizes and casts of a network between float32 and float64. After every
step the fast path (TrainStep: in-place, reused buffers) equals the plain path
(manual.loss_and_grads + optimizer.update of a fresh optimizer object for every update, so stale
scratch in the shared one cannot leak into the reference), leaf by leaf, params and optimizer state.

EstimatorMachine drives one MLP through fit, partial_fit, changes of batch size between calls and
refits in another dtype, and after every call compares it with a replica written from the
docstring of manual/mlp.py with the plain path: one generator (init seed, then one permutation
per shuffled epoch), loss_and_grads and update per batch, the loss history as the row-weighted
mean of the batch losses.

Tolerance: tests/test_train_step.py's (RTOL 1e-12 in float64, 1e-4 in float32): both paths do the
same operations in the same order; only the loss value is summed in another order.
"""

import copy

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import manual
from dualgrad.engine.check import random_labels
from dualgrad.engine.compare import assert_trees_close
from dualgrad.bugs.state import Replica, cast_state, cast_tree
from dualgrad.engine.strategies import specs
from manual import optimizers as mo
from manual.initializers import init_params
from manual.train_step import TrainStep
from manual.validation import encode_targets

RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-4}
DTYPES = st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])
BATCH_SIZES = st.sampled_from([1, 2, 3, 5, 8])
SEEDS = st.integers(0, 2**32 - 1)
OPTIMIZERS = {
    "sgd": lambda: mo.sgd(0.05),
    "momentum": lambda: mo.sgd(0.05, momentum=0.9),
    "nesterov": lambda: mo.sgd(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: mo.adam(1e-2),
    "rmsprop": lambda: mo.rmsprop(1e-3),
    "sgd_schedule": lambda: mo.sgd(mo.exponential_decay(0.1, 0.5, 2), momentum=0.5),
}


def state_trees(state):
    return [field for field in state[1:] if field is not None]


def assert_same(fast_params, fast_state, plain_params, plain_state, dtype, what):
    """Params and state of both paths agree to rtol of the entry and of its leaf's largest entry, and, for
    params, to rtol of the network's largest weight: over several steps a small leaf (a (1,) bias that
    crossed zero) carries the rounding of the larger values it was computed from, which its own
    magnitude no longer shows (float32: -6.2846e-06 vs -6.2864e-06 after steps from about 1e-2)."""
    rtol = RTOL[np.dtype(dtype)]
    assert fast_state.count == plain_state.count, f"{what}: count {fast_state.count} vs {plain_state.count}"
    scale = max(float(np.max(np.abs(leaf), initial=0.0)) for pair in plain_params for leaf in pair)
    assert_trees_close(fast_params, plain_params, f"{what}: params", rtol, ("fast", "plain"), check_dtype=True,
                       atol=rtol * scale)
    for f, p in zip(state_trees(fast_state), state_trees(plain_state)):
        assert_trees_close(f, p, f"{what}: optimizer state", rtol, ("fast", "plain"), check_dtype=True)


class Net:
    """One network with both paths: the fast one (TrainStep + shared optimizer) and the plain one."""

    def __init__(self, spec, kind, step, params, dtype):
        self.spec, self.kind, self.step, self.dtype = spec, kind, step, dtype
        self.fast = (copy.deepcopy(params), step.optimizer.init(params))
        self.plain = (copy.deepcopy(params), step.optimizer.init(params))


class FastStepMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.optimizers = {}  # kind -> the one optimizer object every fast path of that kind uses
        self.nets = []
        self.steps = 0

    @precondition(lambda self: len(self.nets) < 3)
    @rule(spec=specs(max_layers=3, max_width=5), kind=st.sampled_from(sorted(OPTIMIZERS)), dtype=DTYPES,
          max_shapes=st.integers(1, 3), seed=SEEDS)
    def new_network(self, spec, kind, dtype, max_shapes, seed):
        opt = self.optimizers.setdefault(kind, OPTIMIZERS[kind]())
        params = init_params(spec, seed=seed, dtype=dtype)
        self.nets.append(Net(spec, kind, TrainStep(spec, opt, max_shapes=max_shapes), params, dtype))

    @precondition(lambda self: self.nets)
    @rule(which=st.integers(0, 2), n=BATCH_SIZES, seed=SEEDS)
    def train_step(self, which, n, seed):
        net = self.nets[which % len(self.nets)]
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n, net.spec.sizes[0])).astype(net.dtype)
        y = random_labels(net.spec, n, rng)
        Y = encode_targets(net.spec, y, n, dtype=net.dtype)
        value, grads = manual.loss_and_grads(net.spec, net.plain[0], X, y)
        net.plain = OPTIMIZERS[net.kind]().update(grads, net.plain[1], net.plain[0])  # a fresh object: no scratch history
        fast_value, state = net.step(net.fast[0], net.fast[1], X, Y)
        net.fast = (net.fast[0], state)
        self.steps += 1
        what = f"step {self.steps} ({net.kind}, sizes {list(net.spec.sizes)}, {net.spec.loss}, N={n}, {net.dtype.name})"
        rtol = RTOL[net.dtype]
        assert fast_value == pytest.approx(value, rel=rtol, abs=rtol * 1e-6), f"{what}: loss {fast_value} vs {value}"
        assert_same(*net.fast, *net.plain, net.dtype, what)

    @precondition(lambda self: self.nets)
    @rule(which=st.integers(0, 2), dtype=DTYPES)
    def cast(self, which, dtype):
        """The same TrainStep and optimizer go on with the network in another dtype."""
        net = self.nets[which % len(self.nets)]
        net.dtype = dtype
        net.fast = (cast_tree(net.fast[0], dtype), cast_state(net.fast[1], dtype))
        # both paths go on from the same values: float32 steps may leave them ulps apart, which
        # float64's tolerance would then count against the steps that follow
        net.plain = (cast_tree(net.fast[0], dtype), cast_state(net.fast[1], dtype))


TestFastStepMachine = FastStepMachine.TestCase
TestFastStepMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


# ---------------------------------------------------------------- the estimator


def named_optimizer(kind, learning_rate, momentum):
    return mo.sgd(learning_rate, momentum=momentum) if kind == "sgd" else getattr(mo, kind)(learning_rate)


class EstimatorMachine(RuleBasedStateMachine):
    @initialize(loss=st.sampled_from(["cross_entropy", "binary_cross_entropy", "mse"]),
                hidden=st.lists(st.integers(1, 5), max_size=2), activation=st.sampled_from(["relu", "tanh", "gelu"]),
                kind=st.sampled_from(["sgd", "adam", "rmsprop"]), momentum=st.sampled_from([0.0, 0.9]),
                batch_size=st.sampled_from([None, 1, 3, 8]), shuffle=st.booleans(), seed=st.integers(0, 2**16),
                dtype=DTYPES, l2=st.sampled_from([0.0, 0.01]))
    def build(self, loss, hidden, activation, kind, momentum, batch_size, shuffle, seed, dtype, l2):
        n_out = {"cross_entropy": 3, "binary_cross_entropy": 1, "mse": 2}[loss]
        self.n_in = 3
        self.model = manual.MLP([self.n_in, *hidden, n_out], hidden=activation, loss=loss, optimizer=kind,
                                learning_rate=0.05 if kind == "sgd" else 0.01, momentum=momentum if kind == "sgd" else 0.0,
                                l2=l2, batch_size=batch_size, epochs=1, shuffle=shuffle, seed=seed, dtype=dtype)
        self.replica = Replica(self.model, named_optimizer(kind, self.model.learning_rate, self.model.momentum))
        self.classes = None if loss == "mse" else np.arange(max(n_out, 2))

    def data(self, n, seed):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n, self.n_in))
        if self.classes is None:
            return X, rng.normal(size=(n, self.model.spec.sizes[-1]))
        return X, rng.permutation(np.arange(n) % self.classes.size)  # every class present (n ≥ 3)

    @rule(n=st.sampled_from([3, 7, 16]), seed=SEEDS, epochs=st.integers(1, 3), dtype=DTYPES)
    def fit(self, n, seed, epochs, dtype):
        X, y = self.data(n, seed)
        self.model.epochs, self.model.dtype = epochs, dtype  # fit starts afresh: any dtype will do
        self.model.fit(X, y)
        self.replica.start()
        for _ in range(epochs):
            self.replica.epoch(X, y)

    @rule(n=st.sampled_from([3, 7, 16]), seed=SEEDS)
    def partial_fit(self, n, seed):
        X, y = self.data(n, seed)
        self.model.partial_fit(X, y, classes=self.classes)
        if self.replica.params is None:
            self.replica.start()
        self.replica.epoch(X, y)

    @rule(batch_size=st.sampled_from([None, 1, 2, 3, 8]))
    def change_batch_size(self, batch_size):
        self.model.batch_size = batch_size  # read by the next epoch

    @invariant()
    def equals_the_replica(self):
        if self.replica.params is None:
            return
        m, r = self.model, self.replica
        rtol = RTOL[np.dtype(m.dtype)]
        assert m.n_epochs_ == len(r.history) and m.t_ == r.state.count, (m.n_epochs_, m.t_, len(r.history), r.state.count)
        assert m.loss_history == pytest.approx(r.history, rel=rtol, abs=rtol * 1e-6), "loss_history"
        assert_same(m.params, m._state, r.params, r.state, m.dtype, f"MLP after {m.t_} updates")


TestEstimatorMachine = EstimatorMachine.TestCase
TestEstimatorMachine.settings = settings(max_examples=40, stateful_step_count=12, deadline=None)
