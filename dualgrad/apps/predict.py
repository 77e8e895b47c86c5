"""`dualgrad predict model.npz DATA.csv`: a model saved by `dualgrad train --save`, applied to a CSV file.

    trained = load_trained("model.npz")          # ValueError for a missing, damaged or foreign file
    X = trained.columns_of(table)                # the model's features, by name when there is a header
    trained.predict(X), trained.predict_proba(X)

The file is manual/persistence.py's format (no pickle) with the data `train` stored beside
the model: the feature names, the standardisation's mean and scale (of the training rows),
the task, the label's name, and the run's settings.
"""

from __future__ import annotations

import os
from typing import List, NamedTuple, Optional

import numpy as np


class Trained(NamedTuple):
    model: object  # manual.MLP
    task: str  # "classification" | "regression"
    feature_names: List[str]
    label_name: Optional[str]
    x_mean: np.ndarray  # (D,)
    x_scale: np.ndarray  # (D,)
    y_mean: float
    y_scale: float
    settings: dict

    def columns_of(self, table, path="the data") -> np.ndarray:
        """X (N, D) in the model's feature order: by name when the file has a header naming every
        feature (other columns, such as the label, are left out); else the columns as they are,
        which must be exactly D."""
        d = len(self.feature_names)
        if table.has_header and not all(name.startswith("x") and name[1:].isdigit() for name in self.feature_names):
            missing = [name for name in self.feature_names if name not in table.feature_names]
            if missing:
                shown = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
                raise ValueError(f"{path} lacks the model's feature column(s) {shown} (the model takes "
                                 f"{d}: {', '.join(self.feature_names[:8])}{', ...' if d > 8 else ''})")
            return table.X[:, [table.feature_names.index(name) for name in self.feature_names]]
        if table.X.shape[1] != d:
            hint = " (drop the label or an extra column with --drop-columns)" if table.X.shape[1] > d else ""
            raise ValueError(f"{path} has {table.X.shape[1]} feature column(s), the model takes {d}{hint}")
        return table.X

    def scaled(self, X):
        return (X - self.x_mean) / self.x_scale

    def predict(self, X):
        out = self.model.predict(self.scaled(X))
        return out * self.y_scale + self.y_mean if self.task == "regression" else out

    def predict_proba(self, X):
        if self.task == "regression":
            raise ValueError("--proba is for classifiers; this model is a regressor (it predicts values)")
        return self.model.predict_proba(self.scaled(X))


def load_trained(path) -> Trained:
    """The model and data saved by `dualgrad train --save`; ValueError naming the file otherwise."""
    from manual.persistence import load_with_data

    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"cannot read {path}: no such file")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory; expected a model file written by dualgrad train --save")
    model, meta, arrays = load_with_data(path)
    if not isinstance(meta, dict) or meta.get("kind") != "dualgrad.train":
        raise ValueError(f"{path}: a dualgrad MLP file without the data of `dualgrad train --save` "
                         "(feature names, scaling): save it with dualgrad train --save")
    try:
        names = [str(v) for v in meta["feature_names"]]
        x_mean = np.asarray(arrays["x_mean"], dtype=np.float64)
        x_scale = np.asarray(arrays["x_scale"], dtype=np.float64)
        y_mean, y_scale = float(arrays["y_mean"]), float(arrays["y_scale"])
        task = meta["task"]
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: not a valid dualgrad train model file: missing or bad {err}") from None
    d = model.spec.sizes[0]
    if (len(names) != d or x_mean.shape != (d,) or x_scale.shape != (d,) or task not in ("classification", "regression")
            or not np.all(np.isfinite(x_mean)) or not np.all(x_scale > 0) or not y_scale > 0):
        raise ValueError(f"{path}: not a valid dualgrad train model file: its scaling or feature names "
                         f"disagree with the network's {d} inputs")
    return Trained(model, task, names, meta.get("label_name"), x_mean, x_scale, y_mean, y_scale,
                   meta.get("settings") or {})


def format_value(v) -> str:
    return f"{v:.10g}" if isinstance(v, (float, np.floating)) else str(v)


def prediction_rows(trained: Trained, X, proba: bool) -> List[str]:
    """CSV lines: a header, then one line per row of X."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if proba:
        P = trained.predict_proba(X)  # (N, K) in classes_ order
        writer.writerow([str(c) for c in trained.model.classes_.tolist()])
        for row in P:
            writer.writerow([f"{p:.6g}" for p in row])
    else:
        writer.writerow([trained.label_name or "prediction"])
        for v in trained.predict(X).tolist():
            writer.writerow([format_value(v)])
    return out.getvalue().splitlines()
