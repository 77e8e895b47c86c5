"""Beyond the gradient, by hand: per-example gradients, and Hessian- and Gauss-Newton-vector products.

The network and loss are manual/network.py's (see its docstring for the forward and backward
passes): N rows, L layers, a₀ = X, z_l = a_{l-1} W_l + b_l, a_l = f_l(z_l), s = z_L, and

    L(θ) = (1/N) Σₙ ℓₙ(sₙ) + (λ/2) Σ_l ‖W_l‖²      (biases are not penalised)

with ℓₙ the loss of row n alone. H = ∇²L and G (below) are of this whole L, the penalty included.

Per-example gradients. Row n's logits depend on row n's input only, so the batch backward pass
already holds every row's own δ: row n of dz_l is (1/N) ∂ℓₙ/∂z_l,n. With δ_l = N dz_l,

    ∇_{W_l} (ℓₙ + (λ/2)‖W‖²) = a_{l-1,n} ⊗ δ_{l,n} + λ W_l     (N, fan_in, fan_out), one einsum
    ∇_{b_l}  ℓₙ              = δ_{l,n}                         (N, fan_out)

and their mean over n is the batch gradient (1/N) Σₙ a_{l-1,n} ⊗ δ_{l,n} + λ W_l = a_{l-1}ᵀ dz_l + λ W_l.

Hessian-vector product by the R-operator (Pearlmutter 1994). For a direction V = [(V_W, V_b), ...]
in the parameters' layout, R{x} = d/dt x(θ + tV) at t = 0 is the directional derivative of any
quantity x of the passes. Applying R to each line of the forward pass (product rule):

    R{a₀} = 0
    R{z_l} = R{a_{l-1}} W_l + a_{l-1} V_{W_l} + V_{b_l}
    R{a_l} = f'_l(z_l) ⊙ R{z_l}
    R{s}   = R{z_L}

then to each line of the backward pass (ds = ∂L/∂s, H_s = ∂²L/∂s², the loss's Hessian in the logits):

    R{dz_L}     = H_s R{s}
    R{dW_l}     = R{a_{l-1}}ᵀ dz_l + a_{l-1}ᵀ R{dz_l} + λ V_{W_l}
    R{db_l}     = Σₙ R{dz_l}
    R{da_{l-1}} = R{dz_l} W_lᵀ + dz_l V_{W_l}ᵀ
    R{dz_{l-1}} = R{da_{l-1}} ⊙ f'(z_{l-1}) + da_{l-1} ⊙ f''(z_{l-1}) ⊙ R{z_{l-1}}

and H V = [(R{dW_l}, R{db_l}), ...], since R{∇L} = ∇²L V. Cost: about two backward passes.

Gauss-Newton product. With J = ∂s/∂θ (the Jacobian of the logits), H = Jᵀ H_s J + Σ (∂L/∂s)·∇²s
+ λ I_W, and the generalised Gauss-Newton matrix drops the middle term:

    G V = Jᵀ H_s J V + λ V_W

J V = R{s} is the R-forward pass above; Jᵀ u for u = H_s R{s} is the ordinary backward pass with u
in place of ds (f' only: no f'', no dz V_Wᵀ, no R{a}ᵀ dz). H_s is positive semi-definite for the
built-in losses (they are convex in s) and λ ≥ 0, so ⟨V, G V⟩ = ⟨JV, H_s JV⟩ + λ‖V_W‖² ≥ 0.
With no hidden layer s = X W + b is linear in θ, ∇²s = 0, and G = H exactly.

NOTE: at a kink (relu, leaky_relu at 0) f'' is 0, as jax.jvp(jax.grad(f)) gives (see
manual/activations.py); there H is the Hessian of the piecewise-smooth function on the branch f' picks.

Only the MLP of `NetworkSpec` is covered: the stacks (manual.stack) would need each layer's R-pass
(conv and pooling are linear in their input and extend directly; batchnorm does not, and is not done).
"""

from __future__ import annotations

from typing import List

import numpy as np

