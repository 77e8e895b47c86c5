"""The `dualgrad` command through its entry point: exit codes, tables, JSON schema, PNG files, errors.

Most tests call `dualgrad.cli.main([...])` in-process (capsys); a few run the real
`python -m dualgrad` and the `dualgrad` console script in a subprocess. Networks are
small and epochs few so that the reference compiles once and the module stays fast.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from dualgrad.cli.main import main
from manual import activations as manual_acts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    """(exit status, stdout, stderr) of `dualgrad argv...`."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(err, *words):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dualgrad: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, err)


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Each test runs in its own directory: `train` writes plots/ into the working directory."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def wrong_tanh(monkeypatch):
    """manual's tanh with the derivative 1 − a (a plausible slip for 1 − a²), for this test only."""
    act = manual_acts.ACTIVATIONS["tanh"]
    monkeypatch.setitem(manual_acts.ACTIVATIONS, "tanh", act._replace(derivative=lambda z, a: 1.0 - a))


# ---- verify -----------------------------------------------------------------


def test_verify_sweep_covers_every_activation_and_loss(capsys):
    status, out, err = run(capsys, "verify", "--examples", "9", "--json")
    assert status == 0, err
    report = json.loads(out)
    hidden = {name for net in report["networks"] for name in net["spec"]["hidden"]}
    losses = {net["spec"]["loss"] for net in report["networks"]}
    assert hidden >= set(manual_acts.BUILT_IN)
    assert losses == {"binary_cross_entropy", "cross_entropy", "mse"}


def test_verify_sweep_table_has_one_row_per_network_and_parameter(capsys):
    status, out, _ = run(capsys, "verify", "--examples", "4", "--seed", "3")
    assert status == 0
    report = json.loads(run(capsys, "verify", "--examples", "4", "--seed", "3", "--json")[1])
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("net"))
    for column in ("network", "layer", "param", "shape", "max abs err", "max rel err", "result"):
        assert column in header
    rows = [line for line in lines if line.rstrip().endswith(("pass", "FAIL")) and not line.startswith("net")]
    expected = [(net["id"], row["layer"], row["name"], tuple(row["shape"]))
                for net in report["networks"] for row in net["rows"]]
    assert len(rows) == len(expected) == report["n_leaves"]
    for line, (net_id, layer, name, shape) in zip(rows, expected):
        cells = line.split()
        assert int(cells[0]) == net_id and name in cells
        assert "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")") in line
    assert lines[-1].startswith("PASS: 4 networks")
    assert lines[0].startswith("dualgrad verify: 4 random networks (seed 3)")


def test_verify_one_network_with_fd(capsys):
    status, out, _ = run(capsys, "verify", "--sizes", "10", "64", "3", "--hidden", "relu", "--loss", "cross_entropy",
                         "--batch", "32", "--seed", "0", "--fd")
    assert status == 0
    lines = out.splitlines()
    assert "fd abs err" in lines[0] and "on kink" in lines[0]
    assert "10-64-3 relu ce N=32" in lines[1]
    rows = [line for line in lines if line.rstrip().endswith("pass")]
    expected = [("dW", "(10, 64)"), ("db", "(64,)"), ("dW", "(64, 3)"), ("db", "(3,)")]
    assert len(rows) == len(expected)
    for row, (name, shape) in zip(rows, expected):
        assert f" {name} " in row and shape in row
    assert "worst vs finite differences" in lines[-1]


JSON_TOP = {"command": str, "version": str, "seed": int, "fd": bool, "passed": bool, "n_networks": int,
            "n_failed_networks": int, "n_leaves": int, "n_failed_leaves": int, "networks": list}
JSON_NETWORK = {"id": int, "implementation": str, "conventions": (dict, type(None)), "spec": dict, "batch": int,
                "loss": float, "loss_reference": float, "loss_passed": bool,
                "output_max_rel_err": (float, type(None)), "output_passed": (bool, type(None)), "fd": bool,
                "tolerance": dict, "functions_passed": bool, "passed": bool, "notes": list, "rows": list}
JSON_ROW = {"layer": int, "name": str, "shape": list, "max_abs_err": float, "max_rel_err": float,
            "fd_max_abs_err": (float, type(None)), "fd_max_rel_err": (float, type(None)),
            "fd_passed": (bool, type(None)), "on_kink": bool, "n_on_kink": int, "passed": bool}


def assert_schema(obj, schema):
    assert set(obj) == set(schema), set(obj) ^ set(schema)
    for key, kind in schema.items():
        assert isinstance(obj[key], kind) and not (kind is int and isinstance(obj[key], bool)), (key, obj[key])


