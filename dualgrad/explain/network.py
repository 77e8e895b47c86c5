"""The derivation of one exact network, step by step, with shapes and measured errors.

    print(explain(NetworkSpec([10, 64, 3], "relu", "cross_entropy"), batch=32))

For any depth and any activation it writes: the parameter table (W_l, b_l and
their counts), every forward step with its shape (z_l = a_{l−1} W_l + b_l,
a_l = f_l(z_l), the head and the loss), and every backward step with its shape
(δ_L from the head, then dW_l = a_{l−1}ᵀ δ_l [+ λ W_l], db_l = Σₙ δ_l,
δ_{l−1} = (δ_l W_lᵀ) ⊙ f'_{l−1}(z_{l−1})). Each δ, dW and db step is followed by its
measured error against jax.grad on a random batch (`check_gradients` for dW and db;
`measure_deltas`, jax.grad with respect to each z_l, for δ).

Formats: 'text' (Unicode, for a terminal) and 'markdown' (tables with $...$
LaTeX, for notes and slides). The derivative of a built-in activation comes from
`FORMULAS`; a registered activation shows the first docstring line of its
manual forward and derivative functions.
"""

from __future__ import annotations

import re
from typing import List, NamedTuple, Optional

import numpy as np

from manual.activations import ACTIVATIONS, BUILT_IN
from manual.spec import NetworkSpec

from ..engine.check import check_gradients, random_case
from ..engine.compare import ATOL, RTOL
from ..engine.report import GradientRow, _num
from ..engine.compare import leaf_error, network_scale

FORMATS = ("text", "markdown")

# The head's step derived, not asserted: from ∂L/∂ŷ through the head's Jacobian to δ = ∂L/∂z (s: logits).
HEAD_DERIVATIONS = {
    "cross_entropy": (
        "∂L/∂ŷₙⱼ = −Yₙⱼ / (N ŷₙⱼ),  softmax Jacobian ∂ŷₙⱼ/∂sₙₖ = ŷₙⱼ ([j = k] − ŷₙₖ)",
        "⇒ dsₙₖ = Σⱼ ∂L/∂ŷₙⱼ ŷₙⱼ ([j = k] − ŷₙₖ) = (ŷₙₖ Σⱼ Yₙⱼ − Yₙₖ) / N = (ŷₙₖ − Yₙₖ) / N  (Σⱼ Yₙⱼ = 1)",
    ),
    "binary_cross_entropy": (
        "∂L/∂ŷₙ = (ŷₙ − yₙ) / (N ŷₙ (1 − ŷₙ)),  σ'(sₙ) = ŷₙ (1 − ŷₙ)",
        "⇒ dsₙ = ∂L/∂ŷₙ · σ'(sₙ) = (ŷₙ − yₙ) / N",
    ),
}
HEAD_DERIVATIONS_TEX = {
    "cross_entropy": (
        r"\frac{\partial L}{\partial \hat y_{nj}} = -\frac{Y_{nj}}{N \hat y_{nj}},\ "
        r"\frac{\partial \hat y_{nj}}{\partial z_{nk}} = \hat y_{nj} ([j = k] - \hat y_{nk})",
        r"\delta_{nk} = \sum_j \frac{\partial L}{\partial \hat y_{nj}} \hat y_{nj} ([j = k] - \hat y_{nk})"
        r" = \frac{\hat y_{nk} \sum_j Y_{nj} - Y_{nk}}{N} = \frac{\hat y_{nk} - Y_{nk}}{N}",
    ),
    "binary_cross_entropy": (
        r"\frac{\partial L}{\partial \hat y_n} = \frac{\hat y_n - y_n}{N \hat y_n (1 - \hat y_n)},\ "
        r"\sigma'(z_n) = \hat y_n (1 - \hat y_n)",
        r"\delta_n = \frac{\partial L}{\partial \hat y_n} \sigma'(z_n) = \frac{\hat y_n - y_n}{N}",
    ),
}


class Formula(NamedTuple):
    """An activation as text and as LaTeX: symbol f, f(z) and f'(z) (written in z or a = f(z))."""

    symbol: str
    forward: str
    derivative: str
    tex_symbol: str
    tex_forward: str
    tex_derivative: str
    in_a: bool = False  # the derivative is written in a = f(z)


