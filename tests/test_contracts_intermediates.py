"""What `dualgrad.engine.intermediates` promises, stated as behaviour:

* `expected(spec, conv, params, X, y)` is the derivation of its module docstring: exactly the keys
  ("z", l) for l = 1 … L and ("a", l) for l = 1 … L − 1, each (N, n_l), with
  dz_L = c · dL/ds (the loss's own dlogits, c the conventions' factor), da_l = dz_{l+1} W_{l+1}ᵀ and
  dz_l = da_l ⊙ f'(z_l): for the built-in losses, for sigmoid_mse and for a loss a user registered
  (those two pulled back through the JAX program on another path), and for networks deeper than the
  bucket is wide;
* the sentence names the step from the last agreeing intermediate to the first differing one, in
  backward order: the loss and head's derivative dL/dz_L when dlogits itself differs, every step from
  the loss down when the first one returned differs and is not dlogits, the shape when a shape
  differs; and, when every intermediate agrees, the parameter's own formula (dW1 = Xᵀ dz1,
  dW_l = a_{l−1}ᵀ dz_l, db_l = Σₙ dz_l) for the first parameter that differs.

Found by the sampled mutation run of the module (issue 23, docs/mutation-testing.md); each test was
seen failing on the survivors it states (applied by hand to a scratch copy).
"""

from __future__ import annotations

import numpy as np
import pytest

from dualgrad.engine import intermediates as I
from dualgrad.engine.conventions import Conventions
from dualgrad.engine.report import GradientRow
from manual import NetworkSpec
from manual import network as mn
from manual.activations import get_activation
from manual.losses import get_loss
from manual.validation import encode_targets


def derivation(spec, params, X, y, c=1.0):
    """{(kind, l): dL/d(kind)_l} by manual's forward and the derivation's recurrence, times c."""
    s, caches = mn.forward_with_cache(spec, params, X)
    _, ds = get_loss(spec.loss).value_and_dlogits(s, encode_targets(spec, y, X.shape[0]))
    L = spec.n_layers
    out = {("z", L): c * ds}
    dz = ds
    for l in range(L - 1, 0, -1):
        da = dz @ params[l][0].T  # da_l = dz_{l+1} W_{l+1}ᵀ  (N, n_l)
        dz = da * get_activation(spec.hidden[l - 1]).derivative(caches[l - 1].z, caches[l - 1].a)
        out[("a", l)], out[("z", l)] = c * da, c * dz
    return out


def case(sizes, hidden, loss, n=5, seed=0):
    rng = np.random.default_rng(seed)
    spec = NetworkSpec(list(sizes), list(hidden), loss)
    params = [(rng.standard_normal((a, b)) / np.sqrt(a), rng.standard_normal(b) * 0.1)
              for a, b in zip(sizes[:-1], sizes[1:])]
    X = rng.standard_normal((n, sizes[0]))
    k = sizes[-1]
    y = {"cross_entropy": rng.integers(0, k, n), "binary_cross_entropy": rng.integers(0, 2, n)}.get(
        loss, rng.uniform(0.1, 0.9, (n, k)))
    return spec, params, X, y


def assert_matches(got, want):
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for key in want:
        assert got[key].shape == want[key].shape, key
        assert np.allclose(got[key], want[key], rtol=1e-9, atol=1e-12), key


@pytest.mark.parametrize("loss,hidden,conv", [
    ("cross_entropy", ("tanh", "relu"), Conventions()),
    ("binary_cross_entropy", ("sigmoid", "leaky_relu"), Conventions(reduction="sum")),
    ("mse", ("elu", "tanh"), Conventions(mse="half")),
])
def test_expected_is_the_derivation_for_the_built_in_losses(loss, hidden, conv):
    k = 1 if loss == "binary_cross_entropy" else 3
    spec, params, X, y = case([4, 5, 6, k], hidden, loss)
    c = conv.loss_factor(loss, X.shape[0], k)
    assert c != 1.0 or conv == Conventions()
    assert_matches(I.expected(spec, conv, params, X, y), derivation(spec, params, X, y, c))


def test_expected_is_the_derivation_for_sigmoid_mse():
    """sigmoid + mse is computed as the registered loss sigmoid_mse: pulled back through JAX apart."""
    from dualgrad.engine.losses_extra import ensure_sigmoid_mse

    name = ensure_sigmoid_mse()
    spec, params, X, y = case([3, 4, 2], ("tanh",), name, n=6)
    conv = Conventions(head="sigmoid", mse="half")
    assert_matches(I.expected(spec, conv, params, X, y), derivation(spec, params, X, y, conv.loss_factor(name, 6, 2)))


def test_expected_is_the_derivation_for_a_loss_the_user_registered():
    import jax.numpy as jnp

    from dualgrad.engine.registry import registered_loss

    def quartic(s, Y):
        """L = (1/N) Σ (s − Y)⁴  ⇒  dL/ds = 4 (s − Y)³ / N."""
        r = s - Y
        return float(np.sum(r ** 4) / len(s)), 4 * r ** 3 / len(s)

    with registered_loss("quartic", quartic, lambda s, Y: jnp.sum((s - Y) ** 4) / s.shape[0]):
        for sizes, hidden, n in (([3, 4, 2], ("tanh",), 6), ([2, 3, 3, 1], ("sigmoid", "relu"), 3)):
            spec, params, X, y = case(sizes, hidden, "quartic", n=n, seed=len(sizes))
            assert_matches(I.expected(spec, Conventions(), params, X, y), derivation(spec, params, X, y))


