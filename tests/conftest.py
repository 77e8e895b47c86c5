"""Hypothesis profiles, chosen with HYPOTHESIS_PROFILE (default: dev).

dev       quick local runs
ci        derandomized (the same examples on every run and every worker), 2,000
          examples of the network-gradient property
thorough  50,000 examples of the network-gradient property
mutation  derandomized, 100 examples: tools/mutation.sh (a mutant is killed or not the same way every run)

Hypothesis loads a built-in profile named "ci" by itself when CI is set;
registering ours under that name replaces it. JAX compiles on first use, which
trips hypothesis's default 200 ms deadline, so deadlines are off.
Tests that call slow code pin their own max_examples; the profile's count is for
the cheap properties, above all the network-gradient property.
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("dev", max_examples=200, **_common)
settings.register_profile("ci", max_examples=2000, derandomize=True, database=None, **_common)
settings.register_profile("thorough", max_examples=50_000, **_common)
settings.register_profile("mutation", max_examples=100, derandomize=True, database=None, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


import pytest


@pytest.fixture(autouse=True)
def _registered_losses_do_not_leak():
    """A loss registered during a test (also dualgrad's own sigmoid_mse, registered on first use of
    head="sigmoid") is removed afterwards, so that sweeps and strategies in later tests of the same
    worker draw the built-in losses only, as a fresh process would."""
    from manual import losses as manual_losses

    before = set(manual_losses.LOSSES)
    yield
    from dualgrad.engine.registry import unregister_loss

    for name in set(manual_losses.LOSSES) - before:
        unregister_loss(name)
