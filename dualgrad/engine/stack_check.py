"""A user's whole network of any layers, checked: `check_implementation(fn, stack=...)` (issue 21.3).

    check_implementation(my_cnn, stack="conv:2:3:1:1 relu maxpool:2 flatten dense:3", input=(1, 6, 6))

    check_implementation(my_lm, stack="embed:4 lstm:8 dense:5", input=(3, 5))    # ids (N, 3) < 5

The network is one `manual.stack_spec.StackSpec` (or its text form with `input`, the shape of one
example: D, (T, D) or (C, H, W); with an embedding first, the vocabulary V or (T, V)). For text
with no `input`, rows are assumed and the input width D is drawn (1 .. 6); when the text has a
sequence layer (rnn, lstm, attn), sequences (T, D) are assumed and T (1 .. 4) and D drawn (D a
multiple of every attn's heads; with an embedding first, T and the vocabulary V). Each example draws a
batch size N (1 .. max_batch), parameters and a batch, calls

    loss, grads = fn(params, X, y)

and compares the loss and every parameter gradient with jax.grad of the same network (the bucketed
reference, `reference.bucketed_stack`), naming the first that differs in the layer nearest the loss
by its position and kind: "layer 3 (batchnorm), dgamma" (a wrong backward corrupts the gradients of
every layer below it, so that layer is the wrong one or the first with parameters below it). A failure is shrunk (smaller batch, smaller values) and returned.

`params` is a list with one tuple per layer, in the description's order:
  dense      (W (D, M), b (M,))           layout="out_in": W (M, D) (the other layers keep their layout)
  conv       (W (F, C, k, k), b (F,))
  batchnorm, layernorm   (gamma, beta): (D,) on rows and sequences; on images (C,), PER CHANNEL
             (batchnorm: statistics over N, H, W; layernorm: over the C channels of each pixel)
  embedding  (E (V, D),)
  rnn        (Wx (D, H), Wh (H, H), b (H,))           h0 = 0; the output is every hidden state (N, T, H)
  lstm       (Wx (D, 4H), Wh (H, 4H), b (4H,))       gates i, f, o, g side by side; h0 = c0 = 0
  attn       (Wq, bq, Wk, bk, Wv, bv, Wo, bo)        W (E, E), b (E,); self-attention, heads of E/heads
                                                     columns, scale 1/√(E/heads); causal: query t sees keys <= t
  res        a tuple of its inner layers' tuples (x + f(x))
  the others ()  (activations, dropout, maxpool, avgpool, flatten)
and `grads` has the same layout. X: (N, D), (N, T, D), (N, C, H, W) floats, or (N,) / (N, T) int ids;
y: class ids (N,) for cross_entropy and hinge, 0/1 floats (N,) for binary_cross_entropy, (N, K) for
mse, a class id per step (N, T) for temporal_softmax (scores (N, T, V); the loss summed over the
steps and divided by N, CS231n's temporal_softmax_loss with every step counted). Dropout: the layer numbered l (in `StackSpec.walk` order, from 0) must keep the units of
`dualgrad.stack_check.dropout_mask(x.shape, p, l)` (seed 0), as manual.stack does.
"""

from __future__ import annotations

import numbers

import numpy as np

from .result import CheckResult, search_ended
from .stack_property import STACK_ATOL, named_leaves, random_params, random_targets

LAYOUTS = ("in_out", "out_in")


def dropout_mask(shape, p, l):
    """The kept units of the dropout layer numbered l (walk order, from 0): manual.stack's mask at seed 0."""
    from manual.layers.checks import dropout_mask as mask

    return mask(shape, p, l)


def _spec_of(stack, input, loss):
    from manual.stack_spec import StackSpec

    if isinstance(stack, StackSpec):
        if input is not None or loss is not None:
            raise TypeError("input and loss are given by the StackSpec itself: pass them only with the text form")
        return stack, False
    if not isinstance(stack, str):
        raise TypeError(f"stack must be a StackSpec or its text form such as 'dense:8 relu dense:3', "
                        f"got {type(stack).__name__}")
    if input is None:
        StackSpec.parse(stack, _open_input(stack, 2, 1, 4), loss)  # the text checked now
        return stack, True
    return StackSpec.parse(stack, input, loss), False