# ---- the order and the sentence ------------------------------------------------------------------


def row(name, layer, passed=True, shape=(4, 3), worst=(0, 0)):
    return GradientRow(layer=layer, name=name, shape=shape, max_abs=0.0 if passed else 1.0,
                       max_rel=0.0 if passed else 1.0, ref_passed=passed, worst_index=worst)


SPEC3 = NetworkSpec([2, 3, 3, 3], ["tanh", "tanh"], "cross_entropy")
LOSS_STEP = "the loss and head's derivative dL/dz3 (ŷ − Y, over N)"


def test_backward_order():
    assert I.backward_order(1) == [("z", 1)]
    assert I.backward_order(3) == [("z", 3), ("a", 2), ("z", 2), ("a", 1), ("z", 1)]


def test_step_words_name_every_step_between_two_intermediates():
    assert I.step_words(None, ("z", 3), 3) == LOSS_STEP
    assert I.step_words(("z", 3), ("a", 2), 3) == "the product with W3ᵀ"
    assert I.step_words(("a", 2), ("z", 2), 3) == "the activation's derivative f'(z2)"
    assert I.step_words(None, ("a", 2), 3) == f"{LOSS_STEP}, then the product with W3ᵀ"
    assert I.step_words(("z", 2), ("z", 1), 3) == "the product with W2ᵀ, then the activation's derivative f'(z1)"
    assert I.step_words(None, ("z", 1), 1) == "the loss and head's derivative dL/dz1 (ŷ − Y, over N)"


def test_a_wrong_dlogits_is_the_loss_and_heads_derivative():
    rows = (row("dlogits", 3, False), row("da2", 2, False), row("dz1", 1, False))
    assert I.sentence(rows, SPEC3) == ("dlogits ✗, da2 ✗, dz1 ✗: dlogits, dL/dz3 — the loss and head's derivative "
                                       "(ŷ − Y, over N) — is wrong")


@pytest.mark.parametrize("first,key,steps", [
    ("da2", ("a", 2), f"{LOSS_STEP}, then the product with W3ᵀ"),
    ("dz2", ("z", 2), f"{LOSS_STEP}, then the product with W3ᵀ, then the activation's derivative f'(z2)"),
])
def test_a_wrong_first_returned_intermediate_names_every_step_from_the_loss(first, key, steps):
    rows = (row(first, key[1], False), row("dz1", 1, True))
    assert I.sentence(rows, SPEC3) == (f"{first} ✗, dz1 ✓: {first} is the first returned and it differs: the "
                                       f"mistake is at or before it, in {steps}")


def test_the_step_between_the_last_agreeing_and_the_first_differing_is_named():
    rows = (row("dlogits", 3), row("dz2", 2), row("dz1", 1, False))
    assert I.sentence(rows, SPEC3) == ("dlogits ✓, dz2 ✓, dz1 ✗: the step from dz2 to dz1 — the product with W2ᵀ, "
                                       "then the activation's derivative f'(z1) — is wrong")


def test_a_shape_that_differs_is_named_with_the_expected_one():
    rows = (row("dlogits", 3), row("dz1", 1, False, shape=(4, 3), worst=None))
    assert I.sentence(rows, SPEC3) == "dlogits ✓, dz1 ✗: dz1 has shape (4, 3) expected (N, n_1)"


@pytest.mark.parametrize("layer,name,formula", [
    (1, "dW", "dW1 = Xᵀ dz1"), (2, "dW", "dW2 = a1ᵀ dz2"), (3, "dW", "dW3 = a2ᵀ dz3"),
    (1, "db", "db1 = Σₙ dz1"), (3, "db", "db3 = Σₙ dz3"),
])
def test_agreeing_intermediates_blame_the_first_wrong_parameter_by_its_formula(layer, name, formula):
    rows = (row("dlogits", 3), row("dz1", 1))
    grads = (row("dW", 1), row("db", 2), row(name, layer, False), row("dW", 2, False))
    assert I.sentence(rows, SPEC3, grads) == (f"dlogits ✓, dz1 ✓: the intermediates agree with jax.grad, so the "
                                              f"step to the parameters is wrong: layer {layer}, {name} ({formula})")
    assert I.sentence(rows, SPEC3, (row("dW", 1),)) == "dlogits ✓, dz1 ✓: all agree with jax.grad"


# ---- last: a 36-layer network compiles its own bucket (7 s) ---------------------------------------


def test_expected_covers_a_network_deeper_than_the_bucket_is_wide():
    """36 layers of width 2: the bucket holds 40 layers of width 32, every shift still has its slot."""
    sizes = [2] * 36 + [2]
    spec, params, X, y = case(sizes, ("tanh",) * 35, "cross_entropy", n=3)
    got = I.expected(spec, Conventions(), params, X, y)
    assert len(got) == 2 * 36 - 1
    assert_matches(got, derivation(spec, params, X, y))
