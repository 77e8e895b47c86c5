"""A user's own H·V, written in plain NumPy: the example of docs/second-order.md ("Check your own H·V").

    dualgrad verify --impl docs/examples/my_second_order.py:my_hvp --kind hvp --hidden tanh --loss cross_entropy --l2 0.01
    dualgrad verify --impl docs/examples/my_second_order.py:forgot_f2 --kind hvp --hidden tanh --loss cross_entropy --l2 0.01
"""

import numpy as np


def my_hvp(params, X, y, V, lam=0.01, second_derivative=True):
    """H·V of a tanh network with softmax cross-entropy and (λ/2) Σ‖W‖², by the R-operator."""
    acts = [X]  # a₀ = X, a₁, ..., a_{L-1}
    for W, b in params[:-1]:
        acts.append(np.tanh(acts[-1] @ W + b))
    s = acts[-1] @ params[-1][0] + params[-1][1]  # (N, K) logits
    P = np.exp(s - s.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    N = X.shape[0]
    Rz, Ra = [], [np.zeros_like(X)]  # R-forward
    for l, ((W, _), (VW, Vb)) in enumerate(zip(params, V)):
        Rz.append(Ra[-1] @ W + acts[l] @ VW + Vb)
        if l < len(params) - 1:
            Ra.append((1 - acts[l + 1] ** 2) * Rz[-1])
    dz = (P - np.eye(s.shape[1])[y]) / N  # R-backward
    Rdz = (P * Rz[-1] - P * np.sum(P * Rz[-1], axis=1, keepdims=True)) / N  # H_s R{s}
    HV = [None] * len(params)
    for l in reversed(range(len(params))):
        W, VW = params[l][0], V[l][0]
        HV[l] = (Ra[l].T @ dz + acts[l].T @ Rdz + lam * VW, Rdz.sum(axis=0))
        if l > 0:
            a = acts[l]
            da, Rda = dz @ W.T, Rdz @ W.T + dz @ VW.T
            f1, f2 = 1 - a ** 2, -2 * a * (1 - a ** 2)  # tanh', tanh''
            dz, Rdz = da * f1, Rda * f1 + (da * f2 * Rz[l - 1] if second_derivative else 0)
    return HV


def forgot_f2(params, X, y, V):
    """The same, with the R-backward missing the second-derivative term da ⊙ f''(z) ⊙ R{z}."""
    return my_hvp(params, X, y, V, second_derivative=False)


if __name__ == "__main__":
    from dualgrad import check_implementation

    for fn in (my_hvp, forgot_f2):
        result = check_implementation(fn, kind="hvp", hidden="tanh", loss="cross_entropy", l2=0.01)
        print(f"{fn.__name__}: {result}")
