"""dualgrad.check: the per-parameter report, finite differences and kink marking, and the sweep's cases."""

import json

import numpy as np
import pytest

import manual
import reference
from dualgrad.engine.check import check_gradients, random_case, sweep_cases
from manual import activations as manual_acts
from manual import spec as _spec
from manual.network import loss
from manual.spec import NetworkSpec


def test_reference_check_gradients_is_the_same_function():
    assert reference.check_gradients is check_gradients


def test_report_rows_in_layer_order():
    spec = NetworkSpec([4, 6, 5, 3], ["tanh", "silu"], "cross_entropy", 0.01)
    report = check_gradients(spec, *random_case(spec, 8, seed=1))
    assert report.passed and report.batch == 8 and len(report) == 6
    assert [(r.layer, r.name, r.shape) for r in report] == [
        (1, "dW", (4, 6)), (1, "db", (6,)), (2, "dW", (6, 5)), (2, "db", (5,)), (3, "dW", (5, 3)), (3, "db", (3,))]
    assert all(r.max_rel < 1e-9 and r.fd_max_abs is None for r in report)
    assert report.loss == pytest.approx(report.loss_reference, rel=1e-12)
    d = json.loads(report.to_json())
    assert d["passed"] is True and len(d["rows"]) == 6 and d["spec"]["hidden"] == ["tanh", "silu"]
    assert report.table().splitlines()[-1].startswith("PASS: 6/6 leaves")


def test_wrong_derivative_fails_its_leaves(monkeypatch):
    act = manual_acts.ACTIVATIONS["sigmoid"]
    monkeypatch.setitem(manual_acts.ACTIVATIONS, "sigmoid", act._replace(derivative=lambda z, a: a * (1 - a) * 1.01))
    spec = NetworkSpec([3, 4, 2], "sigmoid", "cross_entropy")
    report = check_gradients(spec, *random_case(spec, 5), fd=True)
    assert not report.passed
    assert [(r.layer, r.name, r.ref_passed, r.fd_passed) for r in report] == [
        (1, "dW", False, False), (1, "db", False, False), (2, "dW", True, True), (2, "db", True, True)]
    assert report[0].max_rel == pytest.approx(0.01, rel=1e-3)  # the 1% slip, measured


def test_fd_marks_relu_kinks_instead_of_failing_them():
    """A silent relu unit (zero weights and bias in, z = 0 for every row): jax.grad and manual say
    relu'(0) = 0, a central difference sees ½. Those entries are marked on_kink, not failed."""
    spec = NetworkSpec([3, 4, 2], "relu", "cross_entropy")
    params, X, y = random_case(spec, 6, seed=0)
    (W1, b1), (W2, b2) = params
    W1[:, 0], b1[0] = 0.0, 0.0  # unit 0 of layer 1 is silent
    report = check_gradients(spec, params, X, y, fd=True)
    assert report.passed
    layer1 = {r.name: r for r in report if r.layer == 1}
    assert layer1["dW"].on_kink and layer1["dW"].n_on_kink >= 3  # the silent unit's column of W1
    assert layer1["db"].on_kink
    assert all(r.fd_passed for r in report)
    # the marking matters: the silent unit's manual gradient is 0, its central difference is not
    h = 1e-6
    plus = [(W.copy(), b.copy()) for W, b in params]
    minus = [(W.copy(), b.copy()) for W, b in params]
    plus[0][1][0] += h
    minus[0][1][0] -= h
    fd = (loss(spec, plus, X, y) - loss(spec, minus, X, y)) / (2 * h)
    _, grads = manual.loss_and_grads(spec, params, X, y)
    assert grads[0][1][0] == 0.0 and abs(fd) > 1e-4


def test_fd_without_kinks_checks_every_entry():
    spec = NetworkSpec([3, 5, 1], "softplus", "binary_cross_entropy", 0.1)
    report = check_gradients(spec, *random_case(spec, 7, seed=3), fd=True)
    assert report.passed and not any(r.on_kink for r in report)
    assert all(r.fd_max_rel is not None and r.fd_max_rel < 1e-4 for r in report)


def test_bad_inputs_raise_before_checking():
    spec = NetworkSpec([3, 4, 2], "relu", "cross_entropy")
    params, X, y = random_case(spec, 5)
    with pytest.raises(ValueError):
        check_gradients(spec, params, X[:, :2], y)
    with pytest.raises((ValueError, TypeError)):
        check_gradients(spec, params[:1], X, y)


def test_sweep_covers_every_activation_and_loss_early():
    cases = list(sweep_cases(9, seed=0))
    assert {c[0].hidden[0] for c in cases} == set(_spec.ACTIVATION_NAMES)
    assert {c[0].loss for c in cases[:3]} == set(_spec.LOSS_NAMES)
    again = list(sweep_cases(9, seed=0))
    for (s1, p1, X1, y1), (s2, p2, X2, y2) in zip(cases, again):
        assert s1 == s2 and np.array_equal(X1, X2) and np.array_equal(y1, y2)
        assert all(np.array_equal(a, b) for (W1, b1), (W2, b2) in zip(p1, p2) for a, b in ((W1, W2), (b1, b2)))
