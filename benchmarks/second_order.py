"""Per-example gradients, H·V and G·V against one loss_and_grads, side by side in one run.

manual only (NumPy, float64): [784, 256, 128, 10], relu, softmax cross-entropy, batch 256 (the
network of benchmarks/train_step.py), and a small [20, 64, 64, 3] tanh network, batch 128.
Contenders take turns round by round (benchmarks/timing.py); "× loss_and_grads" is the median over
rounds of (contender / loss_and_grads in the same round), so a busy moment of the shared machine
hits both sides of each ratio.

    python benchmarks/second_order.py [--rounds 30] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import manual  # noqa: E402
from timing import interleaved, median_ms, ratio  # noqa: E402

NETWORKS = [([784, 256, 128, 10], "relu", 256), ([20, 64, 64, 3], "tanh", 128)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}; float64")
    for sizes, hidden, n in NETWORKS:
        spec = manual.NetworkSpec(sizes, hidden, "cross_entropy", l2=1e-4)
        params = manual.init_params(spec, seed=0)
        rng = np.random.default_rng(0)
        X, y = rng.standard_normal((n, sizes[0])), rng.integers(0, sizes[-1], n)
        V = [(rng.standard_normal(W.shape), rng.standard_normal(b.shape)) for W, b in params]
        w = rng.integers(0, 4, n).astype(float) + 0.5
        steps = {
            "loss_and_grads": lambda: manual.loss_and_grads(spec, params, X, y),
            "loss_and_grads, sample_weight": lambda: manual.loss_and_grads(spec, params, X, y, sample_weight=w),
            "per_example_gradients": lambda: manual.per_example_gradients(spec, params, X, y),
            "hessian_vector_product": lambda: manual.hessian_vector_product(spec, params, X, y, V),
            "gauss_newton_vector_product": lambda: manual.gauss_newton_vector_product(spec, params, X, y, V),
        }
        times = interleaved(steps, args.rounds, args.reps)
        print(f"\n{sizes} {hidden}, batch {n} ({spec.n_params():,} parameters; per-example output "
              f"{n * spec.n_params() * 8 / 1e6:.0f} MB)")
        for name in steps:
            print(f"  {name:32s} {median_ms(times, name):8.2f} ms   {ratio(times, name, 'loss_and_grads'):6.2f} × loss_and_grads")


if __name__ == "__main__":
    main()
