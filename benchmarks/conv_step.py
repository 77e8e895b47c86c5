"""One training step of the small CNN (manual.cnn, batch 64), by hand in NumPy, as a jitted JAX step
and in PyTorch on CPU, float64.

The network: conv 8×3×3 (padding 1) → relu → 9×9 max pool → flatten → dense 8 → 4 → softmax
cross-entropy, on 1×9×9 images of manual.image_datasets.bars; one step = forward, backward and
an adam update (manual.optimizers.adam's update_inplace; optax.adam under jax.jit; torch.optim.Adam).

Each other contender runs in its own subprocess, interleaved round by round with the manual step
(benchmarks/timing.py), so a busy moment of the shared machine hits both sides of a ratio; the
ratio printed is the median over rounds of (manual / contender) in the same round. torch is
skipped when it is not installed.

    python benchmarks/conv_step.py [--rounds 30] [--reps 20] [--batch 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import interleaved, median_ms, ratio  # noqa: E402

from manual import cnn, image_datasets  # noqa: E402
from manual import optimizers as O  # noqa: E402

SPEC = cnn.CNNSpec()
LR = 1e-3


def data(batch):
    X, y = image_datasets.bars(batch, seed=0)
    return X, y


def manual_step(batch):
    X, y = data(batch)
    params = cnn.init_cnn(SPEC, 0)
    opt = O.adam(LR)
    state = [opt.init(params)]

    def step():
        _, grads = cnn.loss_and_grads(SPEC, params, X, y)
        state[0] = opt.update_inplace(grads, state[0], params)

    return step


def jax_step(batch):
    import jax
    import optax

    from reference import cnn as ref_cnn

    X, y = data(batch)
    params = [tuple(map(jax.numpy.asarray, pair)) for pair in cnn.init_cnn(SPEC, 0)]
    opt = optax.adam(LR)

    @jax.jit
    def update(params, state, X, y):
        grads = jax.grad(lambda p: ref_cnn.loss(SPEC, p, X, y))(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    box = [params, opt.init(params)]
    Xj, yj = jax.numpy.asarray(X), jax.numpy.asarray(y)

    def step():
        box[0], box[1] = update(box[0], box[1], Xj, yj)
        jax.block_until_ready(box[0])

    return step


def torch_step(batch):
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    X, y = data(batch)
    C, H, W = SPEC.image
    model = torch.nn.Sequential(
        torch.nn.Conv2d(C, SPEC.filters, SPEC.kernel, padding=SPEC.padding), torch.nn.ReLU(),
        torch.nn.MaxPool2d(SPEC.pool, SPEC.pool), torch.nn.Flatten(),
        torch.nn.Linear(SPEC.filters * int(np.prod(SPEC.pooled())), SPEC.classes)).double()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(Xt), yt).backward()
        opt.step()

    return step


CONTENDERS = {"jax.jit + optax": jax_step, "torch": torch_step}


def child(name, args):
    """In a subprocess: the contender interleaved with the manual step; JSON on stdout."""
    steps = {"manual": manual_step(args.batch), name: CONTENDERS[name](args.batch)}
    for s in steps.values():  # warm up: compile, allocate
        for _ in range(5):
            s()
    times = interleaved(steps, args.rounds, args.reps)
    print(json.dumps({"manual_ms": median_ms(times, "manual"), "ms": median_ms(times, name),
                      "manual_over": ratio(times, "manual", name)}))


def torch_importable():
    return subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args)
    print(f"CNN {SPEC} ({SPEC.n_params()} parameters), batch {args.batch}, float64, adam; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    print(f"{'contender':<18} {'ms/step':>9} {'manual ms/step':>15} {'manual / contender':>19}")
    for name in CONTENDERS:
        if name == "torch" and not torch_importable():
            print(f"{name:<18} skipped: torch is not installed")
            continue
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name, "--rounds", str(args.rounds),
                              "--reps", str(args.reps), "--batch", str(args.batch)],
                             capture_output=True, text=True, env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))
        if out.returncode != 0:
            print(f"{name:<18} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:<18} {r['ms']:>9.3f} {r['manual_ms']:>15.3f} {r['manual_over']:>18.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
