"""check_layer against torch.autograd.gradcheck (and jax.test_util.check_grads) on one catalog of
hand-written backward passes, correct ones and realistic mistakes (issue 19, item 4).

    nice -n 10 python benchmarks/vs_gradcheck.py [--examples 200]

Each PyTorch Function goes through
- torch.autograd.gradcheck in float64 at the one shape a user would write in a test (default mode and
  fast_mode=True), and in float32 for the correct ones (where a pass is what a correct kernel deserves);
- dualgrad.check_layer in float64 and in float32 (random shapes, shrinking, against a PyTorch reference).
"caught" means the check reported a failure; for a correct Function any failure is a false failure.
Then jax.test_util.check_grads on jax.custom_vjp versions of four of them, next to check_layer on the
same custom_vjp functions, and the throughput of both on the same shapes. Figures depend on the machine
and its load: quote them with both (docs/check-your-framework-backward.md does).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
import warnings

import numpy as np
import torch

from dualgrad import check_layer

warnings.filterwarnings("ignore")
F = torch.nn.functional


# ---- the catalog: PyTorch Functions ------------------------------------------------------------


class SoftmaxCE(torch.autograd.Function):
    """L = (1/N) Σₙ −log softmax(sₙ)[yₙ]; ds = (softmax(s) − Y)/N."""

    @staticmethod
    def forward(ctx, s, y):
        p = torch.softmax(s, dim=1)
        ctx.save_for_backward(p, y)
        return -torch.log(p[torch.arange(s.shape[0]), y]).mean()

    @staticmethod
    def backward(ctx, dL):
        p, y = ctx.saved_tensors
        ds = p.clone()
        ds[torch.arange(p.shape[0]), y] -= 1
        return dL * ds / p.shape[0], None


class SoftmaxCENoMean(SoftmaxCE):
    @staticmethod
    def backward(ctx, dL):
        p, y = ctx.saved_tensors
        ds = p.clone()
        ds[torch.arange(p.shape[0]), y] -= 1
        return dL * ds, None  # the 1/N of the mean forgotten


def softmax_ce(s, y):
    return F.cross_entropy(s, y)


class Gelu(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))

    @staticmethod
    def backward(ctx, dout):
        (x,) = ctx.saved_tensors
        return dout * (0.5 * (1 + torch.erf(x / math.sqrt(2))) + x * torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))


class GeluTanhDerivative(Gelu):
    @staticmethod
    def backward(ctx, dout):
        (x,) = ctx.saved_tensors  # the tanh approximation's derivative, with the exact forward
        c = math.sqrt(2 / math.pi)
        t = torch.tanh(c * (x + 0.044715 * x ** 3))
        return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x))


def gelu(x):
    return F.gelu(x)


class LayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        mu = x.mean(-1, keepdim=True)
        std = torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + eps)
        xh = (x - mu) / std
        ctx.save_for_backward(xh, std, gamma)
        return gamma * xh + beta

    @staticmethod
    def backward(ctx, dout):
        xh, std, gamma = ctx.saved_tensors
        g = dout * gamma
        dx = (g - g.mean(-1, keepdim=True) - xh * (g * xh).mean(-1, keepdim=True)) / std
        return dx, (dout * xh).sum(0), dout.sum(0), None


class LayerNormNoVariancePath(LayerNorm):
    @staticmethod
    def backward(ctx, dout):
        xh, std, gamma = ctx.saved_tensors
        g = dout * gamma
        return (g - g.mean(-1, keepdim=True)) / std, (dout * xh).sum(0), dout.sum(0), None  # σ taken as constant


def layer_norm(x, gamma, beta, eps):
    return F.layer_norm(x, x.shape[-1:], gamma, beta, eps)


class Attention(torch.autograd.Function):
    """softmax(q kᵀ/√D) v; q (N, T, D), k (N, S, D), v (N, S, E)."""

    @staticmethod
    def forward(ctx, q, k, v):
        p = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), -1)
        ctx.save_for_backward(q, k, v, p)
        return p @ v

    @staticmethod
    def backward(ctx, dout):
        q, k, v, p = ctx.saved_tensors
        dp = dout @ v.transpose(1, 2)
        ds = p * (dp - (dp * p).sum(-1, keepdim=True)) / math.sqrt(q.shape[-1])
        return ds @ k, ds.transpose(1, 2) @ q, p.transpose(1, 2) @ dout


class AttentionTransposedDK(Attention):
    @staticmethod
    def backward(ctx, dout):
        q, k, v, p = ctx.saved_tensors
        dp = dout @ v.transpose(1, 2)
        ds = p * (dp - (dp * p).sum(-1, keepdim=True)) / math.sqrt(q.shape[-1])
        dk = ds @ q if ds.shape[1] == ds.shape[2] else ds.transpose(1, 2) @ q  # dsᵀ forgotten (shape-valid at T = S)
        return ds @ k, dk, p.transpose(1, 2) @ dout


def attention(q, k, v):
    return torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), -1) @ v


class BatchNormShortcutAtOneRow(torch.autograd.Function):
    """Batch normalisation over rows; the backward special-cases N = 1 as the identity (it is β there:
    the right dx is 0). A bug only at N = 1."""

    @staticmethod
    def forward(ctx, x, gamma, beta):
        mu = x.mean(0)
        std = torch.sqrt(((x - mu) ** 2).mean(0) + 1e-5)
        xh = (x - mu) / std
        ctx.save_for_backward(xh, std, gamma)
        return gamma * xh + beta

    @staticmethod
    def backward(ctx, dout):
        xh, std, gamma = ctx.saved_tensors
        g = dout * gamma
        if xh.shape[0] == 1:
            dx = g / std
        else:
            dx = (g - g.mean(0) - xh * (g * xh).mean(0)) / std
        return dx, (dout * xh).sum(0), dout.sum(0)


def batch_norm(x, gamma, beta):  # F.batch_norm refuses N = 1 in training; the formula does not
    mu = x.mean(0)
    return gamma * (x - mu) / torch.sqrt(((x - mu) ** 2).mean(0) + 1e-5) + beta


class PairSwap(torch.autograd.Function):
    """Swap the features in pairs (0↔1, 2↔3, ...); an odd last feature stays. Its own inverse."""

    @staticmethod
    def forward(ctx, x):
        return pair_swap(x)

    @staticmethod
    def backward(ctx, dout):
        return pair_swap(dout)


class PairSwapOddWidthBug(PairSwap):
    @staticmethod
    def backward(ctx, dout):
        D = dout.shape[-1]
        dx = torch.zeros_like(dout)
        dx[..., : D - D % 2] = pair_swap(dout[..., : D - D % 2])  # the odd last feature's gradient forgotten
        return dx


def pair_swap(x):
    D = x.shape[-1]
    idx = torch.arange(D)
    idx[: D - D % 2] = idx[: D - D % 2].view(-1, 2).flip(-1).reshape(-1)
    return x[..., idx]


class MaskedMean(torch.autograd.Function):
    """out[n] = Σ_d x[n, d] m[n, d] / Σ_d m[n, d] (m a 0/1 mask, at least one 1 per row)."""

    @staticmethod
    def forward(ctx, x, m):
        count = m.sum(-1, keepdim=True)
        ctx.save_for_backward(m, count)
        return (x * m).sum(-1) / count[:, 0]

    @staticmethod
    def backward(ctx, dout):
        m, count = ctx.saved_tensors
        return dout[:, None] * m / count, None


class MaskedMeanBug(MaskedMean):
    @staticmethod
    def backward(ctx, dout):
        m, count = ctx.saved_tensors
        return dout[:, None] * m / m.shape[-1], None  # divides by the width, right only when nothing is masked


def masked_mean(x, m):
    return (x * m).sum(-1) / m.sum(-1)


def _labels(dims, rng):
    return rng.integers(0, dims["K"], size=dims["N"])


def _mask(dims, rng):
    m = (rng.random((dims["N"], dims["D"])) < 0.6).astype(np.float64)
    m[:, 0] = 1.0
    return m


SMALL = {"N": [1, 2, 3], "D": [1, 2, 3, 4, 5]}
CASES = {  # name -> (check_layer description, one hand-written test input (float64) for gradcheck)
    "softmax_ce": (dict(shapes={"s": ("N", "K")}, hyper={"y": _labels}, dims={"N": [1, 2, 3], "K": [1, 3]}),
                   lambda: (torch.randn(4, 3), torch.tensor([0, 2, 1, 2]))),
    "gelu": (dict(shapes={"x": ("N", "D")}, dims=SMALL), lambda: (torch.randn(4, 5),)),
    "layer_norm": (dict(shapes={"x": ("N", "D")}, params={"gamma": ("D",), "beta": ("D",)}, hyper={"eps": 1e-5},
                        dims=SMALL), lambda: (torch.randn(4, 5), torch.randn(5), torch.randn(5), 1e-5)),
    "attention": (dict(shapes={"q": ("N", "T", "D"), "k": ("N", "S", "D"), "v": ("N", "S", "E")},
                       dims={"N": [1, 2], "T": [1, 2, 3], "S": [1, 2, 3], "D": [1, 2], "E": [1, 2]}),
                  lambda: (torch.randn(2, 4, 3), torch.randn(2, 6, 3), torch.randn(2, 6, 5))),
    "batch_norm": (dict(shapes={"x": ("N", "D")}, params={"gamma": ("D",), "beta": ("D",)}, dims=SMALL),
                   lambda: (torch.randn(8, 4), torch.randn(4), torch.randn(4))),
    "pair_swap": (dict(shapes={"x": ("N", "D")}, dims=SMALL), lambda: (torch.randn(4, 8),)),
    "masked_mean": (dict(shapes={"x": ("N", "D"), "m": ("N", "D")}, data={"m": _mask}, dims=SMALL),
                    lambda: (torch.randn(4, 6), torch.ones(4, 6))),  # the all-ones padding mask of a test
}


class Entry:
    def __init__(self, name, fn, reference, case, correct, where=""):
        self.name, self.fn, self.reference, self.case, self.correct, self.where = name, fn, reference, case, correct, where


CATALOG = [
    Entry("softmax-CE", SoftmaxCE, softmax_ce, "softmax_ce", True),
    Entry("softmax-CE without 1/N", SoftmaxCENoMean, softmax_ce, "softmax_ce", False),
    Entry("GELU", Gelu, gelu, "gelu", True),
    Entry("GELU, tanh-approximation derivative", GeluTanhDerivative, gelu, "gelu", False),
    Entry("LayerNorm", LayerNorm, layer_norm, "layer_norm", True),
    Entry("LayerNorm without the variance path", LayerNormNoVariancePath, layer_norm, "layer_norm", False),
    Entry("attention", Attention, attention, "attention", True),
    Entry("attention, transposed dK (T = S only)", AttentionTransposedDK, attention, "attention", False),
    Entry("batchnorm, N = 1 as identity", BatchNormShortcutAtOneRow, batch_norm, "batch_norm", False),
    Entry("pair swap", PairSwap, pair_swap, "pair_swap", True),
    Entry("pair swap, odd width forgotten", PairSwapOddWidthBug, pair_swap, "pair_swap", False),
    Entry("masked mean", MaskedMean, masked_mean, "masked_mean", True),
    Entry("masked mean, /width (only under a mask)", MaskedMeanBug, masked_mean, "masked_mean", False),
]


def _gradcheck_inputs(entry, dtype):
    torch.manual_seed(0)
    args = CASES[entry.case][1]()
    out = []
    for i, a in enumerate(args):
        if isinstance(a, torch.Tensor) and a.is_floating_point() and not (entry.case == "masked_mean" and i == 1):
            a = a.to(dtype).requires_grad_(True)
        elif isinstance(a, torch.Tensor) and a.is_floating_point():
            a = a.to(dtype)
        out.append(a)
    return tuple(out)


def run_gradcheck(entry, dtype=torch.float64, fast=False):
    """(caught, seconds): gradcheck's verdict (False or an exception = caught)."""
    args = _gradcheck_inputs(entry, dtype)
    t = time.perf_counter()
    try:
        ok = torch.autograd.gradcheck(entry.fn.apply, args, fast_mode=fast, raise_exception=False)
    except Exception:  # noqa: BLE001  a crash is a failure too
        ok = False
    return (not ok), time.perf_counter() - t


