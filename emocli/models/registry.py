"""One generic registry, reused for architectures, optimizers, schedules and detectors.

    OPTIMIZERS = Registry("optimizer", plugins="emocli.optimizers")
    OPTIMIZERS.add("sgd", OptimSpec(...))     # each kind's own decorator calls `add`
    OPTIMIZERS.get("sgd"); OPTIMIZERS.names()

Entries are added by name (a duplicate name is an error) and looked up with `get`, which names
the choices when a name is unknown. Third-party packages add entries through the entry
point group `plugins`: an entry point naming a module registers whatever that module registers
on import; one naming an object adds it under the entry point's name (through `adopt`, which
turns the object into the registry's entry type). Light: no torch, nothing imported until a
lookup.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from importlib import import_module
from importlib.metadata import entry_points
from types import ModuleType
from typing import Generic, TypeVar

from emocli.errors import EmocliError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, plugins: str | None = None,
                 adopt: Callable[[str, object], T] | None = None, builtins: tuple[str, ...] = ()):
        """`builtins`: modules whose import registers the built-in entries, imported on the
        first lookup (so that the registry itself loads nothing)."""
        self.kind, self.plugins, self.adopt, self.builtins = kind, plugins, adopt, builtins
        self._entries: dict[str, T] = {}
        self._loaded = False

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtins:
            import_module(module)
        for ep in entry_points(group=self.plugins) if self.plugins else ():
            try:
                obj = ep.load()
                if not isinstance(obj, ModuleType) and self.adopt and ep.name not in self._entries:
                    self.add(ep.name, self.adopt(ep.name, obj))
            except Exception:  # noqa: BLE001 - a broken plugin is left out, not a crash
                continue

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(list(self._entries))

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a glob pattern, sorted."""
        return sorted(n for n in self if fnmatch.fnmatch(n, pattern))

    def get(self, name: str) -> T:
        if name not in self:
            raise EmocliError(f"unknown {self.kind} {name!r}: choose from "
                              f"{', '.join(self.names())}")
        return self._entries[name]
