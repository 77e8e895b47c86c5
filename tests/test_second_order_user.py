"""check_implementation(fn, kind=...) on users' per-example gradients, weighted losses, H·V and G·V.

A user-style implementation in plain NumPy (tanh hidden layers, softmax cross-entropy, a fixed λ)
passes, as do manual's own functions wrapped; each injected bug (BUGS) is caught, shrunk and named.
The properties run through `reference.bucketed_second_order` (one compiled program per bucket; the
default bounds fit one), so HYPOTHESIS_PROFILE=ci's count of examples stays fast.
"""

import numpy as np
import pytest
from hypothesis import settings

import manual
from dualgrad import check_implementation
from dualgrad.engine import second_order_check as SC
from dualgrad.engine.implementation import ImplementationError

LAM = 0.01
EXAMPLES = max(50, settings().max_examples // 4)  # each check_implementation call runs this many cases


# ---------------------------------------------------------------- a user's own code, plain NumPy


def _forward(params, X):
    """[a₀, a₁, ..., a_{L-1}] and the logits s; tanh hidden layers."""
    acts = [X]
    for W, b in params[:-1]:
        acts.append(np.tanh(acts[-1] @ W + b))
    W, b = params[-1]
    return acts, acts[-1] @ W + b


def _softmax(s):
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def user_per_example(params, X, y, bug=None):
    acts, s = _forward(params, X)
    N = X.shape[0]
    delta = _softmax(s) - np.eye(s.shape[1])[y]  # (N, K) row n: ∂ℓₙ/∂sₙ
    if bug == "per_example_over_N":
        delta = delta / N
    out = [None] * len(params)
    for l in reversed(range(len(params))):
        W = params[l][0]
        out[l] = (np.einsum("ni,no->nio", acts[l], delta) + LAM * W, delta.copy())
        if l > 0:
            delta = (delta @ W.T) * (1 - acts[l] ** 2)
    return out


def user_weighted(params, X, y, sample_weight, bug=None):
    acts, s = _forward(params, X)
    P = _softmax(s)
    Y = np.eye(s.shape[1])[y]
    w = np.asarray(sample_weight, float)
    total = X.shape[0] if bug == "weights_not_normalised" else w.sum()
    rows = -np.log(np.sum(P * Y, axis=1))  # (N,) ℓₙ
    loss = float(w @ rows / total) + 0.5 * LAM * sum(float(np.sum(W * W)) for W, _ in params)
    dz = w[:, None] * (P - Y) / total
    grads = [None] * len(params)
    for l in reversed(range(len(params))):
        W = params[l][0]
        grads[l] = (acts[l].T @ dz + LAM * W, dz.sum(axis=0))
        if l > 0:
            dz = (dz @ W.T) * (1 - acts[l] ** 2)
    return loss, grads


def _r_forward(params, acts, V):
    Rz, Ra = [], [np.zeros_like(acts[0])]
    for l, ((W, _), (VW, Vb)) in enumerate(zip(params, V)):
        Rz.append(Ra[-1] @ W + acts[l] @ VW + Vb)
        if l < len(params) - 1:
            Ra.append((1 - acts[l + 1] ** 2) * Rz[-1])
    return Rz, Ra


def user_hvp(params, X, y, V, bug=None):
    acts, s = _forward(params, X)
    N = X.shape[0]
    P, Y = _softmax(s), np.eye(s.shape[1])[y]
    Rz, Ra = _r_forward(params, acts, V)
    dz = (P - Y) / N
    Rs = Rz[-1]
    Rdz = (P * Rs - P * np.sum(P * Rs, axis=1, keepdims=True)) / N  # H_s R{s}, softmax cross-entropy
    out = [None] * len(params)
    for l in reversed(range(len(params))):
        W, VW = params[l][0], V[l][0]
        out[l] = (Ra[l].T @ dz + acts[l].T @ Rdz + LAM * VW, Rdz.sum(axis=0))
        if l > 0:
            a = acts[l]
            da, Rda = dz @ W.T, Rdz @ W.T + dz @ VW.T
            d1, d2 = 1 - a ** 2, -2 * a * (1 - a ** 2)  # tanh', tanh''
            f2_term = 0.0 if bug == "no_second_derivative" else da * d2 * Rz[l - 1]
            dz, Rdz = da * d1, Rda * d1 + f2_term
    return out


def user_ggn(params, X, y, V, bug=None):
    if bug == "ggn_is_hvp":  # the Hessian of the network, not of the loss
        return user_hvp(params, X, y, V)
    acts, s = _forward(params, X)
    P = _softmax(s)
    Rz, _ = _r_forward(params, acts, V)
    u = (P * Rz[-1] - P * np.sum(P * Rz[-1], axis=1, keepdims=True)) / X.shape[0]
    out = [None] * len(params)
    for l in reversed(range(len(params))):
        W = params[l][0]
        out[l] = (acts[l].T @ u + LAM * V[l][0], u.sum(axis=0))
        if l > 0:
            u = (u @ W.T) * (1 - acts[l] ** 2)
    return out


USER = {"per_example": user_per_example, "weighted": user_weighted, "hvp": user_hvp, "ggn": user_ggn}
FIXED = dict(hidden="tanh", loss="cross_entropy", l2=LAM)

# name: (kind, the function with the bug, a words of the diagnosis the message must carry)
BUGS = {
    "per_example_over_N": ("per_example", "yours is 1/N"),
    "weights_not_normalised": ("weighted", "divided by N, not by Σ wₙ"),
    "no_second_derivative": ("hvp", "misses da ⊙ f''(z) ⊙ R{z}"),
    "ggn_is_hvp": ("ggn", "yours equals H·V"),
}


@pytest.mark.parametrize("kind", list(USER))
def test_a_users_plain_numpy_code_passes(kind):
    result = check_implementation(USER[kind], kind=kind, examples=EXAMPLES, **FIXED)
    assert result.passed, result.message
    assert result.examples == EXAMPLES


@pytest.mark.parametrize("bug", list(BUGS))
def test_each_injected_bug_is_caught_shrunk_and_named(bug):
    kind, words = BUGS[bug]
    fn = USER[kind]

    def buggy(*args):
        return fn(*args, bug=bug)

    result = check_implementation(buggy, kind=kind, examples=EXAMPLES, **FIXED)
    assert not result.passed
    first, *rest = result.message.splitlines()
    assert first.startswith(("layer ", "loss: ")), result.message
    assert words in result.message, result.message
    assert f"checked: {SC.WHAT[kind]}" in result.message
    case = result.counterexample
    assert isinstance(case, SC.Counterexample) and case.spec.hidden in ((), ("tanh",), ("tanh", "tanh"))
    assert (case.V is not None) == (kind in ("hvp", "ggn")) and (case.sample_weight is not None) == (kind == "weighted")
    # shrunk: the smallest network that shows it (one hidden layer where the bug needs one)
    assert case.spec.n_layers <= (2 if kind in ("hvp", "ggn") else 1) and case.X.shape[0] <= 2, result.message
    assert f"(the shrunk case)" in result.message


# ---------------------------------------------------------------- manual's own, wrapped, on drawn networks

MANUAL = {
    "per_example": lambda params, X, y, spec: manual.per_example_gradients(spec, params, X, y),
    "weighted": lambda params, X, y, sample_weight, spec: manual.loss_and_grads(spec, params, X, y,
                                                                                  sample_weight=sample_weight),
    "hvp": lambda params, X, y, V, spec: manual.hessian_vector_product(spec, params, X, y, V),
    "ggn": lambda params, X, y, V, spec: manual.gauss_newton_vector_product(spec, params, X, y, V),
}


@pytest.mark.parametrize("kind", list(MANUAL))
def test_manuals_functions_pass_on_drawn_activations_losses_and_l2(kind):
    result = check_implementation(MANUAL[kind], kind=kind, examples=EXAMPLES, l2="draw")
    assert result.passed, result.message


def test_the_hessian_check_catches_a_missing_term_with_drawn_activations():
    """Drawn activations and losses: the dz V_Wᵀ term left out is found on any of them."""
    def hvp(params, X, y, V, spec):
        return SC.hvp_without("dzV", spec, params, X, y, V)

    result = check_implementation(hvp, kind="hvp", examples=EXAMPLES, l2="draw")
    assert not result.passed and "misses dz V_Wᵀ in R{da}" in result.message, result.message


def test_per_example_gradients_without_the_penalty_are_named():
    def pe(params, X, y):
        return [(dW - LAM * params[l][0], db) for l, (dW, db) in enumerate(user_per_example(params, X, y))]

    result = check_implementation(pe, kind="per_example", examples=EXAMPLES, **FIXED)
    assert not result.passed and "lacks the penalty's gradient λW" in result.message, result.message


# ---------------------------------------------------------------- never PASS for code that did not run


def test_every_counted_example_called_the_function():
    calls = []

    def hvp(params, X, y, V):
        calls.append(X.shape)
        return user_hvp(params, X, y, V)

    result = check_implementation(hvp, kind="hvp", examples=20, **FIXED)
    assert result.passed and result.examples == 20 and len(calls) >= 20


def test_a_function_that_raises_is_an_error_with_the_shrunk_case():
    def hvp(params, X, y, V):
        raise RuntimeError("not written yet")

    with pytest.raises(ImplementationError, match=r"raised RuntimeError: not written yet \(on the smallest case"
                                                  r" found: 1-2 - ce N=1") as info:
        check_implementation(hvp, kind="hvp", examples=5, **FIXED)
    assert isinstance(info.value, ValueError) and info.value.counterexample.V is not None


@pytest.mark.parametrize("kind, returned, error, match", [
    ("per_example", lambda p, X: [(W, b) for W, b in p], ValueError,
     r"layer 1, dW has shape \(\d+, \d+\), expected \(\d+, \d+, \d+\) \(one row per example first\)"),
    ("hvp", lambda p, X: list(p) + [p[0]], TypeError, r"one pair per layer"),
    ("hvp", lambda p, X: [(W, b[:, None]) for W, b in p], ValueError, r"layer 1, db has shape \(\d+, 1\), expected"),
    ("ggn", lambda p, X: [(W * np.nan, b) for W, b in p], ValueError, r"layer 1, dW contains NaN"),
    ("weighted", lambda p, X: [(W, b) for W, b in p], TypeError, r"must return \(loss, \[\(dW, db\), \.\.\.\]\)"),
    ("weighted", lambda p, X: ("a", [(W, b) for W, b in p]), TypeError, r"loss must be a real number"),
])
def test_bad_returns_are_type_or_value_errors(kind, returned, error, match):
    def fn(params, X, y, *rest):
        return returned(params, X)

    with pytest.raises(error, match=match):
        check_implementation(fn, kind=kind, examples=5, **FIXED)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(kind="hessian"), ValueError, r"kind must be one of 'gradients', 'per_example', 'weighted', 'hvp', 'ggn'"),
    (dict(kind=3), ValueError, r"kind must be one of"),
    (dict(kind="hvp", layout="out_in"), ValueError, r"layout is for kind='gradients'"),
    (dict(kind="hvp", stack="dense:3"), ValueError, r"stack is for kind='gradients'"),
    (dict(kind="hvp", hidden=None), ValueError, r"pass hidden"),
    (dict(kind="hvp", loss="hinge"), ValueError, r"loss must be one of binary_cross_entropy"),
    (dict(kind="hvp", examples=0), ValueError, r"examples must be a positive int"),
])
def test_bad_arguments_are_refused(kwargs, error, match):
    args = {**FIXED, **kwargs}
    with pytest.raises(error, match=match):
        check_implementation(user_hvp, **args)


