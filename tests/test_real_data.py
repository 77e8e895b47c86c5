"""`dualgrad train` / `dualgrad predict` on CSV files written here (issue 14): held-out split,
standardisation, regression, header and delimiter handling, missing values, saved models."""

import json

import numpy as np
import pytest

from dualgrad.cli.main import main
from dualgrad.apps.csv_data import detect_header, infer_task, read_rows, read_table

FAST = ["--epochs", "30", "--hidden-sizes", "8", "--lr", "0.02", "--no-plots"]


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(err, *words):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dualgrad: error: "), err
    for w in words:
        assert w in lines[0], (w, lines[0])


def blobs_rows(n=60, seed=0, names=("setosa", "versicolor", "virginica")):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(names)
    X = rng.standard_normal((len(names), 4))[y] * 3 + rng.standard_normal((n, 4))
    X[:, 0] = X[:, 0] * 100 + 500  # a feature on another scale: standardisation matters
    return X, np.array(names)[y]


def write_csv(path, X, labels, header=None, delimiter=",", index=False):
    lines = [] if header is None else [delimiter.join(header)]
    for i, (row, label) in enumerate(zip(X, labels)):
        fields = ([str(i)] if index else []) + [repr(float(v)) for v in row] + [str(label)]
        lines.append(delimiter.join(fields))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def iris_like(tmp_path):
    X, labels = blobs_rows()
    return write_csv(tmp_path / "flowers.csv", X, labels, header=["a", "b", "c", "d", "species"])


def test_train_holds_out_a_stratified_test_split_and_reports_both(capsys, iris_like):
    status, out, err = run(capsys, "train", iris_like, *FAST)
    assert status == 0, err
    assert "45 training rows, 15 held-out test rows (--test-fraction 0.25, stratified, seed 0)" in out
    assert "features standardized with the training rows' mean and std" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("training accuracy") and ", test accuracy " in last and "(15/15)" in last


def test_numeric_header_is_detected(tmp_path, capsys):
    """The issue's case: `0,1,2,3,species` above iris-like rows is a header, not a class 'species'."""
    X, labels = blobs_rows()
    path = write_csv(tmp_path / "iris.csv", X, labels, header=["0", "1", "2", "3", "species"])
    table = read_table(path)
    assert table.has_header and table.label_name == "species" and "species" not in set(table.labels)
    assert detect_header(read_rows(path))
    no_header = write_csv(tmp_path / "plain.csv", X, labels)
    assert not read_table(no_header).has_header
    forced = read_table(path, header=False)  # --no-header: the first row is data
    assert "species" in set(forced.labels)


def test_semicolon_file_says_which_delimiter(tmp_path, capsys):
    X, labels = blobs_rows()
    path = write_csv(tmp_path / "semi.csv", X, labels, header=list("abcd") + ["y"], delimiter=";")
    status, out, err = run(capsys, "train", path, *FAST)
    assert status == 2 and not out
    one_line_error(err, "--delimiter ';'")
    status, out, err = run(capsys, "train", path, "--delimiter", ";", *FAST)
    assert status == 0, err


def test_index_column_is_noted_and_dropped_by_name(tmp_path, capsys):
    X, labels = blobs_rows()
    path = write_csv(tmp_path / "indexed.csv", X, labels, header=["id", "a", "b", "c", "d", "species"], index=True)
    status, out, err = run(capsys, "train", path, *FAST)
    assert status == 0 and "'id' counts the rows" in err and "--drop-columns id" in err
    status, out, err = run(capsys, "train", path, "--drop-columns", "id", *FAST)
    assert status == 0 and "4 features" in out and "counts the rows" not in err


def test_label_column_by_name_and_index(tmp_path):
    X, labels = blobs_rows()
    path = tmp_path / "first.csv"
    path.write_text("species,a,b\n" + "".join(f"{l},{x[0]},{x[1]}\n" for x, l in zip(X, labels)))
    by_name, by_index = read_table(path, label_column="species"), read_table(path, label_column="0")
    assert by_name.feature_names == by_index.feature_names == ["a", "b"]
    assert np.array_equal(by_name.labels, labels)


@pytest.mark.parametrize("labels, task", [
    (np.array(["a", "b"] * 20), "classification"),
    (np.array([str(i % 3) for i in range(40)]), "classification"),
    (np.array([f"{v:.3f}" for v in np.linspace(0, 1, 40)]), "regression"),
    (np.array([f"{v:.1f}" for v in 25 + np.arange(400) % 300]), "regression"),  # diabetes-like "151.0"
])
def test_task_inference(labels, task):
    assert infer_task(labels) == task


@pytest.mark.parametrize("labels", [np.array(["0.0", "1.0"] * 20), np.array([str(i) for i in range(40)])])
def test_ambiguous_label_column_says_how_to_choose(labels):
    with pytest.raises(ValueError, match="--task classification or --task regression"):
        infer_task(labels)


