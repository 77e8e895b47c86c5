"""CSV files the way people have them: `dualgrad train DATA.csv` and `dualgrad predict`.

    table = read_table("wine.csv", delimiter=",", label_column=None, header=None,
                       drop_columns=(), drop_missing=False)
    table.X (N, D) float64, table.labels (N,) str, table.feature_names [D], table.label_name
    task = infer_task(table.labels)          # "classification" | "regression", or ValueError

- delimiter: one character (default ","); when every line comes out as one column and
  holds another usual delimiter (; tab |), the error says which to try.
- header: None detects it: the first row is a header when it is not like the rows below:
  a field that is not a number above a column of numbers; or, in a text column whose
  values repeat, a value seen nowhere below (`0,1,2,3,species` above iris rows); or the
  column positions 0..D or 1..D+1 written as numbers. True / False force it.
- label_column: a header name, or a 0-based index (negative from the end); default last.
- drop_columns: names or indices of columns to leave out (an id or index column).
- missing values (an empty field, NA, N/A, NaN, null, ?) are refused with their line and
  column, unless drop_missing, which drops those rows (`n_dropped` says how many).

Every problem is a ValueError naming the file, and the line and column where there is one.
"""

from __future__ import annotations

import csv
import math
import os
from typing import List, NamedTuple, Optional, Sequence

import numpy as np

MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}
OTHER_DELIMITERS = {";": "';'", "\t": "a tab ('\\t')", "|": "'|'"}
MAX_GUESSED_CLASSES = 20  # integer labels with more distinct values than this are ambiguous


class Table(NamedTuple):
    X: np.ndarray  # (N, D) float64
    labels: Optional[np.ndarray]  # (N,) str as written, or None (predict reads features only)
    feature_names: List[str]  # D names: the header's, or "x1".."xD" without one
    label_name: Optional[str]
    has_header: bool
    n_dropped: int  # rows dropped for missing values
    index_like: Optional[str]  # a feature column that looks like a row index (0, 1, 2, ...), if any


def is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def is_missing(field: str) -> bool:
    return field.strip().lower() in MISSING


