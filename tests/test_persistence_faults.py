"""Faults tests/test_persistence.py does not try (issue 6): a save interrupted at each
other stage (fsync, the final rename, a KeyboardInterrupt halfway through the bytes)
leaves the previous file whole and no temporary file; a rejected load never changes
the file it read. (Round trips, a failing write, pickled, truncated, corrupted and
foreign files are in tests/test_persistence.py and tests/fuzz/bad_inputs.py.)"""

from __future__ import annotations

import os

import numpy as np
import pytest

from manual import MLP, persistence

X = np.array([[0.0, 1], [1, 0], [1, 1], [0, 0]])
Y = np.array([0, 1, 1, 0])


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    MLP([2, 4, 2], epochs=2, seed=0).fit(X, Y).save(path)
    return path


def _interrupt_write(f, arrays):
    np.savez(f, **arrays)
    f.truncate(f.tell() // 2)  # half the archive is on disk
    raise KeyboardInterrupt


def _fail_fsync(fd):
    raise OSError("fsync: I/O error")


def _fail_replace(src, dst):
    raise PermissionError("rename refused")


@pytest.mark.parametrize("target, fault, error", [
    ("_write", _interrupt_write, KeyboardInterrupt),
    ("os.fsync", _fail_fsync, OSError),
    ("os.replace", _fail_replace, PermissionError),
])
def test_interrupted_save_leaves_the_old_file_and_no_temporary(saved, monkeypatch, target, fault, error):
    before = saved.read_bytes()
    newer = MLP([2, 4, 2], epochs=3, seed=5).fit(X, Y)
    if target == "_write":
        monkeypatch.setattr(persistence, "_write", fault)
    else:
        monkeypatch.setattr(persistence.os, target.split(".")[1], fault)
    with pytest.raises(error):
        newer.save(saved)
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == ["model.npz"]
    assert np.array_equal(MLP.load(saved).params[0][0], MLP([2, 4, 2], epochs=2, seed=0).fit(X, Y).params[0][0])


@pytest.mark.parametrize("damage", ["truncate", "flip", "version"])
def test_rejected_load_leaves_the_file_as_it_was(saved, damage):
    data = bytearray(saved.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 3]
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF
        data[-30] ^= 0xFF
    else:
        with np.load(saved, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays["version"] = np.array(2)
        with open(saved, "wb") as f:
            np.savez(f, **arrays)
        data = bytearray(saved.read_bytes())
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=str(saved.name)):
        MLP.load(saved)
    assert saved.read_bytes() == bytes(data)
