"""dualgrad.sklearn: scikit-learn's own check_estimator, its tools, and how alpha maps to manual's L2 (issue 14)."""

import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402
from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data  # noqa: E402

import manual  # noqa: E402
from dualgrad.sklearn import MLPClassifier, MLPRegressor, l2_strength  # noqa: E402

# Checks that cannot pass, with the reason (none today: every check passes).
EXPECTED_FAILED_CHECKS = {}


def _blobs(n=120, k=3, d=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    return rng.standard_normal((k, d))[y] * 3 + rng.standard_normal((n, d)), y


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_check_estimator(Estimator):
    results = check_estimator(Estimator(), on_fail=None, expected_failed_checks=EXPECTED_FAILED_CHECKS)
    failed = [f"{r['check_name']}: {r['exception']}" for r in results if r["status"] == "failed"]
    assert not failed, "\n".join(failed)
    assert sum(r["status"] == "passed" for r in results) >= 50


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_clone_pipeline_grid_search_cross_val_score():
    X, y = _blobs()
    clf = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=50, random_state=0)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and not hasattr(twin, "coefs_")
    pipe = make_pipeline(StandardScaler(), clf).fit(X, y)
    assert pipe.score(X, y) > 0.9
    scores = cross_val_score(clf, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    grid = GridSearchCV(clf, {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(4,), (8,)]}, cv=2).fit(X, y)
    assert set(grid.best_params_) == {"alpha", "hidden_layer_sizes"}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fitted_attributes_are_scikit_learns():
    pd = pytest.importorskip("pandas")
    X, y = _blobs()
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    labels = np.array(["x", "y", "z"])[y]
    ours = MLPClassifier(hidden_layer_sizes=(8, 5), max_iter=20, random_state=0).fit(frame, labels)
    theirs = SkClassifier(hidden_layer_sizes=(8, 5), max_iter=20, random_state=0).fit(frame, labels)
    for name in ("classes_", "n_features_in_", "feature_names_in_", "n_layers_", "n_outputs_", "out_activation_",
                 "n_iter_", "t_"):
        assert np.array_equal(getattr(ours, name), getattr(theirs, name)), name
    assert [W.shape for W in ours.coefs_] == [W.shape for W in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    assert len(ours.loss_curve_) == ours.n_iter_ == 20
    assert ours.predict_proba(frame).shape == (120, 3) and set(ours.predict(frame)) <= {"x", "y", "z"}


def test_convergence_stops_like_scikit_learn():
    """Training loss flat (tol huge): stop after n_iter_no_change + 1 epochs without improvement."""
    X, y = _blobs()
    clf = MLPClassifier(hidden_layer_sizes=(4,), tol=1e9, n_iter_no_change=3, random_state=0).fit(X, y)
    sk = SkClassifier(hidden_layer_sizes=(4,), tol=1e9, n_iter_no_change=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == sk.n_iter_ == 5
    with pytest.warns(ConvergenceWarning):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)


def test_early_stopping_keeps_the_best_validation_score():
    X, y = _blobs(200)
    clf = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, n_iter_no_change=2, max_iter=300,
                        learning_rate_init=0.01, random_state=0).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ < 300
    assert clf.best_validation_score_ == max(clf.validation_scores_) and clf.best_loss_ is None


@pytest.mark.parametrize("regressor", [False, 1, 2], ids=["classifier", "regressor K=1", "regressor K=2"])
@pytest.mark.parametrize("batch", [None, 16])
def test_alpha_gives_scikit_learns_objective_and_gradients(regressor, batch):
    """At the same weights, manual's gradients with λ = l2_strength(α, n_b, ..., K) equal
    scikit-learn's `_backprop` on a batch of n_b rows (the regressor's: times 2/K, see
    dualgrad.sklearn), and the losses are related as derived there."""
    rng = np.random.default_rng(1)
    n = 40 if batch is None else batch
    X = rng.standard_normal((n, 3))
    alpha = 0.37
    if regressor:
        Y = rng.standard_normal((n, regressor))
        sk = SkRegressor(hidden_layer_sizes=(5,), alpha=alpha, max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sk.fit(X, Y)
        targets, loss, factor = Y, "mse", 2.0 / Y.shape[1]
    else:
        y = np.arange(n) % 3
        sk = SkClassifier(hidden_layer_sizes=(5,), alpha=alpha, max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sk.fit(X, y)
        Y = np.eye(3)[y]
        targets, loss, factor = y, "cross_entropy", 1.0
    # scikit-learn's loss and gradients at its fitted weights, on this batch
    layer_units = [3, 5, Y.shape[1]]
    activations = [X] + [None] * 2
    deltas = [None] * 2
    coef_grads = [np.empty((a, b)) for a, b in zip(layer_units[:-1], layer_units[1:])]
    intercept_grads = [np.empty(b) for b in layer_units[1:]]
    sk_loss, coef_grads, intercept_grads = sk._backprop(X, Y, None, activations, deltas, coef_grads, intercept_grads)
    spec = manual.NetworkSpec([3, 5, Y.shape[1]], "relu", loss, l2_strength(alpha, n, regressor, Y.shape[1]))
    params = list(zip(sk.coefs_, sk.intercepts_))
    value, grads = manual.loss_and_grads(spec, params, X, targets)
    if regressor:  # J_m = D_m + (α/(K n)) Σ‖W‖², J_sk = D_m / 2 + (α/(2n)) Σ‖W‖²
        K, norm = Y.shape[1], sum(float(np.sum(W * W)) for W in sk.coefs_)
        assert value == pytest.approx(2 * sk_loss - alpha / n * (1 - 1 / K) * norm, rel=1e-12)
    else:
        assert value == pytest.approx(sk_loss, rel=1e-12)
    for (dW, db), gW, gb in zip(grads, coef_grads, intercept_grads):
        np.testing.assert_allclose(dW, factor * gW, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(db, factor * gb, rtol=1e-10, atol=1e-14)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_regressor_learns_and_matches_scikit_learns_r2():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 4))
    y = X[:, 0] - 2 * X[:, 1] + np.sin(X[:, 2])
    ours = MLPRegressor(hidden_layer_sizes=(32,), max_iter=150, random_state=0).fit(X, y).score(X, y)
    theirs = SkRegressor(hidden_layer_sizes=(32,), max_iter=150, random_state=0).fit(X, y).score(X, y)
    assert ours > 0.9 and abs(ours - theirs) < 0.05, (ours, theirs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(solver="newton"), "solver must be one of"), (dict(max_fun=0), "max_fun"), (dict(activation="softmax"), "activation must be"),
    (dict(hidden_layer_sizes=(4, 0)), "positive ints"), (dict(alpha=-1.0), "alpha"),
    (dict(batch_size=0), "batch_size"), (dict(max_iter=0), "max_iter"),
    (dict(validation_fraction=1.0), "validation_fraction"),
])
def test_bad_parameters_refused_at_fit(kwargs, match):
    X, y = _blobs(30)
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**kwargs).fit(X, y)


