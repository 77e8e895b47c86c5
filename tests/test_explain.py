"""dualgrad.explain: the derivation of one network, with shapes and measured errors against jax.grad."""

import re

import numpy as np

import pytest

from dualgrad.explain.network import FORMULAS, explain
from manual import activations as manual_acts
from manual.spec import NetworkSpec

SPEC = NetworkSpec([10, 64, 3], "relu", "cross_entropy")


def test_parameter_table_counts():
    text = explain(SPEC, batch=32)
    table = text.split("Parameters")[1].split("Forward")[0]
    assert re.search(r"1\s+W1: 10×64 = 640\s+b1: 64\s+640 \+ 64 = 704", table)
    assert re.search(r"2\s+W2: 64×3 = 192\s+b2: 3\s+192 \+ 3 = 195", table)
    assert table.split()[-2:] == ["total", "899"]


@pytest.mark.parametrize("sizes, hidden, loss, l2", [
    ([10, 64, 3], "relu", "cross_entropy", 0.0),
    ([4, 5, 6, 1], ["tanh", "gelu"], "binary_cross_entropy", 0.0),
    ([3, 7, 7, 7, 2], ["sigmoid", "elu", "softplus"], "mse", 0.01),
    ([6, 2], [], "cross_entropy", 0.0),
])
def test_every_step_with_its_shape(sizes, hidden, loss, l2):
    spec = NetworkSpec(sizes, hidden, loss, l2)
    N, L = 9, spec.n_layers
    text = explain(spec, batch=N, seed=2)
    forward, backward = text.split("Forward")[1].split("Backward")
    for l in range(1, L + 1):
        i, o = sizes[l - 1], sizes[l]
        assert f"z{l} = a{l - 1} W{l} + b{l}" in forward
        assert f"({N}, {i}) @ ({i}, {o}) + ({o},) → ({N}, {o})" in forward
        if l < L:
            assert f"a{l} = " in forward
            assert f"δ{l} = (δ{l + 1} W{l + 1}ᵀ) ⊙ " in backward
            nxt = sizes[l + 1]
            assert f"({N}, {nxt}) @ ({nxt}, {o}) ⊙ ({N}, {o}) → ({N}, {o})" in backward
        dW = next(line for line in backward.splitlines() if line.strip().startswith(f"dW{l} = a{l - 1}ᵀ δ{l}"))
        db = next(line for line in backward.splitlines() if line.strip().startswith(f"db{l} = Σₙ δ{l}"))
        assert f"({i}, {N}) @ ({N}, {o}) → ({i}, {o})" in dW and ("+ λ W" in dW) == bool(l2)
        delta = next(line for line in backward.splitlines() if line.strip().startswith(f"δ{l} = "))
        for line in (dW, db, delta):
            assert re.search(r"max \|manual − jax\.grad\| = \S+ \(rel \S+\) pass$", line), line
    head = {"cross_entropy": "(ŷ − Y) / N", "binary_cross_entropy": "(ŷ − Y) / N", "mse": "2 (ŷ − Y) / (N·K)"}[loss]
    assert f"δ{L} = {head}" in backward
    assert text.splitlines()[-1].strip().startswith(f"PASS: {2 * L}/{2 * L} gradients and {L}/{L} deltas")


def test_markdown_has_tables_and_latex():
    md = explain(SPEC, batch=32, fmt="markdown")
    assert md.startswith("## Network 10 → 64 → 3")
    assert "| 2 | $W_{2}$: 64 × 3 = 192 | $b_{2}$: 3 | 192 + 3 = 195 |" in md
    assert r"| $dW_{1} = a_{0}^\top \delta_{1}$ | (10, 32) @ (32, 64) → (10, 64) |" in md
    assert r"\mathrm{relu}'(z) = \mathbb{1}[z > 0]" in md
    rows = [line for line in md.splitlines() if line.startswith(("| $dW", "| $db", r"| $\delta"))]
    assert len(rows) == 6 and all(line.endswith("| pass |") for line in rows)


def test_every_built_in_activation_has_a_formula():
    assert set(FORMULAS) == set(manual_acts.BUILT_IN)


def test_a_wrong_derivative_shows_as_fail(monkeypatch):
    act = manual_acts.ACTIVATIONS["relu"]
    monkeypatch.setitem(manual_acts.ACTIVATIONS, "relu", act._replace(derivative=lambda z, a: (z >= -1.0) * 1.0))
    text = explain(SPEC, batch=32)
    fails = [line.split()[0] for line in text.splitlines() if line.rstrip().endswith("FAIL")]
    assert fails == ["δ1", "dW1", "db1"]  # δ1 takes the wrong derivative, then the layer below; layer 2 is right
    assert text.splitlines()[-1].strip().startswith("FAIL: 2/4 gradients and 1/2 deltas")