# The symbol of each built-in in the text (default: its name) and in LaTeX (default: \mathrm{name}).
SYMBOLS = {"identity": ("identity", r"\mathrm{id}"), "leaky_relu": ("leaky_relu", r"\mathrm{lrelu}"),
           "sigmoid": ("σ", r"\sigma"), "tanh": ("tanh", r"\tanh")}


def _doc_formula(fn, prefix: str, default: str):
    """(text, tex) of fn's docstring: its first line without `prefix`, and its `TeX:` line (else the
    text in \text{...}). The one source of the formulas `explain` prints."""
    doc = (getattr(fn, "__doc__", None) or "").strip()
    text = _strip(doc.splitlines()[0].strip(), prefix) if doc else default
    tex = next((line.strip()[4:].strip() for line in doc.splitlines() if line.strip().startswith("TeX:")), None)
    return text, tex if tex is not None else rf"\text{{{_tex_escape(text)}}}"


def formula(name: str) -> Formula:
    """The formula of activation `name`, from the docstrings of its manual functions (built-in or
    registered): the first line of forward ('a = ...') and of derivative ('da/dz = ...'), and
    their `TeX:` lines."""
    act = ACTIVATIONS[name]
    fwd, fwd_tex = _doc_formula(act.forward, "a = ", f"{name}(z)")
    der, der_tex = _doc_formula(act.derivative, "da/dz = ", "(its derivative function has no docstring)")
    symbol, tex_symbol = SYMBOLS.get(name, (name, rf"\mathrm{{{_tex_escape(name)}}}"))
    in_a = re.search(r"(?<![\w\\])a(?![\w(])", der) is not None  # written in a = f(z)
    return Formula(symbol, fwd, der, tex_symbol, fwd_tex, der_tex, in_a)


class Step(NamedTuple):
    text: str  # the equation in Unicode
    tex: str  # the same in LaTeX
    shape: str  # e.g. "(32, 10) @ (10, 64) + (64,) → (32, 64)"
    note: str = ""  # a definition used in the step (text)
    note_tex: str = ""
    row: Optional[GradientRow] = None  # the measured error of a δ, dW or db step
    more: tuple = ()  # further lines under the step (the head's derivation), text
    more_tex: tuple = ()


def explain(spec: NetworkSpec, batch: int = 32, seed: int = 0, fmt: str = "text", values: bool = False) -> str:
    """The derivation of `spec` on a batch of `batch` rows, in `fmt` ('text' or 'markdown').

    The measured errors come from `check_gradients` on `random_case(spec, batch, seed)`;
    `values` adds the numbers of each δ, dW and db (manual's) under its step.
    """
    return explain_result(spec, batch, seed, fmt, values).text


class ExplainResult(NamedTuple):
    text: str
    passed: bool  # every gradient and every δ within tolerance (`dualgrad explain` exits 1 otherwise)


def explain_result(spec: NetworkSpec, batch: int = 32, seed: int = 0, fmt: str = "text",
                   values: bool = False) -> ExplainResult:
    """`explain`'s text and whether every measured step passed."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    d = derivation(spec, batch, seed)
    render = _render_markdown if fmt == "markdown" else _render_text
    text = render(spec, batch, seed, d.forward, d.backward, d.report, d.delta_rows,
                  d.values if values else None)
    return ExplainResult(text, bool(d.report.passed and all(row.passed for row in d.delta_rows)))


def head_derivation(loss: str, logit: str = "s", delta: str = "ds", tex: bool = False) -> tuple:
    """The head's step derived (lines), for cross_entropy and binary_cross_entropy; () otherwise."""
    if tex:
        return HEAD_DERIVATIONS_TEX.get(loss, ())
    return tuple(line.replace("dsₙ", "\0").replace("sₙ", logit + "ₙ").replace("\0", delta + "ₙ")
                 for line in HEAD_DERIVATIONS.get(loss, ()))


class Derivation(NamedTuple):
    """The steps `explain` writes (and `graph_plot` draws), with the measured rows."""

    forward: List[Step]
    backward: List[Step]  # δ, dW, db steps carry `row`, their error against jax.grad
    report: object  # the GradientReport of dW and db
    delta_rows: List[GradientRow]  # one per layer, name 'dz'
    values: Optional[dict] = None  # {(layer, 'dz' | 'dW' | 'db'): manual's array}