@pytest.mark.parametrize("fd", [False, True])
def test_verify_json_schema(capsys, fd):
    argv = ["verify", "--sizes", "3", "5", "4", "2", "--hidden", "relu", "tanh", "--loss", "mse", "--batch", "6",
            "--json"] + (["--fd"] if fd else [])
    status, out, _ = run(capsys, *argv)
    assert status == 0
    report = json.loads(out)  # stdout is the JSON and nothing else
    assert_schema(report, JSON_TOP)
    assert report["command"] == "verify" and report["fd"] is fd and report["passed"] is True
    assert (report["n_networks"], report["n_leaves"], report["n_failed_leaves"]) == (1, 6, 0)
    net = report["networks"][0]
    assert_schema(net, JSON_NETWORK)
    assert net["spec"] == {"sizes": [3, 5, 4, 2], "hidden": ["relu", "tanh"], "loss": "mse", "l2": 0.0}
    assert set(net["tolerance"]) == ({"rtol", "atol", "loss_rtol"} | ({"fd_step", "fd_rtol", "fd_loss_atol"} if fd else set()))
    assert net["implementation"] == "manual.loss_and_grads" and net["conventions"] is None
    assert [(r["layer"], r["name"], r["shape"]) for r in net["rows"]] == [
        (1, "dW", [3, 5]), (1, "db", [5]), (2, "dW", [5, 4]), (2, "db", [4]), (3, "dW", [4, 2]), (3, "db", [2])]
    for row in net["rows"]:
        assert_schema(row, JSON_ROW)
        assert (row["fd_max_abs_err"] is not None) is fd


def test_verify_exit_1_when_a_derivative_is_wrong(capsys, wrong_tanh):
    status, out, _ = run(capsys, "verify", "--sizes", "3", "4", "2", "--hidden", "tanh", "--batch", "5")
    assert status == 1
    assert "FAIL" in out and out.splitlines()[-1].startswith("FAIL: 1 of 1 network")
    status, out, _ = run(capsys, "verify", "--examples", "2", "--hidden", "tanh", "--json")
    report = json.loads(out)
    assert status == 1 and report["passed"] is False and report["n_failed_networks"] >= 1


def test_verify_is_deterministic(capsys):
    first = run(capsys, "verify", "--examples", "3", "--seed", "5")
    assert first == run(capsys, "verify", "--examples", "3", "--seed", "5")
    assert first[1] != run(capsys, "verify", "--examples", "3", "--seed", "6")[1]


