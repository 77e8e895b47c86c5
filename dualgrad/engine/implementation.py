"""Calling a user's backprop and reading back what it computed.

A user's implementation is a function

    fn(params, X, y) -> (loss, grads)            or (loss, grads, output), then optionally intermediates
    fn(params, X, y, spec=spec) -> ...           if it takes a `spec` keyword

params  -- [(W1, b1), (W2, b2), ...] in the user's layout (`dualgrad.conventions`)
X       -- (N, n_in) float64
y       -- labels as the `targets` convention says
loss    -- a real scalar: the data loss under the user's reduction, plus (λ/2) Σ‖W‖²
grads   -- [(dW1, db1), ...] in the same layout as params, or the pair of lists
           ([dW1, dW2, ...], [db1, db2, ...]) that the article's `backward` returns
output  -- optional: the head's output ŷ (N, K), or (N,) when K = 1
intermediates -- optional, always last: a dict of the gradients computed on the way back,
           "dlogits" (or "dz{L}"), "dz{l}", "da{l}" (N, n_l), 1-based layers, any subset;
           compared with JAX's in backward order (`dualgrad.engine.intermediates`)

`call` runs it on a copy of every input and checks what came back: a result of the
wrong kind is a TypeError, of the wrong shape or not finite a ValueError, an
exception raised inside it an `ImplementationRaised` (a ValueError whose cause is the
original). Each error names what was expected, and all of them are
`ImplementationError`s, so a check can tell them from its own argument errors.
"""

from __future__ import annotations

import inspect
import re
import numbers
from typing import NamedTuple, Optional

import numpy as np

from .conventions import Conventions


class ImplementationError(Exception):
    """The user's function returned something that cannot be compared, or raised.

    From `check_implementation`, `counterexample` holds the smallest case that makes it do so:
    (spec, params in the user's layout, X, y as the function received it); None otherwise.
    """

    counterexample = None
    what = None  # the message without the case (from check_implementation)
    smallest = None  # '2-1 - bce N=1': the smallest case, described


def on_smallest_case(err: ImplementationError, smallest: str, counterexample,
                     how: str = "its .counterexample holds it") -> ImplementationError:
    """`err` again, of the same class, naming the smallest case hypothesis shrank to (`smallest`,
    described; `counterexample`, the case itself) and `how` to reproduce it; raise it `from
    err.__cause__` so that the user's own exception stays the cause."""
    raised = type(err)(f"{err} (on the smallest case found: {smallest}; {how})")
    raised.counterexample = counterexample
    raised.what, raised.smallest = str(err), smallest
    return raised


class ImplementationTypeError(ImplementationError, TypeError):
    """The user's function returned a value of the wrong kind (not a tuple, not an array, ...)."""


class ImplementationValueError(ImplementationError, ValueError):
    """The user's function returned arrays of the wrong shape or count, or NaN/inf."""


class ImplementationRaised(ImplementationError, ValueError):
    """The user's function raised an exception (its `__cause__`)."""


class UserResult(NamedTuple):
    """What the user's function computed, in our layout (W (fan_in, fan_out), b (fan_out,))."""

    loss: float
    grads: list  # [(dW, db), ...] in our layout, the user's units (their reduction and mse form)
    output: Optional[np.ndarray]  # (N, K) or None
    intermediates: Optional[dict] = None  # {(kind, layer): array} (`dualgrad.engine.intermediates`), or None
    intermediate_names: Optional[dict] = None  # {(kind, layer): the user's key}
    low_precision: Optional[str] = None  # 'float32' when the function returned float32 (or float16) arrays


def qualified_name(fn) -> str:
    """'my_module.MyNet.loss_and_grads' for a function or bound method; the repr otherwise."""
    if not (inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn)) and hasattr(type(fn), "__call__"):
        fn = type(fn)  # a callable object: its class names it
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        return repr(fn)
    if module and module.startswith("dualgrad_plugin_"):  # a file loaded by --impl / --import
        module = module[len("dualgrad_plugin_"):]
    return f"{module}.{name}" if module and module != "__main__" else name


