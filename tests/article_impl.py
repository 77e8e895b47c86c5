"""An independent hand-written MLP in the seed article's style, for checking `check_implementation`.

Written from the article ("Implement Neural Networks"), not from `manual`: nothing here
imports manual's math. Its layouts, bias shapes, reduction and MSE form are options, so
the same derivation can be written the way PyTorch stores W, or summed over the batch;
`bug=` injects one classic backprop mistake (BUGS), each a one-line change.

    net = ArticleNet(hidden="relu", loss="binary_cross_entropy", bias="row")
    loss, grads = net(params, X, y)        # grads = ([dW1, dW2, ...], [db1, db2, ...])
"""

from __future__ import annotations

import numpy as np

# name -> what the mistake is (every one changes values, not shapes)
BUGS = {
    "missing_1/m_in_db": "the hidden layers' db summed over the batch without dividing by m",
    "sigmoid_prime_from_z": "σ'(z) computed as z (1 − z) instead of a (1 − a)",
    "tanh_prime_from_z": "tanh'(z) computed as 1 − z² instead of 1 − a²",
    "no_activation_derivative": "delta passed back through Wᵀ without multiplying by f'(z)",
    "dW_from_z": "dW = z_prevᵀ δ (the previous layer's pre-activation) instead of a_prevᵀ δ",
    "flipped_sign": "δ at the output = y − ŷ instead of ŷ − y",
    "divided_twice": "δ already divided by m, and dW divided by m again",
    "l2_missing_in_dW": "the loss has (λ/2)‖W‖² but dW lacks λW",
    "leaky_slope": "leaky_relu'(z) = 0.1 for z < 0 instead of 0.01",
    "sigmoid_mse_without_sigma_prime": "sigmoid head with MSE: δ = 2(ŷ − y)/… without σ'(z)",
    "mse_without_2": "MSE's δ = (ŷ − y)/(m K) without the 2",
    "transposed_dW": "dW = δᵀ a_prev, shape (fan_out, fan_in) in the (fan_in, fan_out) layout",
}

# bugs that only intermediates=True networks are checked against: the step each one breaks
NINJA_BUGS = {
    "W2_not_transposed": "da1 = dz2 W2 instead of dz2 W2ᵀ (a square W2 only)",
}


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