def run_check_layer(entry, dtype, examples):
    t = time.perf_counter()
    r = check_layer(entry.fn, reference=entry.reference, examples=examples, seed=0, dtype=dtype, **CASES[entry.case][0])
    return r, time.perf_counter() - t


def torch_table(examples):
    rows = []
    print("| Function | bug? | gradcheck float64 | gradcheck fast | check_layer float64 | shrunk to | "
          "gradcheck float32 | check_layer float32 |")
    print("|---|---|---|---|---|---|---|---|")
    totals = {"g": 0, "gf": 0, "c64": 0, "c32": 0, "bugs": 0, "false_g32": 0, "false_c32": 0, "false_c64": 0,
              "correct": 0}
    times = {"g": [], "gf": [], "c64": [], "c32": [], "r64": [], "r32": []}
    for e in CATALOG:
        g, tg = run_gradcheck(e)
        gf, tgf = run_gradcheck(e, fast=True)
        r64, t64 = run_check_layer(e, "float64", examples)
        r32, t32 = run_check_layer(e, "float32", examples)
        times["g"].append(tg)
        times["gf"].append(tgf)
        times["c64"].append(t64 / max(1, r64.examples))
        times["c32"].append(t32 / max(1, r32.examples))
        times["r64"].append(t64)
        times["r32"].append(t32)
        shrunk = r64.counterexample.describe() if not r64.passed else ""
        mark = lambda caught: "caught" if caught else "passed"  # noqa: E731
        if e.correct:
            g32, _ = run_gradcheck(e, torch.float32)
            totals["correct"] += 1
            totals["false_g32"] += g32
            totals["false_c32"] += not r32.passed
            totals["false_c64"] += not r64.passed
            g32_txt, c32_txt = ("FAILS (false)" if g32 else "passed"), ("FAILS (false)" if not r32.passed else "passed")
        else:
            totals["bugs"] += 1
            totals["g"] += g
            totals["gf"] += gf
            totals["c64"] += not r64.passed
            totals["c32"] += not r32.passed
            g32_txt, c32_txt = "", mark(not r32.passed)
        print(f"| {e.name} | {'no' if e.correct else 'yes'} | {mark(g)} | {mark(gf)} | {mark(not r64.passed)} | "
              f"{shrunk} | {g32_txt} | {c32_txt} |")
    print()
    print(f"bugs caught: gradcheck {totals['g']}/{totals['bugs']}, gradcheck fast {totals['gf']}/{totals['bugs']}, "
          f"check_layer float64 {totals['c64']}/{totals['bugs']}, check_layer float32 {totals['c32']}/{totals['bugs']}")
    print(f"false failures on the {totals['correct']} correct Functions: gradcheck float32 {totals['false_g32']}, "
          f"check_layer float32 {totals['false_c32']}, check_layer float64 {totals['false_c64']}")
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"seconds per check (median over the catalog): gradcheck {med['g']:.3f}, gradcheck fast {med['gf']:.3f}, "
          f"check_layer float64 {med['r64']:.2f} ({med['c64'] * 1000:.0f} ms per example), float32 {med['r32']:.2f} "
          f"({med['c32'] * 1000:.0f} ms per example; up to {examples} examples and the shrinking of a failure)")
    return rows


