"""One training step: forward, backward and an in-place optimizer update on one batch.

This is the step `MLP.fit` takes for every mini-batch, and the one
benchmarks/train_step.py times.

    step = TrainStep(spec, optimizer)            # optimizer from manual.optimizers
    loss, state = step(params, state, X, Y)      # params updated in place

X (N, sizes[0]) and Y (N, sizes[-1]) must already be checked and encoded
(`validation.check_inputs`, `validation.encode_targets`) in the dtype of params.
The returned loss is the loss *before* the update (L2 penalty included).

If the loss or a gradient is not finite, `NonFiniteError` is raised before
anything is written: params and state stay as they were.

The math is manual/network.py's, line for line (see its docstring):

    forward   z_l = a_{l-1} W_l + b_l,   a_l = f_l(z_l),   s = z_L
    loss      L = head_loss(s, Y) + (λ/2) Σ_l ‖W_l‖²,   ds = ∂L/∂s
    backward  dW_l = a_{l-1}ᵀ dz_l + λ W_l,   db_l = Σₙ dz_l,
              da_{l-1} = dz_l W_lᵀ,   dz_{l-1} = da_{l-1} ⊙ f'_{l-1}(z_{l-1})

written so that the matrix products are nearly all the work: every array is
made once per batch shape (N, dtype) and then written in place (`out=`),
activations and losses use their in-place forms (manual/inplace_activations.py,
manual/inplace_losses.py), the optimizer its in-place update with its own
reused scratch. A new batch size (the smaller last batch of an epoch) gets its
own buffers; the few most recent sizes are kept.

The cache of layer l holds a_l (the next layer's input, and enough for f' of
relu, tanh, σ, ...) and z_l only for activations whose derivative needs z
(gelu, silu, softplus, user-registered ones). The step equals the plain path
`network.loss_and_grads` + `optimizer.update` (tests/test_train_step.py).

NOTE: a TrainStep keeps buffers, so one object must not run two steps at the
same time (threads); the arrays it returns are its own only through params and
state, which the caller owns.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import List, NamedTuple, Optional

import numpy as np

from . import inplace_activations, inplace_losses
from .spec import NetworkSpec
from .network import weighted_value_and_dlogits
from .validation import FLOAT_DTYPES, all_finite


class NonFiniteError(FloatingPointError):
    """Training met NaN or ±inf. Raised by a TrainStep before it writes anything; raised by
    MLP.fit / partial_fit with the parameters rolled back to the last finite ones (updates of
    earlier batches are kept).

    `reason` says which, without the consequence ("the loss became NaN or infinite (loss = inf)"),
    for callers that word the consequence themselves (MLP.fit).
    """

    def __init__(self, message: str, reason: Optional[str] = None):
        super().__init__(message)
        self.reason = reason or message


class Buffers(NamedTuple):
    """Every array one step writes for a batch of N rows (L layers, widths n_l = sizes[l])."""

    z: List[Optional[np.ndarray]]  # [(N, n_l)] pre-activations; None where the cache keeps a only
    a: List[np.ndarray]  # [(N, n_l)] activations for l < L (a_l is z_l itself when z is not kept); a[L-1]: the logits s
    dz: List[np.ndarray]  # [(N, n_l)] ∂L/∂z_l; dz[L-1] = ds
    work: List[inplace_activations.Work]  # [Work of (N, n_l) arrays] per layer, views of shared arrays
    row: np.ndarray  # (N, 1) scratch for the loss
    ones: np.ndarray  # (N,) all 1, never written: db = 1ᵀ dz


class TrainStep:
    """loss, state = step(params, state, X, Y): one forward, backward and optimizer update.

    spec       -- the NetworkSpec of params.
    optimizer  -- from manual.optimizers (its `update_inplace` is used).
    max_shapes -- how many batch shapes (N, dtype) keep their buffers (default 4).
    """

    def __init__(self, spec: NetworkSpec, optimizer, max_shapes: int = 4):
        if not isinstance(spec, NetworkSpec):
            raise TypeError(f"spec must be a NetworkSpec, got {type(spec).__name__}")
        if not callable(getattr(optimizer, "update_inplace", None)):
            raise TypeError(f"optimizer must come from manual.optimizers (with update_inplace), got {type(optimizer).__name__}")
        if isinstance(max_shapes, bool) or not isinstance(max_shapes, int) or max_shapes < 1:
            raise ValueError(f"max_shapes must be an int >= 1, got {max_shapes!r}")
        self.spec = spec
        self.optimizer = optimizer
        self.max_shapes = max_shapes
        self._shapes = spec.layer_shapes()  # [((fan_in, fan_out), (fan_out,)), ...]
        self._buffers = OrderedDict()  # (N, dtype, layout of the hidden layers) -> Buffers, most recent last
        self._grads = {}  # dtype -> [(dW (fan_in, fan_out), db (fan_out,)), ...]
        self._l2_work = {}  # dtype -> [(fan_in, fan_out)] scratch for λ W

    def __call__(self, params, state, X, Y, sample_weight=None):
        """sample_weight -- optionally w (N,) ≥ 0 in the dtype of params, checked by the caller:
        the step then descends Σ wₙ ℓₙ / Σ w + (λ/2) Σ‖W‖² (network.loss_and_grads' convention).
        Without it the step is exactly the unweighted one."""
        spec, L = self.spec, self.spec.n_layers
        dtype = self._check(params, X, Y)
        acts = [inplace_activations.fused(name) for name in spec.hidden]  # built-in in-place forms, or generic
        head = inplace_losses.fused(spec.loss)
        layout = tuple((act.keeps_z, act.scratch) for act in acts)  # what each layer's cache and scratch hold
        buf = self._buffers_for(X.shape[0], dtype, layout)
        grads = self._grads_for(dtype)

        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            # forward: z_l = a_{l-1} W_l + b_l,  a_l = f_l(z_l)
            a_in = X  # (N, sizes[0])
            for l, (W, b) in enumerate(params):
                z = buf.a[l] if buf.z[l] is None else buf.z[l]  # (N, n_l)
                np.matmul(a_in, W, out=z)  # (N, fan_in) @ (fan_in, fan_out)
                z += b
                if l < L - 1:
                    acts[l].forward(z, buf.a[l], buf.work[l])  # a_l ← f(z_l), in place when z is not kept
                a_in = buf.a[l]

            # loss and ds = ∂L/∂s (the logits buffer is overwritten)
            logits = None if sample_weight is None else buf.a[L - 1].copy()  # (N, K), the head overwrites it
            value = head(buf.a[L - 1], Y, buf.dz[L - 1], buf.row)  # dz[L-1]: (N, sizes[-1])
            if sample_weight is not None:  # Σ wₙ ℓₙ / Σ w, and ds rows scaled by N wₙ / Σ w
                value, ds_w = weighted_value_and_dlogits(spec, logits, Y, buf.dz[L - 1], sample_weight)
                np.copyto(buf.dz[L - 1], ds_w)
            if spec.l2:
                value += 0.5 * spec.l2 * sum(float(np.vdot(W, W)) for W, _ in params)  # (λ/2) Σ ‖W‖²

            # backward, layer L down to 1
            for l in reversed(range(L)):
                W, _ = params[l]
                dW, db = grads[l]
                dz = buf.dz[l]  # (N, fan_out)
                a_prev = X if l == 0 else buf.a[l - 1]  # (N, fan_in)
                np.matmul(a_prev.T, dz, out=dW)  # dW = aᵀ dz: (fan_in, N) @ (N, fan_out)
                if spec.l2:
                    l2_W = self._l2_work[dtype][l]  # (fan_in, fan_out)
                    np.multiply(W, spec.l2, out=l2_W)
                    dW += l2_W  # + λ W
                np.matmul(buf.ones, dz, out=db)  # db = Σₙ dz = 1ᵀ dz: (N,) @ (N, fan_out), in BLAS
                if l > 0:
                    da = buf.dz[l - 1]  # (N, fan_in), becomes dz_{l-1} in place
                    np.matmul(dz, W.T, out=da)  # da = dz Wᵀ: (N, fan_out) @ (fan_out, fan_in)
                    acts[l - 1].backward(da, buf.z[l - 1], buf.a[l - 1], buf.work[l - 1])  # dz = da ⊙ f'(z)

        if not np.isfinite(value):
            reason = f"the loss became NaN or infinite (loss = {value})"
            raise NonFiniteError(f"{reason}; parameters left unchanged", reason)
        try:  # the optimizer checks every argument, the gradients' finiteness included, before it writes
            state = self.optimizer.update_inplace(grads, state, params)
        except ValueError as err:
            if all_finite(*(x for layer in grads for x in layer)):
                raise
            reason = f"a gradient became NaN or infinite (loss = {value})"
            raise NonFiniteError(f"{reason}; parameters left unchanged", reason) from err
        return float(value), state

    def nbytes(self) -> int:
        """Bytes held by this step's own arrays (every batch shape's buffers and the gradients)."""
        arrays = [self._l2_work.values(), self._grads.values()]
        for buf in self._buffers.values():
            arrays += [buf.z, buf.a, buf.dz, [buf.row, buf.ones], [x for work in buf.work for x in work]]
        flat = {}
        for group in arrays:
            for item in group:
                for x in (item if isinstance(item, (list, tuple)) else [item]):
                    for leaf in (x if isinstance(x, tuple) else (x,)):
                        if leaf is not None:
                            base = leaf if leaf.base is None else leaf.base  # views of a shared array count once
                            flat[id(base)] = base.nbytes
        return sum(flat.values())

    # ------------------------------------------------------------ checks and buffers

    def _check(self, params, X, Y):
        """The dtype of params, after cheap shape and dtype checks of X and Y (nothing is written before)."""
        sizes = self.spec.sizes
        if not isinstance(params, (list, tuple)) or len(params) != self.spec.n_layers:
            raise ValueError(f"params must be a list of {self.spec.n_layers} (W, b) pairs for sizes {list(sizes)}")
        for l, (layer, shapes) in enumerate(zip(params, self._shapes), start=1):
            if not isinstance(layer, (list, tuple)) or len(layer) != 2:
                raise TypeError(f"layer {l} of params must be a (W, b) pair, got {type(layer).__name__}")
            for name, arr, shape in zip("Wb", layer, shapes):
                if not isinstance(arr, np.ndarray):
                    raise TypeError(f"layer {l}, {name} must be a NumPy array of shape {shape}, got {type(arr).__name__}")
                if arr.shape != shape:
                    raise ValueError(f"layer {l}, {name} must be an array of shape {shape}, got {arr.shape}")
        dtype = params[0][0].dtype
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"params must be float32 or float64, got {dtype}")
        if any(arr.dtype != dtype for layer in params for arr in layer):
            raise TypeError(f"params mix dtypes; expected every W and b in {dtype}, as layer 1's W")
        for name, arr, width in (("X", X, sizes[0]), ("Y", Y, sizes[-1])):
            if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[1] != width:
                got = arr.shape if isinstance(arr, np.ndarray) else type(arr).__name__
                raise ValueError(f"{name} must be an array of shape (N, {width}), got {got}")
            if arr.dtype != dtype:
                raise TypeError(f"{name} must have the dtype of params ({dtype}), got {arr.dtype}")
        if X.shape[0] != Y.shape[0] or X.shape[0] == 0:
            raise ValueError(f"X and Y must have the same number of rows N >= 1, got {X.shape[0]} and {Y.shape[0]}")
        return dtype

    def _buffers_for(self, N, dtype, layout) -> Buffers:
        key = (N, dtype, layout)
        buf = self._buffers.get(key)
        if buf is not None:
            self._buffers.move_to_end(key)
            return buf
        if len(self._buffers) >= self.max_shapes:
            self._buffers.popitem(last=False)  # forget the least recently used shape
        widths = self.spec.sizes[1:]
        keeps_z = [keep for keep, _ in layout] + [False]  # the logits' layer keeps s only
        z = [np.empty((N, n), dtype) if keep else None for n, keep in zip(widths, keeps_z)]
        a = [np.empty((N, n), dtype) for n in widths]
        dz = [np.empty((N, n), dtype) for n in widths]
        used = {name for _, scratch in layout for name in scratch}  # only the scratch some layer uses
        size = N * max(widths)
        make = {"t": np.empty, "u": np.empty, "zeros": np.zeros}
        shared = {name: make.get(name, np.empty)(size, bool if name == "mask" else dtype) if name in used else None
                  for name in inplace_activations.Work._fields}
        work = [inplace_activations.Work(**{name: None if x is None else x[: N * n].reshape(N, n)
                                            for name, x in shared.items()}) for n in widths]
        buf = self._buffers[key] = Buffers(z, a, dz, work, np.empty((N, 1), dtype), np.ones(N, dtype))
        return buf

    def _grads_for(self, dtype):
        grads = self._grads.get(dtype)
        if grads is None:
            shapes = self.spec.layer_shapes()
            grads = self._grads[dtype] = [(np.empty(w, dtype), np.empty(b, dtype)) for w, b in shapes]
            if self.spec.l2:
                self._l2_work[dtype] = [np.empty(w, dtype) for w, _ in shapes]
        return grads
