"""The embedding layer's bookkeeping, as manual/layers/embedding.py and the project's rules state it.

* The cache holds exactly what backward needs, and its own copy of it: ids changed by the caller
  after the forward (a reused batch buffer, as a training loop's gather fills one) do not change
  where dE scatters; the output is a new array, not a view of E.
* Bad input: a clear ValueError naming the problem before anything is computed; an empty
  vocabulary (E with no row) is named as such, not reported as an out-of-range id.
Found by the mutation run of manual/layers/embedding.py (docs/mutation-testing.md).
"""

import numpy as np
import pytest

from manual import layers as L


def test_backward_scatters_to_the_ids_of_the_forward_even_if_the_caller_reuses_them():
    rng = np.random.default_rng(0)
    E = rng.standard_normal((6, 3))  # (V, D)
    ids = np.array([[0, 2, 2], [5, 1, 0]])  # (N, T)
    dout = rng.standard_normal((2, 3, 3))  # (N, T, D)
    out, cache = L.embedding_forward(ids, E)
    want = np.zeros_like(E)
    for (n, t), v in np.ndenumerate(ids):
        want[v] += dout[n, t]
    ids[:] = 4  # the caller's buffer, refilled for the next batch
    np.testing.assert_allclose(L.embedding_backward(dout, cache), want, rtol=1e-15)


def test_the_output_is_a_new_array():
    E = np.arange(12.0).reshape(4, 3)
    out, _ = L.embedding_forward(np.array([1, 1, 3]), E)
    out[:] = -1.0
    assert np.array_equal(E, np.arange(12.0).reshape(4, 3))


@pytest.mark.parametrize("shape", [(0, 3), (0, 1)])
def test_an_empty_vocabulary_is_refused_by_name(shape):
    with pytest.raises(ValueError, match=r"E must have at least one row \(V >= 1\), got shape \(0, \d\)"):
        L.embedding_forward(np.array([0]), np.zeros(shape))
