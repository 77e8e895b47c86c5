"""The `train` and `predict` subcommands of `dualgrad` (registered by dualgrad/cli/main.py).

    dualgrad train DATA.csv [--test-fraction 0.25] [--no-standardize] [--save model.npz] [--json]
    dualgrad predict model.npz DATA.csv [--proba] [--out predictions.csv]

`train` holds out a test split by default (stratified for classification, seeded),
standardises the features with the training rows' mean and scale (stored with the model),
and reports training and test figures: accuracy, or R² and RMSE for regression.

`dualgrad train --json` prints one JSON object (and nothing else) on stdout:

    {"command": "train", "version": str, "data": str, "task": "classification" | "regression",
     "n_rows": int, "n_features": int, "feature_names": [str], "label": str | null,
     "classes": [str | int] | null, "n_train": int, "n_test": int, "n_validation": int,
     "n_dropped": int, "standardize": bool,
     "network": {"sizes": [int], "hidden": [str], "loss": str, "l2": float},
     "optimizer": str, "learning_rate": float, "schedule": str, "batch_size": int, "epochs": int,
     "epochs_run": int, "best_epoch": int | null, "seed": int, "dtype": str,
     "loss_history": [float], "test_loss_history": [float],
     "train": {"loss": float, "accuracy": float, "correct": int, "n": int}        (classification)
              {"loss": float, "r2": float, "rmse": float, "n": int}               (regression)
     "test": the same keys, or null without test rows,
     "saved": str | null, "plots": [str]}
"""

from __future__ import annotations

import json
import os
import sys

DEFAULT_TEST_FRACTION = 0.25  # scikit-learn's train_test_split's
SMALL = 20  # data sets with fewer rows are not split unless --test-fraction is given


def add_train_arguments(train, import_argument):
    from manual.mlp import DEFAULT_HIDDEN_SIZES

    train.add_argument("dataset", metavar="DATASET")
    import_argument(train)
    train.add_argument("--hidden-sizes", type=int, nargs="+", default=list(DEFAULT_HIDDEN_SIZES), metavar="H",
                       help="hidden layer widths (default 100, as manual.MLP and scikit-learn)")
    train.add_argument("--hidden", nargs="+", default=["relu"], metavar="NAME",
                       help="one activation for every hidden layer, or one per layer (default relu)")
    train.add_argument("--task", choices=("classification", "regression"),
                       help="default: inferred from the label column (text or few integers: classes; "
                            "many decimals: regression; ambiguous: an error)")
    train.add_argument("--loss", choices=("binary_cross_entropy", "cross_entropy", "mse"),
                       help="default: binary_cross_entropy for 2 classes, cross_entropy for more, mse for regression")
    train.add_argument("--optimizer", choices=("sgd", "adam", "rmsprop"), default="adam")
    train.add_argument("--lr", type=float, help="(initial) learning rate (default 0.001, as manual.MLP)")
    train.add_argument("--schedule", default="constant", metavar="SCHEDULE",
                       help="constant (default), exponential_decay:RATE:STEPS (lr·RATE^(t/STEPS)), or "
                            "step_decay:STEP=SCALE[,STEP=SCALE...] (t counts updates)")
    train.add_argument("--momentum", type=float, default=0.0, help="sgd momentum (default 0)")
    train.add_argument("--l2", type=float, default=0.0)
    train.add_argument("--epochs", type=int, default=200, help="default 200")
    train.add_argument("--batch-size", type=int, default=None,
                       help="rows per update (default min(200, N), as manual.MLP's 'auto')")
    train.add_argument("--early-stopping", action="store_true",
                       help="hold out 10%% of the training rows; stop after 10 epochs without a lower "
                            "validation loss and keep the best epoch's weights")
    train.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    train.add_argument("--seed", type=int, default=0,
                       help="seeds the synthetic data, the split, the initial weights and the shuffling (default 0)")
    train.add_argument("--test-fraction", type=float, default=None, metavar="F",
                       help=f"rows held out for testing, in [0, 1) (default {DEFAULT_TEST_FRACTION}; data sets "
                            f"of fewer than {SMALL} rows are not split unless given); stratified for classes")
    train.add_argument("--no-standardize", action="store_true",
                       help="train on the features as they are (default: mean 0, std 1, from the training rows)")
    train.add_argument("--save", metavar="MODEL.npz", help="write the trained model (and its scaling) for predict")
    train.add_argument("--json", action="store_true", help="print a JSON summary instead of the log")
    _csv_arguments(train, label=True)
    train.add_argument("--out", metavar="DIR", help="write loss.png (and boundary.png for 2-D data) here (default plots/)")
    train.add_argument("--no-plots", action="store_true", help="write no plots")
    train.add_argument("--check", action="store_true",
                       help="verify the first step's gradients against jax.grad first; exit 1 on failure")