def test_deterministic_for_a_seed():
    assert explain(SPEC, batch=4, seed=1) == explain(SPEC, batch=4, seed=1)


@pytest.mark.parametrize("kwargs, error", [
    (dict(fmt="html"), ValueError),
    (dict(batch=0), ValueError),
    (dict(batch=2.5), ValueError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        explain(SPEC, **kwargs)


# ---- formulas from the code's docstrings, the head derived, --values, the exit status ----------------------


@pytest.mark.parametrize("name", manual_acts.BUILT_IN)
def test_formulas_are_the_docstrings(name):
    """The derivative `explain` prints is the first docstring line of the function that runs."""
    act = manual_acts.ACTIVATIONS[name]
    f = FORMULAS[name]
    assert act.derivative.__doc__.strip().splitlines()[0] == f"da/dz = {f.derivative}"
    assert act.forward.__doc__.strip().splitlines()[0] == f"a = {f.forward}"
    assert "TeX:" in act.derivative.__doc__ and f.tex_derivative in act.derivative.__doc__


@pytest.mark.parametrize("name", manual_acts.BUILT_IN)
def test_printed_derivative_is_what_the_code_computes(name):
    """Evaluate the printed formula (a few spellings turned into Python) against the function's values."""
    act = manual_acts.ACTIVATIONS[name]
    z = np.array([-1.7, -0.3, 0.4, 2.2])
    a = act.forward(z)
    expr = FORMULAS[name].derivative
    sig = manual_acts.sigmoid
    env = dict(z=z, a=a, np=np, σ=sig, tanh=np.tanh, sqrt=np.sqrt, pi=np.pi)
    py = (expr.replace("[z > 0]", "(z > 0)").replace("½", "0.5*").replace("√(2/π)", "np.sqrt(2/np.pi)*")
          .replace("tanh² u", "np.tanh(u)**2").replace("tanh u", "np.tanh(u)").replace("z²", "z**2")
          .replace("3·0.044715", "3*0.044715").replace("−", "-").replace("≥", ">=").replace(")(", ")*("))
    if " if " in py:  # "1 if z > 0 else a + 1"
        then, rest = py.split(" if ")
        cond, other = rest.split(" else ")
        py = f"np.where({cond}, {then}, {other})"
    py = re.sub(r"\) \(", ")*(", py)
    py = re.sub(r"(\w|\)) (?=[(zaσn])", r"\1*", py)
    env["u"] = np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)
    np.testing.assert_allclose(eval(py, env) * np.ones_like(z), act.derivative(z, a), rtol=1e-12, atol=1e-15)


def test_head_is_derived():
    text = explain(SPEC, batch=4)
    assert "softmax Jacobian ∂ŷₙⱼ/∂zₙₖ = ŷₙⱼ ([j = k] − ŷₙₖ)" in text and "= (ŷₙₖ − Yₙₖ) / N" in text
    bce = explain(NetworkSpec([2, 3, 1], "relu", "binary_cross_entropy"), batch=4)
    assert "σ'(zₙ) = ŷₙ (1 − ŷₙ)" in bce and "⇒ δₙ = ∂L/∂ŷₙ · σ'(zₙ) = (ŷₙ − yₙ) / N" in bce
    assert r"\sum_j Y_{nj}" in explain(SPEC, batch=4, fmt="markdown")


def test_values_are_manuals_numbers():
    from manual.network import loss_and_grads

    from dualgrad.engine.check import random_case

    spec = NetworkSpec([2, 3, 2], "tanh", "cross_entropy")
    text = explain(spec, batch=2, values=True)
    _, grads = loss_and_grads(spec, *random_case(spec, 2, 0))
    block = text.split("db1 = Σₙ δ1")[1].splitlines()[1]
    np.testing.assert_allclose(np.array(block.strip(" []").split(), float), grads[0][1], atol=1e-4)


def test_explain_result_passed(monkeypatch):
    from dualgrad.explain.network import explain_result

    assert explain_result(SPEC, batch=4).passed
    act = manual_acts.ACTIVATIONS["relu"]
    monkeypatch.setitem(manual_acts.ACTIVATIONS, "relu", act._replace(derivative=lambda z, a: (z >= -1.0) * 1.0))
    assert not explain_result(SPEC, batch=4).passed
