"""The names the registries hold, as plain data, for shell completion and help without torch.

A test checks them against the registries themselves."""

from __future__ import annotations

from importlib.metadata import entry_points

# third-party packages add entries through these entry point groups
PLUGIN_GROUPS = {"architecture": "emocli.architectures", "optimizer": "emocli.optimizers",
                 "schedule": "emocli.schedules", "detector": "emocli.detectors"}
BUILTIN_NAMES = {
    "architecture": ("cnn", "mini_xception", "resnet", "vgg"),
    "optimizer": ("sgd", "nesterov", "adam", "adamw"),
    "schedule": ("constant", "step", "cosine", "onecycle", "plateau"),
    "detector": ("yunet", "mtcnn", "haar"),  # in order of preference: `auto` takes the first
}


def registered_names(kind: str) -> list[str]:
    """Built-in names and the plugins' (read from their entry points, unloaded), sorted."""
    plugins = {ep.name for ep in entry_points(group=PLUGIN_GROUPS[kind])}
    return sorted(set(BUILTIN_NAMES[kind]) | plugins)
