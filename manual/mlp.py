"""MLP: a scikit-learn-style estimator around the functional core and `TrainStep`.

    model = MLP([2, 16, 16, 2], optimizer="adam", learning_rate=0.01, batch_size=32, epochs=200)
    model = MLP(hidden_sizes=[64, 32])   # widths of X and y read at fit; defaults as scikit-learn's
    model.fit(X, y)                 # y: any labels (ints, floats, strings)
    model.predict(X), model.predict_proba(X), model.score(X, y)
    model.save("model.npz");  MLP.load("model.npz")      (manual/persistence.py)

Training, in the terms of the code below. One generator, `rng =
np.random.default_rng(seed)`, made afresh by `fit` (and by the first
`partial_fit`), drives everything random, in this order:

    init_seed = rng.integers(2**63);  params = init_params(spec, init_seed, init, dtype)
    (fit with early_stopping)  perm = rng.permutation(N): the first ⌈f·N⌉ rows of perm
                               are held out for validation, the others are trained on
    every epoch, if it has more than one batch and shuffle:  order = rng.permutation(N_train)

An epoch cuts the rows (in `order`, or as given) into consecutive batches of
`batch_size` ('auto': min(200, N); None: one batch of all rows; a larger size is
cut to N; the last batch may be smaller) and takes one `TrainStep` per batch: forward, backward,
optimizer update, in place. Hence the same seed gives bit-identical weights and
histories, and E calls of `partial_fit(X, y)` equal `fit(X, y)` with epochs=E
(without early stopping).

    loss_history[e]       = Σ_b n_b · L_b / N    the row-weighted mean of the epoch's batch
                            losses, each taken before its update (L2 penalty included);
                            with one batch per epoch: the loss at the epoch's start
    validation_history[e] = loss on the held-out rows after epoch e (L2 penalty included)
    n_epochs_             = completed epochs;   t_ = optimizer updates taken (= state count)

Early stopping (fit only; partial_fit ignores it): stop after `patience` epochs
without a validation loss below the best so far, then restore the parameters of
the best epoch (the optimizer state, histories and counters stay those of the last
epoch, as in Keras' restore_best_weights).

Errors: every argument is checked before anything changes, so a rejected call
(ValueError or TypeError) leaves params, optimizer state, generator, histories
and counters exactly as they were. If the loss or a gradient becomes NaN or
infinite, `NonFiniteError` (a FloatingPointError, not a ValueError) is raised and
the parameters are the last finite ones of the trajectory, with the optimizer
state and t_ that belong to them; the unfinished epoch adds no history entry.

NumPy only.
"""

from __future__ import annotations

import copy
import math
import numbers

import numpy as np

from . import arguments
from . import optimizers as _optimizers
from .initializers import INITS, init_params
from .network import forward as _forward
from .network import loss as _loss
from .network import loss_and_grads as _loss_and_grads
from .spec import NetworkSpec
from .train_step import NonFiniteError, TrainStep
from .validation import all_finite, as_real_array, check_inputs, check_sample_weight, encode_targets

OPTIMIZER_NAMES = ("sgd", "adam", "rmsprop")
DEFAULT_HIDDEN_SIZES = (100,)  # scikit-learn's MLPClassifier's, when neither sizes nor hidden_sizes is given
LABEL_KINDS = "biufUS"  # bool, ints, floats, unicode and byte strings: arrays npz stores without pickle


class NotFittedError(ValueError, AttributeError):
    """The model has no parameters yet: call fit or partial_fit first."""