def test_a_function_of_the_wrong_arity_is_refused():
    with pytest.raises(TypeError, match=r"kind='hvp' calls fn\(params, X, y, V\).*cannot be called with 4 arguments"):
        check_implementation(lambda params, X, y: None, kind="hvp", **FIXED)


def test_kind_gradients_is_todays_check():
    def loss_and_grads(params, X, y, spec):
        return manual.loss_and_grads(spec, params, X, y)

    assert check_implementation(loss_and_grads, kind="gradients", examples=10).passed


# ---------------------------------------------------------------- the command line


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_second_order.py"
    path.write_text(
        "from tests.test_second_order_user import user_hvp, user_ggn\n"
        "def hvp_without_f2(params, X, y, V):\n"
        "    return user_hvp(params, X, y, V, bug='no_second_derivative')\n"
        "def half(params, X, y, V):\n"
        "    return list(params) + [params[0]]\n")
    return path


def _cli(*argv):
    import contextlib
    import io

    from dualgrad.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_cli_kind_pass_fail_and_errors(user_file):
    common = ["--hidden", "tanh", "--loss", "cross_entropy", "--l2", str(LAM), "--examples", "30"]
    status, out, err = _cli("verify", "--impl", f"{user_file}:user_ggn", "--kind", "ggn", *common)
    assert status == 0 and out.startswith("dualgrad verify --impl --kind ggn: ") and "user_ggn (G·V)" in out and "PASS: 30" in out, out + err
    status, out, err = _cli("verify", "--impl", f"{user_file}:hvp_without_f2", "--kind", "hvp", *common)
    assert status == 1 and "FAIL: layer 1, " in out and "misses da ⊙ f''(z) ⊙ R{z}" in out and "V = [" in out, out
    status, out, err = _cli("verify", "--impl", f"{user_file}:half", "--kind", "hvp", *common)
    assert status == 2 and err.count("\n") == 1 and err.startswith("dualgrad: error: ") and "one pair per layer" in err
    status, out, err = _cli("verify", "--impl", f"{user_file}:user_ggn", "--kind", "hessian", *common)
    assert status == 2 and err.startswith("dualgrad: error: ") and "--kind" in err and "Traceback" not in err
    status, out, err = _cli("verify", "--impl", f"{user_file}:user_ggn", "--kind", "ggn", "--layout", "out_in", *common)
    assert status == 2 and err.startswith("dualgrad: error: ") and "kind='gradients'" in err
    status, out, err = _cli("verify", "--kind", "ggn")
    assert status == 2 and "--kind" in err and "--impl" in err


