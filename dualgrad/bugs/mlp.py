"""A catalog of classic backprop mistakes, each injected into `manual`, each caught by the property.

Showing that a test passes is half of the proof; the other half is showing that it fails when
the code is wrong. Each `Mutation` below replaces one piece of the hand-written side (an entry
of `manual.activations.ACTIVATIONS` or `manual.losses.LOSSES`, or a function of
`manual.network` such as `dense_backward`) with a plausible wrong version, and `hunt` searches
random networks with hypothesis until the network-gradient property
(`dualgrad.properties.network_gradients_match`: manual == jax.grad) fails, then shrinks the
failure to a small network.

    python -m dualgrad.bugs            # the table: caught?, examples until caught, shrunk case
                                       # (then the layers' mistakes, dualgrad.layer_bugs,
                                       # convolution/pooling's, dualgrad.conv_bugs, and the fast
                                       # path's, optimizers' and MLP's, dualgrad.state_bugs)

Fair chance: a mutation of one activation or one loss is hunted over networks restricted to
that activation or loss (`Mutation.activations` / `.losses`, shown in the table's "drawn from"
column); everything else is drawn as in the test suite. Deterministic: hypothesis is
derandomized and keeps no example database.
"""

from __future__ import annotations

import time
from typing import NamedTuple, Optional, Tuple

import numpy as np

from manual import activations as A
from manual import losses as LS
from manual import network as NW

from ..engine.properties import network_gradients_match
from ..engine.strategies import network_cases
from . import patching
from .patching import Patch, Result, failure_of, family_main, hunt_with, injected, summary


class Mutation(NamedTuple):
    name: str  # short, for the table
    mistake: str  # what the wrong code does, in one line of math
    patches: Tuple[Patch, ...]
    activations: Optional[Tuple[str, ...]] = None  # restrict the hunt to these hidden activations
    losses: Optional[Tuple[str, ...]] = None  # ... and to these losses


def _derivative(name, wrong):
    """Patch the derivative of activation `name` in manual's table (Activation is a NamedTuple)."""
    return Patch(A.ACTIVATIONS, name, lambda act: act._replace(derivative=wrong))


def _loss(name, **fields):
    return Patch(LS.LOSSES, name, lambda loss: loss._replace(**fields))


# ---- the wrong code, one function per mistake ------------------------------------------------

def ce_without_1_over_n(s, Y):
    """dL/ds = softmax(s) − Y   (the mean's 1/N forgotten in the gradient, kept in the loss)"""
    value, ds = LS.cross_entropy(s, Y)
    return value, ds * s.shape[0]


def softmax_without_shift(s):
    """P = exp(s) / Σ exp(s)   (no max shift: exp overflows for logits ≳ 710)"""
    e = np.exp(s)  # (N, K)
    return e / e.sum(axis=1, keepdims=True)


def ce_without_shift(s, Y):
    """L = −mean Σ Y log softmax(s) with the unshifted softmax;  dL/ds = (P − Y) / N"""
    P = softmax_without_shift(s)  # (N, K)
    with np.errstate(divide="ignore"):  # log 0 for an underflowed class: part of the mistake
        return float(-np.mean((Y * np.log(P)).sum(axis=1))), (P - Y) / s.shape[0]


def softmax_max_over_batch(s):
    """P = exp(s − max over the batch axis) / Σₖ ...   (the shift is per column, not per row)"""
    e = np.exp(s - s.max(axis=0, keepdims=True))  # (N, K)
    return e / e.sum(axis=1, keepdims=True)


def ce_max_over_batch(s, Y):
    P = softmax_max_over_batch(s)  # (N, K) wrong for any N: the column max replaces each row's own
    return LS.cross_entropy(s, Y)[0], (P - Y) / s.shape[0]


def bce_sign_flipped(s, Y):
    """dL/ds = (Y − σ(s)) / N   (gradient ascent on the log-likelihood's sign)"""
    value, ds = LS.binary_cross_entropy(s, Y)
    return value, -ds


def mse_without_2(s, Y):
    """dL/ds = (ŷ − Y) / (N K)   (the 2 of the square forgotten)"""
    value, ds = LS.mse(s, Y)
    return value, ds / 2.0


def sigmoid_derivative_of_z(z, a):
    """σ' = z (1 − z)   (the formula a(1 − a) applied to z instead of a = σ(z))"""
    return z * (1.0 - z)