def _csv_arguments(p, label):
    p.add_argument("--delimiter", default=",", metavar="C", help="the CSV field separator (default ',')")
    header = p.add_mutually_exclusive_group()
    header.add_argument("--header", dest="header", action="store_const", const=True, default=None,
                        help="the first row is a header (default: detected)")
    header.add_argument("--no-header", dest="header", action="store_const", const=False,
                        help="the first row is data")
    if label:
        p.add_argument("--label-column", metavar="NAME|INDEX",
                       help="the label's column: a header name or a 0-based index, -1 the last (default: last)")
    p.add_argument("--drop-columns", metavar="A,B", help="columns to leave out, by name or 0-based index, comma-separated")
    p.add_argument("--drop-missing", action="store_true",
                   help="drop rows with a missing value (empty, NA, NaN, null, ?) instead of stopping")


def add_predict_arguments(predict):
    predict.add_argument("model", metavar="MODEL.npz", help="a model written by dualgrad train --save")
    predict.add_argument("data", metavar="DATA.csv", help="rows to predict: the model's feature columns "
                                                          "(by name with a header; other columns are ignored)")
    predict.add_argument("--proba", action="store_true", help="class probabilities, one column per class")
    predict.add_argument("--out", metavar="FILE", help="write the CSV here instead of stdout")
    _csv_arguments(predict, label=False)


def _drops(text):
    return [part.strip() for part in text.split(",") if part.strip()] if text else []


def _schedule(text, lr):
    """A manual.optimizers schedule from --schedule, or CliError."""
    from manual import optimizers as mo

    from .common import CliError

    name, _, rest = text.partition(":")
    try:
        if name == "constant" and not rest:
            return lr
        if name == "exponential_decay":
            rate, steps = rest.split(":")
            return mo.exponential_decay(lr, float(rate), int(steps))
        if name == "step_decay":
            pairs = [item.split("=") for item in rest.split(",")]
            return mo.step_decay(lr, {int(b): float(s) for b, s in pairs})
    except (ValueError, TypeError) as err:
        raise CliError(f"--schedule {text}: {err}") from None
    raise CliError(f"--schedule {text!r}: expected constant, exponential_decay:RATE:STEPS or "
                   "step_decay:STEP=SCALE[,STEP=SCALE...]")


def _fmt(value: float) -> str:
    """A loss readable at any size: 4 significant digits (0.000177, 1.23e-07, 1.234e+05)."""
    return f"{value:.4g}"


def _fmt_apart(a: float, b: float):
    """Two losses shown side by side: 4 significant digits, more when that would print two different
    values alike (0.22946 and 0.22949 are not both '0.2295'); equal values print alike."""
    for digits in range(4, 18):
        sa, sb = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if sa != sb or a == b:
            return sa, sb
    return sa, sb


