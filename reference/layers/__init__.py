"""The layers in JAX (float64): `out = <name>(x, *params, **hyper)`, plain functions whose
gradients come from jax.vjp; the same file names as `manual.layers`."""

from .. import _x64  # noqa: F401  (float64 before any array is made)
from .activations import ACTIVATION_LAYERS as ACTIVATION_LAYERS
from .activations import activation as activation
from .activations import elu as elu
from .activations import identity as identity
from .activations import leaky_relu as leaky_relu
from .activations import relu as relu
from .activations import sigmoid as sigmoid
from .activations import silu as silu
from .activations import softplus as softplus
from .activations import tanh as tanh
from .attention import attention as attention
from .attention import causal_mask as causal_mask
from .attention import multihead_attention as multihead_attention
from .batchnorm import batchnorm as batchnorm
from .batchnorm import batchnorm_eval as batchnorm_eval
from .conv import conv2d as conv2d
from .dense import dense as dense
from .dropout import dropout as dropout
from .embedding import embedding as embedding
from .flatten import flatten as flatten
from .gelu import gelu as gelu
from .layernorm import layernorm as layernorm
from .lstm import lstm as lstm
from .lstm import lstm_step as lstm_step
from .losses import LOSS_LAYERS as LOSS_LAYERS
from .losses import binary_cross_entropy_loss as binary_cross_entropy_loss
from .losses import cross_entropy_loss as cross_entropy_loss
from .losses import hinge_loss as hinge_loss
from .losses import mse_loss as mse_loss
from .pool import avgpool2d as avgpool2d
from .pool import maxpool2d as maxpool2d
from .rnn import rnn as rnn
from .rnn import rnn_step as rnn_step
from .temporal import temporal_affine as temporal_affine
from .temporal import temporal_softmax_loss as temporal_softmax_loss