def check_callable(fn, where: str) -> bool:
    """fn is callable with (params, X, y); returns whether it also takes `spec`."""
    if not callable(fn):
        raise TypeError(f"{where} needs a function fn(params, X, y) -> (loss, grads), got {type(fn).__name__}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some C callables: assume (params, X, y)
        return False
    params = signature.parameters
    takes_spec = "spec" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    try:
        signature.bind(None, None, None, **({"spec": None} if takes_spec else {}))
    except TypeError:
        raise TypeError(f"{where} needs a function called as fn(params, X, y) -> (loss, grads); "
                        f"{qualified_name(fn)}{signature} cannot be called with three arguments") from None
    return takes_spec


def call(fn, spec, conv: Conventions, params, X, y, takes_spec: bool) -> UserResult:
    """Run fn on copies of params (in the user's layout), X and y; the result in our layout."""
    user_params = conv.user_params(params)  # fresh arrays: the user may modify them
    user_y = conv.user_targets(spec, y, X.shape[0])
    kwargs = {"spec": spec} if takes_spec else {}
    try:
        with np.errstate(all="ignore"):  # overflow in a textbook σ is reported through its result
            returned = fn(user_params, np.array(X), user_y, **kwargs)
    except Exception as err:  # the user's own code: reported, never a traceback of ours
        raise ImplementationRaised(f"{qualified_name(fn)} raised {type(err).__name__}: {err}"
                                   f"{_raised_hint(err, spec, conv, user_y)}") from err
    result = read_result(returned, spec, conv, X.shape[0])
    return result._replace(low_precision=_low_precision(returned))


def _raised_hint(err, spec, conv: Conventions, user_y) -> str:
    """What an exception inside the user's function may mean: W in the other layout, y one-hot."""
    text = str(err)
    shape_error = isinstance(err, ValueError) and ("matmul" in text or "not aligned" in text
                                                   or "could not be broadcast" in text)
    square = all(i == o for (i, o), _ in spec.layer_shapes())
    if shape_error and not square:
        other = "out_in" if conv.layout == "in_out" else "in_out"
        stored = "(fan_out, fan_in), PyTorch's nn.Linear layout" if other == "out_in" else "(fan_in, fan_out)"
        return (f"; W is given as {conv._layout_words(True).split(': ')[1]} (layout {conv.layout!r}): if your function "
                f"expects W as {stored}, pass layout={other!r}")
    index_error = isinstance(err, (IndexError, ValueError)) or type(err).__name__ == "AxisError"
    if index_error and conv.targets == "labels" and spec.loss in ("cross_entropy",) and np.ndim(user_y) == 1:
        return (f"; y is given as class labels of shape {np.shape(user_y)}: if your function expects the one-hot "
                "matrix Y (N, K), pass targets='matrix'")
    return ""


def _low_precision(returned) -> Optional[str]:
    """'float32' when any returned gradient or loss is a float32 (or float16) array, else None."""
    found = []

    def walk(value):
        value = _plain(value)
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        else:
            dtype = getattr(value, "dtype", None)
            if dtype is not None and np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize < 8:
                found.append(str(np.dtype(dtype)))

    walk(returned)
    return found[0] if found else None


def read_result(returned, spec, conv: Conventions, n: int) -> UserResult:
    inter = None
    if isinstance(returned, (tuple, list)) and len(returned) in (3, 4) and isinstance(returned[-1], dict):
        inter, returned = returned[-1], tuple(returned[:-1])
    if not isinstance(returned, (tuple, list)) or len(returned) not in (2, 3):
        got = f"a {type(returned).__name__}" + (f" of length {len(returned)}" if isinstance(returned, (tuple, list)) else "")
        raise ImplementationTypeError(f"the function must return (loss, grads) or (loss, grads, output), "
                                      f"optionally followed by a dict of intermediate gradients, got {got}")
    loss = _scalar(returned[0])
    grads = read_grads(returned[1], spec, conv)
    output = _output(returned[2], spec, n) if len(returned) == 3 and returned[2] is not None else None
    if inter is None:
        return UserResult(loss, grads, output)
    arrays = check_keys(inter, spec, n)
    names = {key: name_of(key, spec.n_layers, inter.keys()) for key in arrays}
    return UserResult(loss, grads, output, arrays, names)


def _plain(value):
    """A PyTorch tensor (even one that requires grad) as a NumPy array; anything else as it is."""
    detach = getattr(value, "detach", None)
    if callable(detach) and hasattr(value, "cpu"):
        try:
            return value.detach().cpu().numpy()
        except Exception:
            return value
    return value


def _scalar(value) -> float:
    value = _plain(value)
    arr = value
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        try:
            arr = np.asarray(value)
        except Exception:
            arr = None
        if arr is None or arr.dtype.kind not in "iuf" or arr.size != 1:
            what = type(value).__name__ if arr is None else f"{type(value).__name__} of shape {arr.shape}, dtype {arr.dtype}"
            raise ImplementationTypeError(f"the returned loss must be a real number (a float or a 1-element array), got {what}")
        arr = arr.reshape(()).item()
    loss = float(arr)
    if not np.isfinite(loss):
        raise ImplementationValueError(f"the returned loss is {loss}: expected a finite number")
    return loss


def read_grads(grads, spec, conv: Conventions) -> list:
    """[(dW, db), ...] in our layout from the user's pairs (or pair of lists), checked leaf by leaf."""
    L = spec.n_layers
    if not isinstance(grads, (list, tuple)):
        raise ImplementationTypeError(f"the returned grads must be a list of {L} (dW, db) pairs, got {type(grads).__name__}")
    pairs = _as_pairs(grads, spec, conv)
    out = []
    for l, (pair, (w_shape, b_shape)) in enumerate(zip(pairs, spec.layer_shapes()), start=1):
        leaves = []
        for name, value, shape, is_w in (("dW", pair[0], w_shape, True), ("db", pair[1], b_shape, False)):
            arr = _array(value, f"layer {l}, {name}")
            want = conv.user_shape(shape, is_w)
            if arr.shape != want:
                raise ImplementationValueError(f"layer {l}, {name} has shape {arr.shape}, expected {want} "
                                               f"({conv._layout_words(is_w)}){_layout_hint(arr.shape, shape, is_w, conv)}")
            if not np.isfinite(arr).all():
                bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
                raise ImplementationValueError(f"layer {l}, {name} has {arr[bad]} at index {bad}: expected finite gradients")
            leaves.append(conv.ours(arr, is_w))
        out.append(tuple(leaves))
    return out


def _as_pairs(grads, spec, conv):
    """The user's grads as [(dW, db), ...], from either form. With two layers both forms have
    two entries of two arrays: the shapes decide, and where they cannot (every shape alike, as
    in a 1-1-1 network) the containers do: the article's `return gradients_w, gradients_b` is a
    tuple of two lists."""
    L = spec.n_layers
    pairs_form = len(grads) == L and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in grads)
    lists_form = len(grads) == 2 and all(isinstance(g, (list, tuple)) and len(g) == L for g in grads)
    if pairs_form and lists_form:
        as_pairs = [tuple(p) for p in grads]
        as_lists = list(zip(grads[0], grads[1]))
        fits_pairs, fits_lists = _fits(as_pairs, spec, conv), _fits(as_lists, spec, conv)
        if fits_pairs != fits_lists:
            return as_pairs if fits_pairs else as_lists
        tuple_of_lists = isinstance(grads, tuple) and all(isinstance(g, list) for g in grads)
        return as_lists if tuple_of_lists else as_pairs
    if pairs_form:
        return [tuple(p) for p in grads]
    if lists_form:
        return list(zip(grads[0], grads[1]))
    lists = "[dW1], [db1]" if L == 1 else f"[dW1, ..., dW{L}], [db1, ..., db{L}]"
    raise ImplementationValueError(
        f"the returned grads must hold one (dW, db) pair per layer ({L} pair{'s' if L != 1 else ''}), or two "
        f"lists ({lists}); got a {type(grads).__name__} of length {len(grads)}")