def tanh_derivative_of_z(z, a):
    """tanh' = 1 − z²   (instead of 1 − a²)"""
    return 1.0 - z * z


def relu_derivative_one_at_zero(z, a):
    """relu'(z) = 1 for z ≥ 0   (the other side of the kink: jax.nn.relu has relu'(0) = 0)"""
    return (z >= 0).astype(z.dtype)


def leaky_relu_derivative_wrong_slope(z, a):
    """leaky'(z) = 0.1 for z < 0   (the forward uses 0.01)"""
    return np.where(z >= 0, 1.0, 0.1).astype(z.dtype)


def elu_derivative_without_alpha(z, a):
    """elu'(z) = a for z ≤ 0   (instead of a + α = α eᶻ)"""
    return np.where(z > 0, 1.0, a).astype(z.dtype)


def gelu_derivative_missing_cubic_term(z, a):
    """gelu' without the derivative of the 0.044715 z³ inside tanh: ½(1 + t) + ½ z (1 − t²) c"""
    t = np.tanh(A.GELU_C * (z + A.GELU_K * z**3))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * A.GELU_C


def silu_derivative_missing_term(z, a):
    """silu' = σ(z)   (the product rule's z σ'(z) forgotten)"""
    return A.sigmoid(z)


def bias_grad_wrong_axis(dense_backward):
    def wrong(dz, a_in, W):
        """db = Σ over the units (axis 1) instead of over the batch (axis 0)"""
        da, dW, _ = dense_backward(dz, a_in, W)
        return da, dW, dz.sum(axis=1)  # (N,), not (fan_out,)

    return wrong


def bias_grad_mean(dense_backward):
    def wrong(dz, a_in, W):
        """db = meanₙ dz   (a second 1/N: ds already carries the mean's 1/N)"""
        da, dW, _ = dense_backward(dz, a_in, W)
        return da, dW, dz.mean(axis=0)

    return wrong


def weight_grad_transposed(dense_backward):
    def wrong(dz, a_in, W):
        """dW = dzᵀ a   (fan_out, fan_in): the transpose of aᵀ dz"""
        da, _, db = dense_backward(dz, a_in, W)
        return da, dz.T @ a_in, db

    return wrong


def l2_forgotten(l2_backward):
    return lambda dW, W, l2: dW  # the loss has (λ/2)‖W‖², the gradient has no λ W


def l2_halved(l2_backward):
    return lambda dW, W, l2: dW + 0.5 * l2 * W  # ∂/∂W (λ/2)‖W‖² taken as (λ/2) W


def l2_on_biases(backward):
    def wrong(spec, params, caches, ds):
        """db += λ b   (the biases decayed as well, though the loss leaves them out)"""
        grads = backward(spec, params, caches, ds)
        return [(dW, db + spec.l2 * b) for (dW, db), (_, b) in zip(grads, params)]

    return wrong


def derivative_of_the_layer_above(backward):
    def wrong(spec, params, caches, ds):
        """dz_l = da_l ⊙ f'_{l+1}(z_l)   (an off-by-one: the activation name of the layer above)"""
        grads = [None] * len(params)
        dz = ds  # (N, sizes[-1])
        for l in reversed(range(len(params))):
            W, _ = params[l]
            da_in, dW, db = NW.dense_backward(dz, caches[l].a_in, W)
            grads[l] = (NW.l2_backward(dW, W, spec.l2), db)
            if l > 0:
                name = spec.hidden[min(l, len(spec.hidden) - 1)]  # right: spec.hidden[l - 1]
                dz = da_in * A.get_activation(name).derivative(caches[l - 1].z, caches[l - 1].a)
        return grads

    return wrong


# ---- the catalog --------------------------------------------------------------------------------

