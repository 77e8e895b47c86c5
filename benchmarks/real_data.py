"""dualgrad.sklearn.MLPClassifier against scikit-learn's MLPClassifier on scikit-learn's bundled data sets.

    python benchmarks/real_data.py [--seeds 3] [--max-iter 200]

Matched settings, side by side in one run: a 75/25 stratified split (train_test_split,
random_state = seed), StandardScaler fitted on the training rows, hidden_layer_sizes
(64, 32), relu, adam, learning_rate_init 1e-3, batch_size 'auto', alpha 1e-4, max_iter 200,
tol 1e-4, n_iter_no_change 10, random_state = seed. The initial weights differ (each library
draws its own), so the accuracies are compared over seeds, as ranges. Fit time is wall-clock
of `fit` (time.perf_counter), the same process, one after the other for each seed.

Needs scikit-learn (`pip install 'dualgrad[sklearn]'`); prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=200)
    args = parser.parse_args(argv)
    try:
        from sklearn import datasets
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import train_test_split
        from sklearn.neural_network import MLPClassifier as SkMLP
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        print("benchmarks/real_data.py needs scikit-learn: pip install 'dualgrad[sklearn]'")
        return 0
    import sklearn

    from dualgrad.sklearn import MLPClassifier as DgMLP

    sets = {"iris": datasets.load_iris, "wine": datasets.load_wine,
            "breast cancer": datasets.load_breast_cancer, "digits": datasets.load_digits}
    settings = dict(hidden_layer_sizes=(64, 32), activation="relu", solver="adam", alpha=1e-4,
                    learning_rate_init=1e-3, batch_size="auto", max_iter=args.max_iter, tol=1e-4,
                    n_iter_no_change=10)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}; "
          f"Python {platform.python_version()}, NumPy {np.__version__}, scikit-learn {sklearn.__version__}")
    print(f"settings: {settings}; seeds 0..{args.seeds - 1}\n")
    print("| data set | rows × features, classes | test accuracy, dualgrad (mean, min–max) | "
          "test accuracy, scikit-learn | fit time dualgrad | fit time scikit-learn | time ratio dg/sk |")
    print("|---|---|---|---|---|---|---|")
    for name, load in sets.items():
        X, y = load(return_X_y=True)
        acc = {"dg": [], "sk": []}
        secs = {"dg": [], "sk": []}
        for seed in range(args.seeds):
            Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
            scaler = StandardScaler().fit(Xtr)
            Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
            for key, Est in (("dg", DgMLP), ("sk", SkMLP)):
                model = Est(random_state=seed, **settings)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    start = time.perf_counter()
                    model.fit(Xtr, ytr)
                    secs[key].append(time.perf_counter() - start)
                acc[key].append(model.score(Xte, yte))
        ratio = np.array(secs["dg"]) / np.array(secs["sk"])

        def rng(v, pct=True):
            v = np.array(v) * (100 if pct else 1)
            return f"{v.mean():.1f} % ({v.min():.1f}–{v.max():.1f})" if pct else f"{v.mean():.3f} s ({v.min():.3f}–{v.max():.3f})"

        print(f"| {name} | {X.shape[0]} × {X.shape[1]}, {len(np.unique(y))} | {rng(acc['dg'])} | {rng(acc['sk'])} | "
              f"{rng(secs['dg'], False)} | {rng(secs['sk'], False)} | {ratio.mean():.2f} ({ratio.min():.2f}–{ratio.max():.2f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