def read_rows(path, delimiter=","):
    """[(line number, [fields])] of the non-blank lines, fields stripped; ValueError for an unreadable file."""
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
        raise ValueError(f"--delimiter must be one character (not a quote or a newline), got {delimiter!r}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"cannot read {path}: no such file")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory; expected a CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [(i, [field.strip() for field in row]) for i, row in enumerate(csv.reader(f, delimiter=delimiter), 1)]
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text (UTF-8) CSV file") from None
    except csv.Error as err:
        raise ValueError(f"{path}: not a readable CSV file: {err}") from None
    except OSError as err:
        raise ValueError(f"cannot read {path}: {err.strerror or err}") from None
    rows = [(i, row) for i, row in rows if any(row)]
    if not rows:
        raise ValueError(f"{path}: empty file, expected rows of numeric features and a label")
    return rows


def _delimiter_hint(path, rows, delimiter):
    first = rows[0][1][0] if rows[0][1] else ""
    for other, name in OTHER_DELIMITERS.items():
        if other != delimiter and other in first:
            return f"{path}: every line is one column with --delimiter {delimiter!r}; the lines hold {name}: try --delimiter {other!r}"
    return None


def detect_header(rows) -> bool:
    """Whether the first row is a header: it is not like the rows below (see the module docstring)."""
    if len(rows) < 2:
        return not all(is_number(f) or is_missing(f) for f in rows[0][1])
    first, below = rows[0][1], [row for _, row in rows[1:]]
    for j, field in enumerate(first):
        column = [row[j] for row in below if j < len(row) and not is_missing(row[j])]
        numeric = bool(column) and all(is_number(v) for v in column)
        if numeric and not is_number(field) and not is_missing(field):
            return True  # a name above numbers
        if column and not numeric and len(set(column)) < len(column) and field not in column:
            return True  # a text column of repeating values (labels), and a value above seen nowhere below
    if all(is_number(f) and float(f).is_integer() for f in first):
        positions = [int(float(f)) for f in first]
        if positions in (list(range(len(first))), list(range(1, len(first) + 1))):
            return True  # the column positions, as pandas writes an unnamed frame's header
    return False


def _column(spec, names, what, n_columns):
    """A column index from a name (with a header) or an int index (negative from the end)."""
    if spec in names:
        return names.index(spec)
    try:
        j = int(spec)
    except (TypeError, ValueError):
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise ValueError(f"{what} {spec!r} is not a column name ({shown}) or an index") from None
    if not -n_columns <= j < n_columns:
        raise ValueError(f"{what} {spec} is out of range for {n_columns} columns (0..{n_columns - 1}, or -1 for the last)")
    return j % n_columns


def read_table(path, delimiter=",", label_column=None, header=None, drop_columns: Sequence = (),
               drop_missing=False, features_only=False) -> Table:
    """The data of a CSV file (see the module docstring). features_only: no label column (predict)."""
    rows = read_rows(path, delimiter)
    width = len(rows[0][1])
    if width < (1 if features_only else 2):
        hint = _delimiter_hint(path, rows, delimiter)
        raise ValueError(hint or f"{path}, line {rows[0][0]}: expected at least 2 columns (features, then a label), got {width}")
    for i, row in rows:
        if len(row) != width:
            raise ValueError(f"{path}, line {i}: {len(row)} fields, expected {width} like line {rows[0][0]} (ragged rows)")
    has_header = detect_header(rows) if header is None else bool(header)
    names = list(rows[0][1]) if has_header else [f"x{j + 1}" for j in range(width)]
    body = rows[1:] if has_header else rows
    if not body:
        raise ValueError(f"{path}: no data rows (only a header)")
    label = None
    if not features_only:
        label = width - 1 if label_column is None else _column(label_column, names if has_header else [], "--label-column", width)
    dropped = set()
    for spec in drop_columns:
        j = _column(spec, names if has_header else [], "--drop-columns: column", width)
        if j == label:
            raise ValueError(f"--drop-columns: {spec!r} is the label column")
        dropped.add(j)
    keep = [j for j in range(width) if j != label and j not in dropped]
    if not keep:
        raise ValueError(f"{path}: no feature columns left (after the label and --drop-columns)")
    if not has_header:
        names = [f"x{k + 1}" for k in range(len(keep))]
        feature_names = names
    else:
        feature_names = [names[j] for j in keep]
    features, labels, n_dropped = [], [], 0
    for i, row in body:
        used = keep + ([label] if label is not None else [])
        missing = [j for j in used if is_missing(row[j])]
        if missing:
            if drop_missing:
                n_dropped += 1
                continue
            j = missing[0]
            raise ValueError(f"{path}, line {i}, column {j + 1}: missing value {row[j]!r} "
                             "(--drop-missing drops such rows)")
        values = []
        for j in keep:
            field = row[j]
            if not is_number(field):
                raise ValueError(f"{path}, line {i}, column {j + 1}: feature {field!r} is not a number "
                                 "(only the label may be text; --drop-columns leaves a column out)")
            value = float(field)
            if not math.isfinite(value):
                raise ValueError(f"{path}, line {i}, column {j + 1}: feature {field!r} is not finite")
            values.append(value)
        features.append(values)
        if label is not None:
            labels.append(row[label])
    if not features:
        raise ValueError(f"{path}: no rows left after --drop-missing dropped {n_dropped}")
    X = np.array(features, dtype=np.float64)  # (N, D)
    index_like = None
    column = X[:, 0]
    if X.shape[0] >= 3 and (np.array_equal(column, np.arange(len(column))) or np.array_equal(column, np.arange(1, len(column) + 1))):
        index_like = feature_names[0]
    return Table(X, None if label is None else np.array(labels, dtype=str), feature_names,
                 None if label is None else (names[label] if has_header else f"column {label + 1}"),
                 has_header, n_dropped, index_like)


def infer_task(labels) -> str:
    """'classification' or 'regression' for labels as written (str), or a ValueError saying how to choose.

    Text labels are classes. Labels written as ints ("3") are classes when there are at most
    20 distinct values. Labels written as floats ("2.5", "151.0") are a regression target when
    there are many distinct values (more than min(20, N/2)); a float column with few values, or
    an int column with many, is ambiguous and refused: --task says which.
    """
    labels = np.asarray(labels)
    if not all(is_number(v) for v in labels):
        return "classification"
    distinct = len(set(labels.tolist()))
    as_ints = all(v.lstrip("+-").isdigit() for v in labels)
    if as_ints and distinct <= MAX_GUESSED_CLASSES:
        return "classification"
    if not as_ints and distinct > min(MAX_GUESSED_CLASSES, len(labels) // 2):
        return "regression"
    kind = "integer" if as_ints else "decimal"
    raise ValueError(f"the label column holds {distinct} distinct {kind} values: classes or a quantity? "
                     "choose with --task classification or --task regression")