def test_one_class_refused():
    with pytest.raises(ValueError, match="only one class"):
        MLPClassifier().fit(np.zeros((4, 2)), [1, 1, 1, 1])


# ---------------------------------------------------------------- issue 22: sample_weight, partial_fit, lbfgs


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_scikit_learns_sample_weight_equivalence_check(Estimator, solver):
    """Integer weights = repeated rows, zero = removed (check_estimator runs it for adam; scikit-learn
    runs its own MLPs' with lbfgs and sgd, so all three here)."""
    check_sample_weight_equivalence_on_dense_data(Estimator.__name__, Estimator(solver=solver))


def test_all_zero_or_negative_weights_refused_before_anything_changes():
    X, y = _blobs(30)
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5)
    for w, match in ((np.zeros(30), "zero"), (-np.ones(30), "Negative"), (np.ones(29), "shape")):
        with pytest.raises(ValueError, match=match):
            clf.fit(X, y, sample_weight=w)
        assert not hasattr(clf, "coefs_")
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X, y, sample_weight=(y == 1).astype(float))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lbfgs_fits_as_well_as_scikit_learns():
    X, y = _blobs(150)
    ours = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=200, random_state=0).fit(X, y)
    theirs = SkClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=200, random_state=0).fit(X, y)
    assert ours.score(X, y) >= theirs.score(X, y) - 0.02 and ours.score(X, y) > 0.95
    assert 0 < ours.n_iter_ <= 200 and ours.loss_ < 0.1 and not hasattr(ours, "partial_fit")
    Xr = np.random.default_rng(0).standard_normal((200, 3))
    reg = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300, random_state=0).fit(Xr, Xr[:, 0] ** 2)
    assert reg.score(Xr, Xr[:, 0] ** 2) > 0.95
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=2, random_state=0).fit(X, y)


def test_partial_fit_continues_and_equals_fit_epoch_by_epoch():
    X, y = _blobs(90)
    a = MLPClassifier(hidden_layer_sizes=(6,), random_state=0, shuffle=False)
    for _ in range(3):
        a.partial_fit(X, y, classes=[0, 1, 2])
    b = MLPClassifier(hidden_layer_sizes=(6,), random_state=0, shuffle=False, max_iter=3)
    with pytest.warns(ConvergenceWarning):
        b.fit(X, y)
    assert a.n_iter_ == 3 and a.t_ == 270 and len(a.loss_curve_) == 3
    for Wa, Wb in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(Wa, Wb)
    first = MLPClassifier(hidden_layer_sizes=(6,), random_state=0)
    with pytest.raises(ValueError, match="classes="):
        first.partial_fit(X[y == 0], y[y == 0])
    first.partial_fit(X[:10], y[:10], classes=[0, 1, 2])
    with pytest.raises(ValueError, match="not in classes_"):
        first.partial_fit(X[:3], [0, 1, 7])
    reg = MLPRegressor(hidden_layer_sizes=(6,), random_state=0)
    reg.partial_fit(X, X[:, 0]).partial_fit(X, X[:, 0], sample_weight=np.arange(90) % 3)
    assert reg.n_iter_ == 2


def test_manual_mlp_sample_weight_equals_repeated_rows():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    w = rng.integers(0, 4, 40)
    kw = dict(hidden_sizes=[5], batch_size=None, epochs=30, learning_rate=0.01, l2=0.01)
    weighted = manual.MLP(**kw).fit(X, y, sample_weight=w)
    repeated = manual.MLP(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weighted.loss_history, repeated.loss_history, rtol=1e-10)
    ones = manual.MLP(**kw).fit(X, y, sample_weight=np.ones(40))
    plain = manual.MLP(**kw).fit(X, y)
    np.testing.assert_allclose(ones.predict_proba(X), plain.predict_proba(X), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        manual.MLP(**kw).fit(X, y, sample_weight=-np.ones(40))
