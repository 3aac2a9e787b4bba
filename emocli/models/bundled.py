"""The models that ship with emocli, by name, and the test-time augmentations every model takes.

Plain constants, so that the command line can show them without loading torch."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# Names a user can give instead of a file: the shipped networks, alone or averaged.
BUNDLED = {"default": ("default.pt",), "ensemble": ("default.pt", "second.pt")}
DEFAULT_MODEL = "ensemble"  # the most accurate; see docs/model-card.md
TTA = ("none", "flip", "tencrop")


def bundled_model_path(file: str = "default.pt") -> Path:
    return Path(str(files("emocli") / "assets" / file))