def _fits(pairs, spec, conv) -> bool:
    return all(np.shape(dW) == conv.user_shape(w, True) and np.shape(db) == conv.user_shape(b, False)
               for (dW, db), (w, b) in zip(pairs, spec.layer_shapes()))


def _array(value, name) -> np.ndarray:
    value = _plain(value)
    try:
        arr = np.asarray(value)
    except Exception:
        arr = None
    if arr is None or arr.dtype.kind not in "iuf":
        kind = type(value).__name__ if arr is None else f"{type(value).__name__} of dtype {arr.dtype}"
        raise ImplementationTypeError(f"{name} must be an array of real numbers, got {kind}")
    return arr.astype(np.float64, copy=False)


def _layout_hint(got, shape, is_weight: bool, conv: Conventions) -> str:
    if is_weight and got == conv.user_shape((shape[1],), False):
        return "; that is db's shape: are (dW, db) swapped?"
    if not is_weight and len(got) == 2 and got == conv.user_shape(shape, True):
        return "; that is dW's shape: are (dW, db) swapped?"
    if is_weight and got == tuple(shape[::-1]) and got != tuple(shape):
        other = "out_in" if conv.layout == "in_out" else "in_out"
        return f"; it looks transposed: if your W is stored that way, pass layout={other!r}"
    if not is_weight and got != conv.user_shape(shape, False):
        for bias in ("vector", "row", "column"):
            if got == Conventions(bias=bias).user_shape(shape, False):
                return f"; if your b is stored that way, pass bias={bias!r}"
    return ""