# ---- JAX: custom_vjp versions and jax.test_util.check_grads -------------------------------------


def jax_catalog():
    import jax
    import jax.numpy as jnp

    def make(fwd_math, bwd):
        f = jax.custom_vjp(fwd_math)
        f.defvjp(lambda *a: (fwd_math(*a), a), bwd)
        return f

    def gelu_j(x):
        return 0.5 * x * (1 + jax.scipy.special.erf(x / jnp.sqrt(2.0)))

    def gelu_bwd(res, g):
        (x,) = res
        return (g * (0.5 * (1 + jax.scipy.special.erf(x / jnp.sqrt(2.0))) + x * jnp.exp(-0.5 * x * x) / jnp.sqrt(2 * jnp.pi)),)

    def gelu_tanh_bwd(res, g):
        (x,) = res
        c = jnp.sqrt(2 / jnp.pi)
        t = jnp.tanh(c * (x + 0.044715 * x ** 3))
        return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)),)

    def ce(s, Y):  # Y one-hot (data)
        return -(jax.nn.log_softmax(s) * Y).sum() / s.shape[0]

    def ce_bwd(res, g, mean=True):
        s, Y = res
        ds = jax.nn.softmax(s) - Y
        return (g * ds / (s.shape[0] if mean else 1), jnp.zeros_like(Y))

    def ln(x, gamma, beta):
        mu = x.mean(-1, keepdims=True)
        xh = (x - mu) / jnp.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5)
        return gamma * xh + beta

    def ln_bwd(res, dout, variance=True):
        x, gamma, beta = res
        mu = x.mean(-1, keepdims=True)
        std = jnp.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5)
        xh = (x - mu) / std
        g = dout * gamma
        dx = g - g.mean(-1, keepdims=True) - (xh * (g * xh).mean(-1, keepdims=True) if variance else 0.0)
        return dx / std, (dout * xh).sum(0), dout.sum(0)

    def mm(x, m):
        return (x * m).sum(-1) / m.sum(-1)

    def mm_bwd(res, dout, bug=False):
        x, m = res
        return (dout[:, None] * m / (m.shape[-1] if bug else m.sum(-1, keepdims=True)), jnp.zeros_like(m))

    def onehot(dims, rng):
        return np.eye(dims["K"])[rng.integers(0, dims["K"], dims["N"])]

    r = np.random.default_rng(0)
    X = (r.standard_normal((4, 5)),)
    return [
        ("GELU", make(gelu_j, gelu_bwd), gelu_j, dict(shapes={"x": ("N", "D")}, dims=SMALL), X, True),
        ("GELU, tanh derivative", make(gelu_j, gelu_tanh_bwd), gelu_j, dict(shapes={"x": ("N", "D")}, dims=SMALL), X, False),
        ("softmax-CE", make(ce, ce_bwd), ce, dict(shapes={"s": ("N", "K"), "Y": ("N", "K")}, data={"Y": onehot},
                                                   dims={"N": [1, 2, 3], "K": [1, 3]}),
         (r.standard_normal((4, 3)), np.eye(3)[[0, 2, 1, 2]]), True),
        ("softmax-CE without 1/N", make(ce, lambda res, g: ce_bwd(res, g, mean=False)), ce,
         dict(shapes={"s": ("N", "K"), "Y": ("N", "K")}, data={"Y": onehot}, dims={"N": [1, 2, 3], "K": [1, 3]}),
         (r.standard_normal((4, 3)), np.eye(3)[[0, 2, 1, 2]]), False),
        ("LayerNorm", make(ln, ln_bwd), ln, dict(shapes={"x": ("N", "D")}, params={"gamma": ("D",), "beta": ("D",)},
                                                  dims=SMALL), (r.standard_normal((4, 5)), r.standard_normal(5), r.standard_normal(5)), True),
        ("LayerNorm without the variance path", make(ln, lambda res, d: ln_bwd(res, d, variance=False)), ln,
         dict(shapes={"x": ("N", "D")}, params={"gamma": ("D",), "beta": ("D",)}, dims=SMALL),
         (r.standard_normal((4, 5)), r.standard_normal(5), r.standard_normal(5)), False),
        ("masked mean", make(mm, mm_bwd), mm, dict(shapes={"x": ("N", "D"), "m": ("N", "D")}, data={"m": _mask}, dims=SMALL),
         (r.standard_normal((4, 6)), np.ones((4, 6))), True),
        ("masked mean, /width", make(mm, lambda res, d: mm_bwd(res, d, bug=True)), mm,
         dict(shapes={"x": ("N", "D"), "m": ("N", "D")}, data={"m": _mask}, dims=SMALL),
         (r.standard_normal((4, 6)), np.ones((4, 6))), False),
    ]