def run_train(args) -> int:
    import numpy as np

    from . import common as cli
    from ..engine.report import describe_network
    from .common import CliError, _Progress

    cli._load_plugins(args)
    for value, flag in ((args.epochs, "--epochs"), (args.batch_size, "--batch-size"),
                        (min(args.hidden_sizes), "--hidden-sizes")):
        cli._positive(value, flag)
    cli._nonnegative(args.l2, "--l2")
    if args.seed < 0:
        raise CliError(f"--seed must be a non-negative int, got {args.seed}")
    if args.lr is not None and not (0.0 < args.lr < float("inf")):
        raise CliError(f"--lr must be a finite number > 0, got {args.lr}")
    if not (0.0 <= args.momentum < 1.0):
        raise CliError(f"--momentum must be in [0, 1), got {args.momentum}")
    if args.momentum and args.optimizer != "sgd":
        raise CliError(f"--momentum is for --optimizer sgd (got --optimizer {args.optimizer})")
    if args.test_fraction is not None and not (0.0 <= args.test_fraction < 1.0):
        raise CliError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    if args.task == "classification" and args.loss == "mse":
        raise CliError("--loss mse is for --task regression")
    if args.task == "regression" and args.loss not in (None, "mse"):
        raise CliError(f"--task regression trains with --loss mse, got --loss {args.loss}")
    lr = args.lr if args.lr is not None else 1e-3
    learning_rate = _schedule(args.schedule, lr)
    hidden = args.hidden[0] if len(args.hidden) == 1 else args.hidden
    if args.check:
        cli._check_reference_twins(args.hidden)
    from ..apps.train import DATASET_NAMES, PLOT_INSTALL, Training, load_data, plot_support

    if args.no_plots and args.out is not None:
        raise CliError("--out and --no-plots exclude each other")
    out = None if args.no_plots else (args.out or cli.DEFAULT_PLOTS)
    if out is not None and os.path.exists(out) and not os.path.isdir(out):
        where = f"--out {out}" if args.out is not None else f"the plot directory {out!r} (default; --out DIR or --no-plots)"
        raise CliError(f"{where}: exists and is not a directory")
    if args.out is not None and not plot_support():
        raise CliError(f"--out needs matplotlib to draw the plots: {PLOT_INSTALL}")
    if args.save is not None:
        folder = os.path.dirname(os.path.abspath(args.save))
        if os.path.isdir(args.save) or not os.path.isdir(folder):
            raise CliError(f"--save {args.save}: not a file path in an existing directory")
    notes = []
    if out is not None and not plot_support():
        notes.append(f"dualgrad: note: no plots without matplotlib: {PLOT_INSTALL}")
        out = None
    csv_options = (args.delimiter != "," or args.header is not None or args.label_column is not None
                   or args.drop_columns or args.drop_missing)
    names, label_name, n_dropped = None, None, 0
    try:
        if args.dataset in DATASET_NAMES:
            if csv_options:
                raise ValueError(f"--delimiter, --header, --label-column, --drop-columns and --drop-missing are "
                                 f"for CSV files, not the built-in data set {args.dataset}")
            X, y, name = load_data(args.dataset, seed=args.seed)
            task = args.task or ("regression" if args.loss == "mse" else "classification")
            if task == "regression":
                raise ValueError(f"{args.dataset} is a classification data set; --task regression needs a CSV file")
        else:
            from ..apps.csv_data import infer_task, read_table

            if not os.path.exists(args.dataset) and not args.dataset.lower().endswith(".csv") and "/" not in args.dataset:
                raise ValueError(f"unknown data set {args.dataset!r}: not one of {', '.join(DATASET_NAMES)}, "
                                 "and no file of that name")
            table = read_table(args.dataset, delimiter=args.delimiter, label_column=args.label_column,
                               header=args.header, drop_columns=_drops(args.drop_columns),
                               drop_missing=args.drop_missing)
            X, labels, name = table.X, table.labels, os.path.basename(args.dataset)
            names, label_name, n_dropped = table.feature_names, table.label_name, table.n_dropped
            task = args.task or ("regression" if args.loss == "mse" else infer_task(labels))
            if task == "regression":
                from ..apps.csv_data import is_number

                bad = next((v for v in labels if not is_number(v)), None)
                if bad is not None:
                    raise ValueError(f"--task regression needs numbers in the label column {label_name}, got {bad!r}")
                y = labels.astype(np.float64)
            else:
                y = _class_labels(labels)
            if table.index_like is not None:
                notes.append(f"dualgrad: note: feature column {table.index_like!r} counts the rows (0, 1, 2, ...): "
                             f"if it is an index, leave it out with --drop-columns {table.index_like}")
        fraction = args.test_fraction
        if fraction is None:
            fraction = DEFAULT_TEST_FRACTION if X.shape[0] >= SMALL else 0.0
        run = Training(X, y, hidden_sizes=args.hidden_sizes, hidden=hidden, loss=args.loss, optimizer=args.optimizer,
                       learning_rate=learning_rate, momentum=args.momentum, l2=args.l2, epochs=args.epochs,
                       batch_size=args.batch_size if args.batch_size is not None else "auto", seed=args.seed,
                       task=task, test_fraction=fraction, standardize=not args.no_standardize,
                       early_stopping=args.early_stopping, dtype=np.dtype(args.dtype), feature_names=names,
                       label_name=label_name)
    except (TypeError, ValueError) as err:
        raise CliError(str(err)) from None
    say = (lambda *a, **k: None) if args.json else print
    for note in notes:
        print(note, file=sys.stderr)
    spec = run.spec
    n_fit = len(run.fit_rows)
    batch = n_fit if args.batch_size is None and n_fit <= 200 else min(args.batch_size or 200, n_fit)
    what = (f"{len(run.classes)} classes {_labels_text(run.classes)}" if task == "classification"
            else f"regression target {label_name or ''}".rstrip())
    say(f"dualgrad train {name}: {X.shape[0]} rows, {X.shape[1]} feature{'s' if X.shape[1] != 1 else ''}, {what}"
        + (f" ({n_dropped} row{'s' if n_dropped != 1 else ''} with missing values dropped)" if n_dropped else ""))
    if names is not None and run.feature_names != [f"x{j + 1}" for j in range(X.shape[1])]:
        shown = ", ".join(run.feature_names[:8]) + (", ..." if len(run.feature_names) > 8 else "")
        say(f"features: {shown}; label: {label_name}")
    split = (f"{len(run.train_rows)} training rows, {len(run.test_rows)} held-out test rows "
             f"(--test-fraction {fraction:g}{', stratified' if task == 'classification' else ''}, seed {args.seed})"
             if len(run.test_rows) else
             f"all {len(run.train_rows)} rows train (no held-out rows{': fewer than 20 rows' if X.shape[0] < SMALL and args.test_fraction is None else ''})")
    if run.early_stopping:
        split += f", {len(run.val_rows)} of them for early stopping"
    say(split + ("; features standardized with the training rows' mean and std" if run.standardize else ""))
    schedule = "" if args.schedule == "constant" else f" ({args.schedule})"
    say(f"network {describe_network(spec, batch).replace(' N=', ', batch ')}, "
        f"{args.optimizer} lr {lr:g}{schedule}" + (f" momentum {args.momentum:g}" if args.momentum else "")
        + f", {args.epochs} epochs, seed {args.seed}" + (f", {args.dtype}" if args.dtype != "float64" else ""))
    if args.check:
        report = run.check_first_step()
        say("\nfirst step's gradients against jax.grad:")
        say(report.table())
        if not report.passed:
            print("dualgrad: error: the first step's gradients do not match jax.grad; not training", file=sys.stderr)
            return 1
    say()
    from manual.train_step import NonFiniteError

    every = max(1, args.epochs // 10)
    progress = _Progress(args.epochs, sys.stderr)
    width = len(str(args.epochs))
    for epoch in range(1, args.epochs + 1):
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # a divergence is reported below, once
                value = run.epoch()
        except NonFiniteError as err:
            progress.close()
            print(f"dualgrad: error: training diverged: {err}", file=sys.stderr)
            return 3
        progress.step()
        stop = run.should_stop()
        if epoch == 1 or epoch % every == 0 or epoch == args.epochs or stop:
            progress.clear()
            say(f"epoch {epoch:>{width}}/{args.epochs}  loss {_fmt(value)}" + _figures(run, short=True), flush=True)
        if stop:
            break
    progress.close()
    run.finish()
    if run.early_stopping:
        say(f"\nearly stopping after epoch {run.model.n_epochs_}: no lower validation loss for {run.patience} epochs; "
            f"kept the weights of epoch {run.best_epoch}")
    train_m = {"loss": run.loss_on(run.X_train, run.y_train), **run.metrics(run.X_train, run.y_train)}
    test_m = ({"loss": run.loss_on(run.X_test, run.y_test), **run.metrics(run.X_test, run.y_test)}
              if len(run.test_rows) else None)
    if not len(run.test_rows):
        say(f"\nfinal loss {_fmt(train_m['loss'])} (all {len(run.train_rows)} rows, final weights), "
            + _final(train_m, "training"))
    else:
        train_text, test_text = _fmt_apart(train_m["loss"], test_m["loss"])
        say(f"\nfinal loss {train_text} on the training rows, {test_text} on the held-out test rows (final weights)")
        say(_final(train_m, "training") + ", " + _final(test_m, "test"))
    saved = None
    if args.save is not None:
        settings = {k: v for k, v in vars(args).items() if k != "run" and isinstance(v, (str, int, float, bool, list, type(None)))}
        try:
            from manual.persistence import save

            save(run.model, args.save, data=run.saved_data(settings))
        except (OSError, ValueError) as err:
            raise CliError(f"--save {args.save}: {getattr(err, 'strerror', None) or err}") from None
        saved = args.save
        say(f"saved the model to {saved} (dualgrad predict {saved} DATA.csv)")
    paths = []
    if out is not None:
        from ..apps.train import write_plots

        try:
            paths = write_plots(run, out, title=name)
        except OSError as err:
            raise CliError(f"--out {out}: cannot write the plots: {err.strerror or err}") from None
        say("wrote " + ", ".join(paths))
    if args.json:
        from .. import __version__

        print(json.dumps({
            "command": "train", "version": __version__, "data": name, "task": task,
            "n_rows": int(X.shape[0]), "n_features": int(X.shape[1]), "feature_names": run.feature_names,
            "label": label_name, "classes": None if run.classes is None else run.classes.tolist(),
            "n_train": len(run.fit_rows), "n_test": len(run.test_rows), "n_validation": len(run.val_rows),
            "n_dropped": n_dropped, "standardize": run.standardize, "network": spec.to_dict(),
            "optimizer": args.optimizer, "learning_rate": lr, "schedule": args.schedule, "batch_size": batch,
            "epochs": args.epochs, "epochs_run": run.model.n_epochs_, "best_epoch": run.best_epoch,
            "seed": args.seed, "dtype": args.dtype, "loss_history": list(run.loss_history),
            "test_loss_history": list(run.test_loss_history), "train": train_m, "test": test_m,
            "saved": saved, "plots": paths}, indent=2))
    return 0


def _figures(run, short=False) -> str:
    """'  training accuracy 87.0%  test loss 0.45  test accuracy 86.0%' for an epoch line."""
    train = run.metrics(run.X_train, run.y_train)
    text = ("  training accuracy {:5.1f}%".format(100 * train["accuracy"]) if run.task == "classification"
            else f"  training R² {train['r2']:.3f}")
    if len(run.test_rows):
        test = run.metrics(run.X_test, run.y_test)
        text += f"  test loss {_fmt(run.test_loss_history[-1])}"
        text += ("  test accuracy {:5.1f}%".format(100 * test["accuracy"]) if run.task == "classification"
                 else f"  test R² {test['r2']:.3f}")
    return text


def _final(m, part) -> str:
    if "accuracy" in m:
        return f"{part} accuracy {100 * m['accuracy']:.1f}% ({m['correct']}/{m['n']})"
    return f"{part} R² {m['r2']:.3f}, RMSE {m['rmse']:.4g} ({m['n']} rows)"


def _class_labels(labels):
    """Labels as written: ints when every one is an integer ("3", "1.0"), else the strings."""
    import numpy as np

    from ..apps.csv_data import is_number

    if all(is_number(v) and float(v).is_integer() for v in labels):
        return np.array([int(float(v)) for v in labels], dtype=np.int64)
    return np.asarray(labels, dtype=str)


def _labels_text(classes, limit=10) -> str:
    shown = ", ".join(map(str, classes[:limit].tolist())) + (", ..." if len(classes) > limit else "")
    return f"[{shown}]"


def run_predict(args) -> int:
    from .common import CliError
    from ..apps.csv_data import detect_header, read_rows, read_table
    from ..apps.predict import load_trained, prediction_rows

    try:
        trained = load_trained(args.model)
        rows = read_rows(args.data, args.delimiter)
        has_header = detect_header(rows) if args.header is None else args.header
        drops = _drops(args.drop_columns)
        if has_header and not all(n.startswith("x") and n[1:].isdigit() for n in trained.feature_names):
            missing = [n for n in trained.feature_names if n not in rows[0][1]]
            if missing:
                shown = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
                raise ValueError(f"{args.data} lacks the model's feature column(s) {shown} (its header: "
                                 f"{', '.join(rows[0][1][:8])}{', ...' if len(rows[0][1]) > 8 else ''})")
            drops += [n for n in rows[0][1] if n not in trained.feature_names and n not in drops]
        table = read_table(args.data, delimiter=args.delimiter, header=has_header, drop_columns=drops,
                           drop_missing=args.drop_missing, features_only=True)
        X = trained.columns_of(table, args.data)
        lines = prediction_rows(trained, X, args.proba)
    except (TypeError, ValueError) as err:
        raise CliError(str(err)) from None
    except FileNotFoundError as err:
        raise CliError(f"cannot read {args.model}: {err.strerror}") from None
    text = "\n".join(lines) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as err:
        raise CliError(f"--out {args.out}: cannot write: {err.strerror or err}") from None
    print(f"wrote {len(lines) - 1} predictions to {args.out}", file=sys.stderr)
    return 0
