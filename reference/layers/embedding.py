"""The embedding lookup in JAX: E[ids]; dE from jax.vjp (a scatter-add over repeated ids)."""

from manual.layers import checks


def embedding(ids, E):
    """ids (N,) or (N, T) ints in 0 .. V − 1, E (V, D) -> (N, D) or (N, T, D)."""
    checks.float_array(E, "E", 2, what="2-D shape (V, D)")
    checks.id_array(ids, "ids", E.shape[0])
    return E[ids]