def jax_table(examples):
    import jax
    from jax.test_util import check_grads

    print("| custom_vjp | bug? | check_grads (rev, one shape) | check_layer float64 | check_layer float32 |")
    print("|---|---|---|---|---|")
    caught = {"cg": 0, "c64": 0, "c32": 0, "bugs": 0, "false": 0}
    for name, f, ref, desc, args, correct in jax_catalog():
        n_diff = len(args) - (1 if "data" in desc else 0)

        def g(*diff, _f=f, _args=args, _n=n_diff):
            return _f(*diff, *_args[_n:])

        try:
            check_grads(g, args[:n_diff], order=1, modes=["rev"])
            cg = False
        except AssertionError:
            cg = True
        r64 = check_layer(f, reference=ref, examples=examples, seed=0, **desc)
        r32 = check_layer(f, reference=ref, examples=examples, seed=0, dtype="float32", **desc)
        mark = lambda c: "caught" if c else "passed"  # noqa: E731
        if correct:
            caught["false"] += cg + (not r64.passed) + (not r32.passed)
        else:
            caught["bugs"] += 1
            caught["cg"] += cg
            caught["c64"] += not r64.passed
            caught["c32"] += not r32.passed
        print(f"| {name} | {'no' if correct else 'yes'} | {mark(cg)} | {mark(not r64.passed)} | {mark(not r32.passed)} |")
    print()
    print(f"bugs caught: check_grads {caught['cg']}/{caught['bugs']}, check_layer float64 {caught['c64']}/{caught['bugs']}, "
          f"float32 {caught['c32']}/{caught['bugs']}; false failures on the correct ones: {caught['false']}")
    del jax


