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
    """One training run of `manual.MLP` on (X, y), advanced one epoch at a time."""

    def __init__(self, X, y, hidden_sizes: Sequence[int] = (16, 16), hidden="relu", loss: Optional[str] = None,
                 optimizer: str = "adam", learning_rate: float = 0.01, momentum: float = 0.0, l2: float = 0.0,
                 epochs: int = 200, batch_size: Optional[int] = 32, seed: int = 0):
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"X must be a non-empty 2-D array (N, D), got shape {X.shape}")
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
            raise ValueError(f"train fits classifiers: loss must be binary_cross_entropy or cross_entropy, "
                             f"got {loss!r}")
        n_out = 1 if loss == "binary_cross_entropy" else len(classes)
        sizes = [X.shape[1], *hidden_sizes, n_out]
        self.model = MLP(sizes, hidden=hidden, loss=loss, optimizer=optimizer, learning_rate=learning_rate,
                         momentum=momentum, l2=l2, batch_size=batch_size, epochs=epochs, seed=seed)
        self.model.initialize(classes)  # checks nothing about X yet: partial_fit does
        self.X, self.y, self.classes = X, y, classes
        self.epochs = epochs

    @property
    def spec(self):
        return self.model.spec

    @property
    def loss_history(self) -> List[float]:
        return self.model.loss_history

    def first_batch(self):
        """(X_b, y_b) of the first update: the first batch of the model's next epoch."""
        rows = self.model.next_batches(self.X.shape[0])[0]
        return self.X[rows], self.class_index(self.y[rows])

    def class_index(self, labels):
        """Labels as indices into classes (floats 0/1 for binary_cross_entropy)."""
        index = np.searchsorted(self.classes, labels)  # (N,)
        return index.astype(np.float64) if self.spec.loss == "binary_cross_entropy" else index

    def check_first_step(self, fd: bool = False):
        """check_gradients of the initial weights on the first mini-batch (before any update)."""
        from .check import check_gradients

        Xb, yb = self.first_batch()
        return check_gradients(self.spec, self.model.params, Xb, yb, fd=fd)

    def epoch(self) -> float:
        """Train one epoch; returns its mean batch loss. NonFiniteError if training diverges."""
        self.model.partial_fit(self.X, self.y, classes=self.classes)
        return self.model.loss_history[-1]

    def final_loss(self) -> float:
        """The loss of the current weights on the whole data set (L2 penalty included)."""
        from manual.network import loss

        return loss(self.spec, self.model.params, self.X, self.class_index(self.y))

    def accuracy(self) -> float:
        return self.model.score(self.X, self.y)


def plot_support() -> bool:
    """True when matplotlib (the `plot` extra) can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plots(run: Training, out_dir: str, title: str = "") -> List[str]:
    """Write loss.png and, for 2-D inputs, boundary.png into out_dir (created if missing).
    Returns the paths written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    os.makedirs(out_dir, exist_ok=True)
    written = []

    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    epochs = np.arange(1, len(run.loss_history) + 1)
    ax.plot(epochs, run.loss_history, color="tab:blue")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"training loss ({run.spec.loss})")
    ax.set_title(f"{title} {'-'.join(map(str, run.spec.sizes))}".strip())
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path = os.path.join(out_dir, "loss.png")
    fig.savefig(path)
    written.append(path)

    if run.X.shape[1] == 2:
        path = os.path.join(out_dir, "boundary.png")
        _boundary(run, title, path)
        written.append(path)
    return written


def _boundary(run: Training, title: str, path: str, steps: int = 300):
    """The predicted class over a grid covering the data (plus 10%), with the data on top."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    X = run.X
    lo, hi = X.min(axis=0), X.max(axis=0)  # (2,)
    pad = 0.1 * np.maximum(hi - lo, 1e-9)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], steps)  # (S,)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], steps)  # (S,)
    xx, yy = np.meshgrid(gx, gy)  # (S, S)
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1)  # (S·S, 2)
    k = len(run.classes)
    zz = np.searchsorted(run.classes, run.model.predict(grid)).reshape(xx.shape)  # (S, S) class index

    fig = Figure(figsize=(6, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = "tab10"
    ax.contourf(xx, yy, zz, levels=np.arange(k + 1) - 0.5, cmap=cmap, vmin=0, vmax=9, alpha=0.3)
    ax.scatter(X[:, 0], X[:, 1], c=np.searchsorted(run.classes, run.y), cmap=cmap, vmin=0, vmax=9,
               s=12, edgecolors="k", linewidths=0.3)
    ax.set_title(f"{title}: accuracy {100 * run.accuracy():.1f}%".strip(": "))
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    fig.tight_layout()
    fig.savefig(path)
