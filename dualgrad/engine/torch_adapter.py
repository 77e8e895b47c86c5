"""check_layer's PyTorch side: the only module of dualgrad that imports torch (lazily).

Two roles:

- an implementation written as a `torch.autograd.Function` subclass, run as
  `MyFn.apply(*inputs, *params, *hyper_values)` (apply takes positional arguments only: the
  hyperparameters follow in the order of `hyper`); its gradients are read with
  `torch.autograd.grad(outputs, differentiated inputs, grad_outputs=douts)`, i.e. its own backward;
- a reference written with torch operations, `ref(*inputs, *params, **hyper)`, differentiated by
  torch.autograd, in float64 (and J v by `torch.func.jvp` for the adjoint identity), or at a lower
  precision as the baseline of a float32 / float16 / bfloat16 implementation.

torch is an optional extra: `pip install 'dualgrad[torch]'`.
"""

from __future__ import annotations

import sys

import numpy as np

INSTALL = "check_layer: PyTorch is not installed; install it with: pip install 'dualgrad[torch]'"
DTYPES = ("float64", "float32", "float16", "bfloat16")


def require_torch():
    """The torch module, or a one-line ImportError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise ImportError(INSTALL) from None
    return torch


def is_torch_function(fn) -> bool:
    """fn is a torch.autograd.Function subclass (False without importing torch when it is not loaded:
    a user with such a class has imported torch)."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(fn, type):
        return False
    return issubclass(fn, torch.autograd.Function)


def uses_torch(fn) -> bool:
    """fn's code refers to a global bound to torch (or a torch submodule): a PyTorch function."""
    return _framework_names(fn) == {"torch"}


def _framework_names(fn):
    code, glob = getattr(fn, "__code__", None), getattr(fn, "__globals__", {})
    if code is None:
        return set()
    found, stack = set(), [code]
    while stack:
        c = stack.pop()
        for name in c.co_names:
            if name.split(".")[0] in ("torch", "jax"):  # `import jax` inside the function
                found.add(name.split(".")[0])
                continue
            v = glob.get(name)
            mod = getattr(v, "__name__", "") if type(v).__name__ == "module" else getattr(v, "__module__", "") or ""
            root = mod.split(".")[0]
            if root in ("torch", "jax"):
                found.add(root)
        stack += [k for k in c.co_consts if hasattr(k, "co_names")]
    return found


def _tensor(torch, a, dtype, grad=False):
    a = np.asarray(a)
    if a.dtype.kind == "f":
        t = torch.tensor(np.array(a, np.float64), dtype=getattr(torch, dtype))
    else:
        t = torch.tensor(np.array(a))
    if grad:
        t.requires_grad_(True)
    return t


def _numpy(t):
    t = t.detach()
    if t.is_floating_point():
        t = t.double()  # bfloat16 has no NumPy dtype; float64 holds every lower-precision value exactly
    return t.cpu().numpy().copy()


def _hyper_value(torch, v, dtype):
    return _tensor(torch, v, dtype) if isinstance(v, np.ndarray) else v


def torch_side(fn, arrays, diff, hyper, douts_of, dtype="float64", function=False, jvp=True, names=None,
               purity=None):
    """Run a torch Function (function=True) or a torch reference at one case: (outs, grads, J v,
    douts, tangents), NumPy float64. arrays are every positional array (inputs then params), diff one
    bool each. A Function gets the hyperparameters positionally, in `hyper`'s order; a reference
    function by keyword. Gradients that the Function leaves as None (not connected) are zeros.

    purity: a list to which one sentence is appended per tensor the code changed in place (an input,
    a parameter or a hyperparameter array `names` names in order, or an upstream gradient) — an
    in-place op without `ctx.mark_dirty`, or a backward that scales grad_output in place, which
    corrupts the caller's tensors though every gradient it returns is right."""
    torch = require_torch()
    tensors = [_tensor(torch, a, dtype, grad=d) for a, d in zip(arrays, diff)]
    hv = {k: _hyper_value(torch, v, dtype) for k, v in hyper.items()}
    watched = list(zip(names or [f"input {i}" for i in range(1, len(tensors) + 1)], tensors))
    watched += [(k, v) for k, v in hv.items() if isinstance(v, torch.Tensor)]
    before = [(n, t.detach().clone()) for n, t in watched]
    if function:
        outs = fn.apply(*tensors, *hv.values())
    else:
        outs = fn(*tensors, **hv)
    outs = tuple(outs) if isinstance(outs, (tuple, list)) else (outs,)
    bad = [type(o).__name__ for o in outs if not isinstance(o, torch.Tensor)]
    if bad:
        raise TypeError(f"the outputs must be tensors, got {', '.join(bad)}")
    shapes = tuple(tuple(o.shape) for o in outs)
    douts, tangents = douts_of(shapes)
    primals = [t for t, d in zip(tensors, diff) if d]
    grad_outs = [_tensor(torch, d, dtype) for d in douts]
    live = [i for i, o in enumerate(outs) if o.requires_grad]
    if primals and live:
        grads = torch.autograd.grad([outs[i] for i in live], primals, grad_outputs=[grad_outs[i] for i in live],
                                    allow_unused=True)
    else:
        grads = [None] * len(primals)
    grads = [np.zeros(p.shape) if g is None else _numpy(g) for g, p in zip(grads, primals)]
    if purity is not None:
        for (name, copy), (_, t) in zip(before, watched):
            if not torch.equal(copy, t.detach()):
                purity.append(f"purity: {name} was modified in place by forward or backward")
        dout_names = ["dout"] if len(douts) == 1 else [f"dout_{i}" for i in range(1, len(douts) + 1)]
        for name, given, t in zip(dout_names, douts, grad_outs):
            if not torch.equal(_tensor(torch, given, dtype), t):
                purity.append(f"purity: {name} (grad_output) was modified in place by backward")
    jv = []
    if jvp and not function:
        jv = reference_jvp(torch, fn, tensors, diff, hv, tangents, dtype)
    return [_numpy(o) for o in outs], grads, jv, douts, tangents


def reference_jvp(torch, fn, tensors, diff, hv, tangents, dtype):
    """J v of a torch reference by forward-mode AD (torch.func.jvp), or [] if it cannot run so."""
    plain = [t.detach() for t in tensors]
    primals = tuple(t for t, d in zip(plain, diff) if d)

    def f(*ps):
        it = iter(ps)
        out = fn(*[next(it) if d else t for t, d in zip(plain, diff)], **hv)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    try:
        _, jv = torch.func.jvp(f, primals, tuple(_tensor(torch, t, dtype) for t in tangents))
    except Exception:  # noqa: BLE001  an op without forward-mode AD: no adjoint identity, not an error
        return []
    return [_numpy(j) for j in jv]
