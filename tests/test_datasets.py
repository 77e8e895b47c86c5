"""manual.datasets: shapes, dtypes, determinism, balance and geometry; load_csv on files in tmp_path."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manual import datasets
from manual.datasets import DATASETS, blobs, circles, load_csv, moons, spirals, xor

# (name, kwargs, expected N, expected class counts)
SYNTHETIC = [
    ("blobs", {}, 150, [50, 50, 50]),
    ("blobs", dict(n_per_class=7, seed=3), 21, [7, 7, 7]),
    ("moons", {}, 200, [100, 100]),
    ("moons", dict(n_samples=7, noise=0.0), 7, [4, 3]),
    ("circles", {}, 200, [100, 100]),
    ("circles", dict(n_samples=5, noise=0.3, factor=0.2, seed=9), 5, [3, 2]),
    ("spirals", {}, 300, [100, 100, 100]),
    ("spirals", dict(n_samples=10, n_classes=4), 10, [3, 3, 2, 2]),
    ("spirals", dict(n_samples=1, n_classes=1), 1, [1]),
]


@pytest.mark.parametrize("name, kwargs, n, counts", SYNTHETIC)
def test_shapes_dtypes_and_class_balance(name, kwargs, n, counts):
    X, y = DATASETS[name](**kwargs)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.isfinite(X).all()
    assert np.bincount(y).tolist() == counts  # labels are exactly 0 .. K−1, each class present
    assert (np.diff(y) >= 0).all()  # rows grouped by class, in label order


def test_xor_is_the_seeds_four_points():
    X, y = xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, X[:, 0].astype(int) ^ X[:, 1].astype(int))
    assert X.dtype == np.float64 and y.dtype == np.int64


def test_datasets_table_names_every_generator():
    assert DATASETS == {"xor": xor, "blobs": blobs, "moons": moons, "circles": circles, "spirals": spirals}


@pytest.mark.parametrize("name", ["blobs", "moons", "circles", "spirals"])
def test_determinism_by_seed(name):
    make = DATASETS[name]
    X1, y1 = make(seed=5)
    X2, y2 = make(seed=5)
    X3, _ = make(seed=6)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


def test_no_global_random_state_is_used_or_touched():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    X1, _ = moons(seed=1)
    np.random.seed(123)
    X2, _ = moons(seed=1)
    np.testing.assert_array_equal(X1, X2)
    np.random.seed(0)
    moons(seed=1)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_blobs_sit_around_the_seeds_centers():
    X, y = blobs(n_per_class=2000, seed=0)
    for label, center in enumerate([[0, 0], [3, 3], [6, 0]]):
        np.testing.assert_allclose(X[y == label].mean(axis=0), center, atol=0.1)
        np.testing.assert_allclose(X[y == label].std(axis=0), [1, 1], atol=0.1)


def test_noiseless_geometry():
    X, y = moons(n_samples=50, noise=0.0)
    np.testing.assert_allclose(np.hypot(*X[y == 0].T), 1.0)  # upper unit arc
    assert (X[y == 0, 1] >= -1e-12).all()
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1, X[y == 1, 1] - 0.5), 1.0)  # lower arc around (1, 0.5)
    assert (X[y == 1, 1] <= 0.5 + 1e-12).all()
    X, y = circles(n_samples=40, noise=0.0, factor=0.3)
    np.testing.assert_allclose(np.hypot(*X[y == 0].T), 1.0)
    np.testing.assert_allclose(np.hypot(*X[y == 1].T), 0.3)
    X, y = spirals(n_samples=30, n_classes=3, noise=0.0)
    radius = np.hypot(*X.T)
    for label in range(3):
        np.testing.assert_allclose(radius[y == label], np.linspace(0, 1, 10), atol=1e-12)


@settings(max_examples=50)
@given(n=st.integers(1, 60), k=st.integers(1, 6), noise=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_spirals_any_size(n, k, noise, seed):
    k = min(k, n)
    X, y = spirals(n_samples=n, n_classes=k, noise=noise, seed=seed)
    assert X.shape == (n, 2) and y.shape == (n,)
    counts = np.bincount(y, minlength=k)
    assert len(counts) == k and counts.min() >= counts.max() - 1 >= 0
    assert np.isfinite(X).all() and (np.hypot(*X.T) <= 1 + 1e-12).all()


@settings(max_examples=50)
@given(name=st.sampled_from(["moons", "circles"]), n=st.integers(2, 60), noise=st.floats(0, 1),
       seed=st.integers(0, 2**32 - 1))
def test_two_class_sets_any_size(name, n, noise, seed):
    X, y = DATASETS[name](n_samples=n, noise=noise, seed=seed)
    assert X.shape == (n, 2) and np.isfinite(X).all()
    assert np.bincount(y).tolist() == [n - n // 2, n // 2]


BAD_ARGUMENTS = [
    (blobs, dict(n_per_class=0), ValueError, "n_per_class must be an int >= 1, got 0"),
    (blobs, dict(n_per_class=2.5), TypeError, "n_per_class must be an int >= 1"),
    (blobs, dict(n_per_class=True), TypeError, "n_per_class must be an int >= 1"),
    (blobs, dict(seed=-1), ValueError, "seed must be an int >= 0 or None"),
    (blobs, dict(seed="abc"), TypeError, "seed must be an int >= 0 or None"),
    (moons, dict(n_samples=1), ValueError, "n_samples must be an int >= 2, got 1"),
    (moons, dict(noise=-0.1), ValueError, "noise must be a finite float >= 0"),
    (moons, dict(noise=float("nan")), ValueError, "noise must be a finite float >= 0"),
    (moons, dict(noise="0.1"), TypeError, "noise must be a finite float >= 0"),
    (circles, dict(n_samples=-3), ValueError, "n_samples must be an int >= 2"),
    (circles, dict(factor=1.0), ValueError, "factor must be a float in (0, 1)"),
    (circles, dict(factor=0.0), ValueError, "factor must be a float in (0, 1)"),
    (circles, dict(noise=float("inf")), ValueError, "noise must be a finite float >= 0"),
    (spirals, dict(n_classes=0), ValueError, "n_classes must be an int >= 1"),
    (spirals, dict(n_samples=2, n_classes=3), ValueError, "n_samples must be at least n_classes (3)"),
    (spirals, dict(noise=-1.0), ValueError, "noise must be a finite float >= 0"),
]


@pytest.mark.parametrize("make, kwargs, error, message", BAD_ARGUMENTS,
                         ids=[f"{m.__name__}-{'-'.join(kw)}" for m, kw, _, _ in BAD_ARGUMENTS])
def test_bad_arguments_raise(make, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make(**kwargs)


# ---------------------------------------------------------------- load_csv


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_csv_integer_labels(tmp_path):
    X, y = load_csv(write(tmp_path, "0.5,1,0\n-2,3e-1,1\n4,5,2.0\n"))
    np.testing.assert_array_equal(X, [[0.5, 1], [-2, 0.3], [4, 5]])
    assert X.dtype == np.float64
    np.testing.assert_array_equal(y, [0, 1, 2])
    assert y.dtype == np.int64


def test_load_csv_text_labels_and_header(tmp_path):
    X, y = load_csv(write(tmp_path, "sepal, petal, species\n1.0, 2.0, setosa\n3.0, 4.0, virginica\n\n"))
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y.dtype.kind == "U" and y.tolist() == ["setosa", "virginica"]


def test_load_csv_non_integer_numeric_labels_are_kept_as_text(tmp_path):
    _, y = load_csv(write(tmp_path, "1,0.5\n2,1\n"))
    assert y.tolist() == ["0.5", "1"]


def test_load_csv_one_feature_path_as_str_and_other_delimiter(tmp_path):
    X, y = load_csv(str(write(tmp_path, "x;label\n1;a\n2;b\n")), delimiter=";")
    assert X.shape == (2, 1) and y.tolist() == ["a", "b"]


BAD_FILES = [
    ("empty", "", "empty file"),
    ("blank-lines-only", "\n\n  \n", "empty file"),
    ("header-only", "x1,x2,label\n", "no data rows (only a header)"),
    ("ragged", "1,2,0\n3,4,1\n5,1\n", "line 3: 2 fields, expected 3 like line 1 (ragged rows)"),
    ("ragged-header", "x1,label\n1,2,0\n", "line 2: 3 fields, expected 2 like line 1"),
    ("non-numeric-feature", "x1,x2,label\n1,2,0\n3,abc,1\n",
     "line 3, column 2: feature 'abc' is not a number (only the last column, the label, may be text)"),
    ("missing-feature", "1,2,0\n,4,1\n", "line 2, column 1: feature '' is not a number"),
    ("non-finite-feature", "1,2,0\n3,nan,1\n", "line 2, column 2: feature 'nan' is not finite"),
    ("empty-label", "1,2,0\n3,4,\n", "line 2: empty label"),
    ("one-column", "1\n2\n", "line 1: expected at least 2 columns"),
]


@pytest.mark.parametrize("name, text, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_load_csv_errors(tmp_path, name, text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_csv(write(tmp_path, text))


def test_load_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_csv(tmp_path / "nope.csv")


@pytest.mark.parametrize("name", ["blobs", "moons", "circles", "spirals", "xor"])
def test_load_csv_round_trips_a_generated_set(tmp_path, name):
    X, y = DATASETS[name]()
    path = tmp_path / f"{name}.csv"
    with open(path, "w") as f:
        f.write("x1,x2,label\n")
        for row, label in zip(X, y):
            f.write(f"{float(row[0])!r},{float(row[1])!r},{label}\n")
    X2, y2 = load_csv(path)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    assert datasets.load_csv is load_csv
