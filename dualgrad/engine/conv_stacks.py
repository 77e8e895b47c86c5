"""Random convolutional stacks, by hand and by jax.grad, compared leaf by leaf; and their explanation.

A stack is data only (`ConvStack`): an image shape, blocks of layers, a class count, e.g.

    conv 3×3 s1 p1 → relu → maxpool 2 s2 → conv 2×2 s1 p0 → relu → flatten → dense → cross-entropy

`manual_loss_and_grads` runs it with `manual.layers` (forward, then every backward in reverse);
`reference_loss_and_grads` builds the same function from `reference.layers` and differentiates it
with jax.grad (one jit per stack). Parameters: one (W, b) per conv (W (F, C, k, k)) and per dense
(W (D, K)) layer, in order. `stack_gradients_match` is the property (loss, then every dW and db,
named "layer 2 (conv2d), dW"); `explain` prints each layer's forward and backward with shapes and
the measured error of its gradients.
"""

from __future__ import annotations

from typing import NamedTuple, Tuple

import numpy as np
from hypothesis import strategies as st

from manual import layers as ML
from manual.layers import windows

from .compare import grad_errors, leaf_error, network_scale

# a block: ("conv", F, k, stride, padding) | ("relu",) | ("tanh",) | ("maxpool", size, stride) | ("avgpool", size, stride)
Block = tuple


class ConvStack(NamedTuple):
    image: Tuple[int, int, int]  # (C, H, W)
    blocks: Tuple[Block, ...]  # before flatten
    classes: int  # K: flatten → dense (D, K) → cross-entropy

    def shapes(self, n):
        """[(layer name, output shape)] from the input (N, C, H, W) to the logits (N, K)."""
        shape, out = (n,) + tuple(self.image), []
        for block in self.blocks:
            kind = block[0]
            if kind == "conv":
                _, F, k, s, p = block
                shape = (n, F) + windows.output_hw(shape[2:], (k, k), (s, s), (p, p))
            elif kind in ("maxpool", "avgpool"):
                _, size, s = block
                shape = shape[:2] + windows.output_hw(shape[2:], (size, size), (s, s))
            out.append((describe_block(block), shape))
        shape = (n, int(np.prod(shape[1:])))
        out += [("flatten", shape), (f"dense {shape[1]} → {self.classes}", (n, self.classes))]
        return out


def describe_block(block) -> str:
    kind = block[0]
    if kind == "conv":
        _, F, k, s, p = block
        return f"conv2d {F}×{k}×{k} s{s} p{p}"
    if kind in ("maxpool", "avgpool"):
        return f"{kind}2d {block[1]} s{block[2]}"
    return kind


def describe(case) -> str:
    stack, _, X, _ = case
    return f"image={stack.image} " + " → ".join(describe_block(b) for b in stack.blocks) + \
        f" → flatten → dense → cross_entropy, K={stack.classes}, N={X.shape[0]}"


@st.composite
def conv_stacks(draw, max_blocks=2):
    """A valid stack: each conv and pool drawn to fit the current feature map (never filtered)."""
    C = draw(st.integers(1, 2))
    H, W = draw(st.integers(3, 8)), draw(st.integers(3, 8))
    hw, blocks = (H, W), []
    for _ in range(draw(st.integers(1, max_blocks))):
        p = draw(st.integers(0, 1))
        k = draw(st.integers(1, min(3, min(hw) + 2 * p)))
        s = draw(st.integers(1, 2))
        blocks.append(("conv", draw(st.integers(1, 3)), k, s, p))
        hw = windows.output_hw(hw, (k, k), (s, s), (p, p))
        blocks.append((draw(st.sampled_from(["relu", "tanh"])),))
        pool = draw(st.sampled_from([None, "maxpool", "avgpool"]))
        if pool and min(hw) >= 1:
            size = draw(st.integers(1, min(2, min(hw))))
            s = draw(st.integers(1, 2))
            blocks.append((pool, size, s))
            hw = windows.output_hw(hw, (size, size), (s, s))
    return ConvStack((C, H, W), tuple(blocks), draw(st.integers(2, 3)))


