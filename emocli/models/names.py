"""The names the registries hold, as plain data, for shell completion and help without torch.

A test checks them against the registries themselves."""

from __future__ import annotations

from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "emocli.architectures"  # third-party architectures register here
ARCHITECTURES = ("cnn", "mini_xception", "resnet", "vgg")
OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle", "plateau")


def architecture_names() -> list[str]:
    """Built-in architectures and the plugins' names (read from their entry points, unloaded)."""
    plugins = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(set(ARCHITECTURES) | plugins)
