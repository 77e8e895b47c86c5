"""`dualgrad explain` for a stack of layers: every layer's forward and backward, with shapes and errors.

    print(explain_stack(StackSpec(8, (("dense", 16), ("batchnorm",), ("tanh",), ("dense", 3))), batch=4))
    print(explain_stack(conv_stacks.EXAMPLE, batch=2))          # a ConvStack: conv → relu → pool → ... → dense

A stack is a `manual.stack_spec.StackSpec`, a `dualgrad.conv_stacks.ConvStack`, or plain layer tuples
with an input shape (`Stack`): ("dense", M), ("batchnorm",), ("layernorm",), ("dropout", p),
("embedding", D) (first only), an activation (name,), ("conv", F, k, stride, padding),
("maxpool", size, stride), ("avgpool", size, stride), ("flatten",), or a layer registered with
`dualgrad.registry.register_layer` (name, *hyper values) on rows. The loss is a
`manual.layers.LOSS_LAYERS` name.

On a random batch (seed), each layer runs its `manual.layers` pair, `out, cache = <name>_forward(x, *p)`
then `dx, *dp = <name>_backward(dout, cache)`, in the stack's order (dropout layer l draws its mask
from seed·1000 + l, as `manual.stack`). Two measurements:

- per layer: dx and every dparam against `jax.vjp` of the layer's JAX twin (`reference.layers`) at the
  same x and params, pulled back with manual's own dout: a wrong layer fails alone;
- the whole stack: every dparam against `jax.grad` of the loss of the composed twins.

The equations printed are the first paragraph of the docstrings of the functions that run (the
forward's equation, and the backward's after its '⇒'), so what is shown is what the code says.
"""

from __future__ import annotations

import numbers
from typing import Callable, List, NamedTuple, Optional, Tuple

import numpy as np

from ..engine.compare import ATOL, RTOL
from ..engine.report import _num
from ..engine.compare import leaf_error

LOSSES = ("cross_entropy", "binary_cross_entropy", "mse", "hinge", "temporal_softmax")
TWIN_NAMES = {"conv": "conv2d", "maxpool": "maxpool2d", "avgpool": "avgpool2d"}


def Stack(input, layers, loss="cross_entropy"):
    """The former explain-only description, now `manual.stack_spec.StackSpec` itself: `input` is
    (D,) for rows, (C, H, W) for images, or ("ids", V) for integer ids (N,) (an embedding first)."""
    from manual.stack_spec import StackSpec

    input = tuple(input)
    return StackSpec(input[1] if input and input[0] == "ids" else input, tuple(layers), loss)


class Layer(NamedTuple):
    """One layer, ready to run: its manual pair, its JAX twin and its parameters."""

    index: int  # 1-based
    name: str  # "dense 16", "conv2d 4×3×3 s1 p1", ...
    forward: Callable  # forward(x, *params) -> (out, cache)
    backward: Callable  # backward(dout, cache) -> (dx, *dparams), or (dE,) for an embedding
    twin: Callable  # twin(x, *params) -> out, in JAX
    params: tuple
    param_names: Tuple[str, ...]
    doc_forward: Callable  # the function whose docstring gives the forward equation
    doc_backward: Callable
    x_is_data: bool = False  # integer ids: no dx


class Leaf(NamedTuple):
    name: str  # "dx3", "dW1", "dγ2", "ds"
    shape: tuple
    manual: np.ndarray
    max_abs: float
    max_rel: float
    passed: bool


class LayerStep(NamedTuple):
    layer: Layer
    x_shape: tuple
    out_shape: tuple
    leaves: List[Leaf]  # dx (unless ids) then the dparams, each against jax.vjp
    nodes: Tuple[Leaf, ...] = ()  # a composite layer derived node by node (batchnorm): each node's gradient


