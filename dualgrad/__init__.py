"""dualgrad's tools: compare the hand-written NumPy backprop (`manual`) with jax.grad (`reference`).

    from dualgrad import check_gradients
    report = check_gradients(spec, params, X, y, fd=True)
    print(report.table()); assert report.passed

The command line is `dualgrad verify | explain | train` (see `dualgrad.cli`).
"""

__version__ = "0.1.0"

from .check import GradientReport as GradientReport
from .check import GradientRow as GradientRow
from .check import check_gradients as check_gradients
from .check import random_case as random_case
from .check import LOSS_RTOL as LOSS_RTOL
from manual.spec import NetworkSpec as NetworkSpec
from .conventions import Conventions as Conventions
from .implementation import ImplementationError as ImplementationError
from .registry import register_activation as register_activation
from .registry import register_loss as register_loss
from .registry import register_layer as register_layer
from .registry import unregister_layer as unregister_layer
from .registry import registered_layer as registered_layer
from .result import CheckResult as CheckResult
from .layer_check import check_layer as check_layer
from .user_check import check_implementation as check_implementation
