"""`dualgrad verify --stack TEXT --input D | T D | C H W`: a whole network of layers, checked (issue 21.3).

    dualgrad verify --stack "conv:2:3:1:1 relu maxpool:2 flatten dense:3" --input 1 6 6
    dualgrad verify --stack "embed:4 lstm:8 res( attn:2:causal ) dense:5" --input 3 5     # ids (N, 3) < 5
    dualgrad verify --impl my_cnn.py:loss_and_grads --stack "conv:2:3:1:1 relu maxpool:2 flatten dense:3" --input 1 6 6

Without --impl: dualgrad's own `manual.stack` on `--examples` random batches and parameters (default
100) of that network, every gradient against the reference (`dualgrad.engine.stack_property`).
With --impl: your fn(params, X, y) -> (loss, grads), params one tuple per layer
(`dualgrad.engine.stack_check`); a failure prints the first leaf that differs and the shrunk case.
Exit status 0 pass, 1 fail, 2 bad input (one line `dualgrad: error: ...`).
"""

from __future__ import annotations

DEFAULT_EXAMPLES = 100


def add_arguments(verify) -> None:
    group = verify.add_argument_group("a network of layers (--stack)")
    group.add_argument("--stack", metavar="LAYERS",
                       help="a network of layers instead of --sizes, e.g. 'conv:2:3:1:1 relu maxpool:2 flatten dense:3' "
                            "(the text form of explain --stack; res( ... ) for a residual block)")
    group.add_argument("--input", type=int, nargs="+", metavar="D",
                       help="with --stack: the input features D (the vocabulary for an embedding), T D for "
                            "sequences (T V: ids with an embedding first), or C H W")


def run(args) -> int:
    """verify --stack [--impl]: the exit status (0 pass, 1 fail); CliError for bad input."""
    from .common import CliError
    from ..explain.stack import stack_from_arguments

    if args.sizes is not None:
        raise CliError("give --sizes (an MLP) or --stack (a network of layers), not both")
    for flag, value in (("--fd", args.fd), ("--json", args.json), ("--hidden", args.hidden), ("--l2", args.l2),
                        ("--batch", args.batch)):
        if value:
            raise CliError(f"{flag} is not for --stack (the layers are in the text; the batch is drawn)")
    if args.input is None:
        raise CliError("--stack needs --input D (features, or the vocabulary for an embedding), T D (sequences) "
                       "or C H W (an image)")
    try:
        spec = stack_from_arguments(args.stack, args.input, args.loss)
    except (TypeError, ValueError) as err:
        raise CliError(str(err)) from None
    examples = args.examples or DEFAULT_EXAMPLES
    if args.impl is not None:
        return _run_impl(args, spec, examples)
    return _run_own(spec, examples, args.seed)


def _run_own(spec, examples, seed) -> int:
    import numpy as np
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    from ..engine.stack_property import random_params, random_targets, stack_gradients_match

    @st.composite
    def cases(draw):
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        N = draw(st.integers(1, 4))
        params = random_params(spec.layers, spec.param_shapes(), rng)
        if spec.ids:
            x = rng.integers(0, spec.vocabulary, (N,) + spec.input_shape)
        else:
            x = rng.standard_normal((N,) + spec.input_shape)
        return spec, params, x, random_targets(spec, N, rng), draw(st.integers(0, 1000))

    ran = []

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.generate, Phase.shrink], print_blob=False)
    @given(cases())
    def prop(case):
        stack_gradients_match(case)
        ran.append(1)

    try:
        prop()
    except AssertionError as err:
        print(f"FAIL: manual.stack against jax: {str(err).splitlines()[0]}")
        return 1
    data = f"ids {_shape(spec.input_shape)} < {spec.vocabulary}" if spec.ids else f"X {_shape(spec.input_shape)}"
    print(f"PASS: {len(ran)} random batches of {spec.text()!r} on {data}, "
          f"{spec.loss}: loss and every gradient of manual.stack equal jax's (seed {seed})")
    return 0


def _shape(shape) -> str:
    return "(" + ", ".join(("N",) + tuple(map(str, shape))) + ")"


def _run_impl(args, spec, examples) -> int:
    import numpy as np

    from .common import CliError
    from .verify_impl import load_function
    from ..engine.stack_check import check_stack_implementation

    fn = load_function(args.impl)
    try:
        result = check_stack_implementation(fn, spec, examples=examples, seed=args.seed,
                                            layout=getattr(args, "layout", None) or "in_out")
    except (TypeError, ValueError) as err:
        raise CliError(f"--impl {args.impl}: {str(err).splitlines()[0]}") from None
    except Exception as err:  # noqa: BLE001  the user's function raised: bad input, in one line
        raise CliError(f"--impl {args.impl} raised {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
    if result.passed:
        print(f"PASS: {result.examples} random batches of {spec.text()!r}, {spec.loss}: your loss and every "
              f"gradient equal jax's (seed {args.seed})")
        return 0
    print(f"FAIL after {result.examples} examples (seed {args.seed}): {result.message}")
    _, params, X, y = result.counterexample
    with np.printoptions(precision=4, suppress=True):  # not set globally: it would leak into the caller
        print(f"X = {np.array2string(np.asarray(X), separator=', ')}")
        print(f"y = {np.array2string(np.asarray(y), separator=', ')}")
    return 1
