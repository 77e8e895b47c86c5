"""The network as a computation graph: `dualgrad explain --sizes 2 8 1 --plot graph.png`.

    from dualgrad.explain.graph_plot import draw_graph
    draw_graph(NetworkSpec([2, 8, 1], "relu", "binary_cross_entropy"), "graph.png", batch=4)

The top half is the forward pass, left to right: X = a0, then per layer l the node
z_l = a_{l−1} W_l + b_l (fed by the parameter boxes W_l and b_l above it) and
a_l = f(z_l), then the head ŷ and the loss L (fed by the labels Y). Every forward arrow
carries the shape of the array it delivers.

The bottom half is the backward pass, right to left, in red: from L the error δ_L reaches
z_L, each δ_l flows back to z_{l−1} through W_lᵀ and f', and from each z_l two arrows go down
to the gradients dW_l and db_l. Every δ, dW and db carries its formula, its shape and its
measured error against jax.grad (the same numbers `dualgrad explain` prints, from
`explain.derivation`), with pass or FAIL.

Drawn with matplotlib's object API (no pyplot, no display); `.png` or `.svg` by the file's
suffix. matplotlib is the optional `plot` extra: `pip install 'dualgrad[plot]'`.
"""

from __future__ import annotations

import os

from manual.spec import NetworkSpec

from ..engine.report import _num
from .network import derivation, formula

SUFFIXES = (".png", ".svg")
FORWARD = "#1f4e79"  # dark blue
BACKWARD = "#b03a2e"  # dark red
PASS, FAIL = "#1e7b34", "#c0392b"
COLUMN = 3.2
LOSS_SHORT = {"binary_cross_entropy": "bce(ŷ, Y)", "cross_entropy": "ce(ŷ, Y)", "mse": "mse(ŷ, Y)"}  # data units between two nodes of the main row


def _check_path(path: str) -> str:
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"the plot file must end in .png or .svg, got {path!r}")
    return suffix


