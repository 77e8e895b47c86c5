"""dualgrad's reference side: the same networks in JAX (float64), gradients from jax.grad.

It shares only the description of a network (`manual.spec`, and the input
checks in `manual.validation` with the argument checks they use,
`manual.arguments`) with the hand-written side, never its math.
"""

from . import _x64  # noqa: F401  (float64 before anything else)
from .activations import register_activation as register_activation
from .losses import register_loss as register_loss
from .network import forward as forward
from .network import loss as loss
from .network import loss_and_grads as loss_and_grads
from .second_order import gauss_newton_vector_product as gauss_newton_vector_product
from .second_order import hessian_vector_product as hessian_vector_product
from .second_order import per_example_gradients as per_example_gradients


def __getattr__(name):
    """`reference.check_gradients`, imported on first use: `dualgrad.check` compares with
    `manual`, and importing it eagerly would load manual's math with the reference."""
    if name == "check_gradients":
        from dualgrad.check import check_gradients

        return check_gradients
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
