"""The seed article's snippets run on `manual`'s classes and give the article's results.

tests/seed_snippets/*.py are the article's snippets with their class definitions replaced by
`from manual import ...`; article_original.py holds the article's own definitions verbatim. Each
snippet is run as a script (runpy) with stdout captured; to compare with the article, the same
snippet is run once more with its import pointed at article_original. The global NumPy generator,
which the article's code draws from, is saved and restored around every run.
"""

import contextlib
import io
import pathlib
import re
import runpy
import sys
import types

import numpy as np
import pytest

import manual

SNIPPETS = pathlib.Path(__file__).parent / "seed_snippets"
ARTICLE = runpy.run_path(str(SNIPPETS / "article_original.py"))  # the article's classes, as a namespace
XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0], dtype=float)


@contextlib.contextmanager
def global_numpy_seed(seed):
    """np.random.seed(seed) inside, the caller's global generator state back afterwards."""
    saved = np.random.get_state()
    try:
        if seed is not None:
            np.random.seed(seed)
        yield
    finally:
        np.random.set_state(saved)


def run_snippet(name, implementation="manual", seed=None):
    """stdout of tests/seed_snippets/<name>.py, its `from manual import` served by `implementation`."""
    source = (SNIPPETS / f"{name}.py").read_text()
    assert "from manual import " in source
    module = types.ModuleType("_seed_implementation")
    module.__dict__.update(vars(manual) if implementation == "manual" else ARTICLE)
    source = source.replace("from manual import ", "from _seed_implementation import ")
    out = io.StringIO()
    sys.modules["_seed_implementation"] = module
    try:
        with global_numpy_seed(seed), contextlib.redirect_stdout(out):
            exec(compile(source, str(SNIPPETS / f"{name}.py"), "exec"), {"__name__": "__main__"})
    finally:
        del sys.modules["_seed_implementation"]
    return out.getvalue()


def test_snippets_run_as_scripts():
    """As a user would run them (runpy, real `from manual import ...`), each prints its result."""
    for name in ("activations", "count_parameters", "multiclass_blobs", "xor"):
        out = io.StringIO()
        with global_numpy_seed(0), contextlib.redirect_stdout(out):
            runpy.run_path(str(SNIPPETS / f"{name}.py"), run_name="__main__")
        assert out.getvalue().strip(), f"{name} printed nothing"


def test_activation_printout_equals_the_articles():
    ours = run_snippet("activations")
    assert ours == run_snippet("activations", implementation="article")
    assert ours.startswith("Sigmoid: [[0.11920292 0.26894142 0.5        0.73105858 0.88079708]]")


def test_count_parameters_prints_and_returns_899():
    out = run_snippet("count_parameters")
    assert out == run_snippet("count_parameters", implementation="article")
    assert out.splitlines() == [
        "Layer 1: W(10x64) + b(64) = 704 params",
        "Layer 2: W(64x3) + b(3) = 195 params",
        "Total: 899 parameters",
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        assert manual.count_parameters([10, 64, 3]) == 899


def test_xor_snippet_is_solved():
    """np.random.seed(0) before the snippet (it sets none): the article's code solves XOR from this
    init, and ours, starting from the same weights, prints the same losses and predictions."""
    ours = run_snippet("xor", seed=0)
    assert "Accuracy:    100%" in ours
    assert "Predictions: [0 1 1 0]" in ours
    assert ours == run_snippet("xor", implementation="article", seed=0)


def test_blobs_snippet_reaches_95_percent():
    ours = run_snippet("multiclass_blobs")  # seeds the global generator itself (42)
    accuracy = float(re.search(r"Accuracy: ([\d.]+)%", ours).group(1))
    assert accuracy >= 95.0
    assert ours == run_snippet("multiclass_blobs", implementation="article")


@pytest.mark.parametrize("name", ["NeuralNetwork", "MultiClassNN"])
def test_loss_histories_match_the_articles(name):
    """Same global seed, so the same initial weights; the losses then agree to ~1e-11 relative
    (measured: at most 4.6e-11 over 200 XOR runs): the article adds ε = 1e-15 inside its logs, we
    compute the loss from the logits without ε."""
    X, y = (XOR_X, XOR_Y) if name == "NeuralNetwork" else manual.datasets.blobs(20, seed=1)
    kwargs = dict(learning_rate=0.5, momentum=0.9) if name == "NeuralNetwork" else dict(learning_rate=0.05)
    sizes = [2, 8, 1] if name == "NeuralNetwork" else [2, 16, 3]
    models = []
    for classes in (getattr(manual, name), ARTICLE[name]):
        with global_numpy_seed(7), contextlib.redirect_stdout(io.StringIO()) as out:
            model = classes(sizes, **kwargs).fit(X, y.astype(float), epochs=400)
        models.append((model, out.getvalue()))
    (ours, ours_out), (article, article_out) = models
    assert ours_out == article_out
    for W, W_article in zip(ours.weights, article.weights):
        np.testing.assert_allclose(W, W_article, rtol=1e-9, atol=1e-12)
    if name == "NeuralNetwork":
        np.testing.assert_allclose(ours.loss_history, article.loss_history, rtol=1e-9)


def xor_solved(cls, seed):
    with global_numpy_seed(seed):
        nn = cls([2, 8, 1], learning_rate=0.5, momentum=0.9).fit(XOR_X, XOR_Y, epochs=2000, verbose=False)
    return bool(np.all(nn.predict(XOR_X) == XOR_Y))


def success_rates(seeds):
    ours = [xor_solved(manual.NeuralNetwork, s) for s in seeds]
    article = [xor_solved(ARTICLE["NeuralNetwork"], s) for s in seeds]
    return ours, article


def test_xor_success_rate_fast():
    """Seeds 0-9 of the XOR snippet's setting: ours solves every init the article's code solves."""
    ours, article = success_rates(range(10))
    assert all(o for o, a in zip(ours, article) if a), f"ours {ours}, article {article}"
    assert sum(ours) >= sum(article)


@pytest.mark.slow
def test_xor_success_rate_over_50_inits():
    """The issue's claim: the article's code solves XOR for ~88 % of random inits; ours at least as often.
    Measured when written: seeds 0-49, 46/50 for both (the same four seeds fail); seeds 0-199, 177/200
    (88.5 %) for both, the same 23 seeds failing. ~12 s: left out of the default run (select with -m slow)."""
    ours, article = success_rates(range(50))
    assert sum(ours) >= sum(article), f"ours {sum(ours)}/50, article {sum(article)}/50"
    assert sum(ours) >= 40  # ≥ 80 %
