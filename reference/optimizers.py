"""The same optimizers and schedules, built from optax itself, over the params layout.

`init(params)` and `update(grads, state, params) -> (new_params, new_state)` as
in `manual.optimizers`; arrays go in as NumPy, are computed as jnp float64, and
new params come back as NumPy float64. The state is optax's own. The schedules
take manual's arguments and return optax's schedules.

NOTE: `update` runs optax eagerly, not under jax.jit: each primitive is then
compiled once per leaf shape and reused by every optimizer and hyper-parameter,
where a jitted update would recompile for every new optimizer object.
"""

from typing import Callable, NamedTuple

from . import _x64  # noqa: F401  (float64 before any array is made)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402


class Optimizer(NamedTuple):
    init: Callable  # params -> optax state
    update: Callable  # (grads, state, params) -> (new_params, new_state)


def constant(rate):
    return optax.constant_schedule(rate)


def exponential_decay(init_value, decay_rate, transition_steps, staircase=False):
    schedule = optax.exponential_decay(init_value, transition_steps, decay_rate, staircase=staircase)
    # NOTE: optax counts steps in int32, and jnp gives int32 / int in float32 even under x64,
    # so optax alone computes this rate in float32 (~1e-7 relative); a float64 step keeps it float64.
    return lambda step: schedule(jnp.asarray(step, jnp.float64))


def step_decay(init_value, boundaries_and_scales):
    return optax.piecewise_constant_schedule(init_value, boundaries_and_scales)


def sgd(learning_rate, momentum=0.0, nesterov=False):
    return _wrap(optax.sgd(learning_rate, momentum or None, nesterov))  # optax: None = no momentum


def adam(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    return _wrap(optax.adam(learning_rate, b1, b2, eps))


def rmsprop(learning_rate, decay=0.9, eps=1e-8):
    return _wrap(optax.rmsprop(learning_rate, decay, eps))


def _wrap(tx):
    def update(grads, state, params):
        params = _to_jax(params)
        updates, state = tx.update(_to_jax(grads), state, params)
        return jax.tree.map(np.asarray, optax.apply_updates(params, updates)), state

    return Optimizer(lambda params: tx.init(_to_jax(params)), update)


def _to_jax(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)
