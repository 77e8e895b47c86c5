"""dualgrad's hand-written side: a NumPy MLP with backprop written out by hand.

NumPy only: this package never imports jax or `reference`.
"""

from .activations import ACTIVATIONS as ACTIVATIONS
from .activations import Activation as Activation
from .activations import register_activation as register_activation
from .initializers import init_params as init_params
from .losses import LOSSES as LOSSES
from .losses import register_loss as register_loss
from .network import backward as backward
from .network import forward as forward
from .network import forward_with_cache as forward_with_cache
from .network import loss as loss
from .network import loss_and_grads as loss_and_grads
from .second_order import gauss_newton_vector_product as gauss_newton_vector_product
from .second_order import hessian_vector_product as hessian_vector_product
from .second_order import per_example_gradients as per_example_gradients
from .spec import ACTIVATION_NAMES as ACTIVATION_NAMES
from .spec import LOSS_NAMES as LOSS_NAMES
from .spec import NetworkSpec as NetworkSpec
from .seed import Activations as Activations
from .seed import MultiClassNN as MultiClassNN
from .seed import NeuralNetwork as NeuralNetwork
from .seed import count_parameters as count_parameters
from .train_step import NonFiniteError as NonFiniteError
from .train_step import TrainStep as TrainStep
from . import datasets as datasets
from . import optimizers as optimizers
from .mlp import MLP as MLP