class StackDerivation(NamedTuple):
    title: str
    N: int
    seed: int
    loss: str
    steps: List[LayerStep]
    loss_leaf: Leaf  # ds = ∂L/∂logits against jax.grad of the twin loss
    loss_value: float
    loss_reference: float
    whole: List[Leaf]  # every dparam against jax.grad of the whole stack
    params_table: list  # (layer index, name, [(param name, shape)], count)

    @property
    def passed(self) -> bool:
        leaves = [leaf for s in self.steps for leaf in s.leaves + list(s.nodes)] + [self.loss_leaf] + self.whole
        return all(leaf.passed for leaf in leaves) and bool(
            abs(self.loss_value - self.loss_reference) <= 1e-6 * max(1.0, abs(self.loss_reference)))


# ---- building the layers --------------------------------------------------------------------


def as_stack(stack):
    """The `StackSpec` of a StackSpec or a ConvStack."""
    from manual.stack_spec import StackSpec

    from ..engine.conv_stacks import ConvStack

    if isinstance(stack, StackSpec):
        return stack
    if isinstance(stack, ConvStack):
        return stack.spec()
    raise TypeError(f"explain_stack needs a StackSpec or a ConvStack, got {type(stack).__name__}")


def _layer_name(layer) -> str:
    from manual.stack_spec import describe_layer

    return describe_layer(layer)


