"""Where the overhead of a training step matters and where it vanishes: manual TrainStep / its
matrix products alone, over batch sizes and layer widths, in float64 and float32.

    batch sweep:  [784, 256, 128, 10], N = 32 ... 4096
    width sweep:  [784, w, w, 10], N = 256, w = 64 ... 2048

relu, cross_entropy, SGD momentum 0.9 (benchmarks/contenders.py). The two contenders are
interleaved round by round; each cell is the median over rounds of the per-round ratio.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/scaling.py [--rounds 9] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import contenders as C  # noqa: E402
from timing import interleaved, median_ms, ratio  # noqa: E402

BATCHES = [32, 64, 128, 256, 512, 1024, 2048, 4096]
WIDTHS = [64, 128, 256, 512, 1024, 2048]


def measure(sizes, N, dtype, rounds):
    """(ms of the matrix products, ms of the manual step, median per-round ratio)."""
    steps = {"matmul": C.matmul_only(sizes, N, dtype), "manual": C.manual_step(sizes, N, dtype)}
    t0 = time.perf_counter()
    for step in steps.values():
        step()
    reps = max(1, int(0.03 / max(time.perf_counter() - t0, 1e-6)))  # ~30 ms of work per timing
    t = interleaved(steps, rounds, reps)
    return median_ms(t, "matmul"), median_ms(t, "manual"), ratio(t, "manual", "matmul")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):
        print(f"numpy {np.__version__}; BLAS: {C.blas_info()}; {args.rounds} rounds\n")
        for title, cases in (("batch N (sizes [784, 256, 128, 10])", [([784, 256, 128, 10], n, n) for n in BATCHES]),
                             ("width w (sizes [784, w, w, 10], N = 256)", [([784, w, w, 10], 256, w) for w in WIDTHS])):
            print(f"| {title} | float64 matmul ms | float64 manual ms | float64 ratio "
                  f"| float32 matmul ms | float32 manual ms | float32 ratio |")
            print("|---|---|---|---|---|---|---|")
            for sizes, N, label in cases:
                cells = []
                for dtype in (np.float64, np.float32):
                    mm, man, r = measure(sizes, N, dtype, args.rounds)
                    cells += [f"{mm:.3f}", f"{man:.3f}", f"{r:.2f}"]
                print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
            print()


if __name__ == "__main__":
    main()
