"""Check one network's hand-written gradients against jax.grad (and, optionally, finite differences).

    report = check_gradients(spec, params, X, y, fd=True)
    report.passed            # every row passes
    print(report.table())    # one row per layer and parameter
    report.to_json()         # the same, machine-readable

Both sides run in float64 (params, X and float targets are cast first). The
checked side is `manual.loss_and_grads`, or your own function with `impl=fn`
(`dualgrad.implementation` says what it takes and returns; `dualgrad.conventions`
lists the layouts and loss conventions it may follow, as keyword arguments);
the report names it. The reference is `reference.bucketed` (one compiled
jax.grad for every shape, checked equal to the plain reference in
tests/test_bucketed.py).

Before the gradients, the forwards: the loss (and the head's output, when the
function returns it) must agree within LOSS_RTOL, and a report whose loss differs
says that the forward passes differ, which explains failing leaves. Registered
activations and losses are checked elementwise first (`dualgrad.diagnose`).

Tolerance against jax.grad, per leaf (one dW or db), elementwise
(`dualgrad.compare`, the one comparison every gradient check uses):

    |manual − ref| ≤ 1e-9·|ref| + 1e-9·max|ref over the leaf| + 1e-12·max(1, max|ref over the network|)

NumPy and jax.grad compute the same sums in different orders and agree to
about 1e-11 relative, so 1e-9 keeps a wide margin while any real backprop
mistake (a missing 1/N, a wrong derivative) is off by O(1). The absolute floor
covers saturated units (σ or tanh near ±1): their tiny gradients are computed
from a rounded activation and carry rounding of a few ulps times the gradient
flowing into them, which the network's largest gradient bounds (see
`dualgrad.compare`, the same rule the property tests apply).

Finite differences (fd=True), central, for every entry θ of every leaf:

    FD = (L(θ + h) − L(θ − h)) / 2h,   h = 1e-6·max(1, |θ|)

L is the manual forward and loss (L2 penalty included), evaluated from the
changed layer on. Its error is truncation, O(h²·L'''), plus rounding of the
loss, O(ε·|L| / h) ≈ 1e-10·|L|: far above jax.grad's 1e-11, hence the much
looser tolerance on |manual − FD|:

    |manual − FD| ≤ 1e-5·|FD| + 1e-5·max|FD over the leaf| + 1e-7·max(1, |L|)

NOTE: at a kink the two disagree by design. relu at z = 0 has derivative 0 by
convention (as jax.nn.relu), but a central difference across the kink sees the
average slope ½. An entry whose ±h perturbations put some hidden pre-activation
of a non-smooth activation (relu, leaky_relu, or any registered one not known to
be smooth) on different sides of 0 is marked `on_kink` and left out of the FD
verdict; its jax.grad comparison still counts.
"""

from __future__ import annotations

import numpy as np

import manual
from manual.spec import NetworkSpec
from manual.validation import check_inputs, check_params, check_spec
from reference import bucketed

from .cases import random_case as random_case
from .cases import random_labels as random_labels
from .cases import sweep_cases as sweep_cases
from .compare import leaf_error, network_scale
from .report import *  # noqa: F401,F403  (the rows, the report and the constants, at their old path)
from .report import LOSS_RTOL, GradientReport, GradientRow, _fd_errors, _finite_differences


def check_gradients(spec: NetworkSpec, params, X, y, fd: bool = False, *, impl=None,
                    loss_rtol: float = LOSS_RTOL, **conventions) -> GradientReport:
    """Compare an implementation's gradients with jax.grad (and central differences when fd=True).

    spec    -- a NetworkSpec
    params  -- [(W, b), ...], float32 or float64 (cast to float64): W (fan_in, fan_out) and
               b (fan_out,), or in the layout your `conventions` name
    X       -- (N, sizes[0]) inputs
    y       -- labels for the loss, as `manual.loss_and_grads` takes them
    fd      -- also compute central finite differences of the loss
    impl    -- your function fn(params, X, y) -> (loss, grads[, output]) (`dualgrad.implementation`);
               None checks `manual.loss_and_grads`. The report names what it checked.
    loss_rtol    -- the loss comparison's tolerance, relative to max(1, |L|)
    conventions  -- layout, bias, reduction, mse, head, kink, targets (`dualgrad.conventions`),
                    with impl only

    Returns a `GradientReport`: one row per layer and parameter with the max
    absolute and relative error against jax.grad (tolerance in the module
    docstring), the FD errors when fd=True, and the number of entries whose
    FD straddles a kink (`on_kink`, not failed); the loss of both sides. Bad
    inputs raise ValueError or TypeError naming what was expected; an impl that
    returns something that cannot be compared, or raises, raises an
    `ImplementationError` (also a TypeError or ValueError).
    """
    if impl is not None:
        from .user_check import check_case

        return check_case(impl, spec, params, X, y, fd=fd, loss_rtol=loss_rtol, **conventions)
    if conventions:
        raise TypeError(f"check_gradients: conventions ({', '.join(sorted(conventions))}) describe your own "
                        "implementation: pass it as impl=fn too")
    from .diagnose import check_functions

    check_spec(spec)
    params = [(np.asarray(W, np.float64), np.asarray(b, np.float64)) for W, b in check_params(spec, params)]
    X = check_inputs(spec, X, dtype=np.float64)  # (N, sizes[0])
    y = np.asarray(y)
    if y.dtype.kind == "f":
        y = y.astype(np.float64)
    loss_m, grads_m = manual.loss_and_grads(spec, params, X, y)
    problems = check_functions(spec)
    _, loss_r, grads_r = bucketed.forward_loss_and_grads(spec, params, X, y)
    fd_grads = _finite_differences(spec, params, X, y) if fd else None
    rows = []
    scale = network_scale(grads_r)  # the absolute floor is relative to the network's largest gradient
    for l, (gm, gr) in enumerate(zip(grads_m, grads_r)):
        for k, name in enumerate(("dW", "db")):
            err = leaf_error(f"layer {l + 1}, {name}", gm[k], gr[k], scale=scale)
            row = dict(layer=l + 1, name=name, shape=tuple(gm[k].shape), max_abs=err.max_abs,
                       max_rel=err.max_rel, ref_passed=err.passed, worst_index=err.worst_index,
                       value=err.manual_value, value_reference=err.ref_value)
            if fd_grads is not None:
                fd_value, kink = fd_grads[l][k]
                row.update(_fd_errors(gm[k], fd_value, kink, loss_m))
            rows.append(GradientRow(**row))
    loss_passed = abs(loss_m - loss_r) <= LOSS_RTOL * max(1.0, abs(loss_r))
    return GradientReport(spec, X.shape[0], float(loss_m), float(loss_r), bool(fd), tuple(rows),
                          loss_passed=bool(loss_passed), notes=tuple(problems), functions_passed=not problems)
