"""The house has one direction (issue 20): no import cycles, config a leaf, test support not shipped, and one
registry helper behind every extension point."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

import pipeline
from pipeline import config
from pipeline.asr.base import ENGINES
from pipeline.errors import ConfigError
from pipeline.registry import Registry
from pipeline.translate.base import TRANSLATORS

ROOT = Path(pipeline.__file__).resolve().parent.parent
PKG = ROOT / "pipeline"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py") if "data" not in p.relative_to(PKG).parts}


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Project modules that ``path`` imports anywhere in it (top level, functions, TYPE_CHECKING): what grimp sees."""
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, one level up per extra dot
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            subs = {f"{base}.{a.name}" for a in node.names} & modules
            out.update(subs or ({base} & modules))
    return out


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_of_the_library_is_in_an_import_cycle():
    mods = _modules()
    graph = {m: _imports(p, set(mods)) - {m} for m, p in mods.items() if not m.startswith("pipeline.testing")}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_config_is_a_leaf_that_names_what_the_registries_hold():
    imported = _imports(PKG / "config.py", set(_modules()))
    assert imported <= {"pipeline.errors"}, imported
    assert config.ENGINE_NAMES == tuple(ENGINES) and config.DEFAULT_ENGINE == config.ENGINE_NAMES[0]
    assert config.TRANSLATOR_KINDS == tuple(TRANSLATORS) and config.DEFAULT_TRANSLATOR == config.TRANSLATOR_KINDS[0]


def test_the_audio_profile_is_read_from_below_tagging_and_stages():
    mods = set(_modules())
    profile = _imports(PKG / "media" / "profile.py", mods)
    assert not {m for m in profile if m.startswith(("pipeline.tagging", "pipeline.stages", "pipeline.asr"))}, profile
    tagging_model = _imports(PKG / "tagging" / "model.py", mods)
    assert "pipeline.media.profile" in tagging_model and not {m for m in tagging_model if m.startswith("pipeline.stages")}


def test_test_support_does_not_ship_and_nothing_shipped_imports_it():
    mods = _modules()
    importers = sorted(m for m, p in mods.items() if not m.startswith("pipeline.testing")
                       and any(i.startswith("pipeline.testing") for i in _imports(p, set(mods))))
    assert importers == []
    find = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]["find"]
    shipped = find_packages(str(ROOT), include=find["include"], exclude=find.get("exclude", ()))
    assert "pipeline.demo" in shipped and "pipeline.models" in shipped and "pipeline.copies" in shipped
    assert not [p for p in shipped if p.startswith("pipeline.testing")]


def test_a_registry_names_its_choices_and_imports_an_entry_only_when_used():
    reg: Registry[object] = Registry("widget", {"real": "pipeline.errors:ConfigError", "broken": "no_such_module:X"},
                                     hint="--widget")
    assert "broken" in reg and "other" not in reg and list(reg) == ["real", "broken"] and len(reg) == 2
    assert reg.load("real") is ConfigError and reg.target("broken") == "no_such_module:X"
    with pytest.raises(ConfigError, match=r"unknown widget 'other' \(--widget\); choose one of: real, broken"):
        reg.load("other")
    with pytest.raises(ImportError):
        reg.load("broken")
    assert reg.available() == {"real": ConfigError}  # the broken entry is left out, not fatal
    eager = Registry("thing", {"a": int})
    assert eager["a"] is int and eager.target("a") == "builtins:int"
