"""One helper for every extension point's registry: a name -> implementation table, loaded on first use.

A registry line is ``"name": "module:Attribute"`` (imported when the entry is first used, so an engine's or a
backend's heavy dependencies load only when it is chosen) or ``"name": obj`` (already imported). Every registry in
clipwatch is one of these — ``ENGINES`` (asr), ``TRANSLATORS`` (translate), ``SOURCES`` (sources), ``SIGNALS``
(tagging), ``DETECTORS`` (shots), ``BLOB_STORES`` and ``CATALOGUES`` (storage) — so they look up, list and refuse an
unknown name the same way. ``available()`` is the PySceneDetect ``backends/__init__.py`` idea: an entry whose module
does not import (an optional dependency not installed) is left out instead of failing the whole registry.

A leaf: imports nothing of clipwatch but its errors.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from pipeline.errors import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")


def load_target(target: str) -> object:
    """The object a ``"module:Attribute"`` string names, imported now.

    Arguments:
        target: ``"package.module:Attribute"``.

    Returns:
        The attribute (a class, usually). ImportError / AttributeError propagate: a broken registry line is a bug.
    """
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"registry target {target!r} is not 'module:Attribute'")
    return getattr(importlib.import_module(module), attr)


class Registry(Mapping[str, T], Generic[T]):
    """An ordered name -> implementation table. Iterating gives the names (the first is the default where a room
    has one); ``registry[name]`` gives the implementation, imported on first use and kept."""

    def __init__(self, what: str, entries: Mapping[str, str | T], *, hint: str = "") -> None:
        """Arguments:
            what: what one entry is, for error messages ("engine", "storage scheme").
            entries: name -> ``"module:Attribute"`` or the object itself, in the order the room lists them.
            hint: appended to the unknown-name error (where the name came from: "--engine / CLIPWATCH_ENGINE").
        """
        self.what = what
        self.hint = hint
        self._entries: dict[str, str | T] = dict(entries)
        self._loaded: dict[str, T] = {}

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            raise KeyError(name)
        if name not in self._loaded:
            entry = self._entries[name]
            self._loaded[name] = load_target(entry) if isinstance(entry, str) else entry  # type: ignore[assignment]
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries  # a name check must not import the entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {list(self._entries)})"

    def target(self, name: str) -> str:
        """Where an entry lives: its ``"module:Attribute"`` (for a listing or a contract test), without importing it."""
        entry = self._entries[name]
        if isinstance(entry, str):
            return entry
        return f"{getattr(entry, '__module__', '?')}:{getattr(entry, '__qualname__', repr(entry))}"

    def unknown(self, name: str) -> ConfigError:
        """The error for a name that is not registered: what it is and which names are."""
        hint = f" ({self.hint})" if self.hint else ""
        return ConfigError(f"unknown {self.what} {name!r}{hint}; choose one of: {', '.join(self._entries)}")

    def load(self, name: str) -> T:
        """The implementation registered as ``name``.

        Arguments:
            name: a registered name.

        Returns:
            The implementation (imported now if it was not yet). ConfigError naming the choices for an unknown name.
        """
        if name not in self._entries:
            raise self.unknown(name)
        return self[name]

    def available(self) -> dict[str, T]:
        """The entries whose modules import, in order; one whose optional dependency is missing is logged and left
        out (PySceneDetect's backends: a missing extra narrows the choice, it does not break the registry).

        Returns:
            name -> implementation for every entry that loaded.
        """
        out: dict[str, T] = {}
        for name in self._entries:
            try:
                out[name] = self[name]
            except ImportError as exc:
                log.info("%s %s unavailable: %s", self.what, name, exc)
        return out