def _open_input(text, T, k, D):
    """The input of a text given without one: D (rows), or (T, k·lcm(heads)) when it has a sequence
    layer (sequences; with an embedding first, (T, V))."""
    import math

    from manual.stack_spec import SEQUENCE_KINDS, parse_layers

    def every(layers):
        for layer in layers:
            yield layer
            if layer[0] == "res":
                yield from every(layer[1])

    layers = list(every(parse_layers(text)))
    if not any(layer[0] in SEQUENCE_KINDS for layer in layers):
        return D
    heads = math.lcm(*[layer[1] for layer in layers if layer[0] == "attn" and isinstance(layer[1], int)] or [1])
    return (T, k if layers[0][0] == "embedding" else k * heads)


def _user_params(spec_layers, params, layout):
    """Our layout -> the user's (layout='out_in': dense W transposed)."""
    if layout == "in_out":
        return params
    out = []
    for layer, p in zip(spec_layers, params):
        if layer[0] == "dense":
            out.append((np.ascontiguousarray(p[0].T), p[1]))
        elif layer[0] == "res":
            out.append(tuple(_user_params(layer[1], p, layout)))
        else:
            out.append(p)
    return out


def _cases(stack, open_input, loss, max_batch):
    from hypothesis import strategies as st

    from manual.stack_spec import StackSpec

    sequences = open_input and _open_input(stack, 1, 1, 0) != 0

    @st.composite
    def cases(draw):
        if open_input and sequences:
            spec = StackSpec.parse(stack, _open_input(stack, draw(st.integers(1, 4)), draw(st.integers(1, 6)), 0), loss)
        else:
            spec = StackSpec.parse(stack, draw(st.integers(1, 6)), loss) if open_input else stack
        N = draw(st.integers(1, max_batch))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        size = draw(st.sampled_from([1.0, 0.5, 0.1]))  # shrinks towards 1.0
        params = random_params(spec.layers, spec.param_shapes(), rng)
        if spec.ids:
            X = rng.integers(0, spec.vocabulary, (N,) + spec.input_shape)
        else:
            X = size * rng.standard_normal((N,) + spec.input_shape)
        return spec, params, X, random_targets(spec, N, rng)

    return cases()


class _Failure(AssertionError):
    pass


def describe(spec, X) -> str:
    return f"stack {spec.text()!r} on X {tuple(np.shape(X))}, {spec.loss}"


def _compare(spec, params, X, y, user, loss_rtol, layout):
    """'' when the user's (loss, grads) match the reference, else the message of the first difference."""
    from reference import bucketed_stack as RB

    from .compare import leaf_error

    if not isinstance(user, (tuple, list)) or len(user) < 2:
        raise TypeError(f"fn must return (loss, grads), got {type(user).__name__}")
    loss_u, grads_u = user[0], user[1]
    loss_r, grads_r = RB.loss_and_grads(spec, params, X, y, 0)
    grads_u = _user_params(spec.layers, _as_lists(grads_u, spec), layout)  # out_in back to ours: its own inverse
    ref = named_leaves(spec, grads_r)
    try:
        mine = named_leaves(spec, grads_u)
    except TypeError:
        mine = []
    if len(mine) != len(ref):
        raise ValueError(f"fn returned gradients for {len(mine)} parameters, the stack has {len(ref)}: "
                         f"{', '.join(n for n, _ in ref)} (one tuple per layer, () for layers without parameters)")
    try:
        loss_u = float(loss_u)
    except (TypeError, ValueError):
        raise TypeError(f"fn's loss must be a number, got {type(loss_u).__name__}") from None
    if not abs(loss_u - loss_r) <= loss_rtol * max(1.0, abs(loss_r)):
        return f"loss: yours {loss_u!r}, jax {loss_r!r}"
    scale = max([1.0] + [float(np.abs(a).max()) for _, a in ref if np.size(a)])
    errors = []
    for (name, a), (_, b) in zip(mine, ref):
        a = np.asarray(a, dtype=np.float64)
        if a.shape != np.shape(b):
            raise ValueError(f"{name}: fn returned shape {a.shape}, expected {np.shape(b)}")
        errors.append(leaf_error(name, a, b, atol=STACK_ATOL, scale=scale))
    failing = [e for e in errors if not e.passed]
    if not failing:
        return ""
    # the first leaf that differs in the layer nearest the loss: a wrong backward corrupts the gradients of
    # every layer below it, so the top-most layer that differs is the wrong one or just below it
    high = max(_top(e.name) for e in failing)
    err = next(e for e in failing if _top(e.name) == high)
    return (f"{err.name}: max |yours − jax| = {err.max_abs:.3g} at {err.worst_index}: yours {err.manual_value!r}, "
            f"jax {err.ref_value!r}" + _where(spec, errors))