def _output(value, spec, n: int) -> np.ndarray:
    arr = _array(value, "the returned output")
    k = spec.sizes[-1]
    if arr.shape == (n,) and k == 1:
        arr = arr.reshape(n, 1)
    if arr.shape != (n, k):
        raise ImplementationValueError(f"the returned output has shape {arr.shape}, expected ({n}, {k})"
                                       + (f" or ({n},)" if k == 1 else ""))
    return arr


_KEY = re.compile(r"^d([az])(\d+)$")


def check_keys(returned: dict, spec, n: int) -> dict:
    """{(kind, layer): array} from the user's dict ('dlogits' as ('z', L)); a ValueError/TypeError
    (an ImplementationError) naming the valid keys otherwise."""
    L = spec.n_layers
    valid = ["dlogits"] + [f"dz{l}" for l in range(1, L + 1)] + [f"da{l}" for l in range(1, L)]
    out = {}
    for key, value in returned.items():
        if not isinstance(key, str):
            raise ImplementationTypeError(f"the intermediates dict's keys must be strings such as 'dz1', got {key!r}")
        if key == "dlogits":
            where = ("z", L)
        else:
            m = _KEY.match(key)
            where = (m.group(1), int(m.group(2))) if m else None
            if where is None or not (1 <= where[1] <= L) or (where[0] == "a" and where[1] == L):
                raise ImplementationValueError(
                    f"the intermediates dict has key {key!r}; valid keys for this {L}-layer network: "
                    f"{', '.join(valid)} (dL/dz_l and dL/da_l, layers 1-based; da{L} is ŷ's, not compared: "
                    "return dlogits)")
        if where in out:
            raise ImplementationValueError(f"the intermediates dict has both 'dlogits' and 'dz{L}': they are the "
                                           "same gradient; return one")
        arr = _array(value, f"the intermediate {key}")
        want = (n, spec.sizes[where[1]])
        if arr.shape != want:
            hint = ("; it looks transposed: return it as (N, width), one row per example"
                    if arr.shape == want[::-1] else "")
            raise ImplementationValueError(f"the intermediate {key} has shape {arr.shape}, expected {want} "
                                           f"(N, the width of layer {where[1]}){hint}")
        if not np.isfinite(arr).all():
            raise ImplementationValueError(f"the intermediate {key} is not finite: expected finite gradients")
        out[where] = arr
    return out


def name_of(key, L: int, user_keys=()) -> str:
    kind, l = key
    if kind == "z" and l == L and "dlogits" in user_keys:
        return "dlogits"
    return f"d{kind}{l}"
