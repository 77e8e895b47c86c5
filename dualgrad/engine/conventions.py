"""The conventions a user's backprop may follow, and how they map onto ours.

A correct implementation can differ from `manual` in bookkeeping only: how W and b
are stored, whether the loss is a mean or a sum over the batch, which MSE it
means, how labels arrive, which one-sided derivative it takes at a kink. Each is an
option, stated in every report, so that correct code never fails on a convention:

    layout     "in_out"  W (fan_in, fan_out), z = a W + b      (ours, jax stax, the article)
               "out_in"  W (fan_out, fan_in), z = a Wᵀ + b     (PyTorch's nn.Linear)
    bias       "vector"  b (fan_out,)                          (ours, PyTorch)
               "row"     b (1, fan_out)                        (the article, CS231n-style keepdims)
               "column"  b (fan_out, 1)                        (column-major notes: z = W a + b)
    reduction  "mean"    L = (1/N) Σₙ ℓₙ                        (ours, PyTorch's default)
               "sum"     L = Σₙ ℓₙ                              (PyTorch reduction="sum")
    mse        the per-example ℓₙ of the squared error, r = ŷₙ − yₙ (K outputs):
               "mean"       (1/K) Σₖ rₖ²   (ours; PyTorch MSELoss, Keras mean_squared_error)
               "half_mean"  (1/2K) Σₖ rₖ²  (scikit-learn's MLP squared_loss: mean / 2)
               "half"       ½ Σₖ rₖ²       (Nielsen, Bishop, d2l: the ½ cancels the 2 of the derivative)
               "sum"        Σₖ rₖ²         (PyTorch MSELoss(reduction="sum") with reduction="sum")
    head       the output activation; None means the loss's own (sigmoid for binary cross-entropy,
               softmax for cross-entropy, identity for mse). "sigmoid" with loss "mse" is the
               sigmoid-MSE network of many first courses (loss "sigmoid_mse").
    kink       "jax"     relu'(0) = 0, leaky_relu'(0) = 1: jax.nn's choices (ours)
               "either"  at a unit whose pre-activation is exactly 0, either one-sided
                         derivative is accepted (relu'(0) = 1 from `z >= 0` too). A wrong
                         derivative anywhere else still fails.
    l2_form    "half"    the L2 penalty is (λ/2) Σ‖W‖², so dW gains λW      (ours, CS231n's 0.5·reg)
               "full"    the penalty is λ Σ‖W‖², so dW gains 2λW              (weight decay written as λ‖W‖²)
    targets    "labels"  y as `manual` takes it: class indices (N,) for cross-entropy,
                         0/1 (N,) for binary cross-entropy, (N, K) reals for mse
               "matrix"  y as the target matrix Y (N, K): one-hot rows, (N, 1) 0/1 columns

Each mse form and each reduction multiplies our data loss (and its gradients) by a
constant c: mean → 1, half_mean → ½, half → K/2, sum → K; times N for reduction
"sum". The L2 penalty ((λ/2) Σ‖W‖², or λ Σ‖W‖² with l2_form "full") is added once, after the scaling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

LAYOUTS = ("in_out", "out_in")
BIASES = ("vector", "row", "column")
REDUCTIONS = ("mean", "sum")
MSE_FORMS = ("mean", "half_mean", "half", "sum")
HEADS = ("sigmoid", "softmax", "identity")
KINKS = ("jax", "either")
TARGETS = ("labels", "matrix")
L2_FORMS = ("half", "full")

_CHOICES = {"layout": LAYOUTS, "bias": BIASES, "reduction": REDUCTIONS, "mse": MSE_FORMS,
            "kink": KINKS, "targets": TARGETS, "l2_form": L2_FORMS}


@dataclass(frozen=True)
class Conventions:
    """How a user's implementation stores parameters and defines its loss (module docstring)."""

    layout: str = "in_out"
    bias: str = "vector"
    reduction: str = "mean"
    mse: str = "mean"
    head: Optional[str] = None
    kink: str = "jax"
    targets: str = "labels"
    l2_form: str = "half"

    def __post_init__(self):
        for field, choices in _CHOICES.items():
            value = getattr(self, field)
            if not isinstance(value, str) or value not in choices:
                raise ValueError(f"{field} must be one of {', '.join(map(repr, choices))}, got {value!r}")
        if self.head is not None and (not isinstance(self.head, str) or self.head not in HEADS):
            raise ValueError(f"head must be None (the loss's own) or one of "
                             f"{', '.join(map(repr, HEADS))}, got {self.head!r}")

    @classmethod
    def from_kwargs(cls, where: str, **kwargs) -> "Conventions":
        """Conventions from keyword arguments; an unknown keyword is a TypeError naming the valid ones."""
        unknown = sorted(set(kwargs) - set(cls.__dataclass_fields__))
        if unknown:
            raise TypeError(f"{where} got unknown convention(s) {', '.join(unknown)}; valid: "
                            f"{', '.join(cls.__dataclass_fields__)}")
        return cls(**kwargs)

    def is_default(self) -> bool:
        return self == Conventions()

    def describe(self, loss: Optional[str] = None) -> str:
        """'layout in_out, bias row, reduction mean, ...': the conventions that apply to `loss`
        (mse only for a squared error; every one when the loss is drawn, loss=None)."""
        parts = [f"layout {self.layout}", f"bias {self.bias}", f"reduction {self.reduction}"]
        if loss is None or loss in ("mse", "sigmoid_mse"):
            parts.append(f"mse {self.mse}")
        if self.head is not None:
            parts.append(f"head {self.head}")
        parts += [f"kink {self.kink}", f"targets {self.targets}"]
        if self.l2_form != "half":
            parts.append(f"l2_form {self.l2_form}")
        return ", ".join(parts)

    def l2_factor(self) -> float:
        """p of the penalty p·λ Σ‖W‖²: ½ (l2_form 'half') or 1 ('full'); dW gains 2p·λW."""
        return 0.5 if self.l2_form == "half" else 1.0

    def factor_words(self, loss: str, n: int, k: int, ratio: float) -> str:
        """Which other reduction and mse form would make a loss (or gradient) `ratio` times ours
        match: "reduction='sum'", "mse='half'", ... or "" when none does."""
        import math

        here = self.loss_factor(loss, n, k)
        found = []
        for reduction in REDUCTIONS:
            for mse in (MSE_FORMS if loss in ("mse", "sigmoid_mse") else (self.mse,)):
                other = Conventions(self.layout, self.bias, reduction, mse, self.head, self.kink, self.targets,
                                    self.l2_form)
                if other == self:
                    continue
                if math.isclose(ratio, other.loss_factor(loss, n, k) / here, rel_tol=1e-6):
                    changed = [f"{f}={getattr(other, f)!r}" for f in ("reduction", "mse")
                               if getattr(other, f) != getattr(self, f)]
                    found.append(", ".join(changed))
        return " or ".join(found)

    def to_dict(self) -> dict:
        return {field: getattr(self, field) for field in self.__dataclass_fields__}

    # ---- what the loss is -------------------------------------------------------

    def loss_name(self, loss: str) -> str:
        """The loss our side computes for `loss` under this head ('sigmoid_mse' for sigmoid + mse)."""
        from manual import spec as _spec

        own = _spec.LOSS_HEADS.get(loss)
        if self.head is None or self.head == own:
            return loss
        if loss == "mse" and self.head == "sigmoid":
            from .losses_extra import ensure_sigmoid_mse

            return ensure_sigmoid_mse()
        raise ValueError(f"head {self.head!r} with loss {loss!r} is not supported: cross-entropy fixes a "
                         "softmax head, binary cross-entropy a sigmoid head; mse takes 'identity' or 'sigmoid'")

    def loss_factor(self, loss: str, n: int, k: int) -> float:
        """c such that the user's data loss is c times ours (module docstring)."""
        factor = float(n) if self.reduction == "sum" else 1.0
        if loss in ("mse", "sigmoid_mse"):
            factor *= {"mean": 1.0, "half_mean": 0.5, "half": k / 2.0, "sum": float(k)}[self.mse]
        return factor

    # ---- parameters and gradients in the user's layout ----------------------------

    def user_param(self, arr: np.ndarray, is_weight: bool) -> np.ndarray:
        """One W (fan_in, fan_out) or b (fan_out,) of ours, in the user's layout (a new array)."""
        if is_weight:
            return np.array(arr.T if self.layout == "out_in" else arr)
        return {"vector": np.array(arr), "row": arr.reshape(1, -1).copy(), "column": arr.reshape(-1, 1).copy()}[self.bias]

    def user_shape(self, shape, is_weight: bool):
        if is_weight:
            return tuple(shape[::-1]) if self.layout == "out_in" else tuple(shape)
        return {"vector": (shape[0],), "row": (1, shape[0]), "column": (shape[0], 1)}[self.bias]

    def ours(self, arr: np.ndarray, is_weight: bool) -> np.ndarray:
        """A W or b (or its gradient) from the user's layout back into ours."""
        if is_weight:
            return arr.T if self.layout == "out_in" else arr
        return arr.reshape(-1)

    def user_params(self, params) -> list:
        return [(self.user_param(W, True), self.user_param(b, False)) for W, b in params]

    def our_params(self, spec, params) -> list:
        """Params given in the user's layout, checked against the spec's shapes and returned in ours."""
        if not isinstance(params, (list, tuple)):
            raise TypeError(f"params must be a list of (W, b) pairs, got {type(params).__name__}")
        if len(params) != spec.n_layers:
            raise ValueError(f"params has {len(params)} layer(s) but the spec {list(spec.sizes)} has {spec.n_layers}")
        out = []
        for l, (layer, (w_shape, b_shape)) in enumerate(zip(params, spec.layer_shapes()), start=1):
            if not isinstance(layer, (list, tuple)) or len(layer) != 2:
                raise TypeError(f"layer {l} of params must be a (W, b) pair, got {type(layer).__name__}")
            pair = []
            for name, arr, shape, is_w in (("W", layer[0], w_shape, True), ("b", layer[1], b_shape, False)):
                want = self.user_shape(shape, is_w)
                if not isinstance(arr, np.ndarray):
                    raise TypeError(f"layer {l}, {name} must be a NumPy array, got {type(arr).__name__}")
                if arr.shape != want:
                    hint = ""
                    if is_w and arr.shape == want[::-1]:
                        hint = f"; it looks transposed: pass layout={'out_in' if self.layout == 'in_out' else 'in_out'!r}"
                    elif not is_w:
                        for bias in BIASES:
                            if arr.shape == Conventions(bias=bias).user_shape(b_shape, False):
                                hint = f"; pass bias={bias!r} for b stored that way"
                    raise ValueError(f"layer {l}, {name} must have shape {want} ({self._layout_words(is_w)}), "
                                     f"got {arr.shape}{hint}")
                pair.append(self.ours(arr, is_w))
            out.append(tuple(pair))
        return out

    def _layout_words(self, is_weight: bool) -> str:
        if is_weight:
            return "layout in_out: (fan_in, fan_out)" if self.layout == "in_out" else "layout out_in: (fan_out, fan_in)"
        return {"vector": "bias vector: (fan_out,)", "row": "bias row: (1, fan_out)",
                "column": "bias column: (fan_out, 1)"}[self.bias]

    def user_targets(self, spec, y, n: int):
        """y in the form the user's function takes (`targets`)."""
        if self.targets == "labels":
            return np.array(y)
        from manual.validation import encode_targets

        return encode_targets(spec, y, n)
