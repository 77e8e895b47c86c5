"""One forward + backward of the hand-written RNN over a sequence and of a multi-head causal
self-attention block, against the same computation in JAX under jax.jit (value_and_grad), float64.

    nice -n 10 python benchmarks/sequence_step.py [--rounds 15] [--reps 20] [--threads 1]

NumPy's BLAS threads are limited with threadpoolctl (default 1): on the shared 2-core machine a
multi-threaded OpenBLAS next to XLA's threads oversubscribes the cores (measured: the attention
step 56 ms with the default BLAS threads against 1.3 ms with one). XLA keeps its own threads.

RNN: x (32, 20, 16), H = 64; rnn_forward then rnn_backward with a fixed dh (JAX: value_and_grad of
⟨rnn(x, h0, Wx, Wh, b), dh⟩ over all five inputs, a lax.scan). Attention: N = 8, T = S = 32,
E = 64, 4 heads, causal mask, self-attention (x passed three times); multihead_attention_forward
then _backward (JAX: value_and_grad of ⟨mha(x, x, x, ...), dout⟩ over x and the eight parameters).
Rounds alternate the two sides (reps calls each), so a busy moment of the shared machine hits both;
the ratio printed is the median over rounds of manual / JAX time, with its range.

Transformer LM step (issue 20 item 3): the gradients of one training step of the one-block
character transformer, N = 16, T = 64, C = 64, 4 heads, V = 29: manual.transformer.loss_and_grads
against jax.jit(jax.value_and_grad(reference.transformer.loss)) (embedding + positions, two
layernorms, causal MHA, the GELU MLP, the final layernorm, the temporal affine and the loss).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import manual.layers as M  # noqa: E402
import reference.layers as R  # noqa: E402


def rnn_case(rng):
    N, T, D, H = 32, 20, 16, 64
    args = (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((D, H)) / 4,
            rng.standard_normal((H, H)) / 8, rng.standard_normal(H))
    dh = rng.standard_normal((N, T, H))

    def manual():
        h, cache = M.rnn_forward(*args)
        return M.rnn_backward(dh, cache)

    step = jax.jit(jax.value_and_grad(lambda *a: jnp.vdot(R.rnn(*a), dh), argnums=(0, 1, 2, 3, 4)))
    return manual, lambda: jax.block_until_ready(step(*args))


def attention_case(rng):
    N, T, E, h = 8, 32, 64, 4
    x = rng.standard_normal((N, T, E))
    params = [rng.standard_normal((E, E)) / 8 if i % 2 == 0 else rng.standard_normal(E) for i in range(8)]
    mask = M.causal_mask(T)
    dout = rng.standard_normal((N, T, E))

    def manual():
        out, cache = M.multihead_attention_forward(x, x, x, *params, h, mask)
        return M.multihead_attention_backward(dout, cache)

    def loss(x, *p):
        return jnp.vdot(R.multihead_attention(x, x, x, *p, h, jnp.asarray(mask)), dout)

    step = jax.jit(jax.value_and_grad(loss, argnums=tuple(range(9))))
    return manual, lambda: jax.block_until_ready(step(x, *params))


def transformer_case(rng):
    from manual import transformer as MT
    from reference import transformer as RT

    N, T, C, h, V = 16, 64, 64, 4, 29
    params = MT.init_params(V, C, T, h, seed=0)
    x, y = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    step = jax.jit(jax.value_and_grad(lambda p, x, y: RT.loss(p, x, y, h)))
    return lambda: MT.loss_and_grads(params, x, y, h), lambda: jax.block_until_ready(step(params, x, y))


def timed(fn, reps):
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="NumPy BLAS threads (threadpoolctl); 0: no limit")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads or None, user_api="blas"):
        measure(args)


def measure(args):
    print(f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{args.rounds} rounds of {args.reps} calls per side; float64; NumPy BLAS threads: {args.threads or 'default'}")
    print(f"{'step':<34} {'manual ms':>10} {'jax.jit ms':>11} {'manual/jax (median, range)':>28}")
    rng = np.random.default_rng(0)
    for name, case in (("RNN fwd+bwd, T=20, H=64", rnn_case), ("MHA causal fwd+bwd, T=32, E=64, h=4", attention_case),
                       ("transformer LM step, T=64, C=64", transformer_case)):
        manual, jitted = case(rng)
        manual(), jitted()  # warm up: JAX compiles here
        m_times, j_times = [], []
        for _ in range(args.rounds):
            m_times.append(timed(manual, args.reps))
            j_times.append(timed(jitted, args.reps))
        ratios = sorted(m / j for m, j in zip(m_times, j_times))
        print(f"{name:<34} {1e3 * np.median(m_times):>10.3f} {1e3 * np.median(j_times):>11.3f} "
              f"{np.median(ratios):>12.2f} ({ratios[0]:.2f}–{ratios[-1]:.2f})")


if __name__ == "__main__":
    main()