def _build(layer, index: int, in_shape: tuple, rng, seed: int, number: int = None) -> Layer:
    """The layer `index` (1-based) for inputs of `in_shape` (without N; ids: (..., V)), parameters drawn
    from rng; `number` its place in walk order (dropout's seed·1000 + number)."""
    from manual import layers as ML
    from manual import stack as MS
    from manual.activations import ACTIVATIONS
    from reference import layers as RL
    from reference import stack as RS

    kind = layer[0] if isinstance(layer, (tuple, list)) and layer else layer
    args = tuple(layer[1:])
    name = _layer_name(layer)
    number = index - 1 if number is None else number
    if kind == "dense":
        D, M = in_shape[-1], args[0]
        params = (rng.standard_normal((D, M)) * np.sqrt(2.0 / D), rng.normal(0, 0.1, M))
        return Layer(index, name, lambda x, W, b: MS.on_rows(ML.dense_forward, x, W, b),
                     lambda d, c: MS.rows_backward(ML.dense_backward, d, c),
                     lambda x, W, b: RS.rows(RL.dense, x, W, b), params, ("W", "b"),
                     ML.dense_forward, ML.dense_backward)
    if kind in ("batchnorm", "layernorm"):
        D = in_shape[0] if len(in_shape) == 3 else in_shape[-1]  # images: per channel
        params = (1.0 + rng.normal(0, 0.1, D), rng.normal(0, 0.1, D))
        fwd, bwd, twin = getattr(ML, f"{kind}_forward"), getattr(ML, f"{kind}_backward"), getattr(RL, kind)
        return Layer(index, name, lambda x, g, b: MS.on_rows(fwd, x, g, b),
                     lambda d, c: MS.rows_backward(bwd, d, c), lambda x, g, b: RS.rows(twin, x, g, b), params,
                     ("γ", "β"), fwd, bwd)
    if kind == "dropout":
        p, s = args[0], seed * 1000 + number  # manual.stack's seed for the layer numbered `number`
        return Layer(index, name, lambda x: ML.dropout_forward(x, p, s), ML.dropout_backward,
                     lambda x: RL.dropout(x, p, s), (), (), ML.dropout_forward, ML.dropout_backward)
    if kind == "embedding":
        V, D = in_shape[-1], args[0]
        return Layer(index, name, ML.embedding_forward, ML.embedding_backward, RL.embedding,
                     (rng.standard_normal((V, D)),), ("E",), ML.embedding_forward, ML.embedding_backward, True)
    if kind == "conv":
        F, k, s, p = args
        C = in_shape[0]
        W = rng.normal(0, np.sqrt(2 / (C * k * k)), (F, C, k, k))
        return Layer(index, name, lambda x, W, b: ML.conv2d_forward(x, W, b, s, p), ML.conv2d_backward,
                     lambda x, W, b: RL.conv2d(x, W, b, s, p), (W, rng.normal(0, 0.1, F)), ("W", "b"),
                     ML.conv2d_forward, ML.conv2d_backward)
    if kind in ("maxpool", "avgpool"):
        size, s = args
        fwd, bwd = getattr(ML, f"{kind}2d_forward"), getattr(ML, f"{kind}2d_backward")
        twin = getattr(RL, f"{kind}2d")
        return Layer(index, name, lambda x: fwd(x, size, s), bwd, lambda x: twin(x, size, s), (), (), fwd, bwd)
    if kind == "flatten":
        return Layer(index, name, ML.flatten_forward, ML.flatten_backward, RL.flatten, (), (),
                     ML.flatten_forward, ML.flatten_backward)
    if kind in ("rnn", "lstm"):
        H = args[0]
        G = 4 if kind == "lstm" else 1
        D = in_shape[-1]
        params = (rng.normal(0, 1 / np.sqrt(D), (D, G * H)), rng.normal(0, 1 / np.sqrt(H), (H, G * H)),
                  rng.normal(0, 0.1, G * H))
        fwd, bwd, twin = getattr(ML, f"{kind}_forward"), getattr(ML, f"{kind}_backward"), getattr(RL, kind)

        def backward(d, c, bwd=bwd):  # dh0 dropped: h0 = 0 is a constant
            dx, _dh0, *dparams = bwd(d, c)
            return (dx, *dparams)

        return Layer(index, name, lambda x, *p: fwd(x, np.zeros((x.shape[0], H)), *p), backward,
                     lambda x, *p: twin(x, np.zeros((x.shape[0], H)), *p), params, ("Wx", "Wh", "b"), fwd, bwd)
    if kind == "attn":
        heads, E = args[0], in_shape[-1]
        mask = ML.causal_mask(in_shape[0]) if args[1:] else None
        params = tuple(rng.normal(0, 1 / np.sqrt(E), (E, E)) if i % 2 == 0 else rng.normal(0, 0.1, E) for i in range(8))

        def backward(d, c):  # self-attention: x is the query, the key and the value
            dq, dk, dv, *dparams = ML.multihead_attention_backward(d, c)
            return (dq + dk + dv, *dparams)

        return Layer(index, name, lambda x, *p: ML.multihead_attention_forward(x, x, x, *p, heads, mask), backward,
                     lambda x, *p: RL.multihead_attention(x, x, x, *p, heads, mask), params,
                     ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo"), ML.multihead_attention_forward,
                     ML.multihead_attention_backward)
    if kind == "res":
        raise ValueError(f"layer {index} (res): explain --stack does not show residual blocks yet; "
                         "`dualgrad verify --stack` checks them")
    if kind in ACTIVATIONS and not args:
        fwd, bwd = ML.activations._pair(kind)
        return Layer(index, name, fwd, bwd, lambda x: RL.activation(kind, x), (), (), fwd, bwd)
    from manual.layers import registered as user_layers
    from reference.layers import registered as user_twins

    if kind in user_layers.LAYERS and kind in user_twins.LAYERS:
        user, hyper = user_layers.LAYERS[kind], user_layers.hyper_of(kind, args)
        shapes = user_layers.shapes_of(kind, in_shape[-1], args)
        params = MS._init_registered(kind, shapes, rng)
        twin = user_twins.LAYERS[kind][0]
        return Layer(index, name, lambda x, *p: user.forward(x, *p, **hyper), user.backward,
                     lambda x, *p: twin(x, *p, **hyper), params, user_layers.names_of(kind, len(shapes)),
                     user.forward, user.backward)
    raise ValueError(f"layer {index}: unknown layer {name!r}")


def _random_input(stack, N: int, rng):
    if stack.ids:
        return rng.integers(0, stack.vocabulary, (N,) + stack.input_shape)
    return rng.standard_normal((N,) + stack.input_shape)


def _random_targets(loss: str, logits_shape: tuple, rng):
    if loss == "temporal_softmax":  # a class per step
        return rng.integers(0, logits_shape[2], logits_shape[:2])
    N, K = logits_shape[0], int(np.prod(logits_shape[1:]))
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, N)
    if loss == "mse":
        return rng.standard_normal((N, K))
    return rng.integers(0, K, N)


