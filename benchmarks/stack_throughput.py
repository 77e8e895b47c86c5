"""Random networks of every layer per second: the stack property next to hypothesis + manual alone.

    python benchmarks/stack_throughput.py [--examples 1000] [--repeats 2] [--eager 10]

All runs draw from the same strategy (`dualgrad.engine.stack_property.stack_cases`: rows, ids,
sequences and images; dense, activations, norms, dropout, embeddings, conv, pools, residual
blocks) with the `ci` profile's settings (derandomized, no database, no deadline), in one process:

- hypothesis + manual alone: drawing the case and `manual.stack.loss_and_grads`, nothing else;
- the property with the bucketed reference (`reference.bucketed_stack`); its first run, which
  compiles the programs (once per process: pytest pays it once per worker), is reported apart;
- before: the same property with `reference.stack` (jax.grad of the whole stack, eager, as the
  stack property ran before issue 21), on `--eager` examples only.

The warm runs are interleaved with the manual-alone runs (same machine load); each figure is the
best of `--repeats`. The last line is `ratio R`: property / hypothesis + manual alone (target ≥ 0.5).
"""

from __future__ import annotations

import argparse
import time

from hypothesis import HealthCheck, given, settings

from dualgrad.engine.stack_property import stack_cases, stack_gradients_match
from manual import stack as S


def manual_only(case) -> None:
    spec, params, x, y, seed = case
    S.loss_and_grads(spec, params, x, y, seed)


def rate(check, examples: int):
    """(examples/s, seconds) of `check` under @given(stack_cases()) with `examples` examples."""
    calls = []

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(stack_cases())
    def run(case):
        calls.append(1)
        check(case)

    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    return len(calls) / elapsed, elapsed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per run (default 1000, the ci count)")
    parser.add_argument("--repeats", type=int, default=2, help="warm runs of each; the best is reported (default 2)")
    parser.add_argument("--eager", type=int, default=10, help="examples of the eager whole-stack reference (default 10)")
    args = parser.parse_args(argv)

    first, first_s = rate(stack_gradients_match, args.examples)
    print(f"first run, compiling the bucketed programs: {args.examples} stacks in {first_s:.1f} s ({first:.0f} stacks/s)")
    prop, alone = [], []
    for _ in range(args.repeats):
        alone.append(rate(manual_only, args.examples)[0])
        prop.append(rate(stack_gradients_match, args.examples)[0])
    eager, eager_s = rate(lambda case: stack_gradients_match(case, reference="whole"), args.eager)
    print(f"{'run':<52} {'best':>8} {'all runs (stacks/s)'}")
    print(f"{'hypothesis + manual alone':<52} {max(alone):8.1f} {' '.join(f'{r:.1f}' for r in alone)}")
    print(f"{'property, bucketed reference (warm)':<52} {max(prop):8.1f} {' '.join(f'{r:.1f}' for r in prop)}")
    print(f"{'property, bucketed reference (first run, compiling)':<52} {first:8.1f}")
    print(f"{'before: property, eager jax.grad of the whole stack':<52} {eager:8.1f}  ({args.eager} examples)")
    print(f"first run / manual alone: {first / max(alone):.2f}; warm / eager before: {max(prop) / eager:.0f}x")
    print(f"ratio {max(prop) / max(alone):.2f}")


if __name__ == "__main__":
    main()
