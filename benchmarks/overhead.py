"""What a training step spends beyond its matrix products, part by part, measured inside the step.

[784, 256, 128, 10], batch 256, relu, softmax cross-entropy, SGD momentum 0.9 (as train_step.py).
Each row is a manual.TrainStep that does a little more than the row above; all rows and the matrix
products alone are interleaved round by round, and "+ µs" is what the row adds to the one above:

    matmul only                      the step's matrix products alone (contenders.matmul_only)
    forward + backward               TrainStep with an optimizer that writes nothing: bias adds,
                                     activations and their derivatives, the loss, db = 1ᵀ dz
    + optimizer's checks             ... and the optimizer's checks of params and grads: layout,
                                     dtypes, every entry finite (validation.all_finite)
    + optimizer's update = TrainStep the real step: its state's checks, the learning rate,
                                     then t ← g + μ t, w ← w − η t on every leaf

and, for contrast, the same update timed alone, over and over on the same arrays (caches warm).
The gap between the last two is the cost of the update's context: in the step, w and t were last
touched a whole step ago and w was just read by the forward's matrix product on every BLAS thread.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/overhead.py [--rounds 40] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import contenders as C  # noqa: E402
from timing import interleaved, median_ms, ratio  # noqa: E402

import manual  # noqa: E402
from manual import optimizers as mo  # noqa: E402

SIZES, BATCH = [784, 256, 128, 10], 256


def variants(dtype):
    """{row name: step()} for the rows of the module docstring, each on its own copy of the params."""
    spec, params, X, _, Y = C.problem(SIZES, BATCH, dtype)
    sgd = mo.sgd(C.LEARNING_RATE, momentum=C.MOMENTUM)

    def writes_nothing(grads, state, params):
        return state

    def checks_only(grads, state, params):  # update_inplace's checks of params and grads
        mo._check_params(params, writeable=True, finite=True)
        mo._check_like(grads, params, "grads", "d", finite=True)
        return state

    def train(optimizer):
        own = [(W.copy(), b.copy()) for W, b in params]
        step, box = manual.TrainStep(spec, optimizer), [sgd.init(own)]

        def run():
            _, box[0] = step(own, box[0], X, Y)

        return run, step, own, box

    rows = {"matmul only": C.matmul_only(SIZES, BATCH, dtype)}
    rows["forward + backward"] = train(mo.Optimizer(sgd.init, sgd.update, writes_nothing))[0]
    rows["+ optimizer's checks"] = train(mo.Optimizer(sgd.init, sgd.update, checks_only))[0]
    rows["+ optimizer's update = TrainStep"], step, own, box = train(sgd)
    for run in rows.values():
        run()
    grads = step._grads[np.dtype(dtype)]  # the step's own gradient arrays, filled by the run above

    def update_alone():
        box[0] = sgd.update_inplace(grads, box[0], own)

    return rows, update_alone


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):
        print(f"numpy {np.__version__}; BLAS: {C.blas_info()}; sizes {SIZES}, batch {BATCH}; "
              f"{args.rounds} rounds x {args.reps} steps\n")
        print("| | float64 ms | float64 × matmul | float64 + µs | float32 ms | float32 × matmul | float32 + µs |")
        print("|---|---|---|---|---|---|---|")
        results, alone = {}, {}
        for dtype in (np.float64, np.float32):
            rows, update_alone = variants(dtype)
            results[dtype] = interleaved(rows, args.rounds, args.reps)
            alone[dtype] = interleaved({"update alone": update_alone}, args.rounds, args.reps)
        names = list(rows)
        for i, name in enumerate(names):
            cells = []
            for dtype in (np.float64, np.float32):
                t = results[dtype]
                ms, x = median_ms(t, name), ratio(t, name, "matmul only")
                added = "" if i == 0 else f"{1e3 * median_ms(t, 'matmul only') * (x - ratio(t, names[i - 1], 'matmul only')):.0f}"
                cells += [f"{ms:.3f}", f"{x:.2f}", added]
            print(f"| {name} | " + " | ".join(cells) + " |")
        f64, f32 = (median_ms(alone[dt], "update alone") for dt in (np.float64, np.float32))
        print(f"| (the update alone, caches warm) | {f64:.3f} | | | {f32:.3f} | | |")


if __name__ == "__main__":
    main()