# ---- measuring --------------------------------------------------------------------------------


def derive_stack(stack, batch: int = 4, seed: int = 0) -> StackDerivation:
    """Run `stack` by hand on a random batch of `batch` and measure every step (see the module docstring)."""
    import jax

    import reference  # noqa: F401  (float64)
    from manual import stack as MS
    from reference import stack as RS

    if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    stack = as_stack(stack)
    if stack.loss not in LOSSES:
        raise ValueError(f"unknown loss {stack.loss!r}; valid: {', '.join(LOSSES)}")
    rng = np.random.default_rng(seed)
    x = _random_input(stack, batch, rng)
    # forward by hand, building each layer for the shape it receives
    layers, xs, caches, a = [], [], [], x
    numbers_ = [int(where) - 1 for where, *_ in enumerate_walk(stack)]
    for i, (spec, shape) in enumerate(zip(stack.layers, stack.in_shapes()), start=1):
        layer = _build(spec, i, shape, rng, seed, numbers_[i - 1])
        out, cache = layer.forward(a, *layer.params)
        layers.append(layer)
        xs.append(a)
        caches.append(cache)
        a = out
    logits = a
    if stack.loss == "binary_cross_entropy" and np.shape(logits)[1:] != (1,):
        raise ValueError(f"binary_cross_entropy needs logits (N, 1), the stack gives {np.shape(logits)}")
    if np.ndim(logits) != (3 if stack.loss == "temporal_softmax" else 2):
        raise ValueError(f"the loss needs logits (N, K), the stack gives {np.shape(logits)}: end with a dense layer")
    y = _random_targets(stack.loss, np.shape(logits), rng)
    loss_value, dlogits = MS.loss_layer(stack.loss, logits, y)

    def twin_loss(s, y):
        return RS.loss_layer(stack.loss, s, y)

    ref_dlogits = np.asarray(jax.grad(lambda s: twin_loss(s, y))(logits))

    # backward by hand, each layer's leaves against jax.vjp of its twin with manual's dout
    pending, d = [], dlogits
    for layer, xin, cache in reversed(list(zip(layers, xs, caches))):
        grads = layer.backward(d, cache)
        grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
        if layer.x_is_data:
            manual_dx, dparams = None, grads
            _, pull = jax.vjp(lambda *p: layer.twin(xin, *p), *layer.params)
            ref = (None,) + tuple(pull(d))
        else:
            manual_dx, dparams = grads[0], grads[1:]
            _, pull = jax.vjp(layer.twin, xin, *layer.params)
            ref = tuple(pull(d))
        pending.append((layer, xin, d, manual_dx, dparams, ref))
        d = manual_dx
    scale = max([1.0] + [float(np.max(np.abs(r))) for *_, ref in pending for r in ref if r is not None and np.size(r)])
    steps = []
    for layer, xin, dout, manual_dx, dparams, ref in reversed(pending):
        leaves = []
        if not layer.x_is_data:
            leaves.append(_leaf(f"dx{layer.index}", manual_dx, ref[0], scale))
        for pname, m, r in zip(layer.param_names, dparams, ref[1:]):
            leaves.append(_leaf(f"d{pname}{layer.index}", m, r, scale))
        if len(dparams) != len(layer.param_names):
            leaves.append(Leaf(f"d(params){layer.index}", (), np.zeros(0), np.inf, np.inf, False))
        steps.append(LayerStep(layer, tuple(np.shape(xin)), tuple(np.shape(dout)), leaves,
                               _node_leaves(layer, xin, dout, scale)))

    # the whole stack: jax.grad of the composed twins with respect to every parameter
    def whole_loss(all_params):
        h = x
        for layer, p in zip(layers, all_params):
            h = layer.twin(h, *p)
        return twin_loss(h, y)

    ref_loss, ref_grads = jax.value_and_grad(whole_loss)([layer.params for layer in layers])
    whole = []
    for step, rg in zip(steps, ref_grads):
        manual_dp = {leaf.name: leaf.manual for leaf in step.leaves}
        for pname, r in zip(step.layer.param_names, rg):
            key = f"d{pname}{step.layer.index}"
            m = manual_dp.get(key, np.full(np.shape(r), np.nan))
            whole.append(_leaf(key, m, r, scale))
    table = [(layer.index, layer.name, [(n, np.shape(p)) for n, p in zip(layer.param_names, layer.params)],
              sum(int(np.size(p)) for p in layer.params)) for layer in layers if layer.params]
    return StackDerivation(_title(stack, batch), batch, seed, stack.loss, steps,
                           _leaf("ds", dlogits, ref_dlogits, scale), float(loss_value), float(ref_loss), whole,
                           table)