def derivation(spec: NetworkSpec, batch: int = 32, seed: int = 0) -> Derivation:
    """The forward and backward steps of `spec`, measured on `random_case(spec, batch, seed)`."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    case = random_case(spec, batch, seed)
    report = check_gradients(spec, *case)
    delta_rows = measure_deltas(spec, *case)
    rows = {(row.layer, row.name): row for row in (*report, *delta_rows)}
    return Derivation(_forward_steps(spec, batch), _backward_steps(spec, batch, rows), report, delta_rows,
                      _manual_values(spec, *case))


def _manual_values(spec: NetworkSpec, params, X, y) -> dict:
    """Manual's δ_l, dW_l and db_l on the batch, by layer."""
    from manual.losses import get_loss
    from manual.network import backward, forward_with_cache
    from manual.validation import encode_targets

    X = np.asarray(X, np.float64)
    logits, caches = forward_with_cache(spec, params, X)
    _, ds = get_loss(spec.loss).value_and_dlogits(logits, encode_targets(spec, y, X.shape[0]))
    deltas = []
    grads = backward(spec, params, caches, ds, deltas=deltas)
    out = {}
    for l, (dz, (dW, db)) in enumerate(zip(deltas, grads), start=1):
        out[(l, "dz")], out[(l, "dW")], out[(l, "db")] = dz, dW, db
    return out


def measure_deltas(spec: NetworkSpec, params, X, y) -> List[GradientRow]:
    """One row per layer l (name 'dz'): manual's δ_l = dz_l, from its backward pass, against
    jax.grad of the loss with respect to z_l (`reference.network.deltas`), same tolerance as dW."""
    from manual.losses import get_loss
    from manual.network import backward, forward_with_cache
    from manual.validation import encode_targets
    from reference.network import deltas as reference_deltas

    X = np.asarray(X, np.float64)  # (N, sizes[0])
    logits, caches = forward_with_cache(spec, params, X)
    _, ds = get_loss(spec.loss).value_and_dlogits(logits, encode_targets(spec, y, X.shape[0]))
    manual_dz = []
    backward(spec, params, caches, ds, deltas=manual_dz)  # [(N, sizes[l]) for l = 1..L]
    ref_dz = reference_deltas(spec, params, X, y)
    scale = network_scale([(dz,) for dz in ref_dz])
    rows = []
    for l, (m, r) in enumerate(zip(manual_dz, ref_dz), start=1):
        err = leaf_error(f"layer {l}, dz", m, r, scale=scale)
        rows.append(GradientRow(l, "dz", tuple(m.shape), err.max_abs, err.max_rel, err.passed))
    return rows


# ---- the derivation -----------------------------------------------------------------


def _shape(*dims) -> str:
    return "(" + ", ".join(map(str, dims)) + (",)" if len(dims) == 1 else ")")