# ---------------------------------------------------------------- explain --hvp


@pytest.mark.parametrize("sizes, hidden, loss, l2", [
    ([3, 4, 2], "tanh", "cross_entropy", 0.1),
    ([2, 5, 3, 1], ["softplus", "relu"], "binary_cross_entropy", 0.0),
    ([2, 3, 3, 2], ["elu", "gelu"], "mse", 0.01),
])
def test_explain_hvp_measures_every_step(sizes, hidden, loss, l2):
    from dualgrad.explain.second_order import derive_hvp, render_hvp

    spec = manual.NetworkSpec(sizes, hidden, loss, l2)
    d = derive_hvp(spec, batch=5, seed=2)
    L = spec.n_layers
    assert d.passed and [s.name for s in d.forward][::2] == [f"R{{z{k}}}" for k in range(1, L + 1)]
    assert len(d.forward) == 2 * L - 1 and len(d.backward) == 1 + 2 * L + 2 * (L - 1)
    text = render_hvp(d)
    assert text.endswith("PASS") and f"{len(d.forward) + len(d.backward)}/{len(d.forward) + len(d.backward)} steps pass" in text


def test_explain_hvp_fails_the_step_with_a_wrong_second_derivative(monkeypatch):
    from manual import activations as A
    from dualgrad.explain.second_order import derive_hvp

    monkeypatch.setitem(A.ACTIVATIONS, "tanh", A.ACTIVATIONS["tanh"]._replace(second_derivative=lambda z, a: 0 * z))
    d = derive_hvp(manual.NetworkSpec([3, 4, 2], "tanh", "cross_entropy"), batch=4)
    failing = [s.name for s in d.forward + d.backward if not s.passed]
    assert not d.passed and failing[0] == "R{dz1}" and "R{z1}" not in failing and not d.product.passed
    status, out, err = _cli("explain", "--sizes", "3", "4", "2", "--hidden", "tanh", "--hvp")
    assert status == 1 and out.rstrip().endswith("FAIL")


