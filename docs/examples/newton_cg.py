"""Truncated Newton (Newton-CG) with the hand-written Gauss-Newton product, beside Adam.

The spirals data set (manual.datasets.spirals, 300 points, 3 classes), a [2, 32, 32, 3] tanh
network with softmax cross-entropy and λ = 1e-4, full batch, the same initial parameters:

  Adam       lr 0.02, one loss_and_grads per step
  Newton-CG  each step solves (G + μ I) p = −g by at most 20 conjugate-gradient iterations, one
             manual.gauss_newton_vector_product per iteration (G is PSD, so CG is well posed),
             then takes θ + p if the loss went down; the damping μ follows Levenberg-Marquardt
             (ρ = actual / predicted decrease: μ × 2/3 when ρ > 3/4, μ × 3/2 when ρ < 1/4).

Prints the loss of each after a fixed number of steps (deterministic) and saves the loss against
wall-clock time to docs/img/newton-cg.png (matplotlib; timings vary from run to run).

    python docs/examples/newton_cg.py [--out docs/img/newton-cg.png]
"""

import argparse
import time

import numpy as np

import manual
from manual import optimizers
from manual.datasets import spirals

SPEC = manual.NetworkSpec([2, 32, 32, 3], "tanh", "cross_entropy", l2=1e-4)
ADAM_STEPS, NEWTON_STEPS, CG_ITERS = 1500, 60, 20


def flat(tree):
    return np.concatenate([a.ravel() for pair in tree for a in pair])


def unflat(x, like):
    out, i = [], 0
    for W, b in like:
        out.append((x[i:i + W.size].reshape(W.shape), x[i + W.size:i + W.size + b.size]))
        i += W.size + b.size
    return out


def conjugate_gradient(matvec, g, iters, tol=1e-10):
    """p ≈ −A⁻¹ g for a PSD A given as matvec, from p = 0, stopped early when ‖r‖ ≤ tol ‖g‖."""
    p = np.zeros_like(g)
    r = -g  # residual −g − A p
    d = r.copy()
    rr = r @ r
    for _ in range(iters):
        Ad = matvec(d)
        alpha = rr / (d @ Ad)
        p += alpha * d
        r -= alpha * Ad
        rr_new = r @ r
        if np.sqrt(rr_new) <= tol * np.sqrt(g @ g):
            break
        d = r + (rr_new / rr) * d
        rr = rr_new
    return p


def newton_cg(params, X, y, steps, damping=1.0):
    history = [(0.0, manual.loss(SPEC, params, X, y))]
    start = time.perf_counter()
    for _ in range(steps):
        loss, grads = manual.loss_and_grads(SPEC, params, X, y)
        g = flat(grads)

        def G(v):  # (G + μ I) v, G from the hand-written R-forward and backward passes
            return flat(manual.gauss_newton_vector_product(SPEC, params, X, y, unflat(v, params))) + damping * v

        p = conjugate_gradient(G, g, CG_ITERS)
        predicted = g @ p + 0.5 * p @ (G(p) - damping * p)  # the quadratic model's change
        trial = unflat(flat(params) + p, params)
        new_loss = manual.loss(SPEC, trial, X, y)
        rho = (new_loss - loss) / predicted if predicted < 0 else -1.0
        damping *= 2 / 3 if rho > 0.75 else 1.5 if rho < 0.25 else 1.0
        if new_loss < loss:
            params = trial
        history.append((time.perf_counter() - start, min(new_loss, loss)))
    return params, history


def adam(params, X, y, steps, lr=0.02):
    opt = optimizers.adam(lr)
    state = opt.init(params)
    history = [(0.0, manual.loss(SPEC, params, X, y))]
    start = time.perf_counter()
    for _ in range(steps):
        loss, grads = manual.loss_and_grads(SPEC, params, X, y)
        params, state = opt.update(grads, state, params)
        history.append((time.perf_counter() - start, loss))
    history[-1] = (history[-1][0], manual.loss(SPEC, params, X, y))
    return params, history


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img/newton-cg.png")
    args = parser.parse_args(argv)
    X, y = spirals(300, 3, seed=0)
    params = manual.init_params(SPEC, seed=0, init="xavier")
    p_adam, h_adam = adam(params, X, y, ADAM_STEPS)
    p_newton, h_newton = newton_cg(params, X, y, NEWTON_STEPS)
    for name, p, h in (("adam", p_adam, h_adam), ("newton-cg", p_newton, h_newton)):
        accuracy = np.mean(np.argmax(manual.forward(SPEC, p, X), axis=1) == y)
        print(f"{name:10s} {len(h) - 1:5d} steps  loss {h[-1][1]:.3f}  accuracy {accuracy:.2f}")
    try:
        import matplotlib
    except ImportError:
        print("no figure: matplotlib is not installed (pip install matplotlib)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, h in (("Adam (lr 0.02)", h_adam), (f"Newton-CG (G·V, ≤ {CG_ITERS} CG steps)", h_newton)):
        t, loss = np.array(h).T
        ax.semilogy(t, loss, label=name)
    ax.set_xlabel("wall-clock time (s)")
    ax.set_ylabel("training loss (full batch)")
    ax.set_title("spirals, [2, 32, 32, 3] tanh, λ = 1e-4")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
