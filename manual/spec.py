"""The description of a network, shared by `manual` and `reference`.

This module is data only: names, sizes and the parameter layout. It holds no
math of the network, so the JAX reference can import it without reusing a
single line of the hand-written derivation.

Parameter layout (the one layout of the project)::

    params = [(W1, b1), (W2, b2), ...]   # one pair per layer
    W_l: (fan_in, fan_out)               # a layer computes z = a W + b
    b_l: (fan_out,)

Gradients come back in the same layout: ``grads = [(dW1, db1), ...]``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Tuple, Union

# A list, not a tuple: `register_activation_name` extends it in place, so every
# module that imported it sees user-registered activations too.
ACTIVATION_NAMES: list = [
    "identity",
    "relu",
    "leaky_relu",  # slope 0.01 for z < 0
    "elu",  # alpha = 1
    "gelu",  # tanh approximation, as jax.nn.gelu(approximate=True)
    "silu",
    "sigmoid",
    "tanh",
    "softplus",
]

# loss name -> the output head it fixes
LOSS_HEADS = {
    "binary_cross_entropy": "sigmoid",  # one output unit, labels 0/1
    "cross_entropy": "softmax",  # K >= 2 outputs, integer or one-hot labels
    "mse": "identity",  # any number of outputs, real targets
}
# loss name -> what its labels are: "binary" (0/1, one output), "classes" (class indices or
# one-hot rows, K >= 2 outputs) or "real" (real targets (N, K)); see validation.encode_targets
LOSS_TARGETS = {"binary_cross_entropy": "binary", "cross_entropy": "classes", "mse": "real"}
TARGET_KINDS = ("binary", "classes", "real")
# A list, like ACTIVATION_NAMES: `register_loss_name` extends it in place.
LOSS_NAMES: list = list(LOSS_HEADS)
BUILT_IN_LOSSES: Tuple[str, ...] = tuple(LOSS_NAMES)

Params = list  # [(W, b), ...] as described above


def register_activation_name(name: str) -> None:
    """Make `name` a valid hidden activation in specs (see `manual.register_activation`)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"activation name must be an identifier string, got {name!r}")
    if name not in ACTIVATION_NAMES:
        ACTIVATION_NAMES.append(name)


