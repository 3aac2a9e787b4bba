"""The architecture registry: `@register_model` entrypoints, `create_model`, `list_models`."""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

from torch import nn

from emocli.errors import EmocliError
from emocli.models.names import ENTRY_POINT_GROUP


@dataclass(frozen=True)
class ArchSpec:
    name: str
    fn: Callable[..., nn.Module]
    params: dict[str, tuple[type, object]]  # name -> (type, default)
    description: str


_ARCHS: dict[str, ArchSpec] = {}
_plugins_loaded = False


def register_model(fn: Callable[..., nn.Module] | None = None, *, name: str | None = None):
    """Register an entrypoint; its typed keyword arguments become the architecture's params."""

    def wrap(fn):
        key = name or fn.__name__
        if key in _ARCHS:
            raise ValueError(f"an architecture named {key!r} is already registered")
        hints = inspect.get_annotations(fn, eval_str=True)
        params = {p.name: (hints.get(p.name, type(p.default)), p.default)
                  for p in inspect.signature(fn).parameters.values() if p.name != "num_classes"}
        doc = (inspect.getdoc(fn) or "").strip().splitlines()
        _ARCHS[key] = ArchSpec(key, fn, params, doc[0] if doc else "")
        return fn

    return wrap(fn) if fn is not None else wrap


def _load_plugins() -> None:
    """Import third-party entrypoints once; a broken plugin must not break emocli."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception:  # noqa: BLE001 - a plugin's bug is reported by omission, not a crash
            continue
        if callable(obj) and not inspect.ismodule(obj) and ep.name not in _ARCHS:
            register_model(obj, name=ep.name)


def list_models(pattern: str = "*") -> list[str]:
    _load_plugins()
    return sorted(n for n in _ARCHS if fnmatch.fnmatch(n, pattern))


def get_spec(name: str) -> ArchSpec:
    _load_plugins()
    if name not in _ARCHS:
        raise EmocliError(f"unknown architecture {name!r}: choose from {', '.join(list_models())}")
    return _ARCHS[name]


def resolve_args(name: str, **kwargs) -> dict:
    """Check and convert kwargs (strings from `--arch-arg` included); `None` means unset."""
    spec = get_spec(name)
    args = {}
    for key, value in kwargs.items():
        if value is None:
            continue
        if key not in spec.params:
            raise EmocliError(f"architecture {name!r} has no parameter {key!r} "
                              f"(it takes: {', '.join(spec.params) or 'none'})")
        args[key] = _convert(name, key, value, spec.params[key][0])
    return args


def _convert(arch: str, key: str, value, kind: type):
    if kind is bool and isinstance(value, str):
        if value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
            raise EmocliError(f"{arch}: {key} must be true or false, got {value!r}")
        return value.lower() in {"true", "1", "yes"}
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise EmocliError(f"{arch}: {key} must be {kind.__name__}, got {value!r}") from None


def create_model(name: str, num_classes: int = 7, **kwargs) -> nn.Module:
    """Build a registered architecture; unset (None) kwargs keep their defaults."""
    args = resolve_args(name, **kwargs)
    try:
        return get_spec(name).fn(num_classes=num_classes, **args)
    except ValueError as exc:
        raise EmocliError(f"{name}: {exc}") from None


def describe() -> list[dict]:
    """Plain description of every architecture, for `train --list`."""
    return [{"name": s.name, "description": s.description,
             "params": {k: {"type": t.__name__, "default": d} for k, (t, d) in s.params.items()}}
            for s in (get_spec(n) for n in list_models())]
