"""A student's CNN, written from the lecture notes: conv 3×3 (padding 1) → relu → max pool 2×2 →
flatten → dense → softmax cross-entropy. NumPy only; it imports nothing of dualgrad.

params = [(W (F, C, 3, 3), b (F,)), (), (), (), (Wd (D, K), bd (K,))], one tuple per layer.
"""

import numpy as np


def conv_forward(x, W, b):
    N, C, H, Wd = x.shape
    F = W.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((N, F, H, Wd))
    for i in range(H):
        for j in range(Wd):
            patch = xp[:, :, i:i + 3, j:j + 3]                      # (N, C, 3, 3)
            out[:, :, i, j] = np.tensordot(patch, W, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (xp, W)


def conv_backward(dout, cache):
    xp, W = cache
    N, F, H, Wd = dout.shape
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    for i in range(H):
        for j in range(Wd):
            patch = xp[:, :, i:i + 3, j:j + 3]
            dW += np.tensordot(dout[:, :, i, j], patch, axes=([0], [0]))          # (F, C, 3, 3)
            dxp[:, :, i:i + 3, j:j + 3] += np.tensordot(dout[:, :, i, j], W, axes=([1], [0]))
    return dxp[:, :, 1:-1, 1:-1], dW, dout.sum(axis=(0, 2, 3))


def maxpool_forward(x):
    N, C, H, W = x.shape
    windows = x[:, :, :H // 2 * 2, :W // 2 * 2].reshape(N, C, H // 2, 2, W // 2, 2)
    return windows.max(axis=(3, 5)), x


def maxpool_backward(dout, x):
    N, C, Hq, Wq = dout.shape
    dx = np.zeros_like(x)
    for i in range(Hq):
        for j in range(Wq):
            window = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(N, C, 4)
            k = window.argmax(axis=2)                               # the maximum's place in the window
            e, a = divmod(k, 2)                                     # BUG: (row, column) is divmod(k, 2)
            for n in range(N):
                for c in range(C):
                    dx[n, c, 2 * i + a[n, c], 2 * j + e[n, c]] += dout[n, c, i, j]
    return dx


def loss_and_grads(params, X, y):
    (W, b), _, _, _, (Wd, bd) = params
    z, conv_cache = conv_forward(X, W, b)
    a = np.maximum(z, 0)
    p, pool_cache = maxpool_forward(a)
    f = p.reshape(len(X), -1)
    s = f @ Wd + bd
    e = np.exp(s - s.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    N = len(X)
    loss = -np.log(probs[np.arange(N), y]).mean()
    ds = probs.copy()
    ds[np.arange(N), y] -= 1
    ds /= N
    dWd, dbd = f.T @ ds, ds.sum(axis=0)
    dp = (ds @ Wd.T).reshape(p.shape)
    da = maxpool_backward(dp, pool_cache)
    dz = da * (z > 0)
    _, dW, db = conv_backward(dz, conv_cache)
    return loss, [(dW, db), (), (), (), (dWd, dbd)]
