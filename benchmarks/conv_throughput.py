"""Examples per second of each convolution/pooling property (issue 13), as tests/test_conv.py runs them.

    nice -n 10 python benchmarks/conv_throughput.py [--examples 500]

Each property runs twice in one process with hypothesis derandomized: the first run includes JAX's
compiles (reference.layers.bucketed_windows: one program per dilation pair or window size), the
second runs other examples with everything compiled. The ci profile runs 500 examples of each.
Numbers depend on the machine and its load: state both when quoting them.
"""

import argparse
import os
import sys
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from dualgrad import conv_properties as P  # noqa: E402

PROPERTIES = [
    ("conv2d: manual = jax.vjp, adjoint, purity", P.conv_cases, P.conv_matches),
    ("maxpool2d: manual = jax.vjp, adjoint, purity", P.pool_cases, P.maxpool_matches),
    ("avgpool2d: manual = jax.vjp, adjoint, purity", P.pool_cases, P.avgpool_matches),
    ("flatten: manual = jax.vjp, adjoint, purity", P.flatten_cases, P.flatten_matches),
    ("conv2d: naive = fast = flipped-kernel dx", P.conv_cases, P.conv_naive_equals_fast),
    ("max and avg pooling: naive = fast", P.pool_cases, P.pool_naive_equals_fast),
]


def rate(strategy, prop, examples, seed):
    count = [0]

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy())
    def run(case):
        count[0] += 1
        prop(case)

    start = time.perf_counter()
    run()
    return count[0] / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=500)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.examples} examples per run")
    print(f"{'property':<46} {'first run ex/s':>14} {'warm ex/s':>10}")
    for name, strategy, prop in PROPERTIES:
        first = rate(strategy, prop, args.examples, 0)
        warm = rate(strategy, prop, args.examples, 1)
        print(f"{name:<46} {first:>14.0f} {warm:>10.0f}")


if __name__ == "__main__":
    main()