def test_regression_from_a_csv_reports_r2_and_rmse_and_predicts_values(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 3))
    y = 150 + 40 * X[:, 0] - 20 * X[:, 1]
    path = write_csv(tmp_path / "reg.csv", X, [f"{v:.4f}" for v in y], header=["u", "v", "w", "target"])
    model = tmp_path / "reg.npz"
    status, out, err = run(capsys, "train", path, "--epochs", "150", "--hidden-sizes", "16", "--lr", "0.02",
                           "--no-plots", "--save", model)
    assert status == 0, err
    assert "regression target target" in out and "network 3-16-1 relu mse" in out
    final = out.strip().splitlines()[-2]
    test_r2 = float(final.split("test R² ")[1].split(",")[0])
    assert test_r2 > 0.9, final
    status, out, err = run(capsys, "predict", model, path)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "target" and len(lines) == 81
    predicted = np.array([float(v) for v in lines[1:]])
    assert np.sqrt(np.mean((predicted - y) ** 2)) < 15  # in the target's units (the target was standardised)


def test_missing_values_refused_with_line_and_column_or_dropped(tmp_path, capsys):
    X, labels = blobs_rows()
    rows = [",".join([*map(str, x), l]) for x, l in zip(X, labels)]
    rows[5] = rows[5].replace(str(X[5, 2]), "NA")
    path = tmp_path / "holes.csv"
    path.write_text("a,b,c,d,species\n" + "\n".join(rows) + "\n")
    status, out, err = run(capsys, "train", path, *FAST)
    assert status == 2
    one_line_error(err, "line 7, column 3", "missing value 'NA'", "--drop-missing")
    status, out, err = run(capsys, "train", path, "--drop-missing", *FAST)
    assert status == 0 and "59 rows" in out and "(1 row with missing values dropped)" in out


def test_save_then_predict_labels_probabilities_and_out(tmp_path, capsys, iris_like):
    model = tmp_path / "m.npz"
    status, out, err = run(capsys, "train", iris_like, *FAST, "--save", model)
    assert status == 0, err
    status, out, err = run(capsys, "predict", model, iris_like)  # the label column is ignored by name
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "species" and set(lines[1:]) <= {"setosa", "versicolor", "virginica"} and len(lines) == 61
    status, out, err = run(capsys, "predict", model, iris_like, "--proba", "--out", tmp_path / "p.csv")
    assert status == 0 and not out
    P = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "setosa,versicolor,virginica"
    assert P.shape == (60, 3) and np.allclose(P.sum(axis=1), 1, atol=1e-5)
    # columns in another order, by name: the same predictions
    X, labels = blobs_rows()
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("d,c,b,a\n" + "".join(",".join(repr(float(v)) for v in x[::-1]) + "\n" for x in X))
    status, out2, err = run(capsys, "predict", model, shuffled)
    assert status == 0 and out2.splitlines()[1:] == lines[1:]


def test_predict_refuses_wrong_columns_missing_and_damaged_files(tmp_path, capsys, iris_like):
    model = tmp_path / "m.npz"
    assert run(capsys, "train", iris_like, *FAST, "--save", model)[0] == 0
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b,x,d\n1,2,3,4\n")
    status, out, err = run(capsys, "predict", model, wrong)
    assert status == 2 and not out
    one_line_error(err, "lacks the model's feature column(s) c")
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("1.5,2,3\n4,5,6\n")
    status, out, err = run(capsys, "predict", model, narrow)
    one_line_error(err, "has 3 feature column(s), the model takes 4")
    status, out, err = run(capsys, "predict", tmp_path / "none.npz", iris_like)
    assert status == 2
    one_line_error(err, "no such file")
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(model.read_bytes()[:200])
    status, out, err = run(capsys, "predict", damaged, iris_like)
    assert status == 2
    one_line_error(err, "not a readable dualgrad MLP file")


def test_json_summary_early_stopping_schedule_dtype(tmp_path, capsys, iris_like):
    model = tmp_path / "m.npz"
    status, out, err = run(capsys, "train", iris_like, "--epochs", "300", "--hidden-sizes", "8", "--lr", "0.05",
                           "--no-plots", "--json", "--early-stopping", "--schedule", "exponential_decay:0.5:100",
                           "--dtype", "float32", "--save", model)
    assert status == 0, err
    summary = json.loads(out)  # nothing else on stdout
    assert summary["command"] == "train" and summary["task"] == "classification"
    assert summary["n_train"] + summary["n_validation"] + summary["n_test"] == 60 and summary["n_validation"] == 4
    assert summary["epochs_run"] <= 300 and summary["best_epoch"] is not None
    assert summary["dtype"] == "float32" and summary["test"]["n"] == 15
    assert summary["feature_names"] == ["a", "b", "c", "d"] and summary["label"] == "species"
    from manual import MLP

    loaded = MLP.load(model)
    assert loaded.dtype == np.float32 and loaded.learning_rate(200) == pytest.approx(0.05 * 0.25)