def draw_graph(spec: NetworkSpec, path: str, batch: int = 32, seed: int = 0) -> str:
    """Draw `spec` as a computation graph into `path` (.png or .svg); returns the path.

    The errors shown are measured on `random_case(spec, batch, seed)`, as by `explain`.
    Raises ValueError for another suffix, ImportError without matplotlib.
    """
    _check_path(path)
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    d = derivation(spec, batch, seed)
    L, N, sizes = spec.n_layers, batch, spec.sizes
    steps = {s.text.split(" = ")[0]: s for s in d.backward}  # 'δ2', 'dW2', 'db2', ...

    # main row: a0, z1, a1, z2, ..., zL, ŷ, L
    row = [("a0", f"X = a0\n{_shape(N, sizes[0])}", "input")]
    for l in range(1, L + 1):
        row.append((f"z{l}", f"z{l} = a{l - 1} W{l} + b{l}\n{_shape(N, sizes[l])}", "z"))
        if l < L:
            f = formula(spec.hidden[l - 1])
            row.append((f"a{l}", f"a{l} = {f.symbol}(z{l})\n{_shape(N, sizes[l])}", "a"))
    head = {"binary_cross_entropy": f"ŷ = σ(z{L})", "cross_entropy": f"ŷ = softmax(z{L})", "mse": f"ŷ = z{L}"}
    row.append(("yhat", f"{head[spec.loss]}\n{_shape(N, sizes[-1])}", "a"))
    row.append(("L", f"L = {LOSS_SHORT[spec.loss]}\n" + ("+ (λ/2) Σ‖W‖²\n" if spec.l2 else "") + "scalar", "loss"))

    x = {key: COLUMN * i for i, (key, _, _) in enumerate(row)}
    width = COLUMN * (len(row) - 1)
    fig = Figure(figsize=(1.2 + 0.78 * COLUMN * len(row), 7.4), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-1.7, width + 1.7)
    ax.set_ylim(-5.5, 3.75)
    ax.axis("off")

    boxes = {}

    def box(key, cx, cy, text, edge, face, w=2.3, h=0.95, size=10, weight="normal"):
        ax.add_patch(FancyBboxPatch((cx - w / 2, cy - h / 2), w, h, boxstyle="round,pad=0.04,rounding_size=0.15",
                                    linewidth=1.4, edgecolor=edge, facecolor=face, zorder=2))
        ax.text(cx, cy, text, ha="center", va="center", fontsize=size, zorder=3, linespacing=1.35,
                fontweight=weight)
        boxes[key] = (cx, cy, w, h)

    def arrow(a, b, color, label="", rad=0.0, label_at=0.5, dy=0.0, dx=0.0, size=9, ha="center", side=None):
        (ax_, ay, aw, ah), (bx, by, bw, bh) = boxes[a], boxes[b]
        start, end = _edge(ax_, ay, aw, ah, bx, by, side and side[0]), _edge(bx, by, bw, bh, ax_, ay, side and side[1])
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color=color, linewidth=1.6,
                                     connectionstyle=f"arc3,rad={rad}", zorder=1, shrinkA=2, shrinkB=2))
        if label:
            mx = start[0] + (end[0] - start[0]) * label_at + dx
            my = start[1] + (end[1] - start[1]) * label_at + dy
            ax.text(mx, my, label, ha=ha, va="center", fontsize=size, color=color, zorder=4, linespacing=1.3,
                    bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.9))

    # --- the forward half -------------------------------------------------------------------
    faces = {"input": "#eef3f8", "z": "#dbe8f5", "a": "#eef3f8", "loss": "#fdf2d0"}
    for key, text, kind in row:
        box(key, x[key], 0.0, text, FORWARD, faces[kind], w=2.25, h=1.3 if kind == "loss" and spec.l2 else 0.95,
            size=11)
    for l in range(1, L + 1):
        i, o = sizes[l - 1], sizes[l]
        zx = x[f"z{l}"]
        box(f"W{l}", zx - 0.72, 2.3, f"W{l}\n{_shape(i, o)}", FORWARD, "white", w=1.3, h=0.9, size=11)
        box(f"b{l}", zx + 0.72, 2.3, f"b{l}\n{_shape(o)}", FORWARD, "white", w=1.3, h=0.9, size=11)
        arrow(f"W{l}", f"z{l}", FORWARD)
        arrow(f"b{l}", f"z{l}", FORWARD)
    box("Y", x["L"], 2.3, f"Y (labels)\n{_shape(N, sizes[-1])}", FORWARD, "white", w=1.7, h=0.9, size=11)
    arrow("Y", "L", FORWARD)
    for (a, text, _), (b, _, _) in zip(row, row[1:]):
        arrow(a, b, FORWARD, text.splitlines()[-1], dy=0.25, size=10, side="rl")  # the shape a hands on
    arch = " → ".join(map(str, sizes))
    ax.text(-1.55, 3.45, f"Network {arch}, {spec.loss}" + (f", L2 λ = {spec.l2:g}" if spec.l2 else "")
            + ".   Forward (blue): what each step computes; each arrow carries the shape it hands on",
            fontsize=12, color=FORWARD, fontweight="bold", ha="left")

    # --- the backward half ------------------------------------------------------------------
    ax.text(-1.55, -5.25, "Backward (red): what each step produces; err = max |manual − jax.grad|, "
            f"float64, on a random batch (N = {N}, seed {seed})", fontsize=12, color=BACKWARD,
            fontweight="bold", ha="left")
    delta_y, grad_y = -1.75, -4.0
    for l in range(L, 0, -1):
        zx = x[f"z{l}"]
        s = steps[f"δ{l}"]
        box(f"δ{l}", zx, delta_y, f"{s.text}\n{s.shape.split(' → ')[-1]}  {_err(s.row)}", BACKWARD, "#fbeeee",
            w=2.6 if l < L else 2.3, h=0.95, size=10.5)
        ax.plot([zx, zx], [-0.5, delta_y + 0.5], color=BACKWARD, linestyle=":", linewidth=1.2, zorder=1)
        w = max(1.5, 0.115 * len(steps[f"dW{l}"].text))  # "dW1 = a0ᵀ δ1 + λ W1" with L2
        for name, cx, bw in (("dW", zx - 0.06 - w / 2, w), ("db", zx + 0.06 + 0.75, 1.5)):
            s = steps[f"{name}{l}"]
            box(f"{name}{l}", cx, grad_y, f"{s.text}\n{s.shape.split(' → ')[-1]}\n{_err(s.row)}", BACKWARD,
                "#fbeeee", w=bw, h=1.2, size=10)
            arrow(f"δ{l}", f"{name}{l}", BACKWARD)
    s = steps[f"δ{L}"]
    arrow("L", f"δ{L}", BACKWARD, rad=-0.3, side="br")
    cancel = {"binary_cross_entropy": "σ and the log cancel", "cross_entropy": "softmax and the log cancel",
              "mse": "no activation at the head"}[spec.loss]
    ax.text((x["yhat"] + x["L"]) / 2 + 0.4, delta_y - 0.95, f"∂L/∂z{L}:\n{cancel}", ha="center",
            va="center", fontsize=10, color=BACKWARD, linespacing=1.3)
    for l in range(L, 1, -1):
        s = steps[f"δ{l - 1}"]
        f = formula(spec.hidden[l - 2])
        arrow(f"δ{l}", f"δ{l - 1}", BACKWARD, f"through W{l}ᵀ and {f.symbol}'(z{l - 1}):\n{s.note}",
              dy=-0.55, size=10, side="lr")

    verdict = "PASS" if d.report.passed and all(r.passed for r in d.delta_rows) else "FAIL"
    n = len(d.report) + len(d.delta_rows)
    ok = sum(r.passed for r in d.report) + sum(r.passed for r in d.delta_rows)
    ax.text(width + 1.55, -5.25, f"{verdict}: {ok}/{n} within tolerance", fontsize=12, ha="right",
            color=PASS if verdict == "PASS" else FAIL, fontweight="bold")
    fig.savefig(path, format=os.path.splitext(path)[1][1:].lower(), facecolor="white")
    return path


def _shape(*dims) -> str:
    return "(" + ", ".join(map(str, dims)) + (",)" if len(dims) == 1 else ")")


def _err(row) -> str:
    return f"err {_num(row.max_abs)} " + ("✓" if row.passed else "FAIL")


def _edge(cx, cy, w, h, tx, ty, side=None):
    """The point where the segment from the box centre towards (tx, ty) leaves the box,
    or the middle of one side ('l', 'r', 't', 'b')."""
    if side == "l":
        return (cx - w / 2, cy)
    if side == "r":
        return (cx + w / 2, cy)
    if side == "t":
        return (cx, cy + h / 2)
    if side == "b":
        return (cx, cy - h / 2)
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return (cx, cy)
    sx = (w / 2) / abs(dx) if dx else float("inf")
    sy = (h / 2) / abs(dy) if dy else float("inf")
    s = min(sx, sy)
    return (cx + dx * s, cy + dy * s)
