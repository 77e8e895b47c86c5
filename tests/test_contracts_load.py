"""What `MLP.load` accepts, as manual/persistence.py states it, from both sides of every check.

    `load` raises ValueError for anything that is not a complete file of this format and
    version, naming the file and the problem.

tests/test_persistence.py refuses one damaged value per check; a check written with the wrong
comparison (`>` for `!=`, `<` for `<=`) refuses that value and lets its mirror image through. Here
each entry is damaged on the other side too (a version below 1 as well as above, a float32 array in a
float64 model as well as the reverse, an epoch count too large as well as too small, ...), and what
must load does load: a file saved with data beside the model, a model saved before any training
(optimizer count 0), a model given hidden_sizes, a replaced file's mode.
Found by the mutation run of manual/persistence.py (docs/mutation-testing.md).
"""

import json
import os

import numpy as np
import pytest

from manual import MLP, datasets, persistence


def data():
    return datasets.moons(40, noise=0.2, seed=3)


def arrays_of(path):
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def rewrite(path, arrays, **changes):
    arrays = dict(arrays)
    for name, value in changes.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    np.savez(path, **arrays)


def with_meta(arrays, **changes):
    meta = json.loads(arrays["meta"].item())
    meta.update(changes)
    return np.array(json.dumps(meta))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(path, its arrays) of a float64 adam classifier fitted 3 epochs with early stopping."""
    path = tmp_path_factory.mktemp("load") / "model.npz"
    X, y = data()
    MLP([2, 4, 2], epochs=3, early_stopping=True, patience=5).fit(X, y).save(path)
    return path, arrays_of(path)


def damaged(saved, tmp_path):
    return tmp_path / "damaged.npz", saved[1]


CASES = [  # (what, changes (arrays, W) -> {name: new entry}, match)
    ("format tag sorting before ours", lambda a: dict(format=np.array("a.Model")), "format tag"),
    ("format tag as bytes", lambda a: dict(format=np.array(b"dualgrad.MLP")), "'format' must be"),
    ("format tag as an int", lambda a: dict(format=np.array(7)), "'format' must be"),
    ("format tag as a 1-D array", lambda a: dict(format=np.array(["dualgrad.MLP"])), "'format' must be"),
    ("version 0", lambda a: dict(version=np.array(0)), "format version 0"),
    ("version as a float", lambda a: dict(version=np.array(1.0)), "'version' must be"),
    ("version as a bool", lambda a: dict(version=np.array(True)), "'version' must be"),
    ("an unknown key in meta", lambda a: dict(meta=with_meta(a, colour=1)), "expected keys"),
    ("a key missing from meta", lambda a: dict(meta=np.array(json.dumps(
        {k: v for k, v in json.loads(a["meta"].item()).items() if k != "rng"}))), "expected keys"),
    ("float32 W in a float64 model", lambda a: {"params.1.W": a["params.1.W"].astype(np.float32)}, "float64"),
    ("W with fewer rows", lambda a: {"params.1.W": a["params.1.W"][:1]}, "params.1.W must be"),
    ("b with more entries", lambda a: {"params.1.b": np.zeros(5)}, "params.1.b must be"),
    ("optimizer_count true", lambda a: dict(meta=with_meta(a, optimizer_count=True)), "optimizer_count"),
    ("optimizer_count as a str", lambda a: dict(meta=with_meta(a, optimizer_count="3")), "optimizer_count"),
    ("n_epochs beyond the history", lambda a: dict(meta=with_meta(a, n_epochs=4)), "n_epochs"),
    ("n_epochs below the history", lambda a: dict(meta=with_meta(a, n_epochs=2)), "n_epochs"),
    ("best_epoch 0", lambda a: dict(meta=with_meta(a, best_epoch=0)), "best_epoch"),
    ("best_epoch beyond n_epochs", lambda a: dict(meta=with_meta(a, best_epoch=4)), "best_epoch"),
    ("best_epoch true", lambda a: dict(meta=with_meta(a, best_epoch=True)), "best_epoch"),
    ("best_epoch as a str", lambda a: dict(meta=with_meta(a, best_epoch="1")), "best_epoch"),
    ("a 2-D loss history", lambda a: dict(loss_history=a["loss_history"][:, None]), "loss_history must be 1-D"),
    ("a 0-d loss history", lambda a: dict(loss_history=np.array(1.0)), "loss_history must be 1-D"),
    ("a float32 loss history", lambda a: dict(loss_history=a["loss_history"].astype(np.float32)),
     "loss_history must be 1-D float64"),
    ("a complex loss history", lambda a: dict(loss_history=a["loss_history"].astype(np.complex128)),
     "loss_history must be 1-D float64"),
    ("an int validation history", lambda a: dict(validation_history=np.array([1, 2, 3])),
     "validation_history must be 1-D float64"),
]


@pytest.mark.parametrize("what,changes,match", CASES, ids=[c[0] for c in CASES])
def test_a_damaged_entry_is_refused_from_either_side(saved, tmp_path, what, changes, match):
    path, arrays = saved
    out = tmp_path / "damaged.npz"
    rewrite(out, arrays, **changes(arrays))
    with pytest.raises(ValueError, match=match) as err:
        MLP.load(out)
    assert str(out) in str(err.value)


def test_the_undamaged_entries_load(saved, tmp_path):
    """The fixture's own arrays, rewritten the same way, load: the cases above fail for their change."""
    path, arrays = saved
    out = tmp_path / "same.npz"
    rewrite(out, arrays)
    assert MLP.load(out).n_epochs_ == 3 and MLP.load(out).best_epoch_ is not None