@st.composite
def conv_stack_cases(draw, max_blocks=2):
    """(stack, params, X, y), arrays from a drawn seed; X with integer entries half of the time
    (ties in max pooling)."""
    stack = draw(conv_stacks(max_blocks))
    N = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((N,) + stack.image)
    if draw(st.booleans()):
        X = np.round(X)
    return stack, init_params(stack, rng), X, rng.integers(0, stack.classes, N)


def init_params(stack: ConvStack, rng):
    params, C = [], stack.image[0]
    for block in stack.blocks:
        if block[0] == "conv":
            _, F, k, _, _ = block
            params.append((rng.normal(0, np.sqrt(2 / (C * k * k)), (F, C, k, k)), rng.normal(0, 0.1, F)))
            C = F
    D = stack.shapes(1)[-2][1][1]
    params.append((rng.normal(0, np.sqrt(1 / D), (D, stack.classes)), rng.normal(0, 0.1, stack.classes)))
    return params


# ---------------------------------------------------------------- the two sides


def manual_loss_and_grads(stack: ConvStack, params, X, y, keep=None):
    """Loss and [(dW, db), ...] by manual.layers; `keep`, a list, receives (name, out, dx) per layer."""
    a, caches, p = X, [], iter(params)
    for block in stack.blocks:
        kind = block[0]
        if kind == "conv":
            W, b = next(p)
            a, cache = ML.conv2d_forward(a, W, b, block[3], block[4])
        elif kind in ("maxpool", "avgpool"):
            a, cache = getattr(ML, f"{kind}2d_forward")(a, block[1], block[2])
        else:
            a, cache = getattr(ML, f"{kind}_forward")(a)
        caches.append((block, cache, a))
    f, flat_cache = ML.flatten_forward(a)
    Wd, bd = next(p)
    s, dense_cache = ML.dense_forward(f, Wd, bd)
    loss, ds = ML.cross_entropy_loss(s, y)
    df, dWd, dbd = ML.dense_backward(ds, dense_cache)
    (d,) = ML.flatten_backward(df, flat_cache)
    grads = [(dWd, dbd)]
    if keep is not None:
        keep.append(("dense", s, df))
        keep.append(("flatten", f, d))
    for block, cache, out in reversed(caches):
        kind = block[0]
        if kind == "conv":
            d_in, dW, db = ML.conv2d_backward(d, cache)
            grads.append((dW, db))
        elif kind in ("maxpool", "avgpool"):
            (d_in,) = getattr(ML, f"{kind}2d_backward")(d, cache)
        else:
            (d_in,) = getattr(ML, f"{kind}_backward")(d, cache)
        if keep is not None:
            keep.append((describe_block(block), out, d_in))
        d = d_in
    return loss, grads[::-1]


_PROGRAMS = {}


def reference_loss_and_grads(stack: ConvStack, params, X, y):
    """Loss and [(dW, db), ...] by jax.grad of the same stack built from reference.layers."""
    import jax

    key = (stack, X.shape)
    if key not in _PROGRAMS:
        if len(_PROGRAMS) > 256:
            _PROGRAMS.clear()
        _PROGRAMS[key] = jax.jit(jax.value_and_grad(lambda params, X, y: _reference_loss(stack, params, X, y)))
    loss, grads = _PROGRAMS[key](params, X, y)
    return float(loss), [(np.asarray(dW), np.asarray(db)) for dW, db in grads]


def _reference_loss(stack, params, X, y):
    import jax
    import jax.numpy as jnp

    import reference  # noqa: F401  (float64)
    from reference import layers as RL

    a, p = X, iter(params)
    for block in stack.blocks:
        kind = block[0]
        if kind == "conv":
            W, b = next(p)
            a = RL.conv2d(a, W, b, block[3], block[4])
        elif kind in ("maxpool", "avgpool"):
            a = getattr(RL, f"{kind}2d")(a, block[1], block[2])
        else:
            a = {"relu": jax.nn.relu, "tanh": jnp.tanh}[kind](a)  # NOTE: relu'(0) = 0, as manual
    Wd, bd = next(p)
    s = RL.flatten(a) @ Wd + bd
    return -jnp.mean(jax.nn.log_softmax(s)[jnp.arange(s.shape[0]), y])