class MLP:
    """A multi-layer perceptron: classifier (cross-entropy heads) or regressor (loss='mse').

    sizes        [n_in, hidden..., n_out] as in NetworkSpec. For classifiers n_out is the
                 number of classes (cross_entropy, ≥ 2) or 1 for two classes (binary_cross_entropy).
    hidden_sizes instead of sizes: the hidden widths only, e.g. [64, 32] (scikit-learn's
                 hidden_layer_sizes); n_in and n_out are read from X and y at fit (n_out: 1 for
                 two classes with loss None, the number of classes, or y's width for 'mse').
                 Neither given: hidden_sizes = [100], as scikit-learn's MLPClassifier.
    hidden       one activation name for every hidden layer, or one per hidden layer.
    loss         None: cross_entropy if n_out ≥ 2 else binary_cross_entropy; 'mse': a regressor.
    optimizer    'sgd' (uses momentum), 'adam', 'rmsprop' (each with optax's defaults for its
                 other hyper-parameters), or an Optimizer from manual.optimizers (then
                 learning_rate is not used and momentum must be 0; such a model cannot be saved).
    learning_rate a float > 0, or a schedule from manual.optimizers (constant, exponential_decay,
                 step_decay: saved with the model); any other callable step -> rate trains but
                 cannot be saved.
    momentum, l2 (λ/2 Σ‖W‖² added to the loss)
    batch_size   'auto' (min(200, N), scikit-learn's), None (full batch) or an int ≥ 1.
    epochs       epochs per fit.
    The defaults (adam, learning_rate 1e-3, batch_size 'auto', epochs 200, hidden_sizes [100])
    are scikit-learn's MLPClassifier's; the seed article's classes keep their own.
    shuffle      reshuffle the rows every epoch (only when an epoch has several batches).
    seed         int ≥ 0 (or None: fresh entropy, not reproducible) for init, split and shuffling.
    dtype        np.float32 or np.float64: parameters, inputs and targets are cast to it.
    early_stopping, validation_fraction (in (0, 1)), patience (epochs ≥ 1)
    init         'he' or 'xavier';  verbose: print one line per epoch to stdout.
    """

    def __init__(self, sizes=None, hidden="relu", loss=None, optimizer="adam", learning_rate=1e-3, momentum=0.0,
                 l2=0.0, batch_size="auto", epochs=200, shuffle=True, seed=0, dtype=np.float64,
                 early_stopping=False, validation_fraction=0.1, patience=10, init="he", verbose=False,
                 hidden_sizes=None):
        if sizes is not None and hidden_sizes is not None:
            raise ValueError("give sizes [n_in, hidden..., n_out] or hidden_sizes [hidden...], not both")
        if sizes is None:  # the widths of the inputs and outputs are read from the data at fit
            hidden_sizes = DEFAULT_HIDDEN_SIZES if hidden_sizes is None else _hidden_sizes(hidden_sizes)
            # checks hidden, loss and l2 on a stand-in network of the same depth (widths 1 in, 1 or 2 out)
            NetworkSpec([1, *hidden_sizes, 2 if loss in (None, "cross_entropy") else 1], hidden,
                        loss or "cross_entropy", l2)
            self.spec = None  # set at fit (or initialize) from the data
        else:
            sizes = _sizes(sizes)
            if loss is None:
                loss = "cross_entropy" if sizes[-1] >= 2 else "binary_cross_entropy"
            self.spec = NetworkSpec(sizes, hidden, loss, l2)  # checks sizes, hidden, loss and l2
        self.hidden_sizes = None if sizes is not None else list(hidden_sizes)
        self._hidden, self._loss, self._l2 = hidden, loss, float(l2)
        if isinstance(optimizer, str):
            if optimizer not in OPTIMIZER_NAMES:
                raise ValueError(f"unknown optimizer {optimizer!r}; valid names: {', '.join(OPTIMIZER_NAMES)}, "
                                 "or an Optimizer from manual.optimizers")
        elif not isinstance(optimizer, _optimizers.Optimizer):
            raise TypeError("optimizer must be 'sgd', 'adam', 'rmsprop' or an Optimizer from manual.optimizers "
                            f"(e.g. manual.optimizers.sgd(0.1, nesterov=True)), got {type(optimizer).__name__}")
        learning_rate = _learning_rate(learning_rate)
        momentum = arguments.unit_interval(momentum, "momentum")
        if momentum and optimizer != "sgd":
            name = optimizer if isinstance(optimizer, str) else "an Optimizer object"
            raise ValueError(f"momentum is a setting of optimizer='sgd'; with {name} it must be 0, got {momentum}")
        if batch_size is not None and batch_size != "auto":
            batch_size = arguments.integer(batch_size, "batch_size", 1, "'auto' (min(200, N)), None (full batch) "
                                           "or an int >= 1")
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.batch_size = batch_size
        self.epochs = arguments.integer(epochs, "epochs", 1)
        self.shuffle = arguments.flag(shuffle, "shuffle")
        self.seed = arguments.seed(seed)
        self.dtype = arguments.float_dtype(dtype)
        self.early_stopping = arguments.flag(early_stopping, "early_stopping")
        self.validation_fraction = arguments.real(validation_fraction, "validation_fraction", "a float in (0, 1)",
                                                  lambda v: 0 < v < 1)
        self.patience = arguments.integer(patience, "patience", 1)
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; valid names: {', '.join(INITS)}")
        self.init = init
        self.verbose = arguments.flag(verbose, "verbose")
        self._opt = optimizer if not isinstance(optimizer, str) else _named_optimizer(optimizer, learning_rate, momentum)
        self._step = None if self.spec is None else TrainStep(self.spec, self._opt)
        self._params = None  # [(W (fan_in, fan_out), b (fan_out,)), ...] once initialised
        self._state = None  # the optimizer's state
        self._rng = None  # np.random.Generator
        self._gathered = None  # (X batch (batch_size, sizes[0]), Y batch (batch_size, sizes[-1]), their shapes)
        self.classes_ = None
        self.loss_history = []
        self.validation_history = []
        self.n_epochs_ = 0
        self.best_epoch_ = None  # 1-based epoch whose params early stopping restored

    # ------------------------------------------------------------ properties

    @property
    def is_classifier(self) -> bool:
        return self._loss != "mse"

    @property
    def params(self) -> list:
        """[(W (fan_in, fan_out), b (fan_out,)), ...]: the live arrays training updates in place."""
        self._check_fitted()
        return self._params

    @property
    def t_(self) -> int:
        """Optimizer updates taken so far (one per mini-batch)."""
        return 0 if self._state is None else self._state.count

    def __repr__(self):
        opt = self.optimizer if isinstance(self.optimizer, str) else "Optimizer(...)"
        lr = self.learning_rate if not callable(self.learning_rate) else "schedule"
        if self.hidden_sizes is not None:
            net = f"hidden_sizes={self.hidden_sizes}, hidden={self._hidden!r}, loss={self._loss!r}"
        else:
            net = f"sizes={list(self.spec.sizes)}, hidden={list(self.spec.hidden)}, loss={self.spec.loss!r}"
        return (f"MLP({net}, optimizer={opt!r}, learning_rate={lr}, batch_size={self.batch_size!r}, "
                f"epochs={self.epochs}, seed={self.seed}, dtype={self.dtype.name})")

    # ------------------------------------------------------------ training

    def initialize(self, classes=None, n_features=None, n_outputs=None):
        """Start afresh, as fit and the first partial_fit do, without training: a new generator
        from `seed`, parameters drawn from it, a fresh optimizer state, empty histories.

        classes: every label the model will see (classifiers; as in partial_fit).
        n_features (and n_outputs, a regressor's target width, default 1): the data's widths,
        needed only by a model given hidden_sizes. Returns self.
        """
        spec = self.spec
        if self.hidden_sizes is not None:
            n_features = arguments.integer(n_features, "n_features", 1, "an int >= 1 (the width of X: this "
                                           "model was given hidden_sizes only)")
            if self.is_classifier:
                if classes is None:
                    raise ValueError("initialize needs classes= (every label the model will see) to size the output")
                width = _label_array(classes, "classes")
            else:
                width = np.zeros((1, arguments.integer(1 if n_outputs is None else n_outputs, "n_outputs", 1)))
            spec = self._spec_for(np.zeros((1, n_features)), width)
        classes = self._check_classes(classes, spec=spec) if self.is_classifier else self._no_classes(classes)
        self._set_spec(spec)
        self._initialize(classes)
        return self

    def fit(self, X, y, sample_weight=None):
        """Re-initialise, then train for `epochs` epochs (fewer with early stopping). Returns self.
        A model given hidden_sizes takes its input and output widths from X and y here.

        sample_weight -- optionally w (N,) ≥ 0, Σ w > 0: each batch's loss is its weighted mean
        Σ wₙ ℓₙ / Σ w (network.loss_and_grads' convention; the L2 term is not weighted), a batch
        whose weights are all 0 is skipped, and loss_history is weighted the same way (Σ_b W_b L_b / W,
        W_b a batch's weight sum). With early stopping the held-out rows' loss is weighted too.
        Integer weights on full batches equal repeating rows."""
        spec = self._spec_for(X, y) if self.hidden_sizes is not None else self.spec
        X, labels = self._check_data(X, y, spec)
        w = self._weights(sample_weight, X)
        classes = np.unique(labels) if self.is_classifier else None
        if classes is not None:
            self._check_classes(classes, what="y", spec=spec)
        n = X.shape[0]
        if self.early_stopping:
            n_val = math.ceil(self.validation_fraction * n)
            if n - n_val < 1:
                raise ValueError(f"early_stopping holds out ⌈{self.validation_fraction}·{n}⌉ = {n_val} of {n} rows "
                                 "and leaves none to train on: give more rows or a smaller validation_fraction")
        # everything is checked: from here on the model changes
        self._set_spec(spec)
        self._initialize(classes)
        Y = self._targets(labels, n)  # (N, sizes[-1])
        if self.early_stopping:
            perm = self._rng.permutation(n)
            val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
            X, Y, X_val, Y_val = X[train], Y[train], X[val], Y[val]
            w, w_val = (None, None) if w is None else (w[train], w[val])
            if w_val is not None and not w_val.sum() > 0:
                w_val = None  # the held-out rows all weigh 0: their plain mean loss
        best, best_params, waited = math.inf, None, 0
        for _ in range(self.epochs):
            self._epoch(X, Y, w)
            if not self.early_stopping:
                self._print_epoch()
                continue
            if w_val is None:
                value = _loss(self.spec, self._params, X_val, Y_val)
            else:
                value = _loss_and_grads(self.spec, self._params, X_val, Y_val, sample_weight=w_val)[0]
            self.validation_history.append(value)
            self._print_epoch()
            if value < best:
                best, best_params, waited, self.best_epoch_ = value, _copy_params(self._params), 0, self.n_epochs_
            else:
                waited += 1
                if waited >= self.patience:
                    break
        if best_params is not None:
            _copy_into(self._params, best_params)
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current state (the first call initialises).
        sample_weight: as in fit.

        classes: all labels the model will ever see; needed on the first call of a classifier
        unless y itself holds every class; later calls must give the same classes or none.
        Labels of y must be among classes_. Early stopping is not applied. Returns self.
        """
        first = self._params is None
        spec = self.spec
        if first and self.hidden_sizes is not None:
            spec = self._spec_for(X, y if classes is None or not self.is_classifier else classes)
        X, labels = self._check_data(X, y, spec)
        w = self._weights(sample_weight, X)
        if self.is_classifier:
            if classes is not None:
                classes = self._check_classes(classes, spec=spec)
                if not first and not _same_labels(classes, self.classes_):
                    raise ValueError(f"classes {classes.tolist()} differ from classes_ {self.classes_.tolist()} "
                                     "set by the first call")
            elif first:
                classes = self._check_classes(np.unique(labels), what="y (pass classes= on the first call)", spec=spec)
            known = classes if first else self.classes_
            unknown = ~_isin(labels, known)
            if unknown.any():
                raise ValueError(f"y holds labels not in classes_ {known.tolist()}: {np.unique(labels[unknown]).tolist()}")
        else:
            self._no_classes(classes)
        if first:
            self._set_spec(spec)
            self._initialize(classes)
        self._epoch(X, self._targets(labels, X.shape[0]), w)
        self._print_epoch()
        return self

    # ------------------------------------------------------------ prediction

    def predict_proba(self, X):
        """Class probabilities (N, n_classes), columns in classes_ order (binary: [1 − p, p])."""
        if not self.is_classifier:
            raise TypeError("predict_proba is for classifiers; this MLP is a regressor (loss='mse'): use predict")
        out = self._output(X)  # (N, sizes[-1])
        return np.concatenate([1 - out, out], axis=1) if self.spec.loss == "binary_cross_entropy" else out

    def predict(self, X):
        """Labels (N,) from classes_ (binary: p ≥ 0.5 gives classes_[1]); regressor: outputs (N, K), (N,) if K = 1."""
        out = self._output(X)  # (N, sizes[-1])
        if not self.is_classifier:
            return out[:, 0] if out.shape[1] == 1 else out
        if self.spec.loss == "binary_cross_entropy":
            return self.classes_[(out[:, 0] >= 0.5).astype(np.int64)]
        return self.classes_[np.argmax(out, axis=1)]

    def score(self, X, y) -> float:
        """Accuracy (classifier) or R² (regressor: 1 − Σ(y − ŷ)² / Σ(y − ȳ)², averaged over outputs)."""
        self._check_fitted()
        X = check_inputs(self.spec, X, dtype=self.dtype)
        n = X.shape[0]
        if self.is_classifier:
            labels = _labels(y, n)
            unknown = ~_isin(labels, self.classes_)
            if unknown.any():
                raise ValueError(f"y holds labels not in classes_ {self.classes_.tolist()}: "
                                 f"{np.unique(labels[unknown]).tolist()[:10]}")
            return float(np.mean(_equal_labels(self.predict(X), labels)))
        Y = encode_targets(self.spec, y, n, dtype=np.float64)  # (N, K)
        P = self._output(X).astype(np.float64)  # (N, K)
        ss_res = ((Y - P) ** 2).sum(axis=0)  # (K,)
        ss_tot = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)  # (K,)
        r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), np.where(ss_res == 0, 1.0, 0.0))
        return float(np.mean(r2))

    # ------------------------------------------------------------ persistence

    def save(self, path):
        """Write the model to one .npz file at `path`, atomically (see manual/persistence.py)."""
        from .persistence import save

        save(self, path)

    @classmethod
    def load(cls, path) -> "MLP":
        """The model saved at `path` (a ValueError for a file that is not one, see manual/persistence.py)."""
        from .persistence import load

        return load(path)

    # ------------------------------------------------------------ internals

    def _check_fitted(self):
        if self._params is None:
            raise NotFittedError("this MLP has no parameters yet: call fit or partial_fit first")

    def _output(self, X):
        self._check_fitted()
        return _forward(self.spec, self._params, X)  # checks X: (N, sizes[0])

    def _check_data(self, X, y, spec):
        """(X cast to dtype (N, sizes[0]), labels (N,) or targets), every check done, nothing changed."""
        X = check_inputs(spec, X, dtype=self.dtype)  # (N, sizes[0])
        n = X.shape[0]
        if self.is_classifier:
            return X, _labels(y, n)
        encode_targets(spec, y, n, dtype=self.dtype)  # checks shape and finiteness
        return X, y

    def _spec_for(self, X, y):
        """The network [D, *hidden_sizes, K] for data X (N, D) and labels or targets y (a model
        given hidden_sizes): K = 1 for two classes (binary_cross_entropy), the number of classes
        (cross_entropy), or the targets' width (mse). Checks only what the widths need."""
        arr = as_real_array(X, "X")
        if arr.ndim != 2 or arr.shape[1] < 1:
            raise ValueError(f"X must be 2-D of shape (N, D) with D >= 1 features, got shape {arr.shape}")
        if self.is_classifier:
            k = len(np.unique(_label_array(y, "y")))
            if k < 2:
                raise ValueError(f"y holds {k} distinct label(s); a classifier needs at least 2")
            binary = self._loss == "binary_cross_entropy" or (self._loss is None and k == 2)
            n_out, loss = (1, "binary_cross_entropy") if binary else (k, "cross_entropy")
        else:
            Y = np.asarray(y)
            n_out, loss = (Y.shape[1] if Y.ndim == 2 and Y.shape[1] >= 1 else 1), "mse"
        return NetworkSpec([arr.shape[1], *self.hidden_sizes, n_out], self._hidden, loss, self._l2)

    def _set_spec(self, spec):
        if spec is not self.spec or self._step is None:
            self.spec = spec
            self._step = TrainStep(spec, self._opt)
            self._gathered = None

    def _check_classes(self, classes, what="classes", spec=None):
        """classes as a sorted array of distinct labels, as many as the head has classes."""
        spec = spec or self.spec
        classes = np.unique(_label_array(classes, what))
        need = 2 if spec.loss == "binary_cross_entropy" else spec.sizes[-1]
        if len(classes) != need:
            head = f"sizes[-1] = {spec.sizes[-1]} ({spec.loss})"
            raise ValueError(f"{what} has {len(classes)} distinct label(s) {classes.tolist()[:10]}, "
                             f"but the network's {head} needs exactly {need}")
        return classes

    def _no_classes(self, classes):
        if classes is not None:
            raise ValueError("classes is for classifiers; this MLP is a regressor (loss='mse')")
        return None

    def _targets(self, labels, n):
        """Y (N, sizes[-1]) in dtype: one-hot / 0-1 column of the class indices, or the regression targets."""
        if not self.is_classifier:
            return encode_targets(self.spec, labels, n, dtype=self.dtype)
        index = np.searchsorted(self.classes_, labels)  # (N,) position in classes_
        return encode_targets(self.spec, index, n, dtype=self.dtype)

    def _initialize(self, classes):
        rng = np.random.default_rng(self.seed)
        init_seed = int(rng.integers(2**63))
        self._params = init_params(self.spec, seed=init_seed, init=self.init, dtype=self.dtype)
        self._state = self._opt.init(self._params)
        self._rng = rng
        self.classes_ = classes
        self.loss_history = []
        self.validation_history = []
        self.n_epochs_ = 0
        self.best_epoch_ = None

    def _weights(self, sample_weight, X):
        """w (N,) in dtype, checked (≥ 0, finite, Σ w > 0), or None."""
        if sample_weight is None:
            return None
        return check_sample_weight(sample_weight, X.shape[0], self.dtype)

    def _epoch(self, X, Y, w=None):
        """One pass over X (N, sizes[0]), Y (N, sizes[-1]) (and weights w (N,)), one TrainStep per batch."""
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported as NonFiniteError
            self._epoch_unchecked(X, Y, w)

    def next_batches(self, n: int) -> list:
        """The rows (slices or index arrays) of each batch the next epoch over n rows will take,
        without drawing from the model's generator (`dualgrad train --check` checks the first)."""
        self._check_fitted()
        n = arguments.integer(n, "n", 1, "the number of rows, an int >= 1")
        return self._batches(n, copy.deepcopy(self._rng))

    def _batch_rows(self, n):
        """Rows per batch for an epoch over n rows: 'auto' is min(200, n) (scikit-learn's), None is n."""
        if self.batch_size is None:
            return n
        return min(200 if self.batch_size == "auto" else self.batch_size, n)

    def _batches(self, n, rng):
        """Cut n rows into batches of batch_size, in a fresh order from rng when shuffling."""
        size = self._batch_rows(n)
        order = rng.permutation(n) if self.shuffle and size < n else None  # (N,) or rows as given
        return [slice(i, i + size) if order is None else order[i:i + size] for i in range(0, n, size)]

    def _epoch_unchecked(self, X, Y, w=None):
        n = X.shape[0]
        batches = self._batches(n, self._rng)
        start = (_copy_params(self._params), _copy_state(self._state))  # to roll back to if a step overflows
        total, weight = 0.0, 0.0
        for j, rows in enumerate(batches):
            Xb, Yb = self._gather(X, Y, rows)  # (n_b, sizes[0]), (n_b, sizes[-1])
            wb = None if w is None else w[rows]  # (n_b,)
            if wb is not None and not wb.sum() > 0:
                continue  # a batch of weight 0 carries no loss: no step
            try:
                value, self._state = self._step(self._params, self._state, Xb, Yb, *(() if wb is None else (wb,)))
            except NonFiniteError as err:
                self._roll_back(start, batches[:j], X, Y, w)
                raise NonFiniteError(
                    f"{err.reason} in epoch {self.n_epochs_ + 1}, batch {j + 1}; the parameters are the last "
                    f"finite ones, after {self.t_} update(s). Try a smaller learning_rate or scale the inputs",
                    err.reason) from None
            b_weight = Xb.shape[0] if wb is None else float(wb.sum())
            total, weight = total + value * b_weight, weight + b_weight
        if not _finite(self._params):  # an update overflowed without a non-finite loss or gradient
            self._roll_back(start, batches, X, Y, w)
            raise NonFiniteError(f"the parameters became NaN or infinite in epoch {self.n_epochs_ + 1}; they are "
                                 f"the last finite ones, after {self.t_} update(s). Try a smaller learning_rate")
        self.loss_history.append(total / n if w is None else total / weight)
        self.n_epochs_ += 1

    def _gather(self, X, Y, rows):
        """X[rows], Y[rows]: views for a slice; for shuffled rows, written into two arrays reused
        from batch to batch (a fresh megabyte-sized array per batch costs page faults, not just a copy)."""
        if isinstance(rows, slice):
            return X[rows], Y[rows]
        n_b, size = len(rows), self._batch_rows(X.shape[0])  # n_b ≤ size: the last batch may be smaller
        shapes = ((size, X.shape[1]), (size, Y.shape[1]), X.dtype)
        if self._gathered is None or self._gathered[2] != shapes:
            self._gathered = (np.empty(shapes[0], X.dtype), np.empty(shapes[1], Y.dtype), shapes)
        Xb, Yb, _ = self._gathered
        # NOTE: mode="clip" (rows are a permutation's, always in range): the default "raise" buffers `out`
        return np.take(X, rows, axis=0, out=Xb[:n_b], mode="clip"), np.take(Y, rows, axis=0, out=Yb[:n_b], mode="clip")

    def _roll_back(self, start, batches, X, Y, w=None):
        """Leave the last finite params of this epoch: if the current ones are not finite, restore
        the epoch's start and replay its batches (bit-identical) up to the update that overflowed."""
        if _finite(self._params):
            return
        params, state = start
        _copy_into(self._params, params)
        self._state = state
        for rows in batches:
            wb = None if w is None else w[rows]
            if wb is not None and not wb.sum() > 0:
                continue
            before = (_copy_params(self._params), _copy_state(self._state))
            try:
                _, self._state = self._step(self._params, self._state, X[rows], Y[rows], *(() if wb is None else (wb,)))
            except NonFiniteError:
                break
            if not _finite(self._params):
                _copy_into(self._params, before[0])
                self._state = before[1]
                break

    def _print_epoch(self):
        if not self.verbose:
            return
        line = f"epoch {self.n_epochs_}: loss {self.loss_history[-1]:.6f}"
        if self.validation_history:
            line += f", validation loss {self.validation_history[-1]:.6f}"
        print(line, flush=True)