def enumerate_walk(stack):
    """(walk number + 1, layer) of each top-level layer (its place in `StackSpec.walk` order)."""
    return [(str(n + 1), layer) for n, (where, layer, *_) in enumerate(stack.walk()) if "." not in where]


def _node_leaves(layer, xin, dout, scale) -> Tuple[Leaf, ...]:
    """batchnorm derived node by node: manual's graph form's node gradients against jax.grad of the JAX
    graph (`dualgrad.engine.graph_steps.BATCHNORM_GRAPH`) with each node as a variable."""
    if layer.name != "batchnorm":
        return ()
    from manual import layers as ML

    from ..engine.graph_steps import BATCHNORM_GRAPH, reference_gradients

    gamma, beta = layer.params
    _, cache = ML.batchnorm_forward(xin, gamma, beta)
    *_, nodes = ML.batchnorm_backward_graph_steps(dout, cache)
    ref = reference_gradients(BATCHNORM_GRAPH, {"x": xin, "gamma": gamma, "beta": beta}, dout)
    order = [f"d{node.name}" for node in reversed(list(BATCHNORM_GRAPH)) if f"d{node.name}" in nodes]
    return tuple(_leaf(name, nodes[name], ref[name], scale) for name in order)


BATCHNORM_DERIVED = (
    "derived node by node (manual.layers.batchnorm_backward_graph_steps), forward graph per column:",
    "  μ = mean x;  xc = x − μ;  v = mean xc²;  s = √(v + ε);  i = 1/s;  x̂ = xc · i;  out = γ x̂ + β",
    "  dx̂ = dout γ                                     (out = γ x̂ + β)",
    "  di = Σₙ dx̂ xc,  dxc₁ = dx̂ i                     (x̂ = xc · i)",
    "  ds = −di / s²                                   (i = 1/s)",
    "  dv = ds / (2 s)                                 (s = √(v + ε))",
    "  dxc = dxc₁ + (2/N) xc dv                        (v = mean xc²: the variance path)",
    "  dμ = −Σₙ dxc,  dx = dxc + dμ / N                (xc = x − μ: the mean path)",
    "each node's gradient against jax.grad of the JAX graph, the node an explicit variable:",
)


def _leaf(name, manual, ref, scale) -> Leaf:
    manual = np.asarray(manual, np.float64)
    e = leaf_error(name, manual, np.asarray(ref, np.float64), scale=scale)
    return Leaf(name, tuple(manual.shape), manual, e.max_abs, e.max_rel, e.passed)


# ---- the text ---------------------------------------------------------------------------------


def _title(stack, N: int) -> str:
    if stack.ids:
        first = f"ids {_shape(('N',) + stack.input_shape)} < {stack.vocabulary}"
    else:
        shape = stack.input_shape
        first = f"x {shape[0]}" if len(shape) == 1 else "x " + str(tuple(shape))
    return " → ".join([first] + [_layer_name(layer) for layer in stack.layers] + [stack.loss]) + f", batch N = {N}"


def docstring_paragraph(fn) -> List[str]:
    """The first paragraph of fn's docstring, one string per line (stripped)."""
    doc = (getattr(fn, "__doc__", None) or "").strip()
    lines = []
    for line in doc.splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return lines


