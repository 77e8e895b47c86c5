"""Save and load an MLP as one .npz file: no pickle, written atomically, checked on load.

Format version 1. Every entry is a plain typed array (np.load(..., allow_pickle=False)
reads it):

    format                  0-d str    "dualgrad.MLP"
    version                 0-d int64  1
    meta                    0-d str    JSON: {"settings": the constructor's arguments,
                                       "spec": NetworkSpec.to_dict(), "n_epochs": int,
                                       "best_epoch": int | null, "optimizer_count": int,
                                       "rng": the PCG64 bit_generator.state (ints as JSON ints)}
    params.{l}.W, params.{l}.b         layer l = 1..L, (fan_in, fan_out) and (fan_out,), in dtype
    opt.{field}.{l}.W, opt.{field}.{l}.b   the optimizer's per-parameter state (sgd: trace, only
                                       with momentum; adam: mu, nu; rmsprop: nu), like params
    classes                 (K,)       classes_ of a classifier: bool, int, float or str
    loss_history, validation_history   (E,) float64
    data.{name}             optional   what the caller trained on (`save(..., data=...)`): typed
                                       arrays (numbers or str, e.g. a scaler's mean and scale,
                                       feature names), and meta's optional key "data" (JSON)

settings.learning_rate is a float, or {"schedule": config} for a schedule made by
manual.optimizers (constant, exponential_decay, step_decay; see schedule_from_config).
settings.sizes is null and settings.hidden_sizes a list for a model given hidden_sizes.

`load` restores everything `fit`/`partial_fit` read, generator included: a loaded
model continues with `partial_fit` exactly as the saved one would have.

`save` writes to a temporary file in the target's directory, flushes and fsyncs it,
then renames it over `path` (os.replace, atomic on POSIX and Windows): a failed
save leaves any previous file untouched. A model with a custom Optimizer object
cannot be saved (its rule and schedule are code, not data): a ValueError says so.
`load` raises ValueError for anything that is not a complete file of this format
and version, naming the file and the problem.
"""

from __future__ import annotations

import json
import os
import secrets
import zipfile
import zlib

import numpy as np

from .spec import NetworkSpec

FORMAT = "dualgrad.MLP"
VERSION = 1
STATE_FIELDS = {"sgd": ("trace",), "adam": ("mu", "nu"), "rmsprop": ("nu",)}  # per-parameter optimizer state