CATALOG: Tuple[Mutation, ...] = (
    Mutation("missing 1/N (cross_entropy)", "dL/ds = P − Y", (_loss("cross_entropy", value_and_dlogits=ce_without_1_over_n),),
             losses=("cross_entropy",)),
    Mutation("softmax without max shift", "P = eˢ / Σ eˢ", (_loss("cross_entropy", output=softmax_without_shift,
                                                                       value_and_dlogits=ce_without_shift),),
             losses=("cross_entropy",)),
    Mutation("softmax max over the batch axis", "P = e^(s − max₀ s) / Σₖ", (_loss("cross_entropy", value_and_dlogits=ce_max_over_batch),),
             losses=("cross_entropy",)),
    Mutation("bce gradient sign flipped", "dL/ds = (Y − σ(s)) / N", (_loss("binary_cross_entropy", value_and_dlogits=bce_sign_flipped),),
             losses=("binary_cross_entropy",)),
    Mutation("mse missing the factor 2", "dL/ds = (ŷ − Y) / NK", (_loss("mse", value_and_dlogits=mse_without_2),),
             losses=("mse",)),
    Mutation("sigmoid derivative of z", "σ' = z (1 − z)", (_derivative("sigmoid", sigmoid_derivative_of_z),),
             activations=("sigmoid",)),
    Mutation("tanh derivative 1 − z²", "tanh' = 1 − z²", (_derivative("tanh", tanh_derivative_of_z),),
             activations=("tanh",)),
    Mutation("relu'(0) = 1", "relu' = [z ≥ 0]", (_derivative("relu", relu_derivative_one_at_zero),),
             activations=("relu",)),
    Mutation("leaky_relu slope 0.1 in backward", "leaky' = 0.1 for z < 0", (_derivative("leaky_relu", leaky_relu_derivative_wrong_slope),),
             activations=("leaky_relu",)),
    Mutation("elu derivative without α", "elu' = a for z ≤ 0", (_derivative("elu", elu_derivative_without_alpha),),
             activations=("elu",)),
    Mutation("gelu derivative missing a term", "no 3·0.044715 z² in gelu'", (_derivative("gelu", gelu_derivative_missing_cubic_term),),
             activations=("gelu",)),
    Mutation("silu derivative missing a term", "silu' = σ(z)", (_derivative("silu", silu_derivative_missing_term),),
             activations=("silu",)),
    Mutation("bias gradient over the wrong axis", "db = Σₖ dz (axis 1)", (Patch(NW, "dense_backward", bias_grad_wrong_axis),)),
    Mutation("bias gradient averaged", "db = meanₙ dz", (Patch(NW, "dense_backward", bias_grad_mean),)),
    Mutation("weight gradient transposed", "dW = dzᵀ a", (Patch(NW, "dense_backward", weight_grad_transposed),)),
    Mutation("l2 term forgotten in dW", "dW = aᵀ dz", (Patch(NW, "l2_backward", l2_forgotten),)),
    Mutation("l2 gradient halved", "dW = aᵀ dz + (λ/2) W", (Patch(NW, "l2_backward", l2_halved),)),
    Mutation("l2 applied to the biases", "db = Σₙ dz + λ b", (Patch(NW, "backward", l2_on_biases),)),
    Mutation("activation of the wrong layer in backward", "dz_l = da_l ⊙ f'_{l+1}(z_l)",
             (Patch(NW, "backward", derivative_of_the_layer_above),)),
)


def describe_case(case) -> str:
    spec, _, X, _ = case
    hidden = f" hidden={list(spec.hidden)}" if spec.hidden else ""
    return f"sizes={list(spec.sizes)}{hidden} {spec.loss} l2={spec.l2:g} N={X.shape[0]}"


def hunt(mutation: Mutation, max_examples: int = 300) -> Result:
    """Search for a network on which the code as currently installed fails the property.

    Does not install anything itself: wrap it in `injected(mutation)` (or monkeypatch in a test).
    """
    strategy = network_cases(activations=mutation.activations, losses=mutation.losses)
    drawn_from = ", ".join((mutation.activations or ()) + (mutation.losses or ())) or "any network"
    return hunt_with(mutation.name, drawn_from, strategy, lambda case: failure_of(network_gradients_match, case),
                     describe_case, max_examples)


def run(mutation: Mutation, max_examples: int = 300) -> Result:
    with injected(mutation):
        return hunt(mutation, max_examples)


def table(results) -> str:
    """A markdown table of the results."""
    return patching.table(results, "drawn from", lambda r: r.drawn_from)


def run_all(max_examples: int = 300, messages: bool = False) -> tuple:
    """(text, all caught): the table of the network mistakes (and each shrunk failure's message)."""
    start = time.perf_counter()
    results = [run(m, max_examples) for m in CATALOG]
    return summary(table(results), results, "mutations", messages, time.perf_counter() - start, max_examples)


main = family_main(run_all, "Inject each network mistake and hunt it with the network property.")
