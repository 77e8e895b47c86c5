"""`dualgrad train`: load a data set, train `manual.MLP` epoch by epoch, report, and plot.

    X, y, name = load_data("moons", seed=0)          # or a CSV path (label in the last column)
    run = Training(X, y, hidden_sizes=[16, 16], optimizer="adam", learning_rate=0.01, epochs=200)
    report = run.check_first_step()                  # GradientReport of the first mini-batch
    for epoch in range(run.epochs): run.epoch()      # one MLP.partial_fit each
    run.final_loss(), run.accuracy()
    write_plots(run, "plots/")                       # loss.png, and boundary.png for 2-D data

The network is [D, *hidden_sizes, K] with K = 1 (binary_cross_entropy) for two
classes and K = number of classes (cross_entropy) otherwise, unless the loss is
given. Training is E calls of `MLP.partial_fit`, which MLP documents to equal
`fit` with epochs = E; the seed fixes the data set, the initial weights and the
shuffling, so one seed gives identical output.

Plots use matplotlib's Agg canvas directly (no pyplot, no display, no global
backend change). matplotlib is the optional `plot` extra: `plot_support()` says
whether it is importable. Without it the CLI trains and says how to install
it, but refuses an explicit `--out` (exit 2) before any training starts.
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence

import numpy as np

from manual import datasets
from manual.mlp import MLP

DATASET_NAMES = tuple(datasets.DATASETS)  # xor, blobs, moons, circles, spirals
PLOT_INSTALL = "pip install 'dualgrad[plot]'"


def load_data(name: str, seed: int = 0):
    """(X (N, D), y (N,), description) for a built-in data set name or a CSV path.

    Synthetic sets are drawn from `seed` (xor has no randomness). A CSV file has
    one row per example, numeric features, and the label in the last column (see
    `manual.datasets.load_csv`). Raises ValueError with a one-line message for an
    unknown name, a missing or unreadable file, or malformed contents.
    """
    if name in datasets.DATASETS:
        fn = datasets.DATASETS[name]
        X, y = fn() if name == "xor" else fn(seed=seed)
        return X, y, name
    if not os.path.exists(name) and (name.lower().endswith(".csv") or os.sep in name or "/" in name):
        raise ValueError(f"cannot read {name}: no such file")
    if not os.path.exists(name):
        raise ValueError(f"unknown data set {name!r}: not one of {', '.join(DATASET_NAMES)}, "
                         "and no file of that name")
    if os.path.isdir(name):
        raise ValueError(f"{name} is a directory; expected a CSV file (label in the last column)")
    try:
        X, y = datasets.load_csv(name)
    except UnicodeDecodeError:
        raise ValueError(f"{name}: not a text (UTF-8) CSV file") from None
    except OSError as err:
        raise ValueError(f"cannot read {name}: {err.strerror or err}") from None
    return X, y, os.path.basename(name)


class Training:
    """One training run of `manual.MLP` on (X, y), advanced one epoch at a time.

    task            'classification' (default) or 'regression' (loss mse, one output; targets floats).
    test_fraction   rows held out for testing, in [0, 1): per class round(f·n_c) rows (stratified,
                    every class keeps a training row), or round(f·N) for regression, drawn from
                    `seed`. 0: no test rows.
    standardize     scale every feature to mean 0, standard deviation 1 (and a regression target),
                    with the mean and scale of the training rows only; predictions are mapped back.
    early_stopping  hold out 10 % of the training rows for validation; stop after 10 epochs without
                    a lower validation loss and keep the best epoch's weights.
    """

    def __init__(self, X, y, hidden_sizes: Sequence[int] = (100,), hidden="relu", loss: Optional[str] = None,
                 optimizer: str = "adam", learning_rate=1e-3, momentum: float = 0.0, l2: float = 0.0,
                 epochs: int = 200, batch_size="auto", seed: int = 0, task: str = "classification",
                 test_fraction: float = 0.0, standardize: bool = False, early_stopping: bool = False,
                 dtype=np.float64, feature_names=None, label_name=None, patience: int = 10):
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"X must be a non-empty 2-D array (N, D), got shape {X.shape}")
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
        if not 0.0 <= test_fraction < 1.0:
            raise ValueError(f"--test-fraction must be in [0, 1), got {test_fraction}")
        self.task = task
        if task == "regression":
            if loss not in (None, "mse"):
                raise ValueError(f"regression is trained with --loss mse, got {loss!r}")
            try:
                y = y.astype(np.float64)
            except ValueError:
                raise ValueError("regression needs numeric targets in the label column") from None
            loss, classes = "mse", None
        else:
            classes = np.unique(y)
            if len(classes) < 2:
                raise ValueError(f"the labels hold {len(classes)} class(es) {classes.tolist()}; "
                                 "training a classifier needs at least 2")
            if loss is None:
                loss = "binary_cross_entropy" if len(classes) == 2 else "cross_entropy"
            if loss == "binary_cross_entropy" and len(classes) != 2:
                raise ValueError(f"binary_cross_entropy is for 2 classes; the labels hold {len(classes)}: "
                                 "use cross_entropy")
            if loss not in ("binary_cross_entropy", "cross_entropy"):
                raise ValueError(f"a classifier's loss is binary_cross_entropy or cross_entropy, got {loss!r} "
                                 "(--task regression for mse)")
        self.X, self.y, self.classes = X, y, classes
        self.feature_names = list(feature_names) if feature_names is not None else [f"x{j + 1}" for j in range(X.shape[1])]
        self.label_name = label_name
        split_rng = np.random.default_rng([seed, 1])  # its own stream: the model's generator stays as before
        test = _split(y if classes is not None else None, len(y), test_fraction, split_rng)
        train = np.setdiff1d(np.arange(len(y)), test)
        if test_fraction and (len(test) == 0 or len(train) == 0):
            raise ValueError(f"--test-fraction {test_fraction} of {len(y)} rows leaves "
                             f"{len(train)} to train on and {len(test)} to test: give more rows or another fraction")
        if classes is not None and test_fraction and len(np.unique(y[train])) < len(classes):
            raise ValueError("the training rows lack a class after the split: give more rows or a smaller --test-fraction")
        self.train_rows, self.test_rows = train, test
        self.X_train, self.y_train, self.X_test, self.y_test = X[train], y[train], X[test], y[test]
        self.standardize = bool(standardize)
        self.x_mean, self.x_scale = _scaler(self.X_train, standardize)
        self.y_mean, self.y_scale = (0.0, 1.0)
        if task == "regression" and standardize:
            mean, scale = _scaler(self.y_train.reshape(-1, 1), True)
            self.y_mean, self.y_scale = float(mean[0]), float(scale[0])
        fit_rows = np.arange(len(train))
        self.val_rows = np.array([], dtype=np.int64)
        if early_stopping:
            n_val = max(1, int(round(0.1 * len(train))))
            if len(train) - n_val < 1:
                raise ValueError("--early-stopping holds out 10% of the training rows and leaves none to train on")
            perm = split_rng.permutation(len(train))
            self.val_rows, fit_rows = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        self.fit_rows = fit_rows
        self.early_stopping, self.patience = bool(early_stopping), patience
        n_out = 1 if loss in ("binary_cross_entropy", "mse") else len(classes)
        sizes = [X.shape[1], *hidden_sizes, n_out]
        self.model = MLP(sizes, hidden=hidden, loss=loss, optimizer=optimizer, learning_rate=learning_rate,
                         momentum=momentum, l2=l2, batch_size=batch_size, epochs=epochs, seed=seed, dtype=dtype)
        self.model.initialize(classes)  # checks nothing about X yet: partial_fit does
        self.epochs = epochs
        self.test_loss_history: List[float] = []
        self.validation_history: List[float] = []
        self.best_epoch = None
        self._best = (np.inf, None, 0)  # (best validation loss, its params, epochs since)

    # ------------------------------------------------------------ data in the model's units

    def scaled(self, X):
        return (np.asarray(X, dtype=np.float64) - self.x_mean) / self.x_scale

    def _targets(self, y):
        return (y - self.y_mean) / self.y_scale if self.task == "regression" else y

    @property
    def spec(self):
        return self.model.spec

    @property
    def loss_history(self) -> List[float]:
        return self.model.loss_history

    def first_batch(self):
        """(X_b, y_b) of the first update: the first batch of the model's next epoch."""
        Xf, yf = self.scaled(self.X_train[self.fit_rows]), self.y_train[self.fit_rows]
        rows = self.model.next_batches(Xf.shape[0])[0]
        if self.task == "regression":
            return Xf[rows], self._targets(yf[rows]).reshape(-1, 1)
        return Xf[rows], self.class_index(yf[rows])

    def class_index(self, labels):
        """Labels as indices into classes (floats 0/1 for binary_cross_entropy)."""
        index = np.searchsorted(self.classes, labels)  # (N,)
        return index.astype(np.float64) if self.spec.loss == "binary_cross_entropy" else index

    def check_first_step(self, fd: bool = False):
        """check_gradients of the initial weights on the first mini-batch (before any update)."""
        from ..engine.check import check_gradients

        Xb, yb = self.first_batch()
        return check_gradients(self.spec, self.model.params, Xb, yb, fd=fd)

    # ------------------------------------------------------------ training

    def epoch(self) -> float:
        """Train one epoch; returns its mean batch loss. NonFiniteError if training diverges."""
        Xf = self.scaled(self.X_train[self.fit_rows])
        yf = self._targets(self.y_train[self.fit_rows])
        self.model.partial_fit(Xf, yf, classes=self.classes)
        if len(self.test_rows):
            self.test_loss_history.append(self._held_out_loss(self.X_test, self.y_test, "test"))
        if self.early_stopping:
            value = self._held_out_loss(self.X_train[self.val_rows], self.y_train[self.val_rows], "validation")
            self.validation_history.append(value)
            best, params, waited = self._best
            if value < best:
                self._best = (value, [(W.copy(), b.copy()) for W, b in self.model.params], 0)
                self.best_epoch = self.model.n_epochs_
            else:
                self._best = (best, params, waited + 1)
        return self.model.loss_history[-1]

    def _held_out_loss(self, X, y, what):
        """loss_on held-out rows; NonFiniteError (as for training) when it overflows."""
        from manual.train_step import NonFiniteError

        try:
            value = self.loss_on(X, y)
        except ValueError as err:
            raise NonFiniteError(f"the {what} loss became NaN or infinite after epoch {self.model.n_epochs_}: {err}. "
                                 "Try a smaller learning rate") from None
        if not np.isfinite(value):
            raise NonFiniteError(f"the {what} loss became NaN or infinite after epoch {self.model.n_epochs_}. "
                                 "Try a smaller learning rate")
        return value

    def should_stop(self) -> bool:
        return self.early_stopping and self._best[2] >= self.patience

    def finish(self):
        """After the last epoch: with early stopping, restore the best epoch's weights."""
        if self.early_stopping and self._best[1] is not None:
            for (W, b), (W0, b0) in zip(self.model.params, self._best[1]):
                np.copyto(W, W0)
                np.copyto(b, b0)

    # ------------------------------------------------------------ evaluation, in the data's units

    def loss_on(self, X, y) -> float:
        """The loss of the current weights on rows (X, y) given in the data's units (L2 included)."""
        from manual.network import loss

        Xs = self.scaled(X).astype(self.model.dtype)
        if self.task == "regression":
            return loss(self.spec, self.model.params, Xs, self._targets(y).reshape(-1, 1).astype(self.model.dtype))
        return loss(self.spec, self.model.params, Xs, self.class_index(y))

    def final_loss(self) -> float:
        """The loss on the training rows (all rows without a split), final weights."""
        return self.loss_on(self.X_train, self.y_train)

    def predict(self, X):
        out = self.model.predict(self.scaled(X))
        return out * self.y_scale + self.y_mean if self.task == "regression" else out

    def predict_proba(self, X):
        return self.model.predict_proba(self.scaled(X))

    def metrics(self, X, y) -> dict:
        """{'accuracy', 'correct', 'n'} or {'r2', 'rmse', 'n'} on rows (X, y) in the data's units."""
        p = self.predict(X)
        if self.task == "regression":
            ss_res = float(np.sum((y - p) ** 2))
            ss_tot = float(np.sum((y - y.mean()) ** 2))
            r2 = 1 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)
            return {"r2": r2, "rmse": float(np.sqrt(ss_res / len(y))), "n": len(y)}
        correct = int(np.sum(p == y))
        return {"accuracy": correct / len(y), "correct": correct, "n": len(y)}

    def accuracy(self) -> float:
        """Accuracy on the training rows (classification)."""
        return self.metrics(self.X_train, self.y_train)["accuracy"]

    def test_accuracy(self) -> Optional[float]:
        return self.metrics(self.X_test, self.y_test)["accuracy"] if len(self.test_rows) else None

    # ------------------------------------------------------------ what a model file keeps

    def saved_data(self, settings: dict):
        """(meta, arrays) for manual.persistence.save(..., data=...): what predict needs to read a CSV."""
        meta = {"kind": "dualgrad.train", "task": self.task, "feature_names": self.feature_names,
                "label_name": self.label_name, "standardize": self.standardize, "settings": settings,
                "best_epoch": self.best_epoch}
        arrays = {"x_mean": np.asarray(self.x_mean, dtype=np.float64), "x_scale": np.asarray(self.x_scale, dtype=np.float64),
                  "y_mean": np.array(self.y_mean), "y_scale": np.array(self.y_scale),
                  "loss_history": np.array(self.loss_history, dtype=np.float64),
                  "test_loss_history": np.array(self.test_loss_history, dtype=np.float64)}
        return meta, arrays


