"""The erf form of GELU: manual.layers.gelu's vectorised erfc against math.erfc entry by entry.

    nice -n 10 python benchmarks/gelu_erf.py [--repeats 5]

Side by side in one run, on N(0, 1) activations x of each size (the argument of erfc is −x/√2, as
Φ(x) = ½ erfc(−x/√2) takes it): the best of `repeats` timings of
- vectorised: manual.layers.gelu.erfc (Cephes' rational approximations, NumPy only);
- frompyfunc: np.frompyfunc(math.erfc, 1, 1), what gelu.py used before (a Python call per entry);
and the ratio frompyfunc / vectorised; then gelu_forward + gelu_backward (approximate="none") per size.
Numbers depend on the machine and its load: state both when quoting them.
"""

import argparse
import math
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from manual.layers import gelu as G  # noqa: E402

SIZES = (64, 4_096, 262_144, 1_048_576)


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"best of {args.repeats}")
    print(f"{'entries':>9} {'vectorised ms':>14} {'frompyfunc ms':>14} {'ratio':>6} {'gelu fwd+bwd ms':>16}")
    slow = np.frompyfunc(math.erfc, 1, 1)
    rng = np.random.default_rng(0)
    for n in SIZES:
        a = -rng.standard_normal(n) / math.sqrt(2.0)
        fast_t = best(lambda: G.erfc(a), args.repeats)
        slow_t = best(lambda: slow(a).astype(np.float64), args.repeats)
        x = rng.standard_normal(n)

        def layer():
            out, cache = G.gelu_forward(x)
            G.gelu_backward(np.ones_like(out), cache)

        layer_t = best(layer, args.repeats)
        print(f"{n:>9} {fast_t * 1e3:>14.3f} {slow_t * 1e3:>14.3f} {slow_t / fast_t:>6.1f} {layer_t * 1e3:>16.3f}",
              flush=True)


if __name__ == "__main__":
    main()
