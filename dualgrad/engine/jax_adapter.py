"""check_layer's JAX side: a JAX function's outputs, vjp and jvp at one case, at any precision.

Three roles, one code path (`jax_side`):

- the reference (a plain JAX function, gradients by jax.vjp, J v by jax.jvp), in float64;
- the same reference run at a lower precision (the baseline a float32 implementation is judged by);
- an implementation written as a `jax.custom_vjp` function: jax.vjp of it runs its hand-written bwd.

The function is called as `fn(*inputs, *params, **hyper)` and returns one array or a tuple of
arrays. Python ints, bools, strings, None and tuples among the hyperparameters are compiled in
(static); floats, NumPy scalars and arrays are traced. One jitted program per function, static
hyperparameters and set of differentiated arguments; jax.jit caches it per shape and dtype.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_STATIC = (bool, int, str, type(None), tuple)
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def is_custom_vjp(fn) -> bool:
    """fn is a `jax.custom_vjp` function (checked without importing jax when jax is not loaded)."""
    return any(c.__name__ == "custom_vjp" and c.__module__.startswith("jax") for c in type(fn).__mro__)


def static_key(hyper):
    """(static items, traced names): Python ints, bools, strings, None and tuples are compiled in."""
    static = tuple(sorted((k, v) for k, v in hyper.items() if isinstance(v, _STATIC)))
    traced = tuple(sorted(k for k, v in hyper.items() if not isinstance(v, _STATIC)))
    return static, traced


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _assemble(arrays, diff, primals):
    it = iter(primals)
    return [next(it) if d else a for a, d in zip(arrays, diff)]


@lru_cache(maxsize=256)
def _compiled(fn, diff, static, traced, with_jvp=True):
    """One jitted (outs, vjp(douts), jvp(tangents)) per function, differentiated arguments and
    static hyperparameters; jax.jit caches per shape and dtype."""
    import jax

    def run(arrays, traced_values, douts, tangents):
        hyper = dict(static)
        hyper.update(zip(traced, traced_values))

        def f(*primals):
            return _as_tuple(fn(*_assemble(arrays, diff, primals), **hyper))

        primals = tuple(a for a, d in zip(arrays, diff) if d)
        outs, vjp = jax.vjp(f, *primals)
        grads = vjp(tuple(douts))
        if not with_jvp:
            return outs, grads, ()
        _, jv = jax.jvp(f, primals, tuple(tangents))
        return outs, grads, jv

    try:  # tiny arrays: XLA's optimisation passes cost far more compile time than they save
        return jax.jit(run, compiler_options=_FAST_COMPILE)
    except TypeError:  # a JAX without compiler_options
        return jax.jit(run)


@lru_cache(maxsize=4096)
def _out_shapes(fn, shapes, static, traced, traced_shapes):
    import jax

    arrays = [jax.ShapeDtypeStruct(s, d) for s, d in shapes]
    values = [jax.ShapeDtypeStruct(s, d) for s, d in traced_shapes]

    def f(arrays, values):
        hyper = dict(static)
        hyper.update(zip(traced, values))
        return _as_tuple(fn(*arrays, **hyper))

    return tuple(tuple(o.shape) for o in jax.eval_shape(f, arrays, values))


def out_shapes(fn, arrays, hyper):
    """The shapes of fn's outputs (a tuple, one per output) without running it."""
    static, traced = static_key(hyper)
    values = [np.asarray(hyper[k]) for k in traced]
    return _out_shapes(fn, tuple((a.shape, a.dtype) for a in arrays), static, traced,
                       tuple((v.shape, v.dtype) for v in values))


def _pad(a, names, bucket):
    if not bucket or names is None:
        return a
    widths = [(0, bucket[n] - a.shape[i]) if isinstance(n, str) and n in bucket else (0, 0)
              for i, n in enumerate(names)]
    if not any(w for _, w in widths):
        return a
    return np.pad(a, widths)


def cast(a, dtype):
    """A float array at `dtype` (a NumPy or ml_dtypes name); integer and bool arrays unchanged."""
    a = np.asarray(a)
    if a.dtype.kind != "f":
        return a
    if dtype in ("bfloat16",):
        import ml_dtypes

        return a.astype(ml_dtypes.bfloat16)
    return a.astype(dtype)


def jax_side(fn, arrays, diff, hyper, douts_of, dtype="float64", names=None, bucket=None, jvp=True):
    """Run fn at one case: (outs, grads, J v, douts, tangents), NumPy float64, on the real shapes.

    arrays   -- every positional argument (inputs then params), NumPy
    diff     -- one bool per array: differentiated or not
    douts_of -- (out_shapes) -> (douts, tangents), drawn once the outputs' shapes are known
    dtype    -- the precision fn runs at (float arrays and float hyper arrays are cast to it)
    names, bucket -- each array's dim names and {dim: size}: pad along those dims (zeros change no
                 real entry), one compiled program for every drawn size; the results are sliced back
    """
    import jax

    arrays = [cast(a, dtype) for a in arrays]
    hyper = {k: (cast(v, dtype) if isinstance(v, np.ndarray) else
                 cast(np.float64(v), dtype)[()] if isinstance(v, (float, np.floating)) and dtype != "float64" else v)
             for k, v in hyper.items()}  # a float64 scalar would promote the whole computation
    static, traced = static_key(hyper)
    traced_values = [np.asarray(hyper[k]) for k in traced]
    shapes = out_shapes(fn, arrays, hyper)
    douts, tangents = douts_of(shapes)
    douts_c = [cast(d, dtype) for d in douts]
    tangents_c = [cast(t, dtype) for t in tangents]
    if bucket and names is not None:
        arrays_p = [_pad(a, n, bucket) for a, n in zip(arrays, names)]
        shapes_p = out_shapes(fn, arrays_p, hyper)
        douts_p = []
        for d, sp in zip(douts_c, shapes_p):
            z = np.zeros(sp, d.dtype)
            z[tuple(slice(0, s) for s in d.shape)] = d
            douts_p.append(z)
        diff_names = [n for n, d in zip(names, diff) if d]
        tangents_p = [_pad(t, n, bucket) for t, n in zip(tangents_c, diff_names)]
    else:
        arrays_p, douts_p, tangents_p = arrays, douts_c, tangents_c
    run = _compiled(fn, tuple(diff), static, traced, jvp)
    outs, grads, jv = jax.device_get(run(list(arrays_p), traced_values, list(douts_p), list(tangents_p)))
    outs = [np.asarray(o, np.float64)[tuple(slice(0, s) for s in sh)] for o, sh in zip(outs, shapes)]
    real = [a for a, d in zip(arrays, diff) if d]
    grads = [np.asarray(g, np.float64)[tuple(slice(0, s) for s in a.shape)] for g, a in zip(grads, real)]
    jv = [np.asarray(j, np.float64)[tuple(slice(0, s) for s in sh)] for j, sh in zip(jv, shapes)]
    return outs, grads, jv, douts, tangents