def _split(labels, n, fraction, rng):
    """Sorted test rows: per class round(f·n_c) (each class keeps a training row), or round(f·n)."""
    if not fraction:
        return np.array([], dtype=np.int64)
    if labels is None:
        k = int(round(fraction * n))
        return np.sort(rng.permutation(n)[:k])
    test = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        k = min(int(round(fraction * len(rows))), len(rows) - 1)
        test.extend(rng.permutation(rows)[:k].tolist())
    return np.sort(np.array(test, dtype=np.int64))


def _scaler(X, on):
    """(mean (D,), scale (D,)) of the columns; scale 1 for a constant column; (0, 1) when off."""
    if not on:
        return np.zeros(X.shape[1]), np.ones(X.shape[1])
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def plot_support() -> bool:
    """True when matplotlib (the `plot` extra) can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plots(run: Training, out_dir: str, title: str = "") -> List[str]:
    """Write loss.png (training and held-out loss per epoch) and, for 2-D classification data,
    boundary.png into out_dir (created if missing). Returns the paths written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    os.makedirs(out_dir, exist_ok=True)
    written = []

    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    epochs = np.arange(1, len(run.loss_history) + 1)
    ax.plot(epochs, run.loss_history, color="tab:blue", label=f"training ({len(run.fit_rows)} rows, mean over the epoch's batches)")
    if run.test_loss_history:
        ax.plot(epochs, run.test_loss_history, color="tab:orange", label=f"held-out test ({len(run.test_rows)} rows, after the epoch)")
    if run.validation_history:
        ax.plot(epochs, run.validation_history, color="tab:green", linestyle="--",
                label=f"validation ({len(run.val_rows)} rows, early stopping)")
    if run.best_epoch is not None:
        ax.axvline(run.best_epoch, color="gray", linestyle=":", label=f"best epoch {run.best_epoch}")
    if min(run.loss_history + run.test_loss_history) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"loss ({run.spec.loss})")
    ax.set_title(f"{title} {'-'.join(map(str, run.spec.sizes))}".strip())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = os.path.join(out_dir, "loss.png")
    fig.savefig(path)
    written.append(path)

    if run.X.shape[1] == 2 and run.task == "classification":
        path = os.path.join(out_dir, "boundary.png")
        _boundary(run, title, path)
        written.append(path)
    return written


