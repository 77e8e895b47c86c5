"""How a network's gradients compare, leaf by leaf: the rows, the report, its table and JSON, and the
finite differences that may back them (the tolerances are `dualgrad.engine.check`'s docstring)."""


from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from manual.activations import get_activation
from manual.losses import get_loss
from manual.network import forward_with_cache
from manual.spec import NetworkSpec
from manual.validation import encode_targets

from .compare import ATOL, RTOL

LOSS_RTOL = 1e-6  # |L − L_ref| ≤ LOSS_RTOL·max(1, |L_ref|): room for log(p + ε) with ε ≤ 1e-15 at p ≥ 1e-9
FD_STEP = 1e-6  # h = FD_STEP·max(1, |θ|)
FD_RTOL = 1e-5
FD_LOSS_ATOL = 1e-7  # absolute floor, times max(1, |L|)

# Activations whose first derivative is continuous everywhere: a central
# difference is accurate across any z. elu (α = 1) is here: both one-sided slopes
# at 0 are 1. Every other name, registered ones included, is watched for kinks at 0.
SMOOTH = frozenset({"identity", "elu", "gelu", "silu", "sigmoid", "tanh", "softplus"})

_CHUNK = 200_000  # floats per stacked perturbation batch (P·N·width)


@dataclass(frozen=True)
class GradientRow:
    """How one leaf (layer `layer`'s dW or db) compares."""

    layer: int  # 1-based
    name: str  # 'dW' or 'db'
    shape: Tuple[int, ...]
    max_abs: float  # max |manual − jax.grad|
    max_rel: float  # max |manual − jax.grad| / |jax.grad| (|jax.grad| floored at the absolute tolerance)
    ref_passed: bool  # within the jax.grad tolerance
    fd_max_abs: Optional[float] = None  # max |manual − FD| over entries not on a kink (None without fd)
    fd_max_rel: Optional[float] = None
    fd_passed: Optional[bool] = None
    n_on_kink: int = 0  # entries whose FD straddles a kink (left out of the FD verdict)
    worst_index: Optional[Tuple[int, ...]] = None  # the entry furthest out of tolerance
    value: Optional[float] = None  # the checked implementation's value there
    value_reference: Optional[float] = None  # jax.grad's value there

    @property
    def on_kink(self) -> bool:
        return self.n_on_kink > 0

    @property
    def passed(self) -> bool:
        return self.ref_passed and self.fd_passed is not False

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "name": self.name,
            "shape": list(self.shape),
            "max_abs_err": _json_float(self.max_abs),
            "max_rel_err": _json_float(self.max_rel),
            "fd_max_abs_err": _json_float(self.fd_max_abs),
            "fd_max_rel_err": _json_float(self.fd_max_rel),
            "fd_passed": self.fd_passed,
            "on_kink": self.on_kink,
            "n_on_kink": self.n_on_kink,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class GradientReport:
    """The rows of one check, in order layer 1 dW, layer 1 db, layer 2 dW, ...

    Iterate, index or take len() of it like a list of `GradientRow`.
    """

    spec: NetworkSpec
    batch: int
    loss: float  # the checked implementation's
    loss_reference: float  # jax, under the same conventions
    fd: bool
    rows: Tuple[GradientRow, ...]
    implementation: str = "manual.loss_and_grads"  # what was checked
    conventions: Optional[dict] = None  # the user's conventions (dualgrad.conventions), None for ours
    loss_passed: bool = True  # |loss − loss_reference| within LOSS_RTOL
    output_max_rel: Optional[float] = None  # the head's output vs jax, when the implementation returned it
    output_passed: Optional[bool] = None
    notes: Tuple[str, ...] = ()  # diagnoses: forwards that differ, a kink convention, ...
    functions_passed: bool = True  # registered activations and losses agree with their JAX twins elementwise
    intermediates: Tuple[GradientRow, ...] = ()  # returned dL/dz_l, dL/da_l in backward order (engine.intermediates)
    intermediates_line: str = ""  # 'dlogits ✓, dz2 ✓, da1 ✗: the step from dz2 to da1 — ... — is wrong'

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    @property
    def passed(self) -> bool:
        return (self.functions_passed and self.loss_passed and self.output_passed is not False
                and all(row.passed for row in self.rows) and all(row.passed for row in self.intermediates))

    @property
    def forwards_differ(self) -> bool:
        return not self.loss_passed or self.output_passed is False

    def to_dict(self) -> dict:
        return {
            "implementation": self.implementation,
            "conventions": self.conventions,
            "spec": self.spec.to_dict(),
            "batch": self.batch,
            "loss": _json_float(self.loss),
            "loss_reference": _json_float(self.loss_reference),
            "loss_passed": self.loss_passed,
            "output_max_rel_err": _json_float(self.output_max_rel),
            "output_passed": self.output_passed,
            "fd": self.fd,
            "tolerance": tolerance_dict(self.fd),
            "functions_passed": self.functions_passed,
            "passed": self.passed,
            "notes": list(self.notes),
            "rows": [row.to_dict() for row in self.rows],
            **({"intermediates": [row.to_dict() for row in self.intermediates],
                "intermediates_line": self.intermediates_line} if self.intermediates else {}),
        }

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def heading(self) -> str:
        """'checked: NAME against jax.grad (float64)' and the conventions, when not ours."""
        text = f"checked: {self.implementation} against jax.grad (float64)"
        if self.conventions is not None:
            from .conventions import Conventions

            text += f"; conventions: {Conventions(**self.conventions).describe(self.spec.loss)}"
        return text

    def forward_line(self) -> str:
        """'loss: yours 0.69, jax 0.69 (pass)' and the output's error when it was returned."""
        text = (f"loss: yours {self.loss:.10g}, jax {self.loss_reference:.10g} "
                f"({'pass' if self.loss_passed else 'FAIL'})")
        if self.output_passed is not None:
            text += f"; output: max rel err {_num(self.output_max_rel)} ({'pass' if self.output_passed else 'FAIL'})"
        return text

    def table(self) -> str:
        """The heading, a plain-text table with one line per leaf, the forward line, notes and a verdict."""
        header, lines = table_lines(self.rows, fd=self.fd)
        verdict = "PASS" if self.passed else "FAIL"
        notes = [f"note: {note}" for note in self.notes]
        inter = []
        if self.intermediates:
            _, inter_lines = table_lines(self.intermediates, fd=False)
            inter = ["intermediates, in backward order:", *inter_lines, self.intermediates_line]
        return "\n".join([self.heading(), header, *lines, *inter, self.forward_line(), *notes,
                          f"{verdict}: {summary_text(self.rows)}"])

    def __str__(self) -> str:
        return self.table()


