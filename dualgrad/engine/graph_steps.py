"""The "backprop ninja" check inside one layer: a composite layer's node gradients against JAX's.

A composite layer (batchnorm, layernorm, attention, ...) is a small graph of steps. Written by
hand step by step, its backward computes the gradient of every node on the way; when dx is wrong,
the first node gradient that differs, in backward order, names the step that is wrong. Describe
the forward graph once in JAX, node by node, and give a backward that also returns its node
gradients:

    graph   = [Node("mean", lambda x: jnp.mean(x, 0), ("x",), "μ = mean x"), ...]   # in forward order
    forward(*inputs) -> (out, cache)                                                 # CS231n protocol
    backward(dout, cache) -> (d_input_1, ..., d_input_m, {"dmean": ..., "dxc": ..., ...})

`check_layer_steps(forward, backward, graph, shapes, ...)` draws sizes and inputs (seeded), a
random upstream gradient dout, and compares every returned d<node> (and every d<input>) with
jax.grad's, where each node is an explicit variable: node = step(args) + shift, shift = 0, and
dL/dnode = ∂(Σ out ⊙ dout)/∂shift. Rows are listed in backward order (reverse graph order,
then the inputs). The first node gradient that differs while the gradients of every node that
uses it agree names the step: "dx_hat ✓, dinv_std ✓, dstd ✗: the step into dstd — through
inv_std = 1/std — is wrong". Of the failing cases drawn, the smallest is reported (fewest entries).

`BATCHNORM_GRAPH` is batchnorm's training-mode graph, the node names of
`manual.layers.batchnorm_backward_graph_steps`.
"""

from __future__ import annotations

from typing import Callable, List, NamedTuple, Optional, Tuple

import numpy as np

from .compare import leaf_error


class Node(NamedTuple):
    name: str  # the node's value; its gradient is d<name>
    fn: Callable  # JAX: fn(*values of args) -> value
    args: Tuple[str, ...]  # names of inputs or earlier nodes
    equation: str  # "inv_std = 1/std": how the step reads in the derivation


class StepRow(NamedTuple):
    name: str  # "dstd"
    shape: tuple
    max_abs: float
    max_rel: float
    passed: bool
    value: Optional[float] = None
    value_reference: Optional[float] = None
    worst_index: Optional[tuple] = None


class StepsResult(NamedTuple):
    passed: bool
    examples: int  # cases run
    rows: Tuple[StepRow, ...]  # of the smallest failing case (or of the last case, when all pass)
    dims: dict  # its sizes
    line: str  # "dx_hat ✓, dinv_std ✓, dstd ✗: ..."
    message: str  # "" when passed

    def table(self) -> str:
        width = max(len(r.name) for r in self.rows)
        lines = [f"sizes {', '.join(f'{k}={v}' for k, v in self.dims.items())}; node gradients in backward order:"]
        for r in self.rows:
            lines.append(f"  {r.name.ljust(width)}  {str(r.shape).ljust(8)}  max abs err {r.max_abs:.1e}  "
                         f"max rel err {r.max_rel:.1e}  {'pass' if r.passed else 'FAIL'}")
        lines.append(self.line)
        return "\n".join(lines)


def _batchnorm_graph(eps: float = 1e-5) -> List[Node]:
    import jax.numpy as jnp

    return [
        Node("mean", lambda x: jnp.mean(x, axis=0), ("x",), "mean = mean₀ x"),
        Node("xc", lambda x, mean: x - mean, ("x", "mean"), "xc = x − mean"),
        Node("var", lambda xc: jnp.mean(xc * xc, axis=0), ("xc",), "var = mean₀ xc²"),
        Node("std", lambda var: jnp.sqrt(var + eps), ("var",), "std = √(var + ε)"),
        Node("inv_std", lambda std: 1.0 / std, ("std",), "inv_std = 1/std"),
        Node("x_hat", lambda xc, inv_std: xc * inv_std, ("xc", "inv_std"), "x_hat = xc · inv_std"),
        Node("out", lambda x_hat, gamma, beta: gamma * x_hat + beta, ("x_hat", "gamma", "beta"),
             "out = γ x_hat + β"),
    ]


class _LazyGraph:
    """BATCHNORM_GRAPH is built on first use (jax is imported only then)."""

    def __init__(self, make):
        self._make, self._graph = make, None

    def __iter__(self):
        if self._graph is None:
            self._graph = self._make()
        return iter(self._graph)


BATCHNORM_GRAPH = _LazyGraph(_batchnorm_graph)


_JITTED = {}  # node functions' ids -> (the nodes, kept alive; the jitted gradient)

DEFAULT_SIZES = (1, 2, 3, 5)  # each dimension drawn from these: few shapes, few compilations


def reference_gradients(graph, inputs: dict, dout) -> dict:
    """{d<name>: dL/d<name>} for every node and input, L = Σ out ⊙ dout, nodes as explicit variables."""
    import jax

    import reference  # noqa: F401  (float64)

    nodes = list(graph)
    shapes = {}
    values = dict(inputs)
    for node in nodes:  # the shapes of the nodes
        values[node.name] = node.fn(*(values[a] for a in node.args))
        shapes[node.name] = np.shape(values[node.name])
    out_name = nodes[-1].name

    key = tuple(id(n.fn) for n in nodes)
    if key not in _JITTED:  # one program per graph, compiled once per shape by jit
        def total(inputs, shifts, dout):
            vals = dict(inputs)
            for node in nodes:
                vals[node.name] = node.fn(*(vals[a] for a in node.args)) + shifts[node.name]
            return (vals[out_name] * dout).sum()

        _JITTED[key] = (nodes, jax.jit(jax.grad(total, argnums=(0, 1))))
    shifts = {name: np.zeros(shape) for name, shape in shapes.items()}
    d_inputs, d_nodes = _JITTED[key][1](dict(inputs), shifts, dout)
    grads = {f"d{k}": np.asarray(v) for k, v in d_nodes.items()}
    grads.update({f"d{k}": np.asarray(v) for k, v in d_inputs.items()})
    return grads


