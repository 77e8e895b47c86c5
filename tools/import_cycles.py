"""Import circles inside a package: the strongly connected components of its module graph.

    python tools/import_cycles.py dualgrad

Every `import` / `from ... import` of a module of the package counts, wherever it is written (also
inside a function: a lazy import still ties the two modules together). Prints each circle with more
than one module, and the number of circles and of modules in them.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, is_package: bool, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [stem] + [f"{stem}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            components.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return components


def module_graph(root) -> dict[str, set[str]]:
    """{module: the package's modules it imports}, for the package at `root` (a folder)."""
    root = Path(root).resolve()
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    known = set(files)
    graph = {n: imports_of(p, n, p.name == "__init__.py", known) for n, p in files.items()}
    # a package's __init__ importing its own submodules is how re-exports work: not a circle
    for n in graph:
        graph[n] = {t for t in graph[n] if not (files[n].name == "__init__.py" and t.startswith(n + "."))}
    return graph


def circles_of(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles (strongly connected components of more than one module)."""
    return [c for c in strongly_connected(graph) if len(c) > 1]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    graph = module_graph(argv[0] if argv else "dualgrad")
    circles = circles_of(graph)
    for c in circles:
        print(f"circle of {len(c)}: {' '.join(c)}")
    print(f"{len(circles)} circles, {sum(map(len, circles))} modules in them, {len(graph)} modules")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
