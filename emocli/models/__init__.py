"""Architectures, registered by name; the built-ins register on first use of the registry.

Lazy, so that light modules of this package (`bundled`, `precision`) load without torch."""

from importlib import import_module

_REGISTRY = ("create_model", "describe", "get_spec", "list_models", "register_model",
             "resolve_args")
_BUILTINS = ("cnn", "resnet", "vgg", "xception")
__all__ = list(_REGISTRY)


def __getattr__(name: str):
    if name in _REGISTRY:
        for module in _BUILTINS:  # registration side effects
            import_module(f"emocli.models.{module}")
        value = getattr(import_module("emocli.models.registry"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'emocli.models' has no attribute {name!r}")