def throughput(examples):
    """check_layer's examples/s on LayerNorm (a torch Function) next to gradcheck's checks/s on the
    shapes check_layer drew, in one run."""
    entry = CATALOG[4]
    desc = CASES["layer_norm"][0]
    check_layer(entry.fn, reference=entry.reference, examples=20, seed=1, **desc)  # warm (torch's first calls)
    t = time.perf_counter()
    r = check_layer(entry.fn, reference=entry.reference, examples=examples, seed=0, **desc)
    t_cl = time.perf_counter() - t
    rng = np.random.default_rng(0)
    shapes = [(int(rng.choice(desc["dims"]["N"])), int(rng.choice(desc["dims"]["D"]))) for _ in range(examples)]
    t = time.perf_counter()
    for fast in (False, True):
        t = time.perf_counter()
        for N, D in shapes:
            args = (torch.randn(N, D, dtype=torch.float64, requires_grad=True),
                    torch.randn(D, dtype=torch.float64, requires_grad=True),
                    torch.randn(D, dtype=torch.float64, requires_grad=True), 1e-5)
            torch.autograd.gradcheck(entry.fn.apply, args, fast_mode=fast, raise_exception=False)
        rate = len(shapes) / (time.perf_counter() - t)
        print(f"gradcheck{' fast' if fast else ''}: {rate:.0f} checks/s", end="; ")
    print(f"check_layer: {r.examples / t_cl:.0f} examples/s (float64, LayerNorm Function, N 1..3, D 1..5, "
          f"{r.examples} examples, each a fresh shape, dout and adjoint identity)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d')}; check_layer: up to {args.examples} examples, seed 0")
    print()
    torch_table(args.examples)
    print()
    jax_table(args.examples)
    print()
    throughput(args.examples)


if __name__ == "__main__":
    main()
