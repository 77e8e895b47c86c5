"""dualgrad's tools: compare the hand-written NumPy backprop (`manual`) with jax.grad (`reference`).

    from dualgrad import check_gradients
    report = check_gradients(spec, params, X, y, fd=True)
    print(report.table()); assert report.passed

The command line is `dualgrad verify | explain | train | predict` (see `dualgrad.cli`).

The package by role, arrows pointing down only (python tools/import_cycles.py dualgrad finds no circle):

    cli/       the command line                      apps/      train, predict, CSV
    sklearn    the scikit-learn estimators           explain/   derivations as text and picture
    bugs/      the catalog of classic mistakes       engine/    cases, comparison, properties, checks

Old module paths (`dualgrad.check`, `dualgrad.strategies`, ...) still import: see `dualgrad._moved`.
"""

__version__ = "0.1.0"

from . import _moved

_moved.install(__name__)

from .engine.check import GradientReport as GradientReport
from .engine.check import GradientRow as GradientRow
from .engine.check import check_gradients as check_gradients
from .engine.check import random_case as random_case
from .engine.check import LOSS_RTOL as LOSS_RTOL
from manual.spec import NetworkSpec as NetworkSpec
from .engine.conventions import Conventions as Conventions
from .engine.implementation import ImplementationError as ImplementationError
from .engine.registry import register_activation as register_activation
from .engine.registry import register_loss as register_loss
from .engine.registry import register_layer as register_layer
from .engine.registry import unregister_layer as unregister_layer
from .engine.registry import registered_layer as registered_layer
from .engine.result import CheckResult as CheckResult
from .engine.layer_check import check_layer as check_layer
from .engine.user_check import check_implementation as check_implementation
