"""Step time of the hand-written sequence layers against the jitted JAX step, float64, one run.

Three workloads, each a forward and a backward giving every gradient:

- rnn:   manual.layers.rnn_forward + rnn_backward (BPTT over T steps, given an upstream dh) against
         jax.jit(jax.value_and_grad(f)), f(x, h0, Wx, Wh, b) = Σ rnn(x, h0, Wx, Wh, b) ⊙ dh
         (its gradients are exactly rnn_backward(dh)'s; reference.layers.rnn is a lax.scan);
- mha:   causal multi-head self-attention, manual.layers.multihead_attention_forward/backward
         (dx = dquery + dkey + dvalue) against the jitted value_and_grad of Σ mha(x, x, x, ...) ⊙ dout;
- block: one training step's gradients of the one-block transformer language model,
         manual.transformer.loss_and_grads against jax.jit(jax.value_and_grad(reference.transformer.loss)).

The contenders take turns round by round in this one process (benchmarks/timing.py), so a busy
moment of the shared machine hits both; the ratio is the median over rounds of manual / JAX in the
same round. The JAX function is compiled (and run once) before timing.

One thread each (BENCH_THREADS, default 1): OpenBLAS's and XLA's thread pools are pinned before
NumPy and JAX load. On the shared 2-core machine a 2-thread OpenBLAS under load is up to 30 times
slower than one thread on these small products, which would measure the load, not the code.

    python benchmarks/sequence_step.py [--rounds 15] [--reps 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

THREADS = os.environ.get("BENCH_THREADS", "1")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, THREADS)
if THREADS == "1":
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                               " intra_op_parallelism_threads=1").strip()

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import interleaved, median_ms, ratio  # noqa: E402

from manual import layers as ML  # noqa: E402
from manual import transformer as MT  # noqa: E402


def rnn_case(N=32, T=64, D=64, H=128):
    import jax
    from reference import layers as RL

    rng = np.random.default_rng(0)
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh, b = rng.standard_normal((D, H)) / 8, rng.standard_normal((H, H)) / 11, rng.standard_normal(H)
    dh = rng.standard_normal((N, T, H))

    def manual():
        h, cache = ML.rnn_forward(x, h0, Wx, Wh, b)
        return ML.rnn_backward(dh, cache)

    f = jax.jit(jax.value_and_grad(lambda *a: (RL.rnn(*a) * dh).sum(), argnums=(0, 1, 2, 3, 4)))
    step = lambda: jax.block_until_ready(f(x, h0, Wx, Wh, b))  # noqa: E731
    _check(manual(), step()[1])
    return f"rnn   N={N} T={T} D={D} H={H}", manual, step


def mha_case(N=16, T=64, E=64, heads=4):
    import jax
    from reference import layers as RL

    rng = np.random.default_rng(1)
    x, dout = rng.standard_normal((N, T, E)), rng.standard_normal((N, T, E))
    params = [rng.standard_normal(s) / (8 if len(s) == 2 else 1) for s in [(E, E), (E,)] * 4]
    mask = ML.causal_mask(T)

    def manual():
        out, cache = ML.multihead_attention_forward(x, x, x, *params, heads, mask)
        dq, dk, dv, *dparams = ML.multihead_attention_backward(dout, cache)
        return [dq + dk + dv] + dparams

    f = jax.jit(jax.value_and_grad(lambda x, *p: (RL.multihead_attention(x, x, x, *p, heads, mask) * dout).sum(),
                                   argnums=tuple(range(9))))
    step = lambda: jax.block_until_ready(f(x, *params))  # noqa: E731
    _check(manual(), step()[1])
    return f"mha   N={N} T={T} E={E} h={heads} causal", manual, step


def block_case(N=16, T=64, C=64, heads=4, V=29):
    import jax
    from reference import transformer as RT

    params = MT.init_params(V, C, T, heads, seed=0)
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))

    def manual():
        return MT.loss_and_grads(params, x, y, heads)[1]

    f = jax.jit(jax.value_and_grad(lambda p, x, y: RT.loss(p, x, y, heads)))
    step = lambda: jax.block_until_ready(f(params, x, y))  # noqa: E731
    grads = step()[1]
    _check([manual()[k] for k in MT.NAMES], [grads[k] for k in MT.NAMES])
    return f"block N={N} T={T} C={C} h={heads} V={V}", manual, step


def _check(manual, ref):
    """Both sides compute the same gradients (so the times compare the same work)."""
    for a, b in zip(manual, ref):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-8, atol=1e-10)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    from reference import _x64  # noqa: F401  (float64)
    import jax

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), numpy {np.__version__}, "
          f"jax {jax.__version__}, float64, {THREADS} thread(s) each; {args.rounds} rounds x {args.reps} steps, median")
    print(f"{'workload':40s} {'by hand ms':>10s} {'jax.jit ms':>10s} {'hand/jax':>9s}")
    for case in (rnn_case, mha_case, block_case):
        name, manual, jitted = case()
        times = interleaved({"manual": manual, "jax": jitted}, rounds=args.rounds, reps=args.reps)
        print(f"{name:40s} {median_ms(times, 'manual'):10.2f} {median_ms(times, 'jax'):10.2f} "
              f"{ratio(times, 'manual', 'jax'):9.2f}")


if __name__ == "__main__":
    main()
