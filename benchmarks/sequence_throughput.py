"""Examples per second of each sequence/attention property (issue 20): dualgrad.engine.sequence_properties.

    nice -n 10 python benchmarks/sequence_throughput.py [--examples 300] [--layers rnn lstm ...]

For each layer: a first run (compiling the padded JAX program: one per layer and static
hyperparameters, and per unpadded dim value) and a second run with other draws (compiled), in
float64 examples per second, then a float32 run. The ci profile runs 1,000 float64 and 300 float32
cases per function (tests/test_sequence_layers.py, tests/test_attention.py). Numbers depend on the
machine and its load: state both when quoting them.
"""

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from dualgrad.engine import sequence_properties as P  # noqa: E402


def run(layer, dtype, examples, derandomize):
    ran = [0]

    @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
              suppress_health_check=list(HealthCheck))
    @given(P.cases(layer, dtype))
    def prop(case):
        ran[0] += 1
        P.matches(case)

    start = time.perf_counter()
    prop()
    return ran[0] / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--layers", nargs="*", default=list(P.LAYERS))
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{args.examples} examples per run")
    print(f"{'layer':<24} {'first run ex/s':>14} {'warm ex/s':>10} {'float32 ex/s':>13}")
    for layer in args.layers:
        first = run(layer, "float64", args.examples, True)
        warm = run(layer, "float64", args.examples, False)
        f32 = run(layer, "float32", args.examples, True)
        print(f"{layer:<24} {first:>14.0f} {warm:>10.0f} {f32:>13.0f}", flush=True)


if __name__ == "__main__":
    main()
