"""Architectures, registered by name; importing this package registers the built-ins."""

from emocli.models import cnn, resnet, vgg, xception  # noqa: F401 - registration side effects
from emocli.models.registry import (
    create_model,
    describe,
    get_spec,
    list_models,
    register_model,
    resolve_args,
)

__all__ = ["create_model", "describe", "get_spec", "list_models", "register_model",
           "resolve_args"]
