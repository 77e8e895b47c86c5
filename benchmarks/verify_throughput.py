"""Examples per second of the network-gradient property, next to hypothesis + manual alone.

    python benchmarks/verify_throughput.py [--examples 2000] [--repeats 3]

Both runs use the same strategy (`dualgrad.strategies.network_cases`) and the
same hypothesis settings as the `ci` profile (derandomized, no database, no
deadline), in one process, one after the other, so the ratio is measured side
by side on the same machine load. The compiled bucket of the reference is
warmed up first (its one-time compilation, ~1 s, is reported apart: pytest pays
it once per worker). Each figure is the best of `--repeats` runs: on a shared
machine the best run is the least disturbed one.

The last line is `N examples/s`: the property's throughput.
"""

from __future__ import annotations

import argparse
import time

from hypothesis import HealthCheck, given, settings

import manual
from dualgrad.properties import network_gradients_match
from dualgrad.strategies import network_cases


def manual_only(case) -> None:
    """Hypothesis + the manual side alone: what the property costs without the reference."""
    spec, params, X, y = case
    manual.loss_and_grads(spec, params, X, y)
    manual.forward(spec, params, X)


def rate(check, examples: int) -> float:
    """Examples/s of `check` under @given(network_cases()) with `examples` examples."""
    calls = []

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(network_cases())
    def run(case):
        calls.append(1)
        check(case)

    start = time.perf_counter()
    run()
    return len(calls) / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples per run (default 2000, as the ci profile)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the best is reported (default 3)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rate(network_gradients_match, 20)  # compiles the reference's bucket
    print(f"warm-up (compiling the bucketed reference, 20 examples): {time.perf_counter() - start:.2f} s")

    prop, alone = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        alone.append(rate(manual_only, args.examples))
        prop.append(rate(network_gradients_match, args.examples))
    print(f"{'run':<44} {'best':>8} {'all runs (examples/s)'}")
    print(f"{'hypothesis + manual alone':<44} {max(alone):8.0f} {' '.join(f'{r:.0f}' for r in alone)}")
    print(f"{'property (hypothesis + manual + bucketed ref)':<44} {max(prop):8.0f} {' '.join(f'{r:.0f}' for r in prop)}")
    print(f"property / manual alone: {max(prop) / max(alone):.2f}  ({args.examples} examples per run)")
    print(f"{max(prop):.0f} examples/s")


if __name__ == "__main__":
    main()
