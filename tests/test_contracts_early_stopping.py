"""Early stopping restores a copy of the best epoch's weights, which later training does not change.

manual.MLP (manual/mlp.py): "stop after `patience` epochs without a validation loss below the best
so far, then restore the parameters of the best epoch". dualgrad.sklearn's estimators: "stop the
same way on that score and keep the best epoch's weights". Training updates the parameters in
place, so the best epoch's weights must be copied when they are the best: a kept reference would
follow the training to its last epoch.

Each test records the weights after every epoch (wrapping the epoch, not changing it), then
checks that the fitted weights equal those of the best epoch — the first with the lowest
validation loss (manual) or the highest validation score (scikit-learn's rule) — and that they
differ from the last epoch's, which the runs here reach after the best (so the test can fail).
Found by the mutation catalog of issue 23 (the estimators keeping a live reference).
"""

import numpy as np
import pytest

from manual import datasets
from manual.mlp import MLP

pytest.importorskip("sklearn")

from dualgrad.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def snapshot(params):
    return [(W.copy(), b.copy()) for W, b in params]


def equal(a, b) -> bool:
    return all(np.array_equal(x, y) for la, lb in zip(a, b) for x, y in zip(la, lb))


def test_manual_mlp_restores_a_copy_of_the_best_epoch(monkeypatch):
    X, y = datasets.moons(80, noise=0.35, seed=0)
    model = MLP([2, 32, 32, 2], learning_rate=0.05, batch_size=8, epochs=200, early_stopping=True,
                validation_fraction=0.25, patience=4, seed=1)
    epochs = []
    step = model._epoch

    def recorded(*args):
        step(*args)
        epochs.append(snapshot(model._params))

    monkeypatch.setattr(model, "_epoch", recorded)
    model.fit(X, y)
    best = int(np.argmin(model.validation_history))  # the first lowest
    assert model.best_epoch_ == best + 1 and len(epochs) == model.n_epochs_ > best + 1
    assert equal(model.params, epochs[best]), "the restored weights are not the best epoch's"
    assert not equal(epochs[best], epochs[-1])  # training went on and changed them


@pytest.mark.parametrize("Estimator,make", [
    (MLPClassifier, lambda: datasets.moons(120, noise=0.35, seed=0)),
    (MLPRegressor, lambda: (lambda X, y: (X, X[:, 0] * X[:, 1] + 0.3 * y))(*datasets.moons(120, noise=0.35, seed=0))),
], ids=["classifier", "regressor"])
def test_sklearn_estimators_keep_a_copy_of_the_best_epoch(Estimator, make, monkeypatch):
    X, y = make()
    epochs = []
    partial_fit = MLP.partial_fit

    def recorded(self, *args, **kwargs):
        out = partial_fit(self, *args, **kwargs)
        epochs.append(snapshot(self.params))
        return out

    monkeypatch.setattr(MLP, "partial_fit", recorded)
    est = Estimator(hidden_layer_sizes=(32, 32), early_stopping=True, n_iter_no_change=3, max_iter=200,
                    learning_rate_init=0.02, random_state=0).fit(X, y)
    best = int(np.argmax(est.validation_scores_))  # the first highest
    assert len(epochs) == est.n_iter_ > best + 1
    fitted = list(zip(est.coefs_, est.intercepts_))
    assert equal(fitted, epochs[best]), "coefs_ and intercepts_ are not the best epoch's"
    assert not equal(epochs[best], epochs[-1])  # training went on and changed them