class ArticleNet:
    """fn(params, X, y) -> (loss, ([dW...], [db...])) for one fixed architecture."""

    def __init__(self, hidden="relu", loss="binary_cross_entropy", layout="in_out", bias="row", reduction="mean",
                 mse="mean", head=None, l2=0.0, relu_at_zero=0.0, bug=None, intermediates=None, l2_form="half"):
        assert bug is None or bug in BUGS or bug in NINJA_BUGS, bug
        self.l2_form = l2_form  # "half": + (λ/2)Σ‖W‖²; "full": + λΣ‖W‖²
        self.intermediates = intermediates  # None, or the keys to return: "all" or a set of "dlogits", "dz2", ...
        self.hidden, self.loss, self.layout, self.bias = hidden, loss, layout, bias
        self.reduction, self.mse, self.l2, self.bug = reduction, mse, l2, bug
        self.head = head or {"binary_cross_entropy": "sigmoid", "cross_entropy": "softmax", "mse": "identity"}[loss]
        self.relu_at_zero = relu_at_zero  # relu'(0): 0 as jax.nn, or 1 from `z >= 0`

    # -- the hidden activation and its derivative, the article's way -------------
    def _act(self, z):
        if self.hidden == "relu":
            return np.maximum(0, z)
        if self.hidden == "leaky_relu":
            return np.where(z >= 0, z, 0.01 * z)
        if self.hidden == "sigmoid":
            return _sigmoid(z)
        if self.hidden == "tanh":
            return np.tanh(z)
        raise ValueError(self.hidden)

    def _act_prime(self, z, a):
        if self.hidden == "relu":
            return (z > 0).astype(float) + self.relu_at_zero * (z == 0)
        if self.hidden == "leaky_relu":
            return np.where(z >= 0, 1.0, 0.1 if self.bug == "leaky_slope" else 0.01)
        if self.hidden == "sigmoid":
            return z * (1 - z) if self.bug == "sigmoid_prime_from_z" else a * (1 - a)
        if self.hidden == "tanh":
            return 1 - z**2 if self.bug == "tanh_prime_from_z" else 1 - a**2
        raise ValueError(self.hidden)

    def _out(self, z):
        return {"sigmoid": _sigmoid, "softmax": _softmax, "identity": lambda s: s}[self.head](z)

    # -- forward, loss and backward -----------------------------------------------
    def __call__(self, params, X, y):
        Ws = [W.T if self.layout == "out_in" else W for W, _ in params]  # as (fan_in, fan_out)
        bs = [b.reshape(1, -1) for _, b in params]  # as (1, fan_out)
        m = X.shape[0]
        acts, zs = [X], []
        current = X
        for i, (W, b) in enumerate(zip(Ws, bs)):
            z = current @ W + b
            zs.append(z)
            current = self._out(z) if i == len(Ws) - 1 else self._act(z)
            acts.append(current)
        out = current
        Y = self._targets(y, out.shape[1])
        scale = m if self.reduction == "sum" else 1.0  # sum over the batch = m × the mean
        eps = 1e-15
        if self.loss == "binary_cross_entropy":
            data = -np.mean(Y * np.log(out + eps) + (1 - Y) * np.log(1 - out + eps))
            delta = (Y - out) / m if self.bug == "flipped_sign" else (out - Y) / m
        elif self.loss == "cross_entropy":
            data = -np.mean(np.sum(Y * np.log(out + eps), axis=1))
            delta = (Y - out) / m if self.bug == "flipped_sign" else (out - Y) / m
        else:  # mse, per example c Σₖ (ŷ − y)², mean over the batch
            K = out.shape[1]
            c = {"mean": 1.0 / K, "half_mean": 0.5 / K, "half": 0.5, "sum": 1.0}[self.mse]
            r = out - Y
            data = c * np.sum(r * r) / m
            two = 1.0 if self.bug == "mse_without_2" else 2.0
            delta = two * c * r / m
            if self.bug == "flipped_sign":
                delta = -delta
            if self.head == "sigmoid" and self.bug != "sigmoid_mse_without_sigma_prime":
                delta = delta * out * (1 - out)
        data *= scale
        delta = delta * scale
        p = 0.5 if self.l2_form == "half" else 1.0
        loss = data + p * self.l2 * sum(np.sum(W * W) for W in Ws)

        grads_w, grads_b = [], []
        inter = {}
        for i in range(len(Ws) - 1, -1, -1):
            inter[f"dz{i + 1}"] = delta
            a_prev = zs[i - 1] if (self.bug == "dW_from_z" and i > 0) else acts[i]
            if self.bug == "divided_twice":
                dW = a_prev.T @ delta / m
            elif self.bug == "transposed_dW":
                dW = delta.T @ a_prev
            else:
                dW = a_prev.T @ delta
            if self.bug != "l2_missing_in_dW" and self.l2:
                dW = dW + 2 * p * self.l2 * Ws[i]
            db = np.sum(delta, axis=0, keepdims=True)
            if self.bug == "missing_1/m_in_db" and i < len(Ws) - 1:
                db = db * m
            grads_w.insert(0, dW.T if (self.layout == "out_in" and self.bug != "transposed_dW") else dW)
            grads_b.insert(0, self._bias_shape(db))
            if i > 0:
                back = delta @ (Ws[i] if self.bug == "W2_not_transposed" and i == 1 else Ws[i].T)
                inter[f"da{i}"] = back
                delta = back if self.bug == "no_activation_derivative" else back * self._act_prime(zs[i - 1], acts[i])
        if self.intermediates is None:
            return loss, (grads_w, grads_b)
        inter["dlogits"] = inter.pop(f"dz{len(Ws)}")
        keep = inter if self.intermediates == "all" else {k: v for k, v in inter.items() if k in self.intermediates}
        return loss, (grads_w, grads_b), keep

    def _targets(self, y, k):
        y = np.asarray(y)
        if self.loss == "cross_entropy" and y.ndim == 1:
            one_hot = np.zeros((len(y), k))
            one_hot[np.arange(len(y)), y.astype(int)] = 1
            return one_hot
        return y.reshape(len(y), -1).astype(float)

    def _bias_shape(self, db):
        return {"row": db, "vector": db.reshape(-1), "column": db.reshape(-1, 1)}[self.bias]


def article_params(sizes, layout="in_out", bias="row", seed=0):
    """He-initialised params in the given layout, as the article's __init__ makes them."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        W = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
        b = rng.standard_normal((1, fan_out)) * 0.1
        params.append((W.T.copy() if layout == "out_in" else W,
                       {"row": b, "vector": b.reshape(-1), "column": b.reshape(-1, 1)}[bias]))
    return params