def _forward_steps(spec: NetworkSpec, N: int) -> List[Step]:
    sizes, L = spec.sizes, spec.n_layers
    steps = [Step("a0 = X", "a_0 = X", _shape(N, sizes[0]))]
    for l in range(1, L + 1):
        i, o = sizes[l - 1], sizes[l]
        steps.append(Step(f"z{l} = a{l - 1} W{l} + b{l}", f"z_{{{l}}} = a_{{{l - 1}}} W_{{{l}}} + b_{{{l}}}",
                          f"{_shape(N, i)} @ {_shape(i, o)} + {_shape(o)} → {_shape(N, o)}"))
        if l < L:
            f = formula(spec.hidden[l - 1])
            defined = f.forward != f"{f.symbol}(z)"  # tanh(z) needs no definition
            steps.append(Step(f"a{l} = {f.symbol}(z{l})", f"a_{{{l}}} = {f.tex_symbol}(z_{{{l}}})", _shape(N, o),
                              f"{f.symbol}(z) = {f.forward}" if defined else "",
                              f"{f.tex_symbol}(z) = {f.tex_forward}" if defined else ""))
    K, zL = sizes[-1], f"z{L}"
    tzL = f"z_{{{L}}}"
    if spec.loss == "binary_cross_entropy":
        steps.append(Step(f"ŷ = σ({zL})", rf"\hat y = \sigma({tzL})", _shape(N, 1), "σ(s) = 1 / (1 + e⁻ˢ)",
                          r"\sigma(s) = 1 / (1 + e^{-s})"))
        loss = Step("L = −(1/N) Σₙ [yₙ log ŷₙ + (1 − yₙ) log(1 − ŷₙ)]",
                    r"L = -\frac{1}{N} \sum_n \left[ y_n \log \hat y_n + (1 - y_n) \log(1 - \hat y_n) \right]",
                    "scalar", f"Y = labels 0/1 as a column {_shape(N, 1)}",
                    rf"Y \text{{: labels 0/1 as a column {_shape(N, 1)}}}")
    elif spec.loss == "cross_entropy":
        steps.append(Step(f"ŷ = softmax({zL})", rf"\hat y = \mathrm{{softmax}}({tzL})", _shape(N, K),
                          "row by row: ŷₙₖ = exp(zₙₖ) / Σⱼ exp(zₙⱼ)",
                          r"\hat y_{nk} = e^{z_{nk}} / \textstyle\sum_j e^{z_{nj}}"))
        loss = Step("L = −(1/N) Σₙ Σₖ Yₙₖ log ŷₙₖ", r"L = -\frac{1}{N} \sum_n \sum_k Y_{nk} \log \hat y_{nk}",
                    "scalar", f"Y = one-hot labels {_shape(N, K)}", rf"Y \text{{: one-hot labels {_shape(N, K)}}}")
    elif spec.loss != "mse":  # a registered loss: its own docstring says what it is
        from manual.losses import get_loss

        entry = get_loss(spec.loss)
        text = _first_line(entry.value_and_dlogits, f"L = {spec.loss}(ŷ, Y)")
        steps.append(Step(f"ŷ = {spec.head}({zL})", rf"\hat y = \mathrm{{{_tex_escape(spec.head)}}}({tzL})",
                          _shape(N, K), f"the head of the registered loss {spec.loss}",
                          rf"\text{{the head of the registered loss {_tex_escape(spec.loss)}}}"))
        loss = Step(text, rf"\text{{{_tex_escape(text)}}}", "scalar", f"Y = targets {_shape(N, K)}",
                    rf"Y \text{{: targets {_shape(N, K)}}}")
    else:
        steps.append(Step(f"ŷ = {zL}", rf"\hat y = {tzL}", _shape(N, K), "identity head", r"\text{identity head}"))
        loss = Step("L = (1/(N·K)) Σₙₖ (ŷₙₖ − Yₙₖ)²", r"L = \frac{1}{NK} \sum_{n,k} (\hat y_{nk} - Y_{nk})^2",
                    "scalar", f"Y = real targets {_shape(N, K)}, N·K = {N * K}",
                    rf"Y \text{{: real targets {_shape(N, K)}}},\ NK = {N * K}")
    if spec.l2:
        loss = loss._replace(text=loss.text + " + (λ/2) Σₗ ‖Wₗ‖²",
                             tex=loss.tex + r" + \frac{\lambda}{2} \sum_l \lVert W_l \rVert^2",
                             note=loss.note + f", λ = {spec.l2:g}", note_tex=loss.note_tex + rf",\ \lambda = {spec.l2:g}")
    steps.append(loss)
    return steps


