"""Layers in CS231n's convention, NumPy only: `out, cache = <name>_forward(x, *params, **hyper)`
and `dx, *dparams = <name>_backward(dout, cache)`; losses as `loss, dlogits = <name>_loss(logits, y)`.

Each backward is written as its derivation (the math in its docstring, the shape of every
array in a comment). The JAX twins, same file names, are in `reference.layers`.
"""

from .activations import ACTIVATION_LAYERS as ACTIVATION_LAYERS
from .activations import activation_backward as activation_backward
from .activations import activation_forward as activation_forward
from .activations import elu_backward as elu_backward
from .activations import elu_forward as elu_forward
from .activations import gelu_backward as gelu_backward
from .activations import gelu_forward as gelu_forward
from .activations import identity_backward as identity_backward
from .activations import identity_forward as identity_forward
from .activations import leaky_relu_backward as leaky_relu_backward
from .activations import leaky_relu_forward as leaky_relu_forward
from .activations import relu_backward as relu_backward
from .activations import relu_forward as relu_forward
from .activations import sigmoid_backward as sigmoid_backward
from .activations import sigmoid_forward as sigmoid_forward
from .activations import silu_backward as silu_backward
from .activations import silu_forward as silu_forward
from .activations import softplus_backward as softplus_backward
from .activations import softplus_forward as softplus_forward
from .activations import tanh_backward as tanh_backward
from .activations import tanh_forward as tanh_forward
from .batchnorm import BN_MOMENTUM as BN_MOMENTUM
from .batchnorm import batchnorm_backward as batchnorm_backward
from .batchnorm import batchnorm_backward_graph as batchnorm_backward_graph
from .batchnorm import batchnorm_backward_graph_steps as batchnorm_backward_graph_steps
from .batchnorm import batchnorm_eval_backward as batchnorm_eval_backward
from .batchnorm import batchnorm_eval_forward as batchnorm_eval_forward
from .batchnorm import batchnorm_forward as batchnorm_forward
from .batchnorm import batchnorm_running_stats as batchnorm_running_stats
from .conv import conv2d_backward as conv2d_backward
from .conv import conv2d_backward_naive as conv2d_backward_naive
from .conv import conv2d_dx_by_correlation as conv2d_dx_by_correlation
from .conv import conv2d_forward as conv2d_forward
from .conv import conv2d_forward_naive as conv2d_forward_naive
from .dense import dense_backward as dense_backward
from .dense import dense_forward as dense_forward
from .dropout import dropout_backward as dropout_backward
from .dropout import dropout_forward as dropout_forward
from .embedding import embedding_backward as embedding_backward
from .embedding import embedding_forward as embedding_forward
from .flatten import flatten_backward as flatten_backward
from .flatten import flatten_forward as flatten_forward
from .layernorm import layernorm_backward as layernorm_backward
from .layernorm import layernorm_forward as layernorm_forward
from .losses import LOSS_LAYERS as LOSS_LAYERS
from .losses import binary_cross_entropy_loss as binary_cross_entropy_loss
from .losses import cross_entropy_loss as cross_entropy_loss
from .losses import hinge_loss as hinge_loss
from .losses import mse_loss as mse_loss
from .pool import avgpool2d_backward as avgpool2d_backward
from .pool import avgpool2d_backward_naive as avgpool2d_backward_naive
from .pool import avgpool2d_forward as avgpool2d_forward
from .pool import avgpool2d_forward_naive as avgpool2d_forward_naive
from .pool import maxpool2d_backward as maxpool2d_backward
from .pool import maxpool2d_backward_naive as maxpool2d_backward_naive
from .pool import maxpool2d_forward as maxpool2d_forward
from .pool import maxpool2d_forward_naive as maxpool2d_forward_naive
