"""Turn on float64 in JAX before any array is made: verification runs in float64."""

import jax

jax.config.update("jax_enable_x64", True)