def save(model, path, data=None) -> None:
    """Write `model` (fitted, with a named optimizer) to `path` atomically.

    data: optional (meta, arrays): a JSON-able dict and {name: array of numbers or str}
    stored beside the model (`load_with_data` returns them)."""
    path = os.fspath(path)
    arrays = to_arrays(model, data)  # every check first: a refused save touches no file
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as with open(path, "wb")
    try:
        with os.fdopen(fd, "wb") as f:
            _write(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(path):
            os.chmod(tmp, os.stat(path).st_mode & 0o777)  # a replaced file keeps its mode, as with open()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write(f, arrays) -> None:
    """The .npz bytes (a separate function so tests can make a write fail midway)."""
    np.savez(f, **arrays)


def to_arrays(model, data=None) -> dict:
    """{name: typed array} of the file, or a ValueError if `model` cannot be saved."""
    if not isinstance(model.optimizer, str):
        raise ValueError("cannot save an MLP built with an Optimizer object: its rule and schedule are code, "
                         "not data. Use optimizer='sgd', 'adam' or 'rmsprop' to make a model that can be saved")
    if callable(model.learning_rate) and not isinstance(getattr(model.learning_rate, "config", None), dict):
        raise ValueError("cannot save an MLP whose learning_rate is a schedule written as code: use one of "
                         "manual.optimizers' constant, exponential_decay or step_decay, which can be saved")
    params = model.params  # NotFittedError (a ValueError) if there is nothing to save
    state = model._state
    meta = {
        "settings": settings(model),
        "spec": model.spec.to_dict(),
        "n_epochs": model.n_epochs_,
        "best_epoch": model.best_epoch_,
        "optimizer_count": int(state.count),
        "rng": model._rng.bit_generator.state,
    }
    arrays = {"format": np.array(FORMAT), "version": np.array(VERSION, dtype=np.int64), "meta": np.array(json.dumps(meta))}
    arrays.update(_tree("params", params))
    for field in STATE_FIELDS[model.optimizer]:
        tree = getattr(state, field)
        if tree is not None:
            arrays.update(_tree(f"opt.{field}", tree))
    if model.classes_ is not None:
        arrays["classes"] = np.asarray(model.classes_)
    arrays["loss_history"] = np.array(model.loss_history, dtype=np.float64)
    arrays["validation_history"] = np.array(model.validation_history, dtype=np.float64)
    if data is not None:
        data_meta, data_arrays = data
        try:
            json.dumps(data_meta)
        except (TypeError, ValueError) as err:
            raise ValueError(f"data's meta must be JSON values: {err}") from None
        meta["data"] = data_meta
        arrays["meta"] = np.array(json.dumps(meta))
        for name, value in data_arrays.items():
            value = np.asarray(value)
            if value.dtype.kind not in "biufU":
                raise ValueError(f"data array {name!r} must hold numbers or str, got dtype {value.dtype}")
            arrays[f"data.{name}"] = value
    return arrays


def settings(model) -> dict:
    """The constructor's arguments, as JSON values."""
    lr = model.learning_rate
    if model.hidden_sizes is not None:
        net = {"sizes": None, "hidden_sizes": list(model.hidden_sizes), "loss": model._loss,
               "hidden": model._hidden if isinstance(model._hidden, str) else list(model._hidden)}
    else:
        net = {"sizes": list(model.spec.sizes), "hidden": list(model.spec.hidden), "loss": model.spec.loss}
    return {
        **net,
        "optimizer": model.optimizer, "learning_rate": {"schedule": lr.config} if callable(lr) else lr,
        "momentum": model.momentum,
        "l2": model._l2, "batch_size": model.batch_size, "epochs": model.epochs, "shuffle": model.shuffle,
        "seed": model.seed, "dtype": model.dtype.name, "early_stopping": model.early_stopping,
        "validation_fraction": model.validation_fraction, "patience": model.patience, "init": model.init,
        "verbose": model.verbose,
    }


def load(path):
    """The MLP saved at `path`; ValueError naming the file for anything else."""
    return load_with_data(path)[0]


def load_with_data(path):
    """(the MLP saved at `path`, data meta or None, {name: array} of the data arrays)."""
    from .mlp import MLP

    path = os.fspath(path)
    try:
        # NOTE: the file is opened here, not by np.load, which leaves it open when a corrupted archive fails
        with open(path, "rb") as f:
            npz = np.load(f, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise _Bad("a single .npy array, not an .npz archive")
            with npz:
                arrays = {name: npz[name] for name in npz.files}
    except _Bad as err:
        raise ValueError(f"{path}: not a dualgrad MLP file: {err}") from None
    # NOTE: a damaged zip header can also claim encryption (RuntimeError) or an unknown
    # compression method (NotImplementedError), or make a member fail to inflate (zlib.error)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError, NotImplementedError,
            zlib.error) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a readable dualgrad MLP file (truncated, corrupted, pickled or foreign): "
                         f"{type(err).__name__}: {err}") from None
    try:
        model, data_meta = _from_arrays(MLP, arrays)
        return model, data_meta, {name[5:]: a for name, a in arrays.items() if name.startswith("data.")}
    except (_Bad, TypeError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: not a valid dualgrad MLP file: {err}") from None


class _Bad(Exception):
    pass


def _from_arrays(MLP, arrays):
    tag = _scalar(arrays, "format", "U")
    if tag != FORMAT:
        raise _Bad(f"format tag {tag!r}, expected {FORMAT!r}")
    version = _scalar(arrays, "version", "i")
    if version != VERSION:
        raise _Bad(f"format version {version}, this dualgrad reads version {VERSION} only")
    meta = json.loads(_scalar(arrays, "meta", "U"))
    keys = {"settings", "spec", "n_epochs", "best_epoch", "optimizer_count", "rng"}
    if not isinstance(meta, dict) or not keys <= set(meta) <= keys | {"data"}:
        raise _Bad("meta does not hold the expected keys")
    settings = meta["settings"]
    if isinstance(settings, dict) and isinstance(settings.get("learning_rate"), dict):
        from .optimizers import schedule_from_config

        settings = {**settings, "learning_rate": schedule_from_config(settings["learning_rate"].get("schedule"))}
    if not isinstance(settings, dict):
        raise _Bad("settings must be a dict")
    model = MLP(**settings)  # validates every setting
    spec = NetworkSpec.from_dict(meta["spec"])
    if model.hidden_sizes is not None:
        fits = (list(spec.sizes[1:-1]) == model.hidden_sizes and model._loss in (None, spec.loss)
                and spec.l2 == model._l2)
        if fits:
            model._set_spec(spec)
    if spec != model.spec:
        raise _Bad(f"spec {meta['spec']} disagrees with the settings")
    params = _read_tree(arrays, "params", model.spec.layer_shapes(), model.dtype)
    state = model._opt.init(params)
    fields = {}
    for field in STATE_FIELDS[model.optimizer]:
        if getattr(state, field) is not None:
            fields[field] = _read_tree(arrays, f"opt.{field}", [(W.shape, b.shape) for W, b in params], model.dtype)
    count = meta["optimizer_count"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise _Bad(f"optimizer_count must be an int >= 0, got {count!r}")
    state = state._replace(count=count, **fields)
    classes = None
    if model.is_classifier:
        if "classes" not in arrays:
            raise _Bad("a classifier's file needs 'classes'")
        classes = model._check_classes(arrays["classes"])
        if not np.array_equal(classes, arrays["classes"]):
            raise _Bad("classes must be sorted and distinct")
    histories = {name: _history(arrays, name) for name in ("loss_history", "validation_history")}
    n_epochs, best = meta["n_epochs"], meta["best_epoch"]
    if isinstance(n_epochs, bool) or not isinstance(n_epochs, int) or n_epochs != len(histories["loss_history"]):
        raise _Bad(f"n_epochs {n_epochs!r} disagrees with loss_history ({len(histories['loss_history'])} entries)")
    if best is not None and (isinstance(best, bool) or not isinstance(best, int) or not 1 <= best <= n_epochs):
        raise _Bad(f"best_epoch must be null or an epoch in 1..{n_epochs}, got {best!r}")
    rng = np.random.default_rng()
    try:
        rng.bit_generator.state = meta["rng"]
    except (TypeError, ValueError, KeyError) as err:
        raise _Bad(f"unreadable generator state: {err}") from None
    model._params, model._state, model._rng, model.classes_ = params, state, rng, classes
    model.loss_history = histories["loss_history"].tolist()
    model.validation_history = histories["validation_history"].tolist()
    model.n_epochs_, model.best_epoch_ = n_epochs, best
    return model, meta.get("data")


def _tree(prefix, tree) -> dict:
    out = {}
    for l, (W, b) in enumerate(tree, start=1):
        out[f"{prefix}.{l}.W"] = W
        out[f"{prefix}.{l}.b"] = b
    return out


def _read_tree(arrays, prefix, shapes, dtype) -> list:
    tree = []
    for l, shape_pair in enumerate(shapes, start=1):
        pair = []
        for leaf, shape in zip("Wb", shape_pair):
            name = f"{prefix}.{l}.{leaf}"
            if name not in arrays:
                raise _Bad(f"missing array {name!r}")
            a = arrays[name]
            if a.shape != shape or a.dtype != dtype:
                raise _Bad(f"{name} must be {dtype.name} of shape {shape}, got {a.dtype} of shape {a.shape}")
            if not np.isfinite(a).all():
                raise _Bad(f"{name} holds NaN or infinite values")
            pair.append(np.array(a))  # a fresh, writeable array
        tree.append(tuple(pair))
    return tree


def _scalar(arrays, name, kind):
    if name not in arrays:
        raise _Bad(f"missing entry {name!r}")
    a = arrays[name]
    if a.shape != () or a.dtype.kind != kind:
        raise _Bad(f"{name!r} must be a 0-d array of kind {kind!r}, got {a.dtype} of shape {a.shape}")
    return a.item()


def _history(arrays, name):
    if name not in arrays:
        raise _Bad(f"missing entry {name!r}")
    a = arrays[name]
    if a.ndim != 1 or a.dtype != np.float64:
        raise _Bad(f"{name} must be 1-D float64, got {a.dtype} of shape {a.shape}")
    return a