def _backward_steps(spec: NetworkSpec, N: int, rows) -> List[Step]:
    sizes, L, K = spec.sizes, spec.n_layers, spec.sizes[-1]
    if spec.loss == "mse":
        head = Step(f"δ{L} = 2 (ŷ − Y) / (N·K)", rf"\delta_{{{L}}} = 2 (\hat y - Y) / (NK)", _shape(N, K),
                    row=rows[(L, "dz")])
    elif spec.loss not in ("binary_cross_entropy", "cross_entropy"):  # registered: from its value_and_dlogits
        head = Step(f"δ{L} = ∂L/∂z{L}", rf"\delta_{{{L}}} = \partial L / \partial z_{{{L}}}", _shape(N, K),
                    f"from {spec.loss}'s value_and_dlogits", rf"\text{{from {_tex_escape(spec.loss)}'s value\_and\_dlogits}}",
                    row=rows[(L, "dz")])
    else:
        head = Step(f"δ{L} = (ŷ − Y) / N", rf"\delta_{{{L}}} = (\hat y - Y) / N", _shape(N, K),
                    row=rows[(L, "dz")], more=head_derivation(spec.loss, "z", "δ"),
                    more_tex=head_derivation(spec.loss, tex=True))
    steps = [head]
    for l in range(L, 0, -1):
        i, o = sizes[l - 1], sizes[l]
        text, tex = f"dW{l} = a{l - 1}ᵀ δ{l}", rf"dW_{{{l}}} = a_{{{l - 1}}}^\top \delta_{{{l}}}"
        if spec.l2:
            text, tex = text + f" + λ W{l}", tex + rf" + \lambda W_{{{l}}}"
        steps.append(Step(text, tex, f"{_shape(i, N)} @ {_shape(N, o)} → {_shape(i, o)}", row=rows[(l, "dW")]))
        steps.append(Step(f"db{l} = Σₙ δ{l}", rf"db_{{{l}}} = \textstyle\sum_n \delta_{{{l}}}", _shape(o),
                          row=rows[(l, "db")]))
        if l > 1:
            f = formula(spec.hidden[l - 2])
            steps.append(Step(
                f"δ{l - 1} = (δ{l} W{l}ᵀ) ⊙ {f.symbol}'(z{l - 1})",
                rf"\delta_{{{l - 1}}} = (\delta_{{{l}}} W_{{{l}}}^\top) \odot {f.tex_symbol}'(z_{{{l - 1}}})",
                f"{_shape(N, o)} @ {_shape(o, i)} ⊙ {_shape(N, i)} → {_shape(N, i)}",
                f"{f.symbol}'(z) = {f.derivative}" + (f",  a = {f.symbol}(z)" if f.in_a else ""),
                f"{f.tex_symbol}'(z) = {f.tex_derivative}" + (rf",\ a = {f.tex_symbol}(z)" if f.in_a else ""),
                row=rows[(l - 1, "dz")],
            ))
    return steps


# ---- rendering ---------------------------------------------------------------------


def _title(spec: NetworkSpec, N: int) -> str:
    arch = " → ".join(map(str, spec.sizes))
    hidden = ", ".join(spec.hidden) if len(set(spec.hidden)) > 1 else (spec.hidden[0] if spec.hidden else "none")
    l2 = f", L2 λ = {spec.l2:g}" if spec.l2 else ""
    return f"{arch}: hidden {hidden}, {spec.head} head, {spec.loss} loss{l2}, batch N = {N}"


def _param_rows(spec: NetworkSpec):
    out = []
    for l, (i, o) in enumerate(zip(spec.sizes[:-1], spec.sizes[1:]), start=1):
        out.append((l, i, o, i * o, o, i * o + o))
    return out


def _error_text(row: GradientRow) -> str:
    verdict = "pass" if row.passed else "FAIL"
    return f"max |manual − jax.grad| = {_num(row.max_abs)} (rel {_num(row.max_rel)}) {verdict}"


def _verdict(report, delta_rows) -> str:
    n_ok = sum(row.passed for row in report)
    n_dz = sum(row.passed for row in delta_rows)
    word = "PASS" if report.passed and n_dz == len(delta_rows) else "FAIL"
    return (f"{word}: {n_ok}/{len(report)} gradients and {n_dz}/{len(delta_rows)} deltas match jax.grad within "
            f"|manual − ref| ≤ {RTOL:g}·|ref| + {RTOL:g}·max|ref| + {ATOL:g}·max(1, max|ref of the network|)")


def _values_lines(values, row, indent="          ") -> List[str]:
    if values is None or row is None or (row.layer, row.name) not in values:
        return []
    a = np.asarray(values[(row.layer, row.name)])
    text = np.array2string(np.where(a == 0, 0.0, a), precision=4, suppress_small=True,
                           max_line_width=100, threshold=64)
    return [(indent + line).rstrip() for line in text.splitlines()]