def forward_equation(fn) -> str:
    lines = docstring_paragraph(fn)
    if not lines:
        return f"out = {getattr(fn, '__name__', 'forward')}(x)"
    return lines[0].split(";")[0].rstrip(".").strip()


def backward_equation(fn) -> List[str]:
    lines = docstring_paragraph(fn)
    if not lines:
        return [f"dx, *dparams = {getattr(fn, '__name__', 'backward')}(dout, cache)"]
    if "⇒" in lines[0]:
        lines[0] = lines[0].split("⇒", 1)[1].strip()
    return lines


def _array_text(a, indent: str) -> List[str]:
    a = np.asarray(a)
    text = np.array2string(np.where(a == 0, 0.0, a), precision=4, suppress_small=True, max_line_width=100,
                           threshold=64)
    return [(indent + line).rstrip() for line in text.splitlines()]


def render_stack(d: StackDerivation, values: bool = False) -> str:
    from .network import head_derivation

    lines = [f"Stack {d.title}", "", "Parameters"]
    table = [("layer", "kind", "parameters", "count")]
    for index, name, shapes, count in d.params_table:
        table.append((str(index), name, ", ".join(f"{n}{index} {_shape(s)}" for n, s in shapes), str(count)))
    table.append(("total", "", "", str(sum(row[3] for row in d.params_table))))
    widths = [max(len(r[c]) for r in table) for c in range(4)]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    name_w = max([len(f"{s.layer.index}  {s.layer.name}") for s in d.steps] + [len(f"L  {d.loss}")]) + 2
    shape_w = max(len(f"{_shape(s.x_shape)} → {_shape(_out_shape(d, s))}") for s in d.steps) + 2

    lines += ["", "Forward  (x → out; each equation is the first line of the manual forward's docstring)"]
    for s in d.steps:
        head = f"{s.layer.index}  {s.layer.name}".ljust(name_w)
        shapes = f"{_shape(s.x_shape)} → {_shape(_out_shape(d, s))}".ljust(shape_w)
        lines.append(f"  {head}{shapes}{forward_equation(s.layer.doc_forward)}")
    from manual import layers as ML

    loss_fn = ML.temporal_softmax_loss if d.loss == "temporal_softmax" else ML.LOSS_LAYERS[d.loss]
    loss_eq, _, dloss_eq = " ".join(docstring_paragraph(loss_fn)).partition(";")
    if not dloss_eq:  # "L = ...,  dx = ..." (temporal_softmax_loss)
        loss_eq, _, dloss_eq = loss_eq.partition(",  ")
    logits_shape = d.loss_leaf.shape
    lines.append(f"  {('L  ' + d.loss).ljust(name_w)}{(_shape(logits_shape) + ' → L').ljust(shape_w)}"
                 f"{loss_eq.strip()}")
    lines.append(f"      L = {d.loss_value:.6g} (jax: {d.loss_reference:.6g})")

    lines += ["", "Backward  (d = ∂L/∂; each layer's dx and dparams against jax.vjp of its JAX twin",
              "           at the same x and params, pulled back with manual's own dout)"]
    lines.append(f"  loss {d.loss}, dL/ds (backward from the docstring of manual.layers.{loss_fn.__name__}):")
    lines.append(f"      {dloss_eq.strip().split('. ')[0].rstrip('.')}")  # its first sentence
    for derived in head_derivation(d.loss):
        lines.append(f"      {derived}")
    lines += _leaf_lines(d.loss_leaf, "jax.grad", values)
    for s in reversed(d.steps):
        eq = backward_equation(s.layer.doc_backward)
        lines.append(f"  {s.layer.index}  {s.layer.name}, dout {_shape(s.out_shape)}:")
        lines += [f"      {line}" for line in eq]
        if s.layer.x_is_data:
            lines.append("      (no dx: the input is integer ids)")
        if s.nodes:
            lines += [f"      {line}" for line in BATCHNORM_DERIVED]
            lines += _leaf_lines(list(s.nodes), "jax.grad", values)
            lines.append("      the layer's result, against jax.vjp of its twin:")
        lines += _leaf_lines(s.leaves, "jax.vjp", values)
    layer_leaves = [leaf for s in d.steps for leaf in s.leaves] + [d.loss_leaf]
    n_ok, n_whole = sum(leaf.passed for leaf in layer_leaves), sum(leaf.passed for leaf in d.whole)
    loss_ok = abs(d.loss_value - d.loss_reference) <= 1e-6 * max(1.0, abs(d.loss_reference))
    lines += ["", f"Measured on a random batch (seed {d.seed}) against JAX (float64), "
                  f"|manual − ref| ≤ {RTOL:g}·|ref| + {RTOL:g}·max|ref| + {ATOL:g}·max(1, max|ref|):",
              f"  layer by layer, against jax.vjp of each twin: {_count(n_ok, len(layer_leaves), 'leaves ')}",
              f"  the whole stack, every dparam against jax.grad of the loss: {_count(n_whole, len(d.whole))}"
              + ("" if loss_ok else "; the losses differ: FAIL"),
              f"  {'PASS' if d.passed else 'FAIL'}"]
    return "\n".join(lines)


