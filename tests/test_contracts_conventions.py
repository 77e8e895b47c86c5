"""Two conventions of a user's backprop (dualgrad/engine/conventions.py), stated as contracts.

kink="either":
    at a unit whose pre-activation is exactly 0, either one-sided derivative is accepted
    (relu'(0) = 1 from `z >= 0` too). A wrong derivative anywhere else still fails.

So a derivative that is right only on the other side of the kink passes AT the kink, and the
other one-sided derivative used everywhere (relu'(z) = 1 for z <= 0, negative z included;
leaky_relu'(z) = 0.01 for z >= 0) must FAIL — a PASS there would be a false PASS for a wrong
derivative, the one thing a checker must never do. Checked on fixed cases holding a unit exactly
on the kink and units on both sides of it (check_gradients), on random networks
(check_implementation), and for a registered activation's elementwise check.

bias="column":
    b (fan_out, 1)   (column-major notes: z = W a + b)

So the user's function receives each b as an (M, 1) column holding b[i] at [i, 0], returns db in
that shape, and is read back into ours entry by entry; a column-major network (z = W a + b,
a of shape (fan_in, N), PyTorch's W layout) passes with layout="out_in", bias="column" and is
refused with a shape message under bias="row", whose b is (1, M).
Found by the mutation catalog of issue 23 (kink="either" accepting the other side away from a kink;
bias="column" handled as "row").
"""

import numpy as np
import pytest

from article_impl import ArticleNet
from dualgrad import ImplementationError, check_gradients, check_implementation
from dualgrad.engine.conventions import Conventions
from dualgrad.engine.registry import registered_activation
from manual.spec import NetworkSpec

# ---------------------------------------------------------------- kink="either"

# relu'(z) and leaky_relu'(z), each as a user may write it
DERIVATIVES = {
    "relu": {
        "jax side (z > 0)": lambda z: (z > 0) * 1.0,
        "other side (z >= 0)": lambda z: (z >= 0) * 1.0,
        "1 for z <= 0, negative z too": lambda z: np.ones_like(z),
        "1 for z > -1": lambda z: (z > -1) * 1.0,
    },
    "leaky_relu": {
        "jax side (z >= 0)": lambda z: np.where(z >= 0, 1.0, 0.01),
        "other side (z > 0)": lambda z: np.where(z > 0, 1.0, 0.01),
        "0.01 for z >= 0, positive z too": lambda z: np.full_like(z, 0.01),
        "1 everywhere": lambda z: np.ones_like(z),
    },
}
RIGHT_AT_THE_KINK_ONLY = ("other side (z >= 0)", "other side (z > 0)")
CORRECT = ("jax side (z > 0)", "jax side (z >= 0)")


class Net(ArticleNet):
    """The article's network with the hidden derivative given as a function of z."""

    def __init__(self, hidden, prime, **kw):
        super().__init__(hidden, "binary_cross_entropy", bias="vector", **kw)
        self.prime = prime

    def _act_prime(self, z, a):
        return self.prime(z)


def kinked_case(hidden, kink_unit=True):
    """A 3-4-1 network on 6 rows: hidden unit 0 exactly on the kink for every row (its W column and
    b are 0), the others with pre-activations of both signs (some in (−1, 0)) and none at 0."""
    rng = np.random.default_rng(5)
    spec = NetworkSpec([3, 4, 1], [hidden], "binary_cross_entropy")
    X = rng.standard_normal((6, 3))
    W1 = rng.standard_normal((3, 4))
    b1 = np.array([0.0, 0.3, -0.2, 0.1])
    if kink_unit:
        W1[:, 0] = 0.0
    W2 = rng.standard_normal((4, 1)) + 0.5
    params = [(W1, b1), (W2, np.array([0.1]))]
    z = X @ W1 + b1
    assert (np.count_nonzero(z == 0) == 6) == kink_unit and (z[:, 1:] != 0).all()
    assert (z > 0).any() and (z < -1).any() and ((-1 < z) & (z < 0)).any()
    return spec, params, X, np.array([0, 1, 1, 0, 1, 0])


