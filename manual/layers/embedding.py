"""The embedding lookup: out = E[ids], one row of E per id.

ids (N,) or (N, T) integers in 0 .. V − 1, E (V, D)  ->  out (N, D) or (N, T, D).

The gradient scatters dout back to the rows that were read: dE[v] = Σ_{positions k with
ids_k = v} dout_k. An id that occurs twice gets both contributions: `np.add.at` accumulates,
where `dE[ids] += dout` would keep only the last write for a repeated id (NumPy's fancy
assignment is not accumulating). ids are integers, not a differentiable input, so
`embedding_backward` returns dE only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import checks


class EmbeddingCache(NamedTuple):
    ids: np.ndarray  # (N,) or (N, T)
    E_shape: tuple  # (V, D)
    dtype: np.dtype


def embedding_forward(ids, E):
    """out = E[ids]: ids (N,) or (N, T) ints in 0 .. V − 1, E (V, D) -> (N, D) or (N, T, D)."""
    E = checks.float_array(E, "E", 2, what="2-D shape (V, D)")
    if E.shape[0] < 1:
        raise ValueError(f"E must have at least one row (V >= 1), got shape {E.shape}")
    ids = checks.id_array(ids, "ids", E.shape[0])
    out = E[ids]  # (N, D) or (N, T, D), a new array (fancy indexing copies)
    return out, EmbeddingCache(np.array(ids, copy=True), E.shape, E.dtype)


def embedding_backward(dout, cache):
    """out_k = E[ids_k]  ⇒  dE[v] = Σ_{k: ids_k = v} dout_k  (np.add.at: repeated ids accumulate)."""
    ids, (V, D), dtype = checks.cache_of(cache, EmbeddingCache, "embedding")
    dout = checks.same_shape(dout, ids.shape + (D,))  # (N, D) or (N, T, D)
    dE = np.zeros((V, D), dtype=dtype)  # (V, D)
    np.add.at(dE, ids.reshape(-1), dout.reshape(-1, D))  # (N·T,) rows, (N·T, D) values
    return dE
