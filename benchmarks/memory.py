"""Peak memory of one training epoch on large batches: manual (MLP.fit) against a jax.jit loop.

Data: 16384 rows × 784 features, 10 classes, float64; [784, 256, 128, 10], relu,
cross_entropy, SGD momentum 0.9, batch 4096 (4 steps per epoch), shuffled.

Each contender runs in its own fresh subprocess, so neither sees the other's memory:
  * manual: `MLP(...).fit(X, y)` with epochs=1, measured on its second fit (the first one
    warms up imports and NumPy), with tracemalloc (every NumPy array is reported to it:
    the exact peak of Python-visible allocations above the starting point) and with the
    process's peak resident set (VmHWM, reset before the epoch by writing 5 to
    /proc/self/clear_refs), the same measure as for JAX.
  * jax.jit: the same epoch written as a fit loop (permutation, X[rows] gather, one jitted
    value_and_grad + optax update per batch, params and state donated), measured on its
    second epoch (the first compiles), by VmHWM reset the same way. XLA's buffers live
    outside Python's allocator, so tracemalloc cannot see them, and on the CPU
    `device.memory_stats()` returns None; resident-set growth is what both share.
The input data (128 MB) exist before the measurement and are not counted. Resident-set growth
counts only pages newly touched: memory the allocator kept from the warm-up run is reused without
growing it, so for NumPy it can be below the traced peak. The traced peak of MLP.fit includes
fit's own work around the steps (checking X, encoding y, gathering each batch X[rows]), not only
TrainStep's buffers, whose size the last column gives (TrainStep.nbytes()).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/memory.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

N_ROWS, BATCH, SIZES = 16384, 4096, [784, 256, 128, 10]
BENCHMARKS = os.path.dirname(os.path.abspath(__file__))

COMMON = f"""
import json, tracemalloc, numpy as np
N_ROWS, BATCH, SIZES = {N_ROWS}, {BATCH}, {SIZES}
rng = np.random.default_rng(0)
X = rng.standard_normal((N_ROWS, SIZES[0]))           # (N, 784) float64
y = rng.integers(0, SIZES[-1], N_ROWS)                # (N,) labels

def kib(line):
    return int(line.split()[1])

def status(field):
    with open("/proc/self/status") as f:
        return next(kib(l) for l in f if l.startswith(field + ":")) * 1024

def reset_peak_rss():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
"""

MANUAL = COMMON + """
from manual.mlp import MLP
def fit():
    MLP(SIZES, optimizer="sgd", learning_rate=0.01, momentum=0.9, batch_size=BATCH, epochs=1, seed=0).fit(X, y)
fit()
reset_peak_rss(); rss0 = status("VmRSS")
tracemalloc.start(); t0 = tracemalloc.get_traced_memory()[0]
fit()
traced = tracemalloc.get_traced_memory()[1] - t0
m = MLP(SIZES, optimizer="sgd", learning_rate=0.01, momentum=0.9, batch_size=BATCH, epochs=1, seed=0)
m.fit(X, y)
print(json.dumps({"traced": traced, "rss": status("VmHWM") - rss0, "buffers": m._step.nbytes()}))
"""

JAX = COMMON + f"""
import sys
sys.path.insert(0, {BENCHMARKS!r})
import jax.numpy as jnp
from contenders import jax_train_step   # the jitted step benchmarks/train_step.py times
tx, train = jax_train_step()
""" + """
def fit(seed):
    r = np.random.default_rng(seed)
    params = [(jnp.asarray(r.standard_normal((i, o)) * np.sqrt(2 / i)), jnp.zeros(o)) for i, o in zip(SIZES[:-1], SIZES[1:])]
    state = tx.init(params)
    Y = np.eye(SIZES[-1])[y]                           # (N, K) one-hot
    order = r.permutation(N_ROWS)
    for i in range(0, N_ROWS, BATCH):
        rows = order[i:i + BATCH]
        value, params, state = train(params, state, X[rows], Y[rows])
    value.block_until_ready()
fit(0)  # compile
reset_peak_rss(); rss0 = status("VmRSS")
fit(1)
print(json.dumps({"traced": None, "rss": status("VmHWM") - rss0, "buffers": None}))
"""


def run(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(repeats=3):
    mb = 1 / 2**20
    batch_mb = BATCH * SIZES[0] * 8 * mb
    print(f"{N_ROWS} rows, batch {BATCH}, sizes {SIZES}, float64; one X batch = {batch_mb:.1f} MiB\n")
    print(f"each cell: median of {repeats} fresh subprocesses (min–max)\n")
    print("| one fit epoch | peak traced by tracemalloc (MiB) | peak resident-set growth (MiB) | of which TrainStep's buffers (MiB) |")
    print("|---|---|---|---|")
    for name, code in (("manual MLP.fit (TrainStep)", MANUAL), ("jax.jit + optax loop", JAX)):
        runs = [run(code) for _ in range(repeats)]

        def cell(key):
            if runs[0][key] is None:
                return "n/a"
            v = sorted(r[key] * mb for r in runs)
            return f"{v[len(v) // 2]:.1f} ({v[0]:.1f}–{v[-1]:.1f})"

        print(f"| {name} | {cell('traced')} | {cell('rss')} | {cell('buffers')} |", flush=True)


if __name__ == "__main__":
    main()