def _names(stack):
    names = [describe_block(b) for b in stack.blocks if b[0] == "conv"] + ["dense"]
    return [f"layer {i} ({n})" for i, n in enumerate(names, start=1)]


def stack_gradients_match(case) -> None:
    """Loss and every dW, db of the manual stack equal jax.grad's (dualgrad.compare's tolerance)."""
    stack, params, X, y = case
    loss_m, grads_m = manual_loss_and_grads(stack, params, X, y)
    loss_r, grads_r = reference_loss_and_grads(stack, params, X, y)
    err = leaf_error("loss", loss_m, loss_r)
    if not err.passed:
        raise AssertionError(f"loss: manual {loss_m!r}, reference {loss_r!r}")
    for name, e in zip([f"{n}, d{w}" for n in _names(stack) for w in "Wb"], grad_errors(grads_m, grads_r)):
        if not e.passed:
            where = "shapes differ" if not e.shape_ok else (
                f"max |manual − ref| = {e.max_abs:.3g} at {e.worst_index}: manual {e.manual_value!r}, "
                f"reference {e.ref_value!r}")
            raise AssertionError(f"{name}: {where}")


def explain(stack: ConvStack, params, X, y) -> str:
    """Each layer's forward and backward with shapes, and the measured error of its gradients."""
    kept = []
    loss_m, grads_m = manual_loss_and_grads(stack, params, X, y, keep=kept)
    loss_r, grads_r = reference_loss_and_grads(stack, params, X, y)
    scale = network_scale(grads_r)
    N = X.shape[0]
    lines = [f"stack: {describe((stack, params, X, y))}", "", f"forward (x {X.shape} = (N, C, H, W)):"]
    for name, shape in stack.shapes(N):
        lines.append(f"  {name:<24} -> {shape}")
    lines.append(f"  {'cross_entropy':<24} -> loss {loss_m:.6g} (jax.grad's side: {loss_r:.6g})")
    lines += ["", "backward (d = ∂L/∂ of each layer's input, last layer first):",
              f"  {'cross_entropy':<24} ds = (softmax(s) − Y)/N       -> {(N, stack.classes)}"]
    rules = {"dense": "df = ds Wᵀ, dW = fᵀ ds, db = Σₙ ds", "flatten": "dx = df.reshape(x.shape)",
             "relu": "dx = dout ⊙ [x > 0]", "tanh": "dx = dout ⊙ (1 − out²)",
             "maxpool2d": "dout to each window's first maximum", "avgpool2d": "dout/(k·k) to every entry",
             "conv2d": "dx = col2im(dout_mat W_mat), p cropped"}
    for name, _, d_in in kept:
        rule = rules.get(name.split()[0], "")
        lines.append(f"  {name:<24} {rule:<42} -> {d_in.shape}")
    lines += ["", "gradients, manual against jax.grad of the whole stack (dualgrad.compare's tolerance):"]
    for name, (gm_W, gm_b), (gr_W, gr_b) in zip(_names(stack), grads_m, grads_r):
        for leaf, m, r in (("dW", gm_W, gr_W), ("db", gm_b, gr_b)):
            e = leaf_error(f"{name}, {leaf}", m, r, scale=scale)
            lines.append(f"  {name + ', ' + leaf:<34} {str(np.shape(m)):<16} max |manual − jax| = {e.max_abs:.1e} "
                         f"{'ok' if e.passed else 'FAIL'}")
    return "\n".join(lines)


EXAMPLE = ConvStack((1, 8, 8), (("conv", 4, 3, 1, 1), ("relu",), ("maxpool", 2, 2), ("conv", 3, 2, 1, 0), ("relu",)), 3)


def main(argv=None) -> int:
    """python -m dualgrad.conv_stacks: explain EXAMPLE on a batch of 2 random images (seed 0)."""
    rng = np.random.default_rng(0)
    params = init_params(EXAMPLE, rng)
    X = rng.standard_normal((2,) + EXAMPLE.image)
    text = explain(EXAMPLE, params, X, np.array([0, 2]))
    print(text)
    return 1 if "FAIL" in text else 0


if __name__ == "__main__":
    raise SystemExit(main())