from .activations import get_activation
from .losses import get_loss
from .network import _check_overflow, _checked, activation_backward, forward_with_cache
from .spec import NetworkSpec
from .validation import check_params, encode_targets


def per_example_gradients(spec: NetworkSpec, params, X, y) -> List[tuple]:
    """[(dW (N, fan_in, fan_out), db (N, fan_out)), ...]: the gradient of each row's own loss
    ℓₙ + (λ/2) Σ‖W‖² (see the module docstring), from one backward pass and one einsum per layer.
    Their mean over axis 0 equals `loss_and_grads`' gradients."""
    params, X = _checked(spec, params, X)
    N = X.shape[0]
    Y = encode_targets(spec, y, N, dtype=X.dtype)  # (N, sizes[-1])
    with np.errstate(over="ignore", invalid="ignore"):
        logits, caches = forward_with_cache(spec, params, X)
        _, ds = get_loss(spec.loss).value_and_dlogits(logits, Y)  # (N, K), row n: ∂ℓₙ/∂sₙ / N
        grads = [None] * spec.n_layers
        delta = ds * N  # (N, K) δ_L: row n is ∂ℓₙ/∂sₙ
        for l in reversed(range(spec.n_layers)):
            W, _ = params[l]  # (fan_in, fan_out)
            dW = np.einsum("ni,no->nio", caches[l].a_in, delta)  # (N, fan_in) ⊗ (N, fan_out) -> (N, fan_in, fan_out)
            if spec.l2:
                dW += spec.l2 * W  # + λ W in every row, broadcast over N
            grads[l] = (dW, delta.copy())  # db: (N, fan_out)
            if l > 0:
                delta = activation_backward(delta @ W.T, caches[l - 1], spec.hidden[l - 1])  # (N, fan_in)
    _check_overflow(0.0, grads, X.dtype)
    return grads


def hessian_vector_product(spec: NetworkSpec, params, X, y, V) -> List[tuple]:
    """H V = [(dW, db), ...] of the whole loss (penalty included), by the R-operator: a forward
    pass of directional derivatives R{z}, R{a}, then a backward pass of them (module docstring).

    V -- a direction in the parameters' own layout [(V_W (fan_in, fan_out), V_b (fan_out,)), ...].
    """
    params, X, Y, V = _checked_with_direction(spec, params, X, y, V, "hessian_vector_product")
    L = spec.n_layers
    with np.errstate(over="ignore", invalid="ignore"):
        logits, caches = forward_with_cache(spec, params, X)
        Rz, Ra = r_forward(spec, params, caches, V)  # [(N, sizes[l+1])] each
        loss = get_loss(spec.loss)
        _, ds = loss.value_and_dlogits(logits, Y)  # (N, K)
        dz = ds  # (N, K) dz_L
        Rdz = loss.hessian_vector(logits, Y, Rz[L - 1])  # (N, K) R{dz_L} = H_s R{s}
        out = [None] * L
        for l in reversed(range(L)):
            W, _ = params[l]  # (fan_in, fan_out)
            VW, _ = V[l]  # (fan_in, fan_out)
            a_in = caches[l].a_in  # (N, fan_in)
            Ra_in = Ra[l - 1] if l > 0 else None  # (N, fan_in); R{a₀} = R{X} = 0
            RdW = a_in.T @ Rdz  # (fan_in, N) @ (N, fan_out) -> (fan_in, fan_out)
            if Ra_in is not None:
                RdW += Ra_in.T @ dz  # + R{a_{l-1}}ᵀ dz_l
            if spec.l2:
                RdW += spec.l2 * VW  # + λ V_W
            out[l] = (RdW, Rdz.sum(axis=0))  # (fan_in, fan_out), (fan_out,)
            if l > 0:
                c = caches[l - 1]
                act = get_activation(spec.hidden[l - 1])
                da = dz @ W.T  # (N, fan_in)
                Rda = Rdz @ W.T + dz @ VW.T  # (N, fan_out) @ (fan_out, fan_in) -> (N, fan_in)
                d1 = act.derivative(c.z, c.a)  # (N, fan_in) f'(z_{l-1})
                d2 = act.second_derivative(c.z, c.a)  # (N, fan_in) f''(z_{l-1})
                dz = da * d1  # (N, fan_in)
                Rdz = Rda * d1 + da * d2 * Rz[l - 1]  # (N, fan_in)
    _check_overflow(0.0, out, X.dtype)
    return out


