"""Every code block of README.md and docs/**/*.md runs as written: the documents cannot drift.

The convention (docs/contributing-docs.md says the same for writers):

- ```python blocks of a page run in order in one namespace per page, the working directory a
  fresh temporary directory (holding a copy of docs/, so `docs/softsign.py` resolves).
- ```console blocks: each line starting with `$ ` is a command that is run; the lines after it,
  up to the next `$ `, are its expected stdout, compared exactly (trailing blank lines aside),
  unless the block is immediately preceded by the line `<!-- output: not compared -->`.
  `dualgrad ...` and `python -m dualgrad ...` run in this process (a fresh registry of
  activations, as a new process would have); `python FILE.py` and `python -m MODULE` run
  as a subprocess of this interpreter. A command must exit 0 (or 1, a check that failed, when
  that is what the page shows); exit 2 (bad input), 3 or a traceback fails the page: show
  errors from a ```python block that calls `dualgrad.cli.main` instead.
- Blocks in any other language (```text, ```bash for install commands) are not run.

Python and console blocks of one page share the working directory, in document order.
"""

import contextlib
import glob
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from contextlib import contextmanager

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOT_COMPARED = "<!-- output: not compared -->"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[^\n]*$")


def pages():
    found = [os.path.join(ROOT, "README.md")]
    found += sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))
    return found


class Block:
    def __init__(self, lang, code, line, compared):
        self.lang, self.code, self.line, self.compared = lang, code, line, compared


def blocks(text):
    """The fenced blocks of a Markdown text: language, dedented code, line number, compared?"""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group("indent"), m.group("fence"), m.group("lang").lower()
        previous = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence[0] * len(fence))
                                      and lines[i].strip().strip(fence[0]) == ""):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        i += 1
        out.append(Block(lang, "\n".join(body), start, previous != NOT_COMPARED))
    return out


def commands(code):
    """[(command, expected stdout lines)] of a console block."""
    out = []
    for line in code.split("\n"):
        if line.startswith("$ "):
            out.append((line[2:].strip(), []))
        elif out:
            out[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"console block: text before the first `$ ` command: {line!r}")
    return [(cmd, _trim(expected)) for cmd, expected in out]


def _trim(lines):
    lines = list(lines)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


@contextmanager
def fresh_registry():
    """The activations and layers a new process would have: the page's own registrations are set
    aside during the command and put back afterwards; the command's (--import) are removed."""
    from manual import activations as m_acts
    from manual import spec as m_spec
    from reference import activations as r_acts

    from manual.layers import registered as m_layers
    from reference.layers import registered as r_layers

    saved = ({k: v for k, v in m_acts.ACTIVATIONS.items() if k not in m_acts.BUILT_IN},
             {k: v for k, v in r_acts.ACTIVATIONS.items() if k not in r_acts.BUILT_IN},
             list(m_spec.ACTIVATION_NAMES))
    layers = (dict(m_layers.LAYERS), dict(r_layers.LAYERS))  # registered layers, likewise
    _drop_registrations()
    m_layers.LAYERS.clear()
    r_layers.LAYERS.clear()
    try:
        yield
    finally:
        _drop_registrations()
        m_acts.ACTIVATIONS.update(saved[0])
        r_acts.ACTIVATIONS.update(saved[1])
        m_spec.ACTIVATION_NAMES[:] = saved[2]
        for table, before in zip((m_layers.LAYERS, r_layers.LAYERS), layers):
            table.clear()
            table.update(before)


def _drop_registrations():
    from manual import activations as m_acts
    from manual import spec as m_spec
    from reference import activations as r_acts

    for table, built_in in ((m_acts.ACTIVATIONS, m_acts.BUILT_IN), (r_acts.ACTIVATIONS, r_acts.BUILT_IN)):
        for name in [k for k in table if k not in built_in]:
            del table[name]
    m_spec.ACTIVATION_NAMES[:] = [n for n in m_spec.ACTIVATION_NAMES if n in m_acts.BUILT_IN]


