"""A student's character model written from lecture notes: embedding → LSTM → dense at every step →
softmax cross-entropy at every step. NumPy only; imports nothing of dualgrad.

    loss, grads = loss_and_grads(params, X, y)

params: [(E (V, D),), (Wx (D, 4H), Wh (H, 4H), b (4H,)), (W (H, V), b (V,))], one tuple per layer;
X (N, T) int ids, y (N, T) the next id at every step. The LSTM starts from h0 = c0 = 0, its gates
side by side in the order i, f, o, g. The loss is summed over the steps and divided by N.

It has a bug: the backward through time forgets to carry dprev_h (the gradient reaching hₜ from
step t + 1) into step t; `CARRY_DH = True` is the fix.
"""

import numpy as np

CARRY_DH = False  # the bug: dprev_h is not carried back through time


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def lstm_forward(x, Wx, Wh, b):
    N, T, _ = x.shape
    H = Wh.shape[0]
    h, c = np.zeros((N, H)), np.zeros((N, H))
    hs, steps = np.zeros((N, T, H)), []
    for t in range(T):
        a = x[:, t] @ Wx + h @ Wh + b
        i, f, o, g = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
        prev_h, prev_c = h, c
        c = f * prev_c + i * g
        h = o * np.tanh(c)
        hs[:, t] = h
        steps.append((x[:, t], prev_h, prev_c, i, f, o, g, np.tanh(c)))
    return hs, steps


def lstm_backward(dhs, steps, Wx, Wh):
    N, T, H = dhs.shape
    dx = np.zeros((N, T, Wx.shape[0]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * H)
    dprev_h, dprev_c = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        x_t, prev_h, prev_c, i, f, o, g, tanh_c = steps[t]
        dh = dhs[:, t] + dprev_h if CARRY_DH else dhs[:, t]
        dc = dprev_c + dh * o * (1 - tanh_c ** 2)
        da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dh * tanh_c * o * (1 - o),
                             dc * i * (1 - g ** 2)], axis=1)
        dx[:, t] = da @ Wx.T
        dprev_h, dprev_c = da @ Wh.T, dc * f
        dWx += x_t.T @ da
        dWh += prev_h.T @ da
        db += da.sum(axis=0)
    return dx, dWx, dWh, db


def loss_and_grads(params, X, y):
    (E,), (Wx, Wh, b), (W, c) = params
    N, T = X.shape
    x = E[X]                                              # (N, T, D)
    hs, steps = lstm_forward(x, Wx, Wh, b)                # (N, T, H)
    scores = hs @ W + c                                   # (N, T, V)
    p = np.exp(scores - scores.max(axis=2, keepdims=True))
    p /= p.sum(axis=2, keepdims=True)
    rows, steps_ = np.arange(N)[:, None], np.arange(T)[None, :]
    loss = -np.log(p[rows, steps_, y]).sum() / N
    dscores = p.copy()
    dscores[rows, steps_, y] -= 1
    dscores /= N                                          # (N, T, V)
    dW = hs.reshape(N * T, -1).T @ dscores.reshape(N * T, -1)
    dc_ = dscores.sum(axis=(0, 1))
    dhs = dscores @ W.T                                   # (N, T, H)
    dx, dWx, dWh, db = lstm_backward(dhs, steps, Wx, Wh)
    dE = np.zeros_like(E)
    np.add.at(dE, X, dx)
    return loss, [(dE,), (dWx, dWh, db), (dW, dc_)]
