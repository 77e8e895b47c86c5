"""The twins of manual/second_order.py, from autodiff alone (float64).

    per_example_gradients        jax.vmap(jax.grad(ℓₙ + (λ/2) Σ‖W‖²)) over the rows
    hessian_vector_product       jax.jvp(jax.grad(L), (θ,), (V,)): forward-over-reverse
    gauss_newton_vector_product  J V = jax.jvp(logits), H_s (J V) = jax.jvp(jax.grad(loss of the logits)),
                                 Jᵀ (H_s J V) = jax.vjp(logits), plus λ V_W

L is `reference.network.total_loss`: the batch-mean loss plus (λ/2) Σ‖W‖² (biases not penalised).
NOTE: at a kink jax.nn's activations give f'' = 0 (relu, leaky_relu) and elu''(0) = α; manual matches.
"""

import jax
import jax.numpy as jnp
import numpy as np

from manual.validation import check_params

from .losses import get_loss
from .network import _to_jax, logits, total_loss


def _numpy(tree):
    return [(np.asarray(dW), np.asarray(db)) for dW, db in tree]


def _direction(spec, V):
    try:
        V = check_params(spec, V)
    except (TypeError, ValueError) as err:
        raise type(err)(f"V must be a direction in the params' layout [(V_W, V_b), ...]: {err}") from None
    return [(jnp.asarray(VW, jnp.float64), jnp.asarray(Vb, jnp.float64)) for VW, Vb in V]


def per_example_gradients(spec, params, X, y):
    """[(dW (N, fan_in, fan_out), db (N, fan_out)), ...]: jax.grad of each row's own loss plus the
    penalty, vmapped over the rows (each row a batch of one)."""
    jparams, X, Y = _to_jax(spec, params, X, y)

    def row_loss(p, x_n, y_n):
        return total_loss(p, spec, x_n[None], y_n[None])

    return _numpy(jax.vmap(jax.grad(row_loss), in_axes=(None, 0, 0))(jparams, X, Y))


def hessian_vector_product(spec, params, X, y, V):
    """H V of the whole loss, forward-over-reverse: jax.jvp of jax.grad along V."""
    jparams, X, Y = _to_jax(spec, params, X, y)
    V = _direction(spec, V)
    grad = jax.grad(lambda p: total_loss(p, spec, X, Y))
    return _numpy(jax.jvp(grad, (jparams,), (V,))[1])


def gauss_newton_vector_product(spec, params, X, y, V):
    """G V = Jᵀ H_s J V + λ V_W, with J the Jacobian of the logits (jax.jvp, then jax.vjp) and
    H_s the loss's Hessian in the logits (jax.jvp of its jax.grad)."""
    jparams, X, Y = _to_jax(spec, params, X, y)
    V = _direction(spec, V)
    s, vjp = jax.vjp(lambda p: logits(spec, p, X), jparams)
    _, Jv = jax.jvp(lambda p: logits(spec, p, X), (jparams,), (V,))  # (N, K)
    loss = get_loss(spec.loss)
    _, HJv = jax.jvp(jax.grad(lambda t: loss(t, Y)), (s,), (Jv,))  # (N, K)
    (JtHJv,) = vjp(HJv)
    return _numpy([(dW + spec.l2 * VW, db) for (dW, db), (VW, _) in zip(JtHJv, V)])
