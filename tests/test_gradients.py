"""The central property: for any network, every gradient equals jax.grad's."""

from hypothesis import given

from dualgrad.properties import network_gradients_match
from dualgrad.strategies import network_cases


@given(network_cases())
def test_network_gradients_match_reference(case):
    network_gradients_match(case)