@pytest.mark.parametrize("hidden,name", [(h, n) for h in DERIVATIVES for n in DERIVATIVES[h]])
def test_kink_either_accepts_the_other_side_at_a_kink_and_nothing_wrong_elsewhere(hidden, name):
    net = Net(hidden, DERIVATIVES[hidden][name])
    spec, params, X, y = kinked_case(hidden)
    either = check_gradients(spec, params, X, y, impl=net, kink="either")
    strict = check_gradients(spec, params, X, y, impl=net)
    if name in CORRECT:
        assert strict.passed and either.passed
    elif name in RIGHT_AT_THE_KINK_ONLY:
        assert either.passed, either.notes
        assert any("exactly on a kink" in n for n in either.notes)
        assert not strict.passed and any("kink='either'" in n for n in strict.notes)
    else:  # wrong away from the kink: a PASS would be false
        assert not either.passed and not strict.passed
        assert not any("matched with the other one-sided derivative" in n for n in either.notes)


@pytest.mark.parametrize("hidden,name", [(h, n) for h in DERIVATIVES for n in DERIVATIVES[h]
                                         if n not in CORRECT + RIGHT_AT_THE_KINK_ONLY])
def test_kink_either_fails_a_wrong_derivative_without_any_kink(hidden, name):
    spec, params, X, y = kinked_case(hidden, kink_unit=False)
    assert not check_gradients(spec, params, X, y, impl=Net(hidden, DERIVATIVES[hidden][name]), kink="either").passed


def test_kink_either_on_random_networks_fails_relu_prime_one_for_negative_z():
    """The property over drawn networks (silent units on the kink included) never passes relu' = 1."""
    wrong = Net("relu", DERIVATIVES["relu"]["1 for z <= 0, negative z too"])
    result = check_implementation(wrong, hidden="relu", loss="binary_cross_entropy", examples=30, kink="either")
    assert not result.passed and "yours" in result.message


def relu_np(z):
    return np.maximum(z, 0.0)


@pytest.mark.parametrize("name,derivative,passes", [
    ("jax side", lambda z, a: (z > 0) * 1.0, (True, True)),
    ("other side", lambda z, a: (z >= 0) * 1.0, (False, True)),
    ("1 for z <= 0", lambda z, a: np.ones_like(z), (False, False)),
    ("1 for z > -0.5", lambda z, a: (z > -0.5) * 1.0, (False, False)),
])
def test_a_registered_activation_gets_the_same_kink_rule(name, derivative, passes):
    """Elementwise check of a registered relu (before any network): (kink='jax', kink='either')."""
    import jax

    spec, params, X, y = kinked_case("relu")
    with registered_activation("my_relu", relu_np, derivative, jax.nn.relu):
        spec = NetworkSpec([3, 4, 1], ["my_relu"], "binary_cross_entropy")
        net = Net("relu", lambda z: derivative(z, relu_np(z)))
        got = tuple(check_gradients(spec, params, X, y, impl=net, kink=k).functions_passed for k in ("jax", "either"))
    assert got == passes


# ---------------------------------------------------------------- bias="column"


class ColumnMajorNet:
    """A network written column-major (Andrew Ng's notes): A (fan_in, N), W (fan_out, fan_in),
    b (fan_out, 1), Z = W A + b, tanh hidden, sigmoid + binary cross-entropy. Nothing reshapes b:
    it must arrive as a column, and db is returned as one."""

    def __init__(self):
        self.seen = []

    def __call__(self, params, X, y):
        self.seen.append([(W.shape, b.shape, b.copy()) for W, b in params])
        A, m = X.T, X.shape[0]  # (fan_in, N)
        As, Zs = [A], []
        for l, (W, b) in enumerate(params):
            Z = W @ A + b  # (fan_out, fan_in) @ (fan_in, N) + (fan_out, 1) -> (fan_out, N)
            A = 1 / (1 + np.exp(-Z)) if l == len(params) - 1 else np.tanh(Z)
            Zs.append(Z)
            As.append(A)
        Y = y.reshape(1, m).astype(float)
        loss = -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))
        dZ = (A - Y) / m  # (1, N)
        grads = [None] * len(params)
        for l in reversed(range(len(params))):
            W = params[l][0]
            grads[l] = (dZ @ As[l].T, dZ.sum(axis=1, keepdims=True))  # (fan_out, fan_in), (fan_out, 1)
            if l:
                dZ = (W.T @ dZ) * (1 - As[l] ** 2)
        return loss, grads