def test_standardisation_uses_the_training_rows_only(iris_like):
    from dualgrad.apps.train import Training

    table = read_table(iris_like)
    run = Training(table.X, table.labels, hidden_sizes=[4], test_fraction=0.25, standardize=True, seed=3)
    assert np.allclose(run.x_mean, table.X[run.train_rows].mean(axis=0))
    assert not np.allclose(run.x_mean, table.X.mean(axis=0))
    assert len(np.intersect1d(run.train_rows, run.test_rows)) == 0
    counts = {c: int(np.sum(table.labels[run.test_rows] == c)) for c in run.classes}
    assert counts == {"setosa": 5, "versicolor": 5, "virginica": 5}  # stratified


def test_standardisation_helps_unscaled_features(tmp_path, capsys):
    """The issue's wine case in small: a feature 100 times larger than the others."""
    X, labels = blobs_rows(90)
    path = write_csv(tmp_path / "unscaled.csv", X, labels, header=["a", "b", "c", "d", "y"])
    accuracies = []
    for extra in ([], ["--no-standardize"]):
        status, out, err = run(capsys, "train", path, *FAST, "--json", *extra)
        accuracies.append(json.loads(out)["test"]["accuracy"])
    assert accuracies[0] >= accuracies[1] and accuracies[0] > 0.9, accuracies


@pytest.mark.parametrize("argv, words", [
    (["--test-fraction", "1"], ["--test-fraction must be in [0, 1)"]),
    (["--schedule", "cosine"], ["--schedule", "expected constant"]),
    (["--schedule", "exponential_decay:0.5"], ["--schedule"]),
    (["--task", "classification", "--loss", "mse"], ["--loss mse is for --task regression"]),
    (["--label-column", "nope"], ["--label-column 'nope' is not a column name"]),
    (["--label-column", "9"], ["out of range"]),
    (["--drop-columns", "species"], ["is the label column"]),
    (["--delimiter", "ab"], ["--delimiter must be one character"]),
    (["--dtype", "float16"], ["--dtype: invalid choice"]),
    (["--save", "/nonexistent/dir/m.npz"], ["--save", "existing directory"]),
    (["--task", "regression"], ["--task regression needs numbers in the label column"]),
])
def test_bad_new_options_exit_2(capsys, iris_like, argv, words):
    status, out, err = run(capsys, "train", iris_like, *FAST, *argv)
    assert status == 2 and not out
    one_line_error(err, *words)


def test_final_losses_are_the_saved_weights_own_on_the_training_and_the_test_rows(tmp_path, capsys):
    """`final loss A on the training rows, B on the held-out test rows`: A and B are the losses of the
    saved final weights on those rows, recomputed here from the model file with the training rows' own
    mean and std (a cached, aliased or wrongly indexed loss_on fails), and two different values never
    print alike (this run's 0.22946 and 0.22949 were both printed as 0.2295)."""
    from manual import MLP
    from manual.network import loss
    from dualgrad.apps.train import Training, load_data

    model = tmp_path / "m.npz"
    argv = ["train", "moons", "--hidden-sizes", "16", "--epochs", "100", "--lr", "0.01", "--no-plots"]
    status, out, err = run(capsys, *argv, "--save", model)
    assert status == 0, err
    status, summary, err = run(capsys, *argv, "--json")
    summary = json.loads(summary)
    X, y, _ = load_data("moons", seed=0)
    split = Training(X, y, test_fraction=0.25, seed=0)  # the split alone (tested above): no training
    train, test = split.train_rows, split.test_rows
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    fitted = MLP.load(model)
    expected = {part: loss(fitted.spec, fitted.params, (X[rows] - mean) / std, y[rows].astype(np.float64))
                for part, rows in (("train", train), ("test", test))}
    assert expected["train"] != expected["test"]
    for part in ("train", "test"):
        assert summary[part]["loss"] == pytest.approx(expected[part], rel=1e-12, abs=0), part
    line = next(line for line in out.splitlines() if line.startswith("final loss "))
    words = line.split()
    shown = {"train": words[2], "test": words[7]}
    assert line == (f"final loss {shown['train']} on the training rows, {shown['test']} on the held-out test rows "
                    "(final weights)")
    assert shown["train"] != shown["test"], line
    for part in ("train", "test"):
        digits = len(shown[part].replace("0.", "", 1).lstrip("0"))
        assert shown[part] == f"{expected[part]:.{digits}g}", (part, line)
