# docs/examples/my_ninja.py: a 3-layer network's backward written out step by step, makemore style
import numpy as np


def forward_backward(params, X, y, bug=False):
    """tanh, tanh, softmax cross-entropy; W (fan_in, fan_out), b (fan_out,)."""
    (W1, b1), (W2, b2), (W3, b3) = params
    N = X.shape[0]
    z1 = X @ W1 + b1  # (N, n1)
    a1 = np.tanh(z1)
    z2 = a1 @ W2 + b2  # (N, n2)
    a2 = np.tanh(z2)
    logits = a2 @ W3 + b3  # (N, K)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(N), y]))

    dlogits = p.copy()
    dlogits[np.arange(N), y] -= 1
    dlogits /= N  # (N, K)
    dW3, db3 = a2.T @ dlogits, dlogits.sum(axis=0)
    da2 = dlogits @ W3.T
    dz2 = da2 * (1 - a2**2)
    dW2, db2 = a1.T @ dz2, dz2.sum(axis=0)
    da1 = dz2 @ W2 if bug else dz2 @ W2.T  # the bug: W2 where W2ᵀ is meant (W2 is square here)
    dz1 = da1 * (1 - a1**2)
    dW1, db1 = X.T @ dz1, dz1.sum(axis=0)
    grads = [(dW1, db1), (dW2, db2), (dW3, db3)]
    return loss, grads, {"dlogits": dlogits, "da2": da2, "dz2": dz2, "da1": da1, "dz1": dz1}


def correct(params, X, y):
    return forward_backward(params, X, y)


def buggy(params, X, y):
    return forward_backward(params, X, y, bug=True)