def compare_steps(graph, user: dict, ref: dict, input_names) -> Tuple[Tuple[StepRow, ...], str]:
    """The rows (backward order) of the user's node gradients, and the sentence naming the first wrong step."""
    nodes = list(graph)
    order = [f"d{n.name}" for n in reversed(nodes)] + [f"d{name}" for name in input_names]
    present = [k for k in order if k in user]
    scale = max([1.0] + [float(np.max(np.abs(ref[k]))) for k in present if np.size(ref[k])])
    rows = []
    for key in present:
        mine, want = np.asarray(user[key], np.float64), ref[key]
        if mine.shape != want.shape:
            rows.append(StepRow(key, want.shape, float("inf"), float("inf"), False))
            continue
        e = leaf_error(key, mine, want, scale=scale)
        rows.append(StepRow(key, want.shape, e.max_abs, e.max_rel, e.passed, e.manual_value, e.ref_value,
                            e.worst_index))
    marks = ", ".join(f"{r.name} {'✓' if r.passed else '✗'}" for r in rows)
    bad = next((r for r in rows if not r.passed), None)
    if bad is None:
        return tuple(rows), f"{marks}: all agree with jax.grad"
    if bad.max_abs == float("inf") and bad.worst_index is None:
        return tuple(rows), f"{marks}: {bad.name} has shape {tuple(np.shape(user[bad.name]))}, expected {bad.shape}"
    target = bad.name[1:]
    users = [n for n in nodes if target in n.args]
    through = "; ".join(n.equation for n in users) or "the output"
    return tuple(rows), f"{marks}: the step into {bad.name} — through {through} — is wrong"


def check_layer_steps(forward, backward, graph, shapes: dict, dims: Optional[dict] = None, examples: int = 30,
                      seed: int = 0, params: Tuple[str, ...] = ()) -> StepsResult:
    """Draw `examples` cases and compare every returned node gradient with jax.grad's (module docstring).

    shapes   {input name: tuple of dimension names}, in the order forward takes them, e.g.
             {"x": ("N", "D"), "gamma": ("D",), "beta": ("D",)}
    dims     {dimension name: the sizes it is drawn from} (default DEFAULT_SIZES: 1, 2, 3, 5; each
             new shape compiles the JAX graph once, a few hundred ms)
    params   input names drawn around 1 (scales such as γ) instead of around 0
    backward(dout, cache) returns one gradient per input, then the dict of node gradients.
    """
    if not isinstance(examples, int) or isinstance(examples, bool) or examples < 1:
        raise ValueError(f"examples must be a positive int, got {examples!r}")
    names = sorted({d for shape in shapes.values() for d in shape})
    dims = {name: tuple((dims or {}).get(name, DEFAULT_SIZES)) for name in names}
    rng = np.random.default_rng(seed)
    failures, last = [], None
    for _ in range(examples):
        size = {name: int(rng.choice(choices)) for name, choices in dims.items()}
        inputs = {k: rng.standard_normal(tuple(size[d] for d in shape)) + (1.0 if k in params else 0.0)
                  for k, shape in shapes.items()}
        out, cache = forward(*(np.array(v) for v in inputs.values()))
        dout = rng.standard_normal(np.shape(out))
        returned = backward(dout.copy(), cache)
        if not isinstance(returned, (tuple, list)) or not returned or not isinstance(returned[-1], dict):
            raise TypeError("backward must return the inputs' gradients, then a dict of node gradients "
                            "{'d<node>': array}")
        user = dict(returned[-1])
        user.update({f"d{k}": v for k, v in zip(shapes, returned[:-1])})
        known = {f"d{n.name}" for n in graph} | {f"d{k}" for k in shapes}
        unknown = sorted(set(user) - known)
        if unknown:
            raise ValueError(f"backward returned {', '.join(unknown)}: not nodes of the graph; valid: "
                             f"{', '.join(sorted(known))}")
        rows, line = compare_steps(graph, user, reference_gradients(graph, inputs, dout), list(shapes))
        last = (rows, size, line)
        if not all(r.passed for r in rows):
            failures.append((sum(int(np.prod(np.shape(v))) for v in inputs.values()), rows, size, line))
    if not failures:
        rows, size, line = last
        return StepsResult(True, examples, rows, size, line, "")
    _, rows, size, line = min(failures, key=lambda f: f[0])
    bad = next(r for r in rows if not r.passed)
    where = "" if bad.worst_index is None else f"{bad.name}[{', '.join(map(str, bad.worst_index))}]: yours " \
        f"{bad.value!r}, jax.grad {bad.value_reference!r}; "
    message = (f"{line}\n{where}{len(failures)} of {examples} cases failed; the smallest: "
               f"{', '.join(f'{k}={v}' for k, v in size.items())}")
    return StepsResult(False, examples, rows, size, line, message)
