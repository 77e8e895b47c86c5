"""A worked example: add an activation, catch a wrong derivative, fix it.

    python docs/custom_activation.py

softsign, a = z / (1 + |z|), has derivative 1 / (1 + |z|)². We first register a
plausible mistake, 1 / (1 + |z|) (the square forgotten), and let hypothesis
search random networks that use softsign: the property `network_gradients_match`
(manual backprop == jax.grad) fails, and hypothesis shrinks the failure to a
small network. Then we register the right derivative and the same property
passes, as does `dualgrad verify --hidden softsign`.

Deterministic: hypothesis is derandomized and keeps no example database.
"""

import jax.numpy as jnp
import numpy as np
from hypothesis import Phase, given, settings

from dualgrad.cli import main as dualgrad
from dualgrad.engine.properties import network_gradients_match
from dualgrad.engine.registry import registered_activation
from dualgrad.engine.strategies import network_cases


def softsign(z):
    """a = z / (1 + |z|)"""
    return z / (1.0 + np.abs(z))


def softsign_derivative_wrong(z, a):
    """da/dz = 1 / (1 + |z|)   (wrong: the square is missing)"""
    return 1.0 / (1.0 + np.abs(z))


def softsign_derivative(z, a):
    """da/dz = 1 / (1 + |z|)² = (1 − |a|)²"""
    return (1.0 - np.abs(a)) ** 2


def softsign_jax(z):
    return z / (1.0 + jnp.abs(z))


# The property, over networks whose hidden layers all use softsign.
@settings(max_examples=200, derandomize=True, database=None, deadline=None, print_blob=False,
          phases=[Phase.generate, Phase.shrink])
@given(network_cases(activations=["softsign"], max_layers=3, max_width=8, max_batch=8))
def softsign_networks_match_jax(case):
    network_gradients_match(case)


def main():
    print("1. the wrong derivative, da/dz = 1 / (1 + |z|)")
    with registered_activation("softsign", softsign, softsign_derivative_wrong, softsign_jax):
        try:
            softsign_networks_match_jax()
        except AssertionError as err:
            print("   caught:", str(err).splitlines()[0])
            for note in getattr(err, "__notes__", []):
                print("  ", note)
        else:
            raise SystemExit("the wrong derivative was not caught")

    print("\n2. the right derivative, da/dz = 1 / (1 + |z|)² = (1 − |a|)²")
    with registered_activation("softsign", softsign, softsign_derivative, softsign_jax):
        softsign_networks_match_jax()
        print("   200 random softsign networks: manual == jax.grad")
        print("\n3. dualgrad verify --hidden softsign --examples 3 --fd\n")
        status = dualgrad(["verify", "--hidden", "softsign", "--examples", "3", "--fd"])
    raise SystemExit(status)


if __name__ == "__main__":
    main()
