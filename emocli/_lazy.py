"""Packages whose public names load on first use, so that importing them (and the CLI's --help)
stays light."""

from __future__ import annotations

import sys
from importlib import import_module


def lazy_names(package: str, names: dict[str, str]):
    """`__getattr__` and `__all__` for `package`; `names` maps each public name to its module."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(names[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__, sorted(names)