def _render_text(spec, N, seed, forward, backward, report, delta_rows, values=None) -> str:
    lines = [f"Network {_title(spec, N)}", "", "Parameters"]
    table = [("layer", "weights", "biases", "count")]
    for l, i, o, nw, nb, n in _param_rows(spec):
        table.append((str(l), f"W{l}: {i}×{o} = {nw}", f"b{l}: {nb}", f"{nw} + {nb} = {n}"))
    table.append(("total", "", "", str(spec.n_params())))
    widths = [max(len(r[c]) for r in table) for c in range(4)]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]

    eq_width = max(len(s.text) for s in forward + backward) + 2
    shape_width = max(len(s.shape) for s in forward + backward) + 2

    def block(steps):
        out = []
        for s in steps:
            line = f"  {s.text.ljust(eq_width)}{s.shape.ljust(shape_width) if s.row else s.shape}"
            if s.row:
                line += _error_text(s.row)
            out.append(line.rstrip())
            if s.note:
                out.append(f"      where {s.note}")
            out += [f"      {line}" for line in s.more]
            out += _values_lines(values, s.row)
        return out

    lines += ["", "Forward  (layer l: z_l = a_{l−1} W_l + b_l; @ is the matrix product)"] + block(forward)
    lines += ["", "Backward  (dx = ∂L/∂x; δ_l = dz_l; ⊙ is the elementwise product)"] + block(backward)
    lines += ["", "    (da0 = δ1 W1ᵀ is not needed: X is data, not a parameter)", "",
              f"Measured on a random batch (seed {seed}) against jax.grad (float64):", f"  {_verdict(report, delta_rows)}"]
    return "\n".join(lines)


def _render_markdown(spec, N, seed, forward, backward, report, delta_rows, values=None) -> str:
    lines = [f"## Network {_title(spec, N)}", "", "### Parameters", "",
             "| layer | weights | biases | count |", "|---:|---|---|---:|"]
    for l, i, o, nw, nb, n in _param_rows(spec):
        lines.append(f"| {l} | $W_{{{l}}}$: {i} × {o} = {nw} | $b_{{{l}}}$: {nb} | {nw} + {nb} = {n} |")
    lines.append(f"| **total** | | | **{spec.n_params()}** |")

    def cell(s: Step) -> str:
        return f"${s.tex}$" + (f", where ${s.note_tex}$" if s.note_tex else "") + \
            "".join(f"<br>${line}$" for line in s.more_tex)

    lines += ["", "### Forward pass", "", "Layer $l$ computes $z_l = a_{l-1} W_l + b_l$.", "",
              "| step | shape |", "|---|---|"]
    lines += [f"| {cell(s)} | {s.shape} |" for s in forward]
    lines += ["", "### Backward pass", "",
              r"$dx$ means $\partial L / \partial x$ and $\delta_l = dz_l$; $\odot$ is the elementwise product.", "",
              "| step | shape | max abs error vs jax.grad | max rel error | result |", "|---|---|---:|---:|---|"]
    for s in backward:
        if s.row:
            lines.append(f"| {cell(s)} | {s.shape} | {_num(s.row.max_abs)} | {_num(s.row.max_rel)} | "
                         f"{'pass' if s.row.passed else '**FAIL**'} |")
            numbers = _values_lines(values, s.row, "")
            if numbers:
                lines.append("| <pre>" + "<br>".join(numbers) + " </pre> | | | | |")
        else:
            lines.append(f"| {cell(s)} | {s.shape} | | | |")
    lines += ["", f"Measured on a random batch (seed {seed}) against `jax.grad` (float64). {_verdict(report, delta_rows)}"]
    return "\n".join(lines)


def _first_line(fn, default: str) -> str:
    doc = (getattr(fn, "__doc__", None) or "").strip()
    return doc.splitlines()[0].strip() if doc else default


def _strip(text: str, prefix: str) -> str:
    return text[len(prefix):] if text.startswith(prefix) else text


def _tex_escape(s: str) -> str:
    for ch in "\\{}_^#&%$|":
        s = s.replace(ch, "\\" + ch if ch != "\\" else r"\textbackslash ")
    return s


# The built-ins' formulas, read from manual.activations' docstrings (one source: the code's own).
FORMULAS = {name: formula(name) for name in BUILT_IN}