def tolerance_dict(fd: bool) -> dict:
    tol = {"rtol": RTOL, "atol": ATOL, "loss_rtol": LOSS_RTOL}
    if fd:
        tol.update(fd_step=FD_STEP, fd_rtol=FD_RTOL, fd_loss_atol=FD_LOSS_ATOL)
    return tol


# ---- finite differences ---------------------------------------------------


def _finite_differences(spec, params, X, y):
    """[((FD_W, kink_W), (FD_b, kink_b)), ...]: central differences of the manual loss, and
    boolean masks of the entries whose ±h straddle a kink."""
    Y = encode_targets(spec, y, X.shape[0])  # (N, K)
    _, caches = forward_with_cache(spec, params, X)
    out = []
    for l, (W, b) in enumerate(params):
        a_in, z = caches[l].a_in, caches[l].z  # (N, fan_in), (N, fan_out)
        leaves = []
        for theta, is_w in ((W, True), (b, False)):
            fd = np.empty(theta.size)
            kink = np.zeros(theta.size, dtype=bool)
            width = max(spec.sizes[l + 1:])
            chunk = max(1, _CHUNK // (X.shape[0] * width))
            for start in range(0, theta.size, chunk):
                idx = np.arange(start, min(theta.size, start + chunk))
                fd[idx], kink[idx] = _fd_chunk(spec, params, Y, l, a_in, z, theta, is_w, idx)
            leaves.append((fd.reshape(theta.shape), kink.reshape(theta.shape)))
        out.append(tuple(leaves))
    return out


def _fd_chunk(spec, params, Y, l, a_in, z, theta, is_w, idx):
    """FD and kink flags for the flat entries `idx` of layer l's W (is_w) or b, all at once:
    each perturbation changes one column j of z_l, by ±h·a_in[:, i] (W[i, j]) or ±h (b[j])."""
    P, fan_out = len(idx), z.shape[1]
    values = theta.ravel()[idx]  # (P,)
    h = FD_STEP * np.maximum(1.0, np.abs(values))  # (P,)
    i, j = np.divmod(idx, fan_out) if is_w else (None, idx)
    step = h[:, None] * (a_in[:, i].T if is_w else np.ones((P, z.shape[0])))  # (P, N) the change of z[:, j]
    losses, hidden_zs = [], []
    for sign in (1.0, -1.0):
        zp = np.repeat(z[None], P, axis=0)  # (P, N, fan_out)
        zp[np.arange(P), :, j] += sign * step
        logits, zs = _forward_from(spec, params, l, zp)  # (P, N, K)
        data = np.array([get_loss(spec.loss).value_and_dlogits(s, Y)[0] for s in logits])  # (P,)
        penalty = 0.5 * spec.l2 * ((values + sign * h) ** 2 - values**2) if is_w else 0.0  # (P,)
        losses.append(data + penalty)
        hidden_zs.append(zs)
    fd = (losses[0] - losses[1]) / (2.0 * h)  # (P,)
    kink = np.zeros(P, dtype=bool)
    for (name, zplus), (_, zminus) in zip(*hidden_zs):
        if name not in SMOOTH:
            kink |= (np.sign(zplus) != np.sign(zminus)).any(axis=(1, 2))
    return fd, kink


def _forward_from(spec, params, l, z):
    """The logits (P, N, K) from stacked pre-activations z (P, N, sizes[l+1]) of layer l (0-based),
    and [(activation name, z), ...] of the hidden layers passed on the way."""
    hidden = []
    for m in range(l, len(params) - 1):
        name = spec.hidden[m]
        hidden.append((name, z))
        W, b = params[m + 1]
        z = get_activation(name).forward(z) @ W + b  # (P, N, sizes[m+1]) @ (sizes[m+1], sizes[m+2])
    return z, hidden


def _fd_errors(manual_grad, fd_grad, kink, loss_value) -> dict:
    keep = ~kink
    diff = np.abs(manual_grad - fd_grad)[keep]
    fdk = np.abs(fd_grad)[keep]
    if diff.size == 0:
        return dict(fd_max_abs=0.0, fd_max_rel=0.0, fd_passed=True, n_on_kink=int(kink.sum()))
    floor = FD_RTOL * fdk.max() + FD_LOSS_ATOL * max(1.0, abs(loss_value))
    allowed = FD_RTOL * fdk + floor
    diff = np.where(np.isnan(diff), np.inf, diff)
    return dict(
        fd_max_abs=float(diff.max()),
        fd_max_rel=float((diff / np.maximum(fdk, floor)).max()),
        fd_passed=bool((diff <= allowed).all()),
        n_on_kink=int(kink.sum()),
    )


# ---- rendering --------------------------------------------------------------


def table_lines(rows, fd: bool, prefix=None):
    """(header, [line, ...]) of the text table. `prefix` is a list of (title, width, [cell per row])
    columns put in front (the CLI's network id)."""
    prefix = prefix or []
    cols = [(title, width) for title, width, _ in prefix]
    cols += [("layer", 5), ("param", 5), ("shape", 10), ("max abs err", 11), ("max rel err", 11)]
    if fd:
        cols += [("fd abs err", 10), ("fd rel err", 10), ("on kink", 7)]
    cols += [("result", 6)]
    header = "  ".join(title.rjust(width) if i >= len(prefix) else title.ljust(width)
                       for i, (title, width) in enumerate(cols))
    lines = []
    for r, row in enumerate(rows):
        cells = [str(cells[r]).ljust(width) for _, width, cells in prefix]
        cells += [str(row.layer).rjust(5), row.name.rjust(5), _shape(row.shape).rjust(10),
                  _num(row.max_abs).rjust(11), _num(row.max_rel).rjust(11)]
        if fd:
            cells += [_num(row.fd_max_abs).rjust(10), _num(row.fd_max_rel).rjust(10),
                      (str(row.n_on_kink) if row.on_kink else "-").rjust(7)]
        cells += [("pass" if row.passed else "FAIL").rjust(6)]
        lines.append("  ".join(cells).rstrip())
    return header.rstrip(), lines


def summary_text(rows) -> str:
    rows = list(rows)
    failed = sum(not row.passed for row in rows)
    worst = max((row.max_rel for row in rows), default=0.0)
    text = f"{len(rows) - failed}/{len(rows)} leaves within tolerance, worst relative error vs jax.grad {_num(worst)}"
    fd_rows = [row for row in rows if row.fd_max_rel is not None]
    if fd_rows:
        kinks = sum(row.n_on_kink for row in fd_rows)
        text += f"; worst vs finite differences {_num(max(row.fd_max_rel for row in fd_rows))}"
        text += f", {kinks} entr{'y' if kinks == 1 else 'ies'} on a kink"
    return text


def _shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def _num(x) -> str:
    if x is None:
        return "-"
    if x == 0:
        return "0"
    return f"{x:.1e}"


def _json_float(x):
    """JSON has no inf or NaN: those become null (the row's `passed` is false then)."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


LOSS_ABBREVIATIONS = {"binary_cross_entropy": "bce", "cross_entropy": "ce", "mse": "mse"}


def describe_network(spec, batch) -> str:
    """'10-64-3 relu ce N=32' (and 'λ=0.01' with L2): sizes, hidden activations, loss, batch."""
    hidden = "/".join(spec.hidden) if spec.hidden else "-"
    l2 = f" λ={spec.l2:g}" if spec.l2 else ""
    return f"{'-'.join(map(str, spec.sizes))} {hidden} {LOSS_ABBREVIATIONS.get(spec.loss, spec.loss)} N={batch}{l2}"