def run_command(command):
    """(stdout, stderr, status) of one documented command."""
    argv = shlex.split(command)
    if any(tok in ("|", ";", "&&", ">", "<", "2>", ">>") for tok in argv):
        raise AssertionError(f"{command!r}: shell syntax is not run; write one command per `$ ` line")
    if argv[0] == "dualgrad" or argv[:3] == ["python", "-m", "dualgrad"]:
        from dualgrad.cli.main import main

        args = argv[1:] if argv[0] == "dualgrad" else argv[3:]
        out, err = io.StringIO(), io.StringIO()
        with fresh_registry(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(args)
        return out.getvalue(), err.getvalue(), status
    if argv[0] in ("python", "python3"):
        done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PYTHONPATH": ROOT, "MPLBACKEND": "Agg"})
        return done.stdout, done.stderr, done.returncode
    raise AssertionError(f"{command!r}: console blocks run `dualgrad` and `python` commands only "
                         "(use ```text or ```bash for others)")


def run_page(path, workdir):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    shutil.copytree(os.path.join(ROOT, "docs"), os.path.join(workdir, "docs"),
                    ignore=shutil.ignore_patterns("__pycache__", "site"))
    namespace = {"__name__": "docs_example"}
    name = os.path.relpath(path, ROOT)
    ran = 0
    for block in blocks(text):
        where = f"{name}, block at line {block.line}"
        if block.lang == "python":
            exec(compile(block.code, f"{name}:{block.line}", "exec"), namespace)
            ran += 1
        elif block.lang == "console":
            for command, expected in commands(block.code):
                stdout, stderr, status = run_command(command)
                assert "Traceback (most recent call last)" not in stderr, f"{where}: `{command}` crashed:\n{stderr}"
                if block.compared:
                    got = _trim(stdout.split("\n"))
                    assert got == expected, (f"{where}: `{command}` printed (exit {status}):\n" + "\n".join(got)
                                             + "\n\nthe page shows:\n" + "\n".join(expected))
                assert status in (0, 1), f"{where}: `{command}` exited {status}:\n{stderr}"
                ran += 1
    return ran


CACHED_COMPILE_SECS = 0.1  # programs that took longer to compile are kept (the tiny eager ones are not)


@pytest.fixture(scope="module", autouse=True)
def jax_compilation_cache(request):
    """The pages compile the same JAX programs in every xdist worker and on every run (the bucketed
    reference alone takes seconds per bucket), so they share JAX's persistent compilation cache,
    kept in pytest's cache directory (.pytest_cache/, emptied by `pytest --cache-clear`), with the
    `python` subprocesses too. A cached program is what XLA compiled for the same computation,
    options and versions: what the pages check is unchanged. Only this module uses the cache: the
    settings are put back afterwards."""
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    if cache is None:
        yield
        return
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    path = str(cache.mkdir("jax-compilation-cache"))
    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    before = {key: getattr(jax.config, key) for key in keys}
    env = {"JAX_COMPILATION_CACHE_DIR": path, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": str(CACHED_COMPILE_SECS)}
    env_before = {key: os.environ.get(key) for key in env}
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHED_COMPILE_SECS)
    compilation_cache.reset_cache()  # initialised anew, in this directory, at the next compile
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in before.items():
            jax.config.update(key, value)
        compilation_cache.reset_cache()
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


OPTIONAL = {"docs/check-your-framework-backward.md": "torch"}  # pages about an optional extra: skipped without it


@pytest.mark.parametrize("path", pages(), ids=lambda p: os.path.relpath(p, ROOT))
def test_page_runs_as_written(path, tmp_path, monkeypatch):
    if os.path.relpath(path, ROOT) in OPTIONAL:
        pytest.importorskip(OPTIONAL[os.path.relpath(path, ROOT)])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    with fresh_registry():  # whatever the page registers is gone afterwards
        run_page(path, str(tmp_path))


# ---- the runner itself --------------------------------------------------------------------------

SAMPLE = """\
text
```python
x = 1
```

<!-- output: not compared -->
```console
$ dualgrad --version
anything
```
```console
$ dualgrad --version
dualgrad 0.1.0

$ python -c "print(2)"
2
```
```text
$ not run
```
"""


def test_blocks_are_found_with_their_convention():
    found = blocks(SAMPLE)
    assert [(b.lang, b.compared) for b in found] == [("python", True), ("console", False), ("console", True),
                                                    ("text", True)]
    assert commands(found[2].code) == [("dualgrad --version", ["dualgrad 0.1.0"]), ('python -c "print(2)"', ["2"])]


def test_a_wrong_output_fails(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "page.md"
    page.write_text("```console\n$ dualgrad --version\ndualgrad 9.9\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="dualgrad 9.9"):
        run_page(str(page), str(tmp_path))


def test_shell_syntax_is_refused():
    with pytest.raises(AssertionError, match="shell syntax"):
        run_command("dualgrad verify ; echo done")


def test_a_page_registration_is_not_seen_by_a_command(tmp_path, monkeypatch):
    """As in a shell, `dualgrad` starts with the built-in activations only."""
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "page.md"
    page.write_text("```python\nimport numpy as np, jax.numpy as jnp\n"
                    "from dualgrad.engine.registry import register_activation\n"
                    "register_activation('twice', lambda z: 2 * z, lambda z, a: 2 + 0 * z, lambda z: 2 * z)\n```\n"
                    "```console\n$ dualgrad verify --sizes 2 3 1 --hidden twice\n```\n", encoding="utf-8")
    with fresh_registry(), pytest.raises(AssertionError, match="unknown activation|twice"):
        run_page(str(page), str(tmp_path))
    from manual import activations

    assert "twice" not in activations.ACTIVATIONS
