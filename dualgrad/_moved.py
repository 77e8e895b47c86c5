"""Old import paths, from before `dualgrad/` was grouped by role (2026-12): `dualgrad.strategies`,
`dualgrad.check`, `dualgrad.train`, ... still import, as the very module at its new place
(`dualgrad.engine.strategies`, ...), loaded only when first asked for. docs/changelog.md lists them."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    **{name: f"engine.{name}" for name in (
        "check", "compare", "conventions", "conv_properties", "conv_stacks", "diagnose", "implementation",
        "layer_cases", "layer_check", "losses_extra", "properties", "registry", "result", "strategies", "user_check")},
    "explain_stack": "explain.stack",
    "graph_plot": "explain.graph_plot",
    "layer_bugs": "bugs.layers",
    "conv_bugs": "bugs.conv",
    "state_bugs": "bugs.state",
    "train": "apps.train",
    "predict": "apps.predict",
    "csv_data": "apps.csv_data",
    "train_command": "cli.train",
    "verify_impl": "cli.verify_impl",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self.own_spec = module.__spec__  # the import system sets the old name's spec on it next
        return module

    def exec_module(self, module):
        module.__spec__ = self.own_spec  # already executed at its new place: keep its own identity


class OldPaths(importlib.abc.MetaPathFinder):
    """Finds `dualgrad.<old name>` and hands back the module at its new path."""

    def __init__(self, package: str):
        self.package = package

    def find_spec(self, fullname, path=None, target=None):
        head, _, name = fullname.rpartition(".")
        if head != self.package or name not in MOVED:
            return None
        new = f"{self.package}.{MOVED[name]}"
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install(package: str) -> None:
    if not any(isinstance(f, OldPaths) and f.package == package for f in sys.meta_path):
        sys.meta_path.append(OldPaths(package))
