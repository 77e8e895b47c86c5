"""softsign, a = z / (1 + |z|), registered with both sides: a plugin for `dualgrad ... --import`.

    dualgrad verify  --import docs/softsign.py --hidden softsign --examples 6
    dualgrad explain --import docs/softsign.py --sizes 4 8 3 --hidden softsign

Importing this file registers the activation (once per process).
"""

import jax.numpy as jnp
import numpy as np

from dualgrad.engine.registry import register_activation
from manual import ACTIVATIONS


def softsign(z):
    """a = z / (1 + |z|)"""
    return z / (1.0 + np.abs(z))


def softsign_derivative(z, a):
    """da/dz = 1 / (1 + |z|)²"""
    return 1.0 / (1.0 + np.abs(z)) ** 2


def softsign_jax(z):
    return z / (1.0 + jnp.abs(z))


if "softsign" not in ACTIVATIONS:
    register_activation("softsign", softsign, softsign_derivative, softsign_jax)
