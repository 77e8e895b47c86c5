"""check_layer on a jax.custom_vjp function (issue 19): its hand-written bwd is what is checked,
through jax.vjp, against the same math without the custom rule."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dualgrad import check_layer


def logsumexp_plain(x):
    m = jax.lax.stop_gradient(x.max(axis=-1, keepdims=True))
    return (m + jnp.log(jnp.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]


def make_logsumexp(bug=None):
    @jax.custom_vjp
    def lse(x):
        return logsumexp_plain(x)

    def fwd(x):
        out = logsumexp_plain(x)
        return out, (x, out)

    def bwd(res, g):
        x, out = res
        p = jnp.exp(x - out[..., None])  # softmax
        if bug == "no_normalise":
            p = jnp.exp(x - x.max(axis=-1, keepdims=True))
        return (g[..., None] * p,)

    lse.defvjp(fwd, bwd)
    return lse


LSE = dict(shapes={"x": ("N", "K")}, dims={"N": [1, 2, 3], "K": [1, 2, 5]})


def test_a_correct_custom_vjp_passes_in_float64_and_float32():
    f = make_logsumexp()
    assert check_layer(f, reference=logsumexp_plain, examples=40, **LSE).passed
    r = check_layer(f, reference=logsumexp_plain, examples=40, dtype="float32", **LSE)
    assert r.passed, r.message


def test_a_wrong_bwd_is_caught_and_shrunk():
    r = check_layer(make_logsumexp("no_normalise"), reference=logsumexp_plain, examples=100, **LSE)
    assert not r.passed
    assert r.message.startswith("dx: ") and r.message.splitlines()[-1] == "case: N=1 K=2"
    assert "your custom_vjp bwd" in r.message


def test_two_inputs_and_a_traced_hyperparameter():
    @jax.custom_vjp
    def axpy(a, x, y):
        return a * x + y

    axpy.defvjp(lambda a, x, y: (a * x + y, (a, x)),
                lambda res, g: (jnp.sum(g * res[1]), g * res[0], g))

    def plain(a, x, y):
        return a * x + y

    r = check_layer(axpy, reference=plain, shapes={"a": (), "x": ("N",), "y": ("N",)}, examples=30)
    assert r.passed, r.message

    axpy_bad = jax.custom_vjp(plain)
    axpy_bad.defvjp(lambda a, x, y: (a * x + y, (a, x)), lambda res, g: (jnp.sum(g * res[1]), g * res[0], 2 * g))
    bad = check_layer(axpy_bad, reference=plain, shapes={"a": (), "x": ("N",), "y": ("N",)}, examples=30)
    assert not bad.passed and bad.message.startswith("dy: ")


def test_half_precision_is_for_torch_only():
    with pytest.raises(ValueError, match="dtype"):
        check_layer(make_logsumexp(), reference=logsumexp_plain, dtype="bfloat16", **LSE)
