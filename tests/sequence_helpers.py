"""The hypothesis runner shared by tests/test_sequence_layers.py and tests/test_attention.py.

`run_property(layer, dtype, examples)` draws `examples` cases of the layer
(dualgrad.engine.sequence_properties.cases) and runs the multi-input, multi-output property
`matches` on each (manual vs jax.vjp of the twin, every output and gradient, purity); it
returns the number of cases run. The counts: EXAMPLES (float64) and FLOAT32_EXAMPLES by profile.
"""

from __future__ import annotations

import os

from hypothesis import given, settings

from dualgrad.engine import sequence_properties as P

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
EXAMPLES = {"ci": 1000, "thorough": 20_000, "mutation": 100}.get(PROFILE, 150)
FLOAT32_EXAMPLES = {"ci": 300, "thorough": 5_000}.get(PROFILE, 60)


def run_property(layer: str, dtype: str, examples: int) -> int:
    ran = [0]

    @settings(max_examples=examples)
    @given(P.cases(layer, dtype))
    def prop(case):
        ran[0] += 1
        P.matches(case)

    prop()
    return ran[0]
