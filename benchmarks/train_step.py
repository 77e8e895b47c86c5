"""One training step against its matrix products alone, and against jax.jit, scikit-learn and PyTorch.

[784, 256, 128, 10], batch 256, relu, softmax cross-entropy, SGD momentum 0.9, in float64 and
float32 (see benchmarks/contenders.py for what each contender runs and how). All contenders are
timed in one process, interleaved round by round; the table prints the median time of one step
and the median over rounds of (contender / matrix products in the same round).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/train_step.py [--rounds 40] [--reps 5] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import contenders as C  # noqa: E402
from timing import interleaved, median_ms, ratio  # noqa: E402

SIZES = [784, 256, 128, 10]
BATCH = 256


def builders():
    b = {"matmul only": C.matmul_only, "manual TrainStep": C.manual_step, "manual plain path": C.plain_step,
         "jax.jit + optax": C.jax_step, "sklearn (_fit_stochastic body)": C.sklearn_step,
         "sklearn partial_fit": C.sklearn_partial_fit_step}
    if C.torch_available():
        b["torch"] = C.torch_step
    return b


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS threads (threadpoolctl), torch's and XLA's")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    if args.threads:  # XLA's CPU thread pool, read when jax is first imported (contenders import it late)
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                   f"intra_op_parallelism_threads={args.threads}").strip()
    with threadpool_limits(args.threads):
        if args.threads and C.torch_available():
            import torch
            torch.set_num_threads(args.threads)
        run(args)


def run(args):
    warnings.simplefilter("ignore")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} cores; BLAS: {C.blas_info()}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}")
    if C.torch_available():
        import torch
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"sizes {SIZES}, batch {BATCH}, relu, cross_entropy, sgd momentum 0.9; "
          f"{args.rounds} rounds x {args.reps} steps, interleaved\n")
    results = {}
    for dtype in (np.float64, np.float32):
        steps = {name: build(SIZES, BATCH, dtype) for name, build in builders().items()}
        for step in steps.values():  # warm-up: buffers, caches, compiles
            step()
        results[np.dtype(dtype).name] = interleaved(steps, args.rounds, args.reps)
    names = list(builders())
    print("| | float64 ms | float64 × matmul | float32 ms | float32 × matmul |")
    print("|---|---|---|---|---|")
    for name in names:
        cells = []
        for dt in ("float64", "float32"):
            t = results[dt]
            cells += [f"{median_ms(t, name):.3f}", f"{ratio(t, name, 'matmul only'):.2f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    for dt in ("float64", "float32"):
        t = results[dt]
        faster = [n for n in names if n not in ("matmul only", "manual TrainStep")]
        print(f"{dt}: manual TrainStep vs " + ", ".join(
            f"{n}: {ratio(t, 'manual TrainStep', n):.2f}×" for n in faster) + " (time ratio, < 1 = manual faster)")


if __name__ == "__main__":
    main()