def test_explain_hvp_bad_flags():
    for argv, words in ((["--sizes", "2", "3", "2", "--hvp", "--plot", "g.png"], "--plot is not available with --hvp"),
                        (["--stack", "dense:3", "--input", "2", "--hvp"], "use it with --sizes"),
                        (["--sizes", "2", "3", "2", "--hvp", "--batch", "0"], "--batch")):
        status, out, err = _cli("explain", *argv)
        assert status == 2 and err.startswith("dualgrad: error: ") and words in err and err.count("\n") == 1, err


def test_cli_kind_json_and_weighted(user_file):
    import json

    user_file.write_text(user_file.read_text() + "from tests.test_second_order_user import user_weighted\n"
                         "def unnormalised(params, X, y, w):\n"
                         "    return user_weighted(params, X, y, w, bug='weights_not_normalised')\n")
    status, out, err = _cli("verify", "--impl", f"{user_file}:unnormalised", "--kind", "weighted", "--hidden", "tanh",
                            "--loss", "cross_entropy", "--l2", str(LAM), "--examples", "30", "--json")
    report = json.loads(out)
    assert status == 1 and report["kind"] == "weighted" and not report["passed"]
    assert "not by Σ wₙ" in report["message"] and report["counterexample"]["sample_weight"] is not None
    assert report["counterexample"]["V"] is None
