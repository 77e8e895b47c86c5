"""One training step against its matrix products alone, and against jax.jit, scikit-learn and PyTorch.

[784, 256, 128, 10], batch 256, relu, softmax cross-entropy, SGD momentum 0.9, in float64 and
float32 (see benchmarks/contenders.py for what each contender runs and how).

How it is timed, so that no contender disturbs another: with 2 BLAS threads on 2 cores, torch's
OpenMP threads and XLA's pool kept spinning after their turn and slowed the NumPy contenders
timed right after them (the matrix products alone up to 2×, making every ratio wrong).
  * phase 1, this process, which never imports jax, torch or scikit-learn: the NumPy contenders
    (matrix products only, manual TrainStep, manual plain path), interleaved round by round.
  * phase 2, one fresh subprocess per other contender: that contender interleaved with the
    matrix products alone, nothing else; torch's OpenMP threads sleep when idle
    (OMP_WAIT_POLICY=PASSIVE) instead of spinning on the core OpenBLAS needs next.
"× matmul" is the median over rounds of (contender / matrix products in the same round), so a
moment when another process takes a core (a shared machine) hits both sides of the ratio. The
matrix products' median of each subprocess is printed next to phase 1's: they should agree.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/train_step.py [--rounds 40] [--reps 5] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import contenders as C  # noqa: E402
from timing import interleaved, median_ms, ratio  # noqa: E402

SIZES = [784, 256, 128, 10]
BATCH = 256
DTYPES = ("float64", "float32")
NUMPY = {"matmul only": C.matmul_only, "manual TrainStep": C.manual_step,
         "manual MLP.fit (per batch of an epoch)": C.mlp_fit_step, "manual plain path": C.plain_step}
OTHERS = {"jax.jit + optax": C.jax_step, "sklearn (_fit_stochastic body)": C.sklearn_step,
          "sklearn partial_fit": C.sklearn_partial_fit_step, "torch": C.torch_step}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS threads (threadpoolctl), torch's and XLA's, and pin to N cores")
    parser.add_argument("--only", choices=sorted(OTHERS), help=argparse.SUPPRESS)  # phase 2: one subprocess
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    if args.threads and hasattr(os, "sched_setaffinity"):
        # XLA's CPU runtime ignores the flags below in part (measured: 1.4 cores busy with them):
        # pinning this process, and so its subprocesses, to N cores holds every library to N
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:args.threads]))
    if args.threads:  # XLA's CPU thread pool, read when jax is first imported (contenders import it late)
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                   f"intra_op_parallelism_threads={args.threads}").strip()
    warnings.simplefilter("ignore")
    with threadpool_limits(args.threads):
        if args.only:
            print(json.dumps(alone(args)))
        else:
            run(args)


def alone(args):
    """Phase 2 (in a subprocess): {dtype: {"matmul only": [s per step], name: [...]}}, interleaved."""
    if args.only == "torch" and args.threads:
        import torch
        torch.set_num_threads(args.threads)
    steps = {dt: {"matmul only": warm(C.matmul_only, dt), args.only: warm(OTHERS[args.only], dt)} for dt in DTYPES}
    return {dt: interleaved(steps[dt], args.rounds, args.reps) for dt in DTYPES}


def warm(build, dt):
    step = build(SIZES, BATCH, np.dtype(dt))
    step()  # buffers, caches, compiles
    return step


def others(args):
    """The contenders of phase 2 that can run here, each in its own subprocess."""
    out = {}
    for name in [n for n in OTHERS if n != "torch" or torch_importable()]:
        cmd = [sys.executable, __file__, "--only", name, "--rounds", str(args.rounds), "--reps", str(args.reps)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE") if name == "torch" else None
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def torch_importable():
    return subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0


def disturbed(times) -> int:
    return int(np.sum(np.asarray(times) > 1.3 * min(times)))


def run(args):
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} cores; BLAS: {C.blas_info()}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}")
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "all"
    print(f"sizes {SIZES}, batch {BATCH}, relu, cross_entropy, sgd momentum 0.9; {args.rounds} rounds x {args.reps} steps; "
          f"cores {cores}")
    print("phase 1 (this process): NumPy contenders interleaved; phase 2: one subprocess per other contender\n")
    mine = {}
    for dt in DTYPES:  # phase 1
        steps = {name: warm(build, dt) for name, build in NUMPY.items()}
        mine[dt] = interleaved(steps, args.rounds, args.reps)
        for name, step in steps.items():  # a call that takes several steps: time per step
            mine[dt][name] = [t / getattr(step, "per_call", 1) for t in mine[dt][name]]
    theirs = others(args)  # phase 2
    rows = [(name, mine, "phase 1") for name in NUMPY]
    rows += [(name, theirs[name], "phase 2, own subprocess") for name in theirs]
    print("| | float64 ms | float64 × matmul | float32 ms | float32 × matmul | timed |")
    print("|---|---|---|---|---|---|")
    for name, results, how in rows:
        cells = []
        for dt in DTYPES:
            t = results[dt]
            cells += [f"{median_ms(t, name):.3f}", f"{ratio(t, name, 'matmul only'):.2f}"]
        print(f"| {name} | " + " | ".join(cells) + f" | {how} |")
    print("\nmatrix products alone by process, float64 and float32: median ms [rounds > 1.3 × the fastest, "
          "i.e. disturbed by another process]")
    for where, t in [("phase 1", mine)] + list(theirs.items()):
        counts = [disturbed(t[dt]["matmul only"]) for dt in DTYPES]
        print(f"  {where}: " + ", ".join(f"{median_ms(t[dt], 'matmul only'):.3f} [{n}]" for dt, n in zip(DTYPES, counts))
              + ("  <- over a quarter of the rounds disturbed: rerun on a quieter machine" if max(counts) > args.rounds / 4 else ""))
    print()
    for dt in DTYPES:
        manual_x = ratio(mine[dt], "manual TrainStep", "matmul only")
        print(f"{dt}: manual TrainStep × matmul / contender × matmul: " + ", ".join(
            f"{name}: {manual_x / ratio(theirs[name][dt], name, 'matmul only'):.2f}" for name in theirs)
              + " (< 1 = manual faster)")


if __name__ == "__main__":
    main()