@pytest.mark.parametrize("argv, words", [
    (["verify", "--sizes", "3", "x"], ["--sizes", "'x'"]),
    (["verify", "--sizes", "3", "0", "2"], ["positive"]),
    (["verify", "--hidden", "bogus"], ["unknown activation 'bogus'", "relu"]),
    (["verify", "--loss", "hinge"], ["unknown loss 'hinge'"]),
    (["verify", "--sizes", "4", "3", "--loss", "binary_cross_entropy"], ["exactly 1 output"]),
    (["verify", "--examples", "0"], ["--examples"]),
    (["verify", "--sizes", "4", "3", "--examples", "3"], ["--examples"]),
    (["verify", "--batch", "-2"], ["--batch"]),
    (["verify", "--l2", "-1"], ["--l2"]),
    (["verify", "--import", "no/such/file.py"], ["--import", "no such file"]),
    (["explain"], ["--sizes"]),
    (["explain", "--sizes", "4", "3", "--format", "html"], ["--format", "html"]),
    (["explain", "--sizes", "4", "3", "--hidden", "relu", "tanh"], ["hidden"]),
    (["frobnicate"], ["frobnicate"]),
    (["verify", "--size", "3", "2"], ["unrecognized", "--size"]),  # no abbreviations: a typo is an error
    (["train", "xor", "--epoch", "3"], ["unrecognized", "--epoch"]),
    ([], ["choose a command"]),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, words):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert_one_line_error(err, *words)


def test_version_and_help(capsys):
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.startswith("dualgrad ")
    status, out, _ = run(capsys, "train", "--help")
    assert status == 0 and "--hidden-sizes" in out and "--check" in out


# ---- explain ----------------------------------------------------------------


def test_explain_text(capsys):
    status, out, _ = run(capsys, "explain", "--sizes", "10", "64", "3")
    assert status == 0
    assert "W1: 10×64 = 640" in out and "640 + 64 = 704" in out and "192 + 3 = 195" in out
    assert [line.split() for line in out.splitlines() if line.strip().startswith("total")] == [["total", "899"]]
    assert "z1 = a0 W1 + b1" in out and "(32, 10) @ (10, 64) + (64,) → (32, 64)" in out
    steps = [line for line in out.splitlines() if line.strip().startswith(("dW", "db"))]
    assert [s.split()[0] for s in steps] == ["dW2", "db2", "dW1", "db1"]
    assert all("max |manual − jax.grad|" in s and s.rstrip().endswith("pass") for s in steps)


def test_explain_markdown(capsys):
    status, out, _ = run(capsys, "explain", "--sizes", "10", "64", "3", "--format", "markdown", "--batch", "8")
    assert status == 0
    assert "| 1 | $W_{1}$: 10 × 64 = 640 | $b_{1}$: 64 | 640 + 64 = 704 |" in out
    assert "| **total** | | | **899** |" in out
    assert "(8, 64) @ (64, 3) + (3,) → (8, 3)" in out


# ---- train ------------------------------------------------------------------


def test_train_xor_prints_loss_and_accuracy(capsys):
    status, out, err = run(capsys, "train", "xor", "--epochs", "150", "--hidden-sizes", "8", "--lr", "0.05")
    assert status == 0, err
    last = next(line for line in out.splitlines() if line.startswith("final loss "))
    assert last.endswith("training accuracy 100.0% (4/4)")
    assert out.splitlines()[-1] == "wrote plots/loss.png, plots/boundary.png"
    assert float(last.split()[2]) < 0.1
    epochs = [line for line in out.splitlines() if line.startswith("epoch")]
    assert epochs[0].startswith("epoch   1/150") and epochs[-1].startswith("epoch 150/150")


def test_train_is_deterministic(capsys):
    argv = ["train", "moons", "--epochs", "5", "--hidden-sizes", "8", "--seed", "3"]
    first = run(capsys, *argv)
    assert first[0] == 0
    assert first == run(capsys, *argv)
    assert first[1] != run(capsys, *argv[:-1], "4")[1]


def assert_png(path):
    with open(path, "rb") as f:
        head = f.read(8)
    assert head == PNG_SIGNATURE and os.path.getsize(path) > 1000, path


def test_train_out_writes_pngs(capsys, tmp_path):
    out_dir = tmp_path / "plots"
    status, out, err = run(capsys, "train", "moons", "--epochs", "3", "--hidden-sizes", "4", "--out", str(out_dir))
    assert status == 0, err
    assert_png(out_dir / "loss.png")
    assert_png(out_dir / "boundary.png")
    assert out.splitlines()[-1] == f"wrote {out_dir / 'loss.png'}, {out_dir / 'boundary.png'}"


def test_train_csv_with_text_labels(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    labels = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    path = tmp_path / "data.csv"
    path.write_text("a,b,c,label\n" + "".join(f"{x[0]},{x[1]},{x[2]},{l}\n" for x, l in zip(X, labels)))
    status, out, err = run(capsys, "train", str(path), "--epochs", "2", "--out", str(tmp_path / "o"))
    assert status == 0, err
    assert "30 rows, 3 features, 2 classes [no, yes]" in out
    assert os.listdir(tmp_path / "o") == ["loss.png"]  # 3-D data: no boundary plot


def test_train_check_passes_then_trains(capsys):
    status, out, _ = run(capsys, "train", "blobs", "--epochs", "2", "--check", "--hidden-sizes", "5", "--hidden", "tanh")
    assert status == 0
    assert "first step's gradients against jax.grad:" in out
    assert "PASS: 4/4 leaves" in out and "final loss" in out


def test_train_check_failure_exits_1_before_training(capsys, tmp_path, wrong_tanh):
    status, out, err = run(capsys, "train", "blobs", "--epochs", "2", "--check", "--hidden", "tanh",
                           "--hidden-sizes", "16", "16", "--out", str(tmp_path / "o"))
    assert status == 1
    assert "FAIL: 2/6 leaves" in out and "epoch 1/" not in out and "final loss" not in out
    assert_one_line_error(err, "do not match jax.grad")
    assert not (tmp_path / "o").exists()


def test_train_divergence_is_a_clear_error(capsys):
    status, out, err = run(capsys, "train", "moons", "--optimizer", "sgd", "--lr", "1e300", "--epochs", "3")
    assert status == 3
    assert_one_line_error(err, "training diverged", "NaN or infinite")
    assert "final loss" not in out


def test_train_writes_plots_by_default_and_none_with_no_plots(capsys, tmp_path):
    status, out, _ = run(capsys, "train", "moons", "--epochs", "2", "--hidden-sizes", "4")
    assert status == 0 and "wrote plots/loss.png, plots/boundary.png" in out
    assert (tmp_path / "plots" / "loss.png").read_bytes().startswith(PNG_SIGNATURE)
    status, out, _ = run(capsys, "train", "xor", "--epochs", "2", "--no-plots", "--out", "elsewhere")
    assert status == 2
    status, out, _ = run(capsys, "train", "xor", "--epochs", "2", "--no-plots")
    assert status == 0 and "wrote" not in out and sorted(p.name for p in tmp_path.iterdir()) == ["plots"]


def test_train_without_matplotlib_trains_and_says_how_to_install(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    status, out, err = run(capsys, "train", "xor", "--epochs", "2")
    assert status == 0 and "final loss" in out and "wrote" not in out
    assert err.strip() == "dualgrad: note: no plots without matplotlib: pip install 'dualgrad[plot]'"
    assert not (tmp_path / "plots").exists()


def test_train_out_without_matplotlib_says_how_to_install(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    status, out, err = run(capsys, "train", "xor", "--epochs", "2", "--out", str(tmp_path / "o"))
    assert status == 2 and out == ""
    assert_one_line_error(err, "pip install 'dualgrad[plot]'")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, words", [
    (["train", "nope"], ["unknown data set 'nope'", "xor, blobs, moons, circles, spirals"]),
    (["train", "missing.csv"], ["missing.csv", "no such file"]),
    (["train", "moons", "--lr", "-1"], ["--lr"]),
    (["train", "moons", "--lr", "nan"], ["--lr"]),
    (["train", "moons", "--lr", "fast"], ["--lr", "'fast'"]),
    (["train", "moons", "--epochs", "0"], ["--epochs"]),
    (["train", "moons", "--batch-size", "0"], ["--batch-size"]),
    (["train", "moons", "--hidden-sizes", "4", "-3"], ["--hidden-sizes"]),
    (["train", "moons", "--hidden", "bogus"], ["unknown activation 'bogus'"]),
    (["train", "moons", "--momentum", "0.9"], ["--momentum", "sgd"]),
    (["train", "moons", "--optimizer", "sgd", "--momentum", "1.5"], ["--momentum"]),
    (["train", "moons", "--optimizer", "lbfgs"], ["--optimizer", "lbfgs"]),
    (["train", "blobs", "--loss", "binary_cross_entropy"], ["binary_cross_entropy is for 2 classes"]),
    (["train", "moons", "--seed", "-1"], ["--seed"]),
])
def test_train_bad_arguments_exit_2(capsys, argv, words):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert_one_line_error(err, *words)


@pytest.mark.parametrize("content, words", [
    ("1,2\n1,x,0\n", ["line 2", "ragged"]),
    ("1,2,0\n3,abc,1\n", ["line 2", "not a number"]),
    ("", ["empty"]),
    ("1,2,0\n1,2,0\n", ["1 class"]),
])
def test_train_bad_csv_exit_2(capsys, tmp_path, content, words):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    status, out, err = run(capsys, "train", str(path))
    assert status == 2 and out == ""
    assert_one_line_error(err, *words)


def test_train_out_must_be_a_directory(capsys, tmp_path):
    path = tmp_path / "file"
    path.write_text("keep me")
    status, _, err = run(capsys, "train", "xor", "--out", str(path))
    assert status == 2 and path.read_text() == "keep me"
    assert_one_line_error(err, "not a directory")


# ---- the real command -------------------------------------------------------


def _subprocess(*argv):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, env=env)


def test_python_m_dualgrad_json_and_errors():
    done = _subprocess(sys.executable, "-m", "dualgrad", "verify", "--sizes", "3", "4", "2", "--batch", "5", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["passed"] is True
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    done = _subprocess(sys.executable, "-m", "dualgrad", "train", "nope")
    assert done.returncode == 2 and done.stdout == ""
    assert_one_line_error(done.stderr, "unknown data set 'nope'")


def test_console_script(tmp_path):
    exe = shutil.which("dualgrad") or os.path.join(os.path.dirname(sys.executable), "dualgrad")
    if not os.path.exists(exe):
        pytest.skip("the dualgrad console script is not installed")
    done = _subprocess(exe, "train", "xor", "--epochs", "2", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert_png(tmp_path / "loss.png")
    done = _subprocess(exe, "verify", "--sizes", "3", "x")
    assert done.returncode == 2
    assert_one_line_error(done.stderr, "invalid int value")