def register_loss_name(name: str, head: str, targets: str) -> None:
    """Make `name` a valid loss in specs, with its head's name (for reports) and label kind
    (see `manual.register_loss`)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"loss name must be an identifier string, got {name!r}")
    if name in BUILT_IN_LOSSES:
        raise ValueError(f"{name!r} is a built-in loss; register yours under another name")
    if not isinstance(head, str) or not head:
        raise TypeError(f"head must be the name of the output activation (e.g. 'sigmoid'), got {head!r}")
    if targets not in TARGET_KINDS:
        raise ValueError(f"targets must be one of {', '.join(map(repr, TARGET_KINDS))}, got {targets!r}")
    LOSS_HEADS[name] = head
    LOSS_TARGETS[name] = targets
    if name not in LOSS_NAMES:
        LOSS_NAMES.append(name)


def unregister_loss_name(name: str) -> None:
    if name in BUILT_IN_LOSSES:
        raise ValueError(f"{name!r} is a built-in loss and cannot be unregistered")
    LOSS_HEADS.pop(name, None)
    LOSS_TARGETS.pop(name, None)
    if name in LOSS_NAMES:
        LOSS_NAMES.remove(name)


@dataclass(frozen=True)
class NetworkSpec:
    """What a network is: layer sizes, hidden activations, loss and L2 strength.

    sizes   -- (n_inputs, hidden..., n_outputs), at least two positive ints.
    hidden  -- one activation name for every hidden layer, or one name per
               hidden layer (len(sizes) - 2 names); stored as a tuple of names.
    loss    -- 'binary_cross_entropy' | 'cross_entropy' | 'mse' (or a registered loss); fixes the head.
    l2      -- adds (l2 / 2) Σ_l ‖W_l‖² to the loss (weights only, not biases).

    Construction validates and normalises the arguments; a spec is immutable
    and hashable, so it can key caches.
    """

    sizes: Tuple[int, ...]
    hidden: Union[str, Tuple[str, ...]] = "relu"
    loss: str = "cross_entropy"
    l2: float = 0.0

    def __post_init__(self):
        sizes = _check_sizes(self.sizes)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "hidden", _check_hidden(self.hidden, n_hidden=len(sizes) - 2))
        object.__setattr__(self, "loss", _check_loss(self.loss, n_outputs=sizes[-1]))
        object.__setattr__(self, "l2", _check_l2(self.l2))

    @property
    def n_layers(self) -> int:
        """Number of weight layers (len(sizes) - 1)."""
        return len(self.sizes) - 1

    @property
    def head(self) -> str:
        """The output activation fixed by the loss: 'sigmoid', 'softmax' or 'identity'."""
        return LOSS_HEADS[self.loss]

    def layer_shapes(self):
        """[((fan_in, fan_out), (fan_out,)), ...]: the shapes of each (W, b)."""
        return [((i, o), (o,)) for i, o in zip(self.sizes[:-1], self.sizes[1:])]

    def n_params(self) -> int:
        """Total number of trainable numbers: Σ (fan_in·fan_out + fan_out)."""
        return sum(i * o + o for i, o in zip(self.sizes[:-1], self.sizes[1:]))

    def to_dict(self) -> dict:
        """A JSON-friendly description (lists and plain types only)."""
        return {"sizes": list(self.sizes), "hidden": list(self.hidden), "loss": self.loss, "l2": self.l2}

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkSpec":
        """Inverse of `to_dict`; validates like the constructor."""
        if not isinstance(d, dict) or set(d) != {"sizes", "hidden", "loss", "l2"}:
            raise ValueError(f"a spec dict needs exactly the keys sizes, hidden, loss, l2; got {d!r}")
        return cls(d["sizes"], d["hidden"], d["loss"], d["l2"])

    def __repr__(self) -> str:
        return f"NetworkSpec(sizes={list(self.sizes)}, hidden={list(self.hidden)}, loss={self.loss!r}, l2={self.l2})"


def _check_sizes(sizes) -> Tuple[int, ...]:
    # sets and dicts iterate in no meaningful order: a layer order must be given
    if isinstance(sizes, (str, bytes, set, frozenset, dict)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"sizes must be a sequence of ints such as [10, 64, 3], got {sizes!r}")
    sizes = tuple(sizes)
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"sizes must be ints, got {s!r} of type {type(s).__name__} in {list(sizes)}")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least two entries (inputs, outputs), got {list(sizes)}")
    if any(s < 1 for s in sizes):
        raise ValueError(f"every size must be a positive int, got {list(sizes)}")
    return tuple(int(s) for s in sizes)


def _check_hidden(hidden, n_hidden: int) -> Tuple[str, ...]:
    if isinstance(hidden, str):
        hidden = (hidden,) * n_hidden
    elif isinstance(hidden, (list, tuple)):
        hidden = tuple(hidden)
        if len(hidden) != n_hidden:
            raise ValueError(
                f"hidden lists {len(hidden)} activations but the network has {n_hidden} hidden "
                f"layer(s): give one name for all, or exactly {n_hidden} names"
            )
    else:
        raise TypeError(f"hidden must be an activation name or a list of names, got {hidden!r}")
    for name in hidden:
        if not isinstance(name, str) or name not in ACTIVATION_NAMES:
            raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(ACTIVATION_NAMES)}")
    return hidden


def _check_loss(loss, n_outputs: int) -> str:
    if not isinstance(loss, str) or loss not in LOSS_HEADS:  # (a list would not even hash)
        raise ValueError(f"unknown loss {loss!r}; valid names: {', '.join(LOSS_NAMES)}")
    kind = LOSS_TARGETS[loss]
    if kind == "binary" and n_outputs != 1:
        raise ValueError(
            f"{loss} needs exactly 1 output unit (a {LOSS_HEADS[loss]} head), got sizes[-1] = {n_outputs}"
        )
    if kind == "classes" and n_outputs < 2:
        raise ValueError(
            f"{loss} needs at least 2 output units (a {LOSS_HEADS[loss]} head), got sizes[-1] = {n_outputs}; "
            "use binary_cross_entropy for one output"
        )
    return loss


def _check_l2(l2) -> float:
    if isinstance(l2, bool) or not isinstance(l2, numbers.Real):
        raise TypeError(f"l2 must be a non-negative float, got {l2!r}")
    l2 = float(l2)
    if not (l2 >= 0.0 and l2 < float("inf")):
        raise ValueError(f"l2 must be a finite non-negative float, got {l2}")
    return l2