def _top(name):
    """The top-level layer number (1-based) of a leaf name 'layer 3.2 (dense), dW'."""
    return int(name.split()[1].split(".")[0])


def _where(spec, errors) -> str:
    """Where the mistake can be: a wrong backward in layer j corrupts the gradients of every layer below
    j, not those above; so it is between the highest layer whose gradients differ and the next layer
    above it with parameters, whose gradients agree."""
    high = max(_top(e.name) for e in errors if not e.passed)
    above = [_top(e.name) for e in errors if e.passed and _top(e.name) > high]
    top = min(above) - 1 if above else len(spec.layers)
    kinds = ", ".join(f"{i} ({spec.layers[i - 1][0]})" for i in range(high, top + 1))
    agree = f"the loss and the gradients of layer {min(above)} ({spec.layers[min(above) - 1][0]}) and above agree" \
        if above else "the loss agrees"
    return f"\nwhere: {agree}: the mistake is in the backward of layer {kinds}" if high == top else \
        f"\nwhere: {agree}: the mistake is in the backward of one of layers {kinds}"


def _as_lists(grads, spec):
    if not isinstance(grads, (list, tuple)) or len(grads) != len(spec.layers):
        got = len(grads) if isinstance(grads, (list, tuple)) else type(grads).__name__
        raise ValueError(f"fn must return grads as a list of {len(spec.layers)} per-layer tuples (one per layer of "
                         f"{spec.text()!r}, () for layers without parameters), got {got}")
    return [tuple(g) if not isinstance(g, np.ndarray) else (g,) for g in grads]


def check_stack_implementation(fn, stack, *, input=None, loss=None, examples: int = 100, seed: int = 0,
                               max_batch: int = 4, layout: str = "in_out", loss_rtol: float = 1e-9) -> CheckResult:
    """Check `fn(params, X, y) -> (loss, grads)` of a whole network of layers (see the module docstring).

    Returns a `CheckResult`: passed, examples, counterexample (spec, params in your layout, X, y of the
    shrunk case), message (first line: the first leaf that differs in the layer nearest the loss, with both values;
    then where the mistake can be, and the case).
    Raises TypeError/ValueError for bad arguments, and for a fn whose return cannot be compared."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed

    if not callable(fn):
        raise TypeError(f"fn must be callable fn(params, X, y) -> (loss, grads), got {type(fn).__name__}")
    for value, what in ((examples, "examples"), (max_batch, "max_batch")):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{what} must be an int >= 1, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    spec, open_input = _spec_of(stack, input, loss)
    state = {"ran": 0, "failed": False, "last": None}

    def one_case(case):
        spec_i, params, X, y = case
        try:
            user = fn(_user_params(spec_i.layers, params, layout), X.copy(), y.copy())
        except Exception as err:  # noqa: BLE001  the user's function: named with the (shrunk) case
            raise ValueError(f"fn raised {type(err).__name__}: {err} (on {describe(spec_i, X)})") from err
        message = _compare(spec_i, params, X, y, user, loss_rtol, layout)
        if message:
            state["failed"], state["last"] = True, (case, message)
            raise _Failure(message)
        if not state["failed"]:
            state["ran"] += 1

    prop = settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink],
                    report_multiple_bugs=False, print_blob=False, verbosity=Verbosity.quiet)(
        given(_cases(spec, open_input, loss, max_batch))(one_case))
    prop = hypothesis_seed(seed)(prop)
    try:
        prop()
    except _Failure:
        (spec_f, params, X, y), message = state["last"]
        counterexample = (spec_f, _user_params(spec_f.layers, params, layout), X, y)
        return CheckResult(False, state["ran"] + 1, counterexample, f"{message}\ncase: {describe(spec_f, X)}",
                           None, seed)
    return search_ended(state["ran"], seed)
