"""The layout by role holds (issue 21, item 4): no import circle inside `dualgrad`, the checking engine at
the bottom (it imports none of explain, bugs, apps, cli), and `manual` NumPy only.

Every import counts, lazy ones inside functions too (`tools/import_cycles.py`)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "tools" / "import_cycles.py")
import_cycles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_cycles)

GRAPH = import_cycles.module_graph(ROOT / "dualgrad")
ABOVE_THE_ENGINE = ("dualgrad.explain", "dualgrad.bugs", "dualgrad.apps", "dualgrad.cli", "dualgrad.sklearn")


def test_no_import_circle():
    assert import_cycles.circles_of(GRAPH) == []


def test_the_finder_sees_a_circle():
    """The circle finder itself: a lazy import back is a circle (so the test above can fail)."""
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert import_cycles.circles_of(graph) == [["p.a", "p.b", "p.c"]]


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m.startswith("dualgrad.engine")))
def test_the_engine_is_at_the_bottom(module):
    above = sorted(t for t in GRAPH[module] if t.startswith(ABOVE_THE_ENGINE))
    assert above == [], f"{module} imports {above}: the engine must not depend on the tools built on it"


def test_manual_is_numpy_only():
    """manual/ never imports jax, reference or dualgrad: it is the hand-written side."""
    import ast

    offenders = []
    for path in sorted((ROOT / "manual").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.split(".")[0] in ("jax", "jaxlib", "reference", "dualgrad", "torch", "optax")]
    assert offenders == []
