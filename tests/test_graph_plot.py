"""dualgrad explain --plot: the computation graph, drawn (dualgrad/graph_plot.py)."""

import pytest

from dualgrad.cli.main import main
from dualgrad.explain.graph_plot import draw_graph
from manual.spec import NetworkSpec

pytest.importorskip("matplotlib")


@pytest.mark.parametrize("name", ["graph.png", "graph.svg"])
def test_explain_draws_the_graph(tmp_path, capsys, name):
    path = tmp_path / name
    assert main(["explain", "--sizes", "2", "8", "1", "--batch", "4", "--plot", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith(f"wrote {path}")
    assert "δ1 = (δ2 W2ᵀ) ⊙ relu'(z1)" in out  # the derivation is printed as without --plot
    head = path.read_bytes()[:64]
    assert head.startswith(b"\x89PNG") if name.endswith(".png") else b"<svg" in path.read_bytes()[:1000]


def test_the_picture_carries_every_step_and_its_error(tmp_path):
    """The SVG keeps its text: each δ, dW and db with its formula, shape and measured error."""
    spec = NetworkSpec([3, 5, 4, 2], ["tanh", "relu"], "cross_entropy", 0.01)
    path = str(tmp_path / "g.svg")
    draw_graph(spec, path, batch=6, seed=1)
    svg = open(path, encoding="utf-8").read()
    # matplotlib writes text as glyph paths with the string in a comment
    for text in ["δ3 = (ŷ − Y) / N", "dW1 = a0ᵀ δ1 + λ W1", "db2 = Σₙ δ2", "(6, 5)", "(3, 5)", "PASS: 9/9 within tolerance",
                 "δ1 = (δ2 W2ᵀ) ⊙ tanh'(z1)"]:
        assert text in svg, text


@pytest.mark.parametrize("argv, message", [
    (["--plot", "graph.pdf"], "must end in .png or .svg"),
    (["--plot", "no/such/dir/graph.png"], "no such directory"),
])
def test_bad_plot_files_are_refused_before_any_work(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["explain", "--sizes", "2", "3", "1", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("dualgrad: error: --plot") and message in captured.err
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_the_error_says_how_to_install(tmp_path, monkeypatch, capsys):
    import dualgrad.apps.train

    monkeypatch.setattr(dualgrad.apps.train, "plot_support", lambda: False)
    assert main(["explain", "--sizes", "2", "3", "1", "--plot", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'dualgrad[plot]'" in err and err.count("\n") == 1
