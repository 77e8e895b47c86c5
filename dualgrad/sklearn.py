"""`MLPClassifier` and `MLPRegressor`: scikit-learn estimators that train `manual`'s hand-written backprop.

    from dualgrad.sklearn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(64, 32), alpha=1e-4, max_iter=200, random_state=0)
    make_pipeline(StandardScaler(), clf).fit(X, y);  cross_val_score(clf, X, y);  clone(clf)

The optional extra `pip install 'dualgrad[sklearn]'`. Parameters carry scikit-learn's
names and defaults where they mean the same thing (`hidden_layer_sizes`, `activation`,
`solver`, `alpha`, `batch_size`, `learning_rate_init`, `max_iter`, `shuffle`,
`random_state`, `tol`, `verbose`, `momentum`, `early_stopping`, `validation_fraction`,
`n_iter_no_change`), and so do the fitted attributes (`classes_`, `n_features_in_`,
`feature_names_in_`, `loss_curve_`, `best_loss_`, `validation_scores_`,
`best_validation_score_`, `n_iter_`, `t_`, `coefs_`, `intercepts_`, `n_layers_`,
`n_outputs_`, `out_activation_`, `loss_`). `fit(X, y, sample_weight=None)`, `partial_fit` (the
stochastic solvers, as scikit-learn) and `solver='lbfgs'` (with `max_fun`) are scikit-learn's.
Not offered: learning_rate schedules 'invscaling'/'adaptive', nesterovs_momentum,
beta_1/beta_2/epsilon (adam uses 0.9, 0.999, 1e-8, which are scikit-learn's defaults too).

Underneath, one `manual.MLP` per fit, one epoch (`partial_fit`) per iteration; the
stopping rule around it is scikit-learn's: without early stopping, stop when the training
loss has not improved by `tol` for more than `n_iter_no_change` epochs (ConvergenceWarning
when max_iter is reached first); with it, hold out `validation_fraction` of the rows
(stratified for classifiers), score them (accuracy or R²) after each epoch, stop the same
way on that score and keep the best epoch's weights. `partial_fit` is one more such epoch
(the first call initialises; a classifier's first call needs `classes` unless y holds them all).

solver='lbfgs': scipy.optimize.minimize(method="L-BFGS-B", jac=True) on manual's loss and
gradients of the whole training set (`manual.loss_and_grads`, the parameters packed into one
vector), with maxiter=max_iter, maxfun=max_fun, gtol=tol, as scikit-learn's `_fit_lbfgs`;
ConvergenceWarning when it stops without converging. scipy is imported only there.

sample_weight: each batch's data term is the weighted mean Σ wₙ ℓₙ / Σ wₙ (scikit-learn's
convention), the penalty is not weighted, and n_b below becomes the weight a full batch carries,
min(batch_size, N)·mean(w) (Σ w for one batch, and always for lbfgs), as scikit-learn divides
its penalty by the batch's weight sum. So integer weights equal repeated rows exactly when a
batch is the whole data set (lbfgs; N ≤ batch_size), which scikit-learn's
check_sample_weight_equivalence checks.

How `alpha` maps to `manual`'s L2 strength λ. scikit-learn's objective on a batch of n_b rows
(`_backprop` in sklearn/neural_network/_multilayer_perceptron.py) is

    J_sk = D + (α / 2) Σ‖W‖² / n_b,
    D = mean log-loss (classifier)   or   D = ½ · mean over rows and outputs of (ŷ − y)² (regressor),

and `manual`'s is J_m = D_m + (λ / 2) Σ‖W‖², with D_m the mean log-loss, or for 'mse' the
mean of (ŷ − y)² over rows and outputs. For the classifier the two agree term by term:

    classifier:  J_m = J_sk                with λ = α / n_b.

For a regressor with K outputs, NOTE: scikit-learn reports J_sk but descends another function:
its output delta is ŷ − y (not (ŷ − y) / K), so its gradients are those of
J_eff = (K/2) D_m + (α / 2) Σ‖W‖² / n_b = (K/2) (D_m + (α / K) Σ‖W‖² / n_b). We match what
it descends:

    regressor:   J_m = (2/K) J_eff         with λ = 2α / (K n_b)

(same minimiser, gradients scaled by 2/K, which adam's update does not see, up to its ε, and
which sgd sees as a scaled learning rate: learning_rate_init is multiplied by K/2 for the
regressor with sgd, so that the updates are scikit-learn's). n_b is the size of the full
batches, min(batch_size, N); scikit-learn uses the actual size of each batch, so the last
batch of an epoch, when smaller, carries a slightly smaller penalty here. `loss_curve_` is
the manual loss in scikit-learn's units: as is for the classifier, halved for the regressor
(equal to scikit-learn's reported loss for K = 1; for K > 1 it counts the penalty 1/K times).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data

from manual.mlp import MLP
from manual.network import forward, loss_and_grads
from manual.validation import check_sample_weight, encode_targets

ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}  # sklearn -> manual
SOLVERS = ("adam", "sgd", "lbfgs")


def l2_strength(alpha: float, batch_rows: int, regressor: bool, n_outputs: int = 1) -> float:
    """manual's λ for scikit-learn's α on batches of n_b rows (see the module docstring):
    α / n_b for a classifier, 2α / (K n_b) for a regressor with K outputs."""
    return (2.0 / n_outputs if regressor else 1.0) * alpha / batch_rows


class _BaseMLP(BaseEstimator):
    def __init__(self, hidden_layer_sizes=(100,), activation="relu", solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate_init=0.001, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, momentum=0.9, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, max_fun=15000):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    # ------------------------------------------------------------ checks

    def _check_params(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive ints, got {self.hidden_layer_sizes!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(map(repr, SOLVERS))}, got {self.solver!r}")
        for name, ok in (("alpha", lambda v: v >= 0), ("learning_rate_init", lambda v: v > 0),
                         ("tol", lambda v: v >= 0), ("momentum", lambda v: 0 <= v < 1),
                         ("validation_fraction", lambda v: 0 < v < 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or not ok(value):
                raise ValueError(f"{name} is out of range or not a number: {value!r}")
        for name in ("max_iter", "n_iter_no_change", "max_fun"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        bs = self.batch_size
        if bs != "auto" and (isinstance(bs, bool) or not isinstance(bs, numbers.Integral) or bs < 1):
            raise ValueError(f"batch_size must be 'auto' or an int >= 1, got {bs!r}")
        return [int(s) for s in sizes]

    # ------------------------------------------------------------ training

    def _sample_weight(self, sample_weight, X):
        """w (N,) float64, checked as scikit-learn does (and Σ w > 0), or None."""
        if sample_weight is None:
            return None
        w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        return check_sample_weight(w, X.shape[0])  # a ValueError when every weight is zero

    def _model(self, X, Y, w, hidden_sizes, seed):
        """A fresh manual.MLP for this data, its parameters initialised; λ from alpha (module docstring)."""
        n = X.shape[0]
        if self.solver == "lbfgs":
            batch_rows = n
        else:
            batch_rows = min(200, n) if self.batch_size == "auto" else min(self.batch_size, n)
            if self.batch_size != "auto" and self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                              UserWarning)
        penalty_rows = batch_rows if w is None else batch_rows * float(np.mean(w))  # a full batch's weight
        regressor = not self._is_classifier
        k = (1 if Y.ndim == 1 else Y.shape[1]) if regressor else 1
        lr = self.learning_rate_init * (k / 2.0 if regressor and self.solver == "sgd" else 1.0)
        optimizer = "adam" if self.solver == "lbfgs" else self.solver
        model = MLP(hidden_sizes=hidden_sizes, hidden=ACTIVATIONS[self.activation], loss="mse" if regressor else None,
                    optimizer=optimizer, learning_rate=lr, momentum=self.momentum if self.solver == "sgd" else 0.0,
                    l2=l2_strength(self.alpha, penalty_rows, regressor, k), batch_size=batch_rows,
                    epochs=self.max_iter, shuffle=self.shuffle, seed=seed)
        if regressor:
            model.initialize(n_features=X.shape[1], n_outputs=1 if Y.ndim == 1 else Y.shape[1])
        else:
            model.initialize(classes=np.arange(len(self.classes_)), n_features=X.shape[1])
        return model

    def _fit(self, X, Y, labels_for_split, w=None):
        """Train on X (N, D) float64 and Y: class indices (N,) or targets (N,) / (N, K), rows weighted by w."""
        hidden_sizes = self._check_params()
        rs = check_random_state(self.random_state)
        seed = int(rs.randint(np.iinfo(np.int32).max))
        if self.solver == "lbfgs":
            return self._fit_lbfgs(X, Y, w, hidden_sizes, seed)
        if self.early_stopping:
            stratify = labels_for_split if self._is_classifier else None
            split = train_test_split(X, Y, *([] if w is None else [w]), test_size=self.validation_fraction,
                                     random_state=seed, stratify=stratify)
            X, X_val, Y, Y_val = split[:4]
            w, w_val = (None, None) if w is None else split[4:]
            if w is not None and not w.sum() > 0:
                raise ValueError("every training row left after the early-stopping split has sample_weight zero: "
                                 "give more rows with a positive weight or early_stopping=False")
        regressor = not self._is_classifier
        model = self._model(X, Y, w, hidden_sizes, seed)
        scale = 0.5 if regressor else 1.0  # manual's loss in scikit-learn's units
        self.loss_curve_, self.best_loss_ = [], np.inf
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = -np.inf if self.early_stopping else None
        best_params, no_improvement = None, 0
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            model.partial_fit(X, Y, sample_weight=w)
            self.n_iter_ += 1
            loss = scale * model.loss_history[-1]
            self.loss_curve_.append(loss)
            if self.early_stopping:
                score = self._score_params(model, X_val, Y_val, w_val)
                self.validation_scores_.append(score)
                no_improvement = no_improvement + 1 if score < self.best_validation_score_ + self.tol else 0
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    best_params = [(W.copy(), b.copy()) for W, b in model.params]
                self.best_loss_ = None
            else:
                no_improvement = no_improvement + 1 if loss > self.best_loss_ - self.tol else 0
                self.best_loss_ = min(self.best_loss_, loss)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
            if no_improvement > self.n_iter_no_change:
                break
        else:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning)
        params = best_params if best_params is not None else model.params
        self.t_ = self.n_iter_ * X.shape[0]  # samples seen, as scikit-learn counts
        self.loss_ = self.loss_curve_[-1]
        return self._fitted(model, params, hidden_sizes)

    def _fitted(self, model, params, hidden_sizes):
        self.coefs_ = [W.copy() for W, _ in params]
        self.intercepts_ = [b.copy() for _, b in params]
        self._spec = model.spec
        self._manual = model  # partial_fit continues with it (its optimizer state)
        self.n_layers_ = len(hidden_sizes) + 2
        self.n_outputs_ = model.spec.sizes[-1]
        self.out_activation_ = {"binary_cross_entropy": "logistic", "cross_entropy": "softmax", "mse": "identity"}[
            model.spec.loss]
        return self

    def _fit_lbfgs(self, X, Y, w, hidden_sizes, seed):
        """scipy's L-BFGS-B on manual.loss_and_grads of all rows (see the module docstring)."""
        try:
            import scipy.optimize
        except ImportError:  # pragma: no cover - scipy comes with scikit-learn
            raise ImportError("solver='lbfgs' needs scipy: pip install scipy") from None
        model = self._model(X, Y, w, hidden_sizes, seed)
        spec, shapes = model.spec, [(W.shape, b.shape) for W, b in model.params]
        targets = encode_targets(spec, Y, X.shape[0])  # (N, K)

        def unpack(x):
            params, i = [], 0
            for w_shape, b_shape in shapes:
                j = i + int(np.prod(w_shape))
                params.append((x[i:j].reshape(w_shape), x[j:j + b_shape[0]]))
                i = j + b_shape[0]
            return params

        def pack(pairs):
            return np.concatenate([a.ravel() for pair in pairs for a in pair])

        def value_and_gradient(x):
            value, grads = loss_and_grads(spec, unpack(x), X, targets, sample_weight=w)
            return value, pack(grads)

        result = scipy.optimize.minimize(value_and_gradient, pack(model.params), method="L-BFGS-B", jac=True,
                                         options={"maxiter": self.max_iter, "maxfun": self.max_fun, "gtol": self.tol})
        if result.status != 0:
            warnings.warn(f"lbfgs failed to converge after {result.nit} iteration(s) (status {result.status}): "
                          f"{result.message}. Increase max_iter or scale the data.", ConvergenceWarning)
        self.n_iter_ = min(int(result.nit), self.max_iter)
        self.loss_ = (0.5 if not self._is_classifier else 1.0) * float(result.fun)
        self.t_ = 0
        for (W, b), (W_new, b_new) in zip(model.params, unpack(result.x)):
            np.copyto(W, W_new)
            np.copyto(b, b_new)
        return self._fitted(model, model.params, hidden_sizes)

    def _partial_fit(self, X, Y, w, first):
        """One more epoch of the stochastic solver (the first call initialises)."""
        hidden_sizes = self._check_params()
        model = getattr(self, "_manual", None)
        if first or model is None:
            if first:
                seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
                model = self._model(X, Y, w, hidden_sizes, seed)
                self.loss_curve_, self.best_loss_, self.n_iter_, self.t_ = [], np.inf, 0, 0
                self.validation_scores_ = self.best_validation_score_ = None
            else:  # unpickled: the optimizer starts afresh from the fitted weights
                model = self._model(X, Y, w, hidden_sizes, 0)
        for (W, b), W_fit, b_fit in zip(model.params, self.coefs_ if not first else [W for W, _ in model.params],
                                         self.intercepts_ if not first else [b for _, b in model.params]):
            np.copyto(W, W_fit)
            np.copyto(b, b_fit)
        model.partial_fit(X, Y, sample_weight=w)
        loss = (0.5 if not self._is_classifier else 1.0) * model.loss_history[-1]
        self.loss_curve_.append(loss)
        self.best_loss_ = min(self.best_loss_ if self.best_loss_ is not None else np.inf, loss)
        self.loss_ = loss
        self.n_iter_ += 1
        self.t_ += X.shape[0]
        return self._fitted(model, model.params, hidden_sizes)

    def _stochastic(self):
        return self.solver in ("sgd", "adam")

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_manual", None)  # its optimizer is made of closures; partial_fit rebuilds one
        return state

    def _score_params(self, model, X, Y, w=None):
        out = forward(model.spec, model.params, X)
        if not self._is_classifier:
            return r2_score(Y, out[:, 0] if Y.ndim == 1 else out, sample_weight=w)
        index = (out[:, 0] >= 0.5).astype(int) if out.shape[1] == 1 else np.argmax(out, axis=1)
        return accuracy_score(Y, index, sample_weight=w)

    def _output(self, X):
        check_is_fitted(self, "coefs_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return forward(self._spec, list(zip(self.coefs_, self.intercepts_)), X)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """scikit-learn's MLPClassifier interface on `manual`'s backprop (see the module docstring)."""

    _is_classifier = True

    def fit(self, X, y, sample_weight=None):
        """Train from scratch; sample_weight (N,) ≥ 0 weighs each row's loss (module docstring)."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        w = self._sample_weight(sample_weight, X)
        classes, index = np.unique(y, return_inverse=True)
        weighed = classes if w is None else np.unique(y[w > 0])
        if len(classes) < 2 or len(weighed) < 2:
            raise ValueError(f"Classifier can't train when only one class is present: y holds only "
                             f"{weighed.tolist()[:1]}" + ("" if len(classes) < 2 else " among rows of positive sample_weight"))
        self.classes_ = classes
        return self._fit(X, index.astype(np.int64), index, w)

    @available_if(_BaseMLP._stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One more epoch over (X, y) (solvers 'sgd' and 'adam'); the first call needs `classes`
        (every label to come) unless y holds them all."""
        first = not hasattr(self, "coefs_")
        X, y = validate_data(self, X, y, dtype=np.float64, reset=first)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        w = self._sample_weight(sample_weight, X)
        if first:
            known = np.unique(y if classes is None else classes)
            if len(known) < 2:
                raise ValueError(f"Classifier can't train when only one class is present: pass classes= (every "
                                 f"label) on the first call to partial_fit; got {known.tolist()}")
            self.classes_ = known
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"`classes={np.unique(classes).tolist()}` is not the same as on the first call to "
                             f"partial_fit, {self.classes_.tolist()}")
        unseen = ~np.isin(y, self.classes_)
        if unseen.any():
            raise ValueError(f"y holds labels not in classes_ {self.classes_.tolist()}: {np.unique(y[unseen]).tolist()}")
        return self._partial_fit(X, np.searchsorted(self.classes_, y).astype(np.int64), w, first)

    def predict_proba(self, X):
        out = self._output(X)  # (N, 1) σ or (N, K) softmax
        return np.concatenate([1 - out, out], axis=1) if out.shape[1] == 1 else out

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        check_is_fitted(self, "coefs_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """scikit-learn's MLPRegressor interface on `manual`'s backprop (see the module docstring)."""

    _is_classifier = False

    def fit(self, X, y, sample_weight=None):
        """Train from scratch; sample_weight (N,) ≥ 0 weighs each row's loss (module docstring)."""
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        return self._fit(X, y, None, self._sample_weight(sample_weight, X))

    @available_if(_BaseMLP._stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One more epoch over (X, y) (solvers 'sgd' and 'adam'; the first call initialises)."""
        first = not hasattr(self, "coefs_")
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True, reset=first)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if not first and (1 if y.ndim == 1 else y.shape[1]) != self.n_outputs_:
            raise ValueError(f"y has {1 if y.ndim == 1 else y.shape[1]} output(s), but the model was fitted with "
                             f"{self.n_outputs_}")
        return self._partial_fit(X, y, self._sample_weight(sample_weight, X), first)

    def predict(self, X):
        out = self._output(X)  # (N, K)
        return out[:, 0] if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
