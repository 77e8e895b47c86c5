"""The README's Python examples run as written (a stale example is a bug too)."""

import os
import re
import textwrap

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
BLOCKS = re.findall(r"```python\n(.*?)```", open(README, encoding="utf-8").read(), re.S)


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("code", [textwrap.dedent(b) for b in BLOCKS], ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme_example"}
    exec(compile(code, README, "exec"), namespace)
    for name, value in namespace.items():  # examples that define a property test: run it too
        if name.startswith("test_") and callable(value):
            value()