# ---------------------------------------------------------------- helpers


def _named_optimizer(name, learning_rate, momentum):
    if name == "sgd":
        return _optimizers.sgd(learning_rate, momentum=momentum)
    return getattr(_optimizers, name)(learning_rate)


def _copy_params(params):
    return [(W.copy(), b.copy()) for W, b in params]


def _copy_state(state):
    """An optimizer state (a NamedTuple of counts, None and params-layout lists) with its arrays copied."""
    return type(state)(*[_copy_params(v) if isinstance(v, list) else v for v in state])


def _copy_into(params, values):
    for (W, b), (W0, b0) in zip(params, values):
        np.copyto(W, W0)
        np.copyto(b, b0)


def _finite(params) -> bool:
    return all_finite(*(x for layer in params for x in layer))


def _label_array(values, name):
    """Labels as a 1-D array of numbers, bools or strings (no objects, no NaN)."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be an array of labels, got a single string {values!r}")
    try:
        arr = np.asarray(values)
    except Exception as err:
        raise ValueError(f"{name} could not be read as an array of labels: {err}") from None
    if arr.dtype.kind not in LABEL_KINDS:
        raise TypeError(f"{name} must hold numbers or strings of one kind, got an array of dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per row), got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite labels")
    return arr


def _labels(y, n):
    labels = _label_array(y, "y")
    if labels.shape[0] != n:
        raise ValueError(f"y must have one label per row of X (N = {n}), got shape {labels.shape}")
    return labels


def _kind(arr):
    """'U' (str), 'S' (bytes) or 'num': labels of different kinds never equal each other."""
    return arr.dtype.kind if arr.dtype.kind in "US" else "num"


def _isin(labels, classes):
    """(N,) bool: which labels are in classes."""
    if _kind(labels) != _kind(classes):
        return np.zeros(labels.shape, dtype=bool)
    return np.isin(labels, classes)


def _equal_labels(a, b):
    if _kind(a) != _kind(b):
        return np.zeros(a.shape, dtype=bool)
    return a == b


def _same_labels(a, b):
    return a.shape == b.shape and bool(np.all(_equal_labels(a, b)))


def _learning_rate(value):
    """A finite float > 0, or a schedule (a callable step -> rate, e.g. manual.optimizers.exponential_decay)."""
    if callable(value):
        return value
    return arguments.real(value, "learning_rate", "a finite float > 0 or a schedule (a callable step -> rate)",
                          lambda v: 0 < v < math.inf)


def _hidden_sizes(sizes):
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"hidden_sizes must be a list of ints (the hidden layers' widths), got {sizes!r}")
    sizes = list(sizes)
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"hidden_sizes must be ints, got {s!r} of type {type(s).__name__} in {sizes}")
        if s < 1:
            raise ValueError(f"every hidden size must be a positive int, got {sizes}")
    return [int(s) for s in sizes]


def _sizes(sizes):
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"sizes must be a list of ints [n_in, hidden..., n_out], got {sizes!r}")
    sizes = list(sizes)
    if not sizes:
        raise ValueError("sizes must list at least [n_in, n_out], got []")
    last = sizes[-1]
    if isinstance(last, bool) or not isinstance(last, numbers.Integral):
        raise TypeError(f"sizes must be ints, got {last!r} of type {type(last).__name__} in {sizes}")
    return sizes

