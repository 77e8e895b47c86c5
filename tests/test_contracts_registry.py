"""The registration contract of manual/losses.py and manual/activations.py, on the manual side itself
(dualgrad.registry checks its arguments before it calls these, so its tests never reach them):

- `manual.register_loss(name, value_and_dlogits, output=None)` and
  `manual.register_activation(name, forward, derivative)` take callables only: anything else is a
  TypeError, raised before any table changes (the spec's names and heads included);
- a registered name is usable at once (`get_loss`, `get_activation`, `NetworkSpec`);
- `unregister_loss` / `unregister_activation` remove it again, and refuse a built-in name with a
  ValueError that leaves the built-in in place.

Found by the mutation runs of both modules (docs/mutation-testing.md).
"""

import numpy as np
import pytest

import manual
from manual import activations as A
from manual import losses as L
from manual import spec as S


def tables():
    return (dict(L.LOSSES), dict(A.ACTIVATIONS), list(S.LOSS_NAMES), dict(S.LOSS_HEADS), dict(S.LOSS_TARGETS),
            list(S.ACTIVATION_NAMES))


def half_mse(s, Y):
    r = s - Y  # (N, K)
    return float(0.5 * np.mean(r * r)), r / r.size


def softsign(z):
    return z / (1.0 + np.abs(z))


def softsign_derivative(z, a):
    return 1.0 / (1.0 + np.abs(z)) ** 2


NOT_CALLABLE = ["half_mse", 3, None]


# (value_and_dlogits, output): output=None is the documented default (the identity head)
BAD_LOSS_ARGS = ([(bad, None) for bad in NOT_CALLABLE] + [(half_mse, bad) for bad in NOT_CALLABLE if bad is not None]
                 + [(bad, bad) for bad in NOT_CALLABLE if bad is not None])


@pytest.mark.parametrize("value_and_dlogits, output", BAD_LOSS_ARGS)
def test_register_loss_refuses_what_is_not_callable_and_changes_nothing(value_and_dlogits, output):
    before = tables()
    with pytest.raises(TypeError, match="callable"):
        manual.register_loss("contract_loss", value_and_dlogits, output=output)
    assert tables() == before


@pytest.mark.parametrize("bad", NOT_CALLABLE)
@pytest.mark.parametrize("where", ["forward", "derivative", "both"])
def test_register_activation_refuses_what_is_not_callable_and_changes_nothing(bad, where):
    forward = bad if where != "derivative" else softsign
    derivative = bad if where != "forward" else softsign_derivative
    before = tables()
    with pytest.raises(TypeError, match="callable"):
        manual.register_activation("contract_act", forward, derivative)
    assert tables() == before


def test_a_registered_loss_is_usable_and_unregisters():
    before = tables()
    loss = manual.register_loss("contract_loss", half_mse)
    try:
        assert L.get_loss("contract_loss") is loss and loss.value_and_dlogits is half_mse
        assert np.array_equal(loss.output(np.arange(3.0)), np.arange(3.0))
        assert S.NetworkSpec([2, 3, 1], "tanh", "contract_loss").loss == "contract_loss"
    finally:
        L.unregister_loss("contract_loss")
    assert tables() == before
    with pytest.raises(ValueError, match="unknown loss"):
        L.get_loss("contract_loss")


def test_a_registered_activation_is_usable_and_unregisters():
    before = tables()
    act = manual.register_activation("contract_act", softsign, softsign_derivative)
    try:
        assert A.get_activation("contract_act") is act
        assert act.forward is softsign and act.derivative is softsign_derivative
        assert S.NetworkSpec([2, 3, 1], "contract_act", "mse").hidden == ("contract_act",)
    finally:
        A.unregister_activation("contract_act")
    assert tables() == before
    with pytest.raises(ValueError, match="unknown activation"):
        A.get_activation("contract_act")


@pytest.mark.parametrize("name", L.BUILT_IN)
def test_a_built_in_loss_cannot_be_unregistered(name):
    before = tables()
    with pytest.raises(ValueError, match="built-in"):
        L.unregister_loss(name)
    assert tables() == before


@pytest.mark.parametrize("name", A.BUILT_IN)
def test_a_built_in_activation_cannot_be_unregistered(name):
    before = tables()
    with pytest.raises(ValueError, match="built-in"):
        A.unregister_activation(name)
    assert tables() == before


@pytest.mark.parametrize("name", ["swish", "RELU", "", "leaky relu"])
def test_get_activation_refuses_an_unknown_name_with_the_valid_ones(name):
    with pytest.raises(ValueError, match=r"unknown activation .*valid names: identity, relu, leaky_relu"):
        A.get_activation(name)


@pytest.mark.parametrize("name", A.BUILT_IN)
def test_register_activation_refuses_a_built_in_name_and_changes_nothing(name):
    before = tables()
    with pytest.raises(ValueError, match="built-in"):
        manual.register_activation(name, softsign, softsign_derivative)
    assert tables() == before and A.ACTIVATIONS[name].forward is not softsign


def test_unregistering_an_unknown_name_is_refused():
    before = tables()
    with pytest.raises(ValueError, match="not registered"):
        L.unregister_loss("contract_never_registered")
    with pytest.raises(ValueError, match="not registered"):
        A.unregister_activation("contract_never_registered")
    assert tables() == before
