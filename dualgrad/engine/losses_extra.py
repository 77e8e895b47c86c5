"""Losses dualgrad registers on demand: a head chosen apart from the loss.

sigmoid_mse -- a sigmoid head with the squared error (`head="sigmoid"` with loss "mse" in
               `check_implementation`, `check_gradients` and `verify --impl --head sigmoid`).
               NumPy side `manual.losses.sigmoid_mse`, JAX side `reference.losses.sigmoid_mse`.
"""

from __future__ import annotations

SIGMOID_MSE = "sigmoid_mse"


def ensure_sigmoid_mse() -> str:
    """Register "sigmoid_mse" on both sides unless it already is; returns its name."""
    import jax

    from manual import activations as manual_activations
    from manual import losses as manual_losses
    from reference import losses as reference_losses

    from .registry import register_loss

    if SIGMOID_MSE not in manual_losses.LOSSES:
        register_loss(SIGMOID_MSE, manual_losses.sigmoid_mse, reference_losses.sigmoid_mse, targets="real",
                      output=manual_activations.sigmoid, jax_output=jax.nn.sigmoid, head="sigmoid")
    return SIGMOID_MSE