def test_float64_params_in_a_float32_model_are_refused(tmp_path):
    path = tmp_path / "m32.npz"
    X, y = data()
    MLP([2, 4, 2], epochs=1, dtype=np.float32).fit(X, y).save(path)
    arrays = arrays_of(path)
    rewrite(path, arrays, **{"params.2.W": arrays["params.2.W"].astype(np.float64)})
    with pytest.raises(ValueError, match="params.2.W must be float32"):
        MLP.load(path)


def test_data_saved_beside_the_model_comes_back(tmp_path):
    path = tmp_path / "with_data.npz"
    X, y = data()
    model = MLP([2, 4, 2], epochs=1).fit(X, y)
    mean, names = np.array([0.5, -1.0]), np.array(["x0", "x1"])
    persistence.save(model, path, data=({"scaler": "standard"}, {"mean": mean, "feature_names": names}))
    loaded, meta, arrays = persistence.load_with_data(path)
    assert meta == {"scaler": "standard"} and sorted(arrays) == ["feature_names", "mean"]
    assert np.array_equal(arrays["mean"], mean) and np.array_equal(arrays["feature_names"], names)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    with pytest.raises(ValueError, match="must hold numbers or str"):
        persistence.save(model, tmp_path / "bad.npz", data=({}, {"objects": np.array([{}, 1], dtype=object)}))


def test_a_model_saved_before_any_training_loads_and_trains_as_the_original(tmp_path):
    X, y = data()
    model = MLP([2, 4, 2], epochs=2, seed=5).initialize(classes=[0, 1])
    assert model.t_ == 0
    model.save(tmp_path / "fresh.npz")
    loaded = MLP.load(tmp_path / "fresh.npz")
    assert loaded.t_ == 0
    model.partial_fit(X, y)
    loaded.partial_fit(X, y)
    assert all(np.array_equal(a, b) for pa, pb in zip(model.params, loaded.params) for a, b in zip(pa, pb))


@pytest.mark.parametrize("spec_change", [
    dict(sizes=[2, 7, 2]),  # another hidden width than hidden_sizes says: wider
    dict(sizes=[2, 5, 2]),  # narrower
    dict(sizes=[2, 6, 6, 2], hidden=["relu", "relu"]),  # another depth
    dict(l2=0.0),  # a smaller l2 than the settings'
    dict(l2=0.5),  # a larger one
    dict(loss="binary_cross_entropy", sizes=[2, 6, 1]),  # another loss than the settings'
], ids=["wider", "narrower", "depth", "smaller l2", "larger l2", "loss"])
def test_a_hidden_sizes_model_refuses_a_spec_that_disagrees_with_its_settings(tmp_path, spec_change):
    path = tmp_path / "hs.npz"
    X, y = data()
    MLP(hidden_sizes=[6], loss="cross_entropy", l2=0.1, epochs=1).fit(X, y).save(path)
    arrays = arrays_of(path)
    assert MLP.load(path).spec.sizes == (2, 6, 2)  # as saved, it loads
    meta = json.loads(arrays["meta"].item())
    rewrite(path, arrays, meta=np.array(json.dumps({**meta, "spec": {**meta["spec"], **spec_change}})))
    with pytest.raises(ValueError, match="disagrees with the settings"):
        MLP.load(path)


def test_a_replaced_file_keeps_every_bit_of_its_mode(tmp_path):
    X, y = data()
    model = MLP([2, 4, 2], epochs=1).fit(X, y)
    path = tmp_path / "old.npz"
    path.write_bytes(b"")
    os.chmod(path, 0o751)
    model.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o751


def test_data_meta_that_is_not_json_is_refused_before_any_file_is_written(tmp_path):
    X, y = data()
    model = MLP([2, 4, 2], epochs=1).fit(X, y)
    for meta in ({"scaler": object()}, {"mean": float("nan"), "bad": {1, 2}}):
        with pytest.raises(ValueError, match="data's meta must be JSON values"):
            persistence.save(model, tmp_path / "m.npz", data=(meta, {}))
    assert os.listdir(tmp_path) == []


def test_a_failed_save_reports_its_own_error_even_if_the_temporary_file_is_gone(tmp_path, monkeypatch):
    """The clean-up after a failed write must not replace the write's error with its own."""
    X, y = data()
    model = MLP([2, 4, 2], epochs=1).fit(X, y)

    def write_then_lose_the_file(f, arrays):
        for name in os.listdir(tmp_path):  # the temporary file vanishes (another process's clean-up)
            os.unlink(tmp_path / name)
        raise OSError("disk full")

    monkeypatch.setattr(persistence, "_write", write_then_lose_the_file)
    with pytest.raises(OSError, match="disk full"):
        model.save(tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []
