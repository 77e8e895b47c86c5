"""Examples per second of dualgrad.check_layer on each sequence/attention layer (issue 20), as
tests/test_sequence_check_layer.py runs it (same descriptions, buckets and seeds).

    nice -n 10 python benchmarks/sequence_check_layer.py [--examples 1000] [--layers rnn lstm ...]

Per layer and dtype: one check_layer call of `examples` cases, seed 0, as the ci profile runs it
(compiling included: one JAX program per bucket shape and per unpadded dim value). Numbers depend on
the machine and its load: state both when quoting them.
"""

import argparse
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from test_sequence_check_layer import LAYERS, check  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--layers", nargs="*", default=list(LAYERS))
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{args.examples} examples per call")
    print(f"{'layer':<22} {'float64 ex/s':>12} {'float32 ex/s':>12}")
    for name in args.layers:
        rates = []
        for dtype in ("float64", "float32"):
            start = time.perf_counter()
            result = check(name, dtype, examples=args.examples, seed=0)
            assert result.passed, result.message
            rates.append(result.examples / (time.perf_counter() - start))
        print(f"{name:<22} {rates[0]:>12.0f} {rates[1]:>12.0f}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