def gauss_newton_vector_product(spec: NetworkSpec, params, X, y, V) -> List[tuple]:
    """G V = Jᵀ H_s J V + λ V_W = [(dW, db), ...]: J V by the R-forward pass, the loss's Hessian
    in the logits, then the ordinary backward pass of u = H_s J V (module docstring). Positive
    semi-definite for the built-in losses; equal to `hessian_vector_product` with no hidden layer.

    V -- a direction in the parameters' own layout [(V_W (fan_in, fan_out), V_b (fan_out,)), ...].
    """
    params, X, Y, V = _checked_with_direction(spec, params, X, y, V, "gauss_newton_vector_product")
    L = spec.n_layers
    with np.errstate(over="ignore", invalid="ignore"):
        logits, caches = forward_with_cache(spec, params, X)
        Rz, _ = r_forward(spec, params, caches, V)
        u = get_loss(spec.loss).hessian_vector(logits, Y, Rz[L - 1])  # (N, K) H_s J V
        out = [None] * L
        for l in reversed(range(L)):
            W, _ = params[l]  # (fan_in, fan_out)
            GW = caches[l].a_in.T @ u  # (fan_in, N) @ (N, fan_out) -> (fan_in, fan_out)
            if spec.l2:
                GW += spec.l2 * V[l][0]  # + λ V_W
            out[l] = (GW, u.sum(axis=0))  # (fan_in, fan_out), (fan_out,)
            if l > 0:
                u = activation_backward(u @ W.T, caches[l - 1], spec.hidden[l - 1])  # (N, fan_in)
    _check_overflow(0.0, out, X.dtype)
    return out


def r_forward(spec: NetworkSpec, params, caches, V):
    """([R{z_1}, ..., R{z_L}], [R{a_1}, ..., R{a_{L-1}}]): the forward pass of directional
    derivatives along V; R{z_L} = R{s} = J V."""
    Rz, Ra = [], []
    Ra_prev = None  # R{a₀} = 0
    for l, ((W, _), (VW, Vb)) in enumerate(zip(params, V)):
        c = caches[l]
        Rz_l = c.a_in @ VW + Vb  # (N, fan_in) @ (fan_in, fan_out) + (fan_out,) -> (N, fan_out)
        if Ra_prev is not None:
            Rz_l += Ra_prev @ W  # + R{a_{l-1}} W_l
        Rz.append(Rz_l)
        if l < spec.n_layers - 1:
            Ra_prev = get_activation(spec.hidden[l]).derivative(c.z, c.a) * Rz_l  # (N, fan_out) f'(z) ⊙ R{z}
            Ra.append(Ra_prev)
    return Rz, Ra


def _checked_with_direction(spec, params, X, y, V, what):
    params, X = _checked(spec, params, X)
    try:
        V = check_params(spec, V)
    except (TypeError, ValueError) as err:
        raise type(err)(f"V must be a direction in the params' layout [(V_W, V_b), ...]: {err}") from None
    V = [(np.asarray(VW, X.dtype), np.asarray(Vb, X.dtype)) for VW, Vb in V]
    for name in spec.hidden:
        if get_activation(name).second_derivative is None:
            raise ValueError(f"{what} needs the second derivative of activation {name!r}, which was registered "
                             "without one: pass second_derivative=(z, a) -> d²a/dz² to manual.register_activation")
    if get_loss(spec.loss).hessian_vector is None:
        raise ValueError(f"{what} needs the second derivative of loss {spec.loss!r}, which was registered without "
                         "one: pass hessian_vector=(s, Y, v) -> ∂²L/∂s² v to manual.register_loss")
    Y = encode_targets(spec, y, X.shape[0], dtype=X.dtype)  # (N, sizes[-1])
    return params, X, Y, V
