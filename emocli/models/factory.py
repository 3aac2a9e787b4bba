"""Architectures by name: `@register_model` entrypoints (timm's way), `create_model`,
`list_models`. Their typed keyword arguments are the architecture's parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from emocli.errors import EmocliError
from emocli.models.names import PLUGIN_GROUPS
from emocli.models.registry import Registry


@dataclass(frozen=True)
class ArchSpec:
    name: str
    fn: Callable[..., nn.Module]
    params: dict[str, tuple[type, object]]  # name -> (type, default)
    description: str


def _spec(name: str, fn: Callable[..., nn.Module]) -> ArchSpec:
    if not callable(fn):
        raise TypeError(f"architecture {name!r} is not callable")
    hints = inspect.get_annotations(fn, eval_str=True)
    params = {p.name: (hints.get(p.name, type(p.default)), p.default)
              for p in inspect.signature(fn).parameters.values() if p.name != "num_classes"}
    doc = (inspect.getdoc(fn) or "").strip().splitlines()
    return ArchSpec(name, fn, params, doc[0] if doc else "")


ARCHITECTURES: Registry[ArchSpec] = Registry(
    "architecture", plugins=PLUGIN_GROUPS["architecture"], adopt=_spec,
    builtins=tuple(f"emocli.models.{m}" for m in ("cnn", "resnet", "vgg", "xception")))


def register_model(fn: Callable[..., nn.Module] | None = None, *, name: str | None = None):
    """Register an entrypoint under its name (or `name`); a duplicate name is an error."""

    def wrap(fn):
        ARCHITECTURES.add(name or fn.__name__, _spec(name or fn.__name__, fn))
        return fn

    return wrap(fn) if fn is not None else wrap


def list_models(pattern: str = "*") -> list[str]:
    return ARCHITECTURES.names(pattern)


def get_spec(name: str) -> ArchSpec:
    return ARCHITECTURES.get(name)


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
            for s in map(get_spec, list_models())]