def _count(passed: int, total: int, what: str = "") -> str:
    """'9/9 leaves pass', or '7/9 leaves pass, 2 FAIL': the count is of the ones that pass."""
    text = f"{passed}/{total} {what}pass"
    return text if passed == total else f"{text}, {total - passed} FAIL"


def _out_shape(d, step):
    i = d.steps.index(step)
    return d.steps[i + 1].x_shape if i + 1 < len(d.steps) else d.loss_leaf.shape


def _leaf_lines(leaves, against: str, values: bool) -> List[str]:
    leaves = [leaves] if isinstance(leaves, Leaf) else leaves
    width = max(len(leaf.name) for leaf in leaves) if leaves else 0
    out = []
    for leaf in leaves:
        out.append(f"      {leaf.name.ljust(width)}  {_shape(leaf.shape).ljust(12)} max |manual − {against}| = "
                   f"{_num(leaf.max_abs)} (rel {_num(leaf.max_rel)}) {'pass' if leaf.passed else 'FAIL'}")
        if values:
            out += _array_text(leaf.manual, "          ")
    return out


def _shape(shape) -> str:
    shape = tuple(shape)
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def explain_stack(stack, batch: int = 4, seed: int = 0, values: bool = False) -> str:
    """The text of `derive_stack(stack, batch, seed)`; `values` adds each leaf's manual numbers."""
    return render_stack(derive_stack(stack, batch, seed), values=values)


# ---- the command line's --stack text -----------------------------------------------------------


def parse_layers(text: str, image: bool = None) -> Tuple[tuple, ...]:
    """The text form, parsed by `manual.stack_spec.parse_layers` (the one parser); `image=False`
    refuses image layers with the command line's hint."""
    from manual.stack_spec import IMAGE_KINDS, parse_layers as parse

    layers = parse(text)
    if image is False:
        for layer in _all_layers(layers):
            if layer[0] in IMAGE_KINDS + ("flatten",):
                raise ValueError(f"--stack {':'.join(map(str, layer))!r}: {layer[0]} needs images: give --input C H W")
    return layers


def _all_layers(layers):
    for layer in layers:
        yield layer
        if layer[0] == "res":
            yield from _all_layers(layer[1])


def stack_from_arguments(layers_text: str, input_dims, loss: Optional[str]):
    """The StackSpec of the command line's --stack TEXT --input D | T D | C H W [--loss]."""
    from manual.stack_spec import StackSpec

    dims = list(input_dims or [])
    if len(dims) not in (1, 2, 3) or min(dims) < 1:
        raise ValueError(f"--input needs D (features, or the vocabulary for an embedding), T D (sequences; T V for "
                         f"ids) or C H W (an image), positive, got {' '.join(map(str, dims)) or 'nothing'}")
    layers = parse_layers(layers_text, {1: False, 2: None, 3: True}[len(dims)])
    if loss is not None and loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid: {', '.join(LOSSES)}")
    return StackSpec.parse(layers_text, dims[0] if len(dims) == 1 else tuple(dims), loss) if layers else None