def _boundary(run: Training, title: str, path: str, steps: int = 300):
    """The predicted class over a grid covering the data (plus 10%), with the data on top:
    training rows as dots, held-out test rows as crosses; a legend names the classes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    X = run.X
    lo, hi = X.min(axis=0), X.max(axis=0)  # (2,)
    pad = 0.1 * np.maximum(hi - lo, 1e-9)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], steps)  # (S,)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], steps)  # (S,)
    xx, yy = np.meshgrid(gx, gy)  # (S, S)
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1)  # (S·S, 2)
    k = len(run.classes)
    zz = np.searchsorted(run.classes, run.predict(grid)).reshape(xx.shape)  # (S, S) class index

    fig = Figure(figsize=(6, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = "tab10"
    ax.contourf(xx, yy, zz, levels=np.arange(k + 1) - 0.5, cmap=cmap, vmin=0, vmax=9, alpha=0.3)
    for rows, marker, size in ((run.train_rows, "o", 12), (run.test_rows, "X", 30)):
        if len(rows):
            ax.scatter(X[rows, 0], X[rows, 1], c=np.searchsorted(run.classes, run.y[rows]), cmap=cmap, vmin=0, vmax=9,
                       s=size, marker=marker, edgecolors="k", linewidths=0.3)
    import matplotlib

    colours = matplotlib.colormaps["tab10"]
    handles = [Line2D([], [], marker="o", linestyle="", color=colours(i % 10), markeredgecolor="k", label=str(c))
               for i, c in enumerate(run.classes.tolist()[:10])]
    if len(run.test_rows):
        handles.append(Line2D([], [], marker="X", linestyle="", color="white", markeredgecolor="k", label="held-out test row"))
    ax.legend(handles=handles, title=run.label_name, fontsize="small")
    if len(run.test_rows):
        figure = f"test accuracy {100 * run.test_accuracy():.1f}% ({len(run.test_rows)} held-out rows)"
    else:
        figure = f"training accuracy {100 * run.accuracy():.1f}% (no held-out rows)"
    ax.set_title(f"{title}: {figure}".strip(": "))
    ax.set_xlabel(run.feature_names[0])
    ax.set_ylabel(run.feature_names[1])
    fig.tight_layout()
    fig.savefig(path)
