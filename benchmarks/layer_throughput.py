"""Examples per second of each layer property (issue 12): check_layer on every built-in layer.

    nice -n 10 python benchmarks/layer_throughput.py [--examples 300] [--layers dense batchnorm ...]

For each layer: the first run (compiling the JAX side for each drawn shape bucket) and a second run
with another seed (shapes mostly compiled), both in examples per second, and how many jitted functions were added (one per layer and static hyperparameters; each compiles once per padded shape).
The ci profile runs 1,000 examples per layer (tests/test_layers.py). Numbers depend on the machine
and its load: state both when quoting them.
"""

import argparse
import os
import time

from dualgrad import layer_cases as LC
from dualgrad import layer_check as LK


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--layers", nargs="*", default=sorted(LC.LAYERS))
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.examples} examples per run")
    print(f"{'layer':<28} {'first run ex/s':>14} {'warm ex/s':>10} {'programs':>9}")
    for name in args.layers:
        before = LK._compiled.cache_info().currsize
        t0 = time.perf_counter()
        r1 = LC.check(name, examples=args.examples, seed=0)
        t1 = time.perf_counter()
        r2 = LC.check(name, examples=args.examples, seed=1)
        t2 = time.perf_counter()
        assert r1.passed and r2.passed, (r1.message, r2.message)
        print(f"{name:<28} {args.examples / (t1 - t0):>14.0f} {args.examples / (t2 - t1):>10.0f} "
              f"{LK._compiled.cache_info().currsize - before:>9}")


if __name__ == "__main__":
    main()
