"""Examples per second of the network-gradient property, next to hypothesis + manual alone.

    python benchmarks/verify_throughput.py [--examples 2000] [--repeats 3]

Both runs use the same strategy (`dualgrad.engine.strategies.network_cases`) and the
same hypothesis settings as the `ci` profile (derandomized, no database, no
deadline), in one process, one after the other, so the ratio is measured side
by side on the same machine load. The compiled bucket of the reference is
warmed up first (its one-time compilation, ~1 s, is reported apart: pytest pays
it once per worker). Each figure is the best of `--repeats` runs: on a shared
machine the best run is the least disturbed one.

Then `check_implementation` on an independent, article-style backprop (the
article's class in docs/examples/my_net.py, which imports nothing of dualgrad),
next to hypothesis + that function alone on the same drawn cases: what checking
your own backprop costs. The target is ≥ 0.5 × the rate of hypothesis + manual
alone, measured in the same run.

Then the "backprop ninja" check: `check_implementation` of a 3-layer function
(docs/examples/my_ninja.py) that returns its dict of intermediate gradients, next to the
same function returning (loss, grads) only: what comparing the intermediates costs.

The last line is `N examples/s`: the property's throughput.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from hypothesis import HealthCheck, given, settings

import manual
from dualgrad.engine.properties import network_gradients_match
from dualgrad.engine.strategies import network_cases


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


def user_function():
    """The article's network wrapped in five lines (docs/examples/my_net.py)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "examples"))
    from my_net import loss_and_grads

    return loss_and_grads


USER_OPTIONS = dict(hidden="relu", loss="binary_cross_entropy", bias="row")


def check_implementation_rate(fn, examples: int) -> float:
    """Examples/s of dualgrad.check_implementation(fn) on `examples` random networks (it passes: all run)."""
    from dualgrad import check_implementation

    start = time.perf_counter()
    result = check_implementation(fn, examples=examples, **USER_OPTIONS)
    elapsed = time.perf_counter() - start
    assert result.passed and result.examples == examples, result.message
    return examples / elapsed


def user_alone_rate(fn, examples: int) -> float:
    """Examples/s of hypothesis drawing check_implementation's cases and calling fn, nothing else."""
    from dualgrad.engine.conventions import Conventions
    from dualgrad.engine.user_check import DEFAULT_SCALE, _cases, _Plan

    conv = Conventions(bias="row")
    plan = _Plan.make(None, "relu", "binary_cross_entropy", None, False, conv, 3)
    calls = []

    @settings(max_examples=examples, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_cases(plan, 3, 8, 16, *DEFAULT_SCALE))
    def run(case):
        spec, params, X, y = case
        calls.append(1)
        fn(conv.user_params(params), X, y)

    start = time.perf_counter()
    run()
    return len(calls) / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples per run (default 2000, as the ci profile)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the best is reported (default 3)")
    parser.add_argument("--user-examples", type=int, default=500,
                        help="examples per check_implementation run (default 500)")
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

    fn = user_function()
    check_implementation_rate(fn, 20)  # its compiled program, as above
    user, checked = [], []
    for _ in range(args.repeats):
        user.append(user_alone_rate(fn, args.user_examples))
        checked.append(check_implementation_rate(fn, args.user_examples))
    print(f"{'hypothesis + the article-style function alone':<44} {max(user):8.0f} {' '.join(f'{r:.0f}' for r in user)}")
    print(f"{'check_implementation(article-style function)':<44} {max(checked):8.0f} {' '.join(f'{r:.0f}' for r in checked)}")
    print(f"check_implementation / manual alone: {max(checked) / max(alone):.2f} (target ≥ 0.5)  "
          f"({args.user_examples} examples per run)")
    # the ninja check: the same 3-layer function with and without its dict of intermediate gradients
    from my_ninja import correct

    def without_dict(params, X, y):
        return correct(params, X, y)[:2]

    ninja = dict(sizes=[3, 4, 4, 3], hidden="tanh", loss="cross_entropy")
    ninja_rate(correct, ninja, 20)  # compiles the intermediates' program
    plain, inter = [], []
    for _ in range(args.repeats):
        plain.append(ninja_rate(without_dict, ninja, args.user_examples))
        inter.append(ninja_rate(correct, ninja, args.user_examples))
    print(f"{'check_implementation(3-layer, no dict)':<44} {max(plain):8.0f} {' '.join(f'{r:.0f}' for r in plain)}")
    print(f"{'check_implementation(3-layer, + intermediates)':<44} {max(inter):8.0f} {' '.join(f'{r:.0f}' for r in inter)}")
    print(f"intermediates / no dict: {max(inter) / max(plain):.2f}  ({args.user_examples} examples per run)")
    print(f"{max(prop):.0f} examples/s")


def ninja_rate(fn, options, examples: int) -> float:
    """Examples/s of check_implementation(fn, **options) (it passes: all run)."""
    from dualgrad import check_implementation

    start = time.perf_counter()
    result = check_implementation(fn, examples=examples, **options)
    elapsed = time.perf_counter() - start
    assert result.passed and result.examples == examples, result.message
    return examples / elapsed


if __name__ == "__main__":
    main()