def square_case():
    """A 3-3-3-1 network on N = 3 rows: every W square and N = fan_out, so a (1, M) row added to
    W A (M, N) broadcasts without an error — only the values can tell row from column."""
    rng = np.random.default_rng(8)
    spec = NetworkSpec([3, 3, 3, 1], ["tanh", "tanh"], "binary_cross_entropy")
    params = [(rng.standard_normal((3, 3)), rng.standard_normal(3)), (rng.standard_normal((3, 3)), rng.standard_normal(3)),
              (rng.standard_normal((3, 1)), rng.standard_normal(1))]
    return spec, params, rng.standard_normal((3, 3)), np.array([0, 1, 1])


def test_bias_column_gives_and_reads_back_fan_out_by_1_columns():
    conv, row = Conventions(bias="column"), Conventions(bias="row")
    b = np.array([1.0, 2.0, 3.0])
    assert conv.user_shape((3,), False) == (3, 1) and row.user_shape((3,), False) == (1, 3)
    col = conv.user_param(b, False)
    assert col.shape == (3, 1) and np.array_equal(col[:, 0], b) and np.array_equal(conv.ours(col, False), b)
    assert conv.user_shape((4, 3), True) == (4, 3)  # W is untouched by the bias convention


def test_a_column_major_network_passes_with_bias_column_entry_for_entry():
    spec, params, X, y = square_case()
    net = ColumnMajorNet()
    user = [(W.T.copy(), b.reshape(-1, 1).copy()) for W, b in params]  # PyTorch's W, column b
    report = check_gradients(spec, user, X, y, impl=net, layout="out_in", bias="column")
    assert report.passed, report.notes
    for (W, b), (w_shape, b_shape, b_seen) in zip(params, net.seen[-1]):
        assert w_shape == W.T.shape and b_shape == (b.size, 1) and np.array_equal(b_seen[:, 0], b)


def test_a_column_major_network_is_refused_as_row_and_a_row_network_as_column():
    spec, params, X, y = square_case()
    as_rows = [(W.T.copy(), b.reshape(1, -1).copy()) for W, b in params]
    with pytest.raises(ImplementationError, match=r"db has shape \(3, 1\), expected \(1, 3\).*bias='column'"):
        check_gradients(spec, as_rows, X, y, impl=ColumnMajorNet(), layout="out_in", bias="row")
    row_net = ArticleNet("tanh", "binary_cross_entropy", layout="out_in", bias="row")
    as_columns = [(W.T.copy(), b.reshape(-1, 1).copy()) for W, b in params]
    with pytest.raises(ImplementationError, match=r"db has shape \(1, 3\), expected \(3, 1\).*bias='row'"):
        check_gradients(spec, as_columns, X, y, impl=row_net, layout="out_in", bias="column")
    with pytest.raises(ValueError, match=r"b must have shape \(3, 1\).*bias='row'"):
        check_gradients(spec, as_rows, X, y, impl=ColumnMajorNet(), layout="out_in", bias="column")


def test_bias_column_on_random_networks():
    net = ColumnMajorNet()
    result = check_implementation(net, hidden="tanh", loss="binary_cross_entropy", examples=20, layout="out_in",
                                  bias="column")
    assert result.passed, result.message
    assert net.seen and all(b_shape == (w_shape[0], 1) for call in net.seen for w_shape, b_shape, _ in call)
