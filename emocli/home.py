"""The emocli home: cached datasets and the name of the default one."""

from __future__ import annotations

import json
import os
from pathlib import Path

from emocli.fileio import write_text


def home() -> Path:
    """`$EMOCLI_HOME`, else `$XDG_CACHE_HOME/emocli`, else `~/.cache/emocli`."""
    if os.environ.get("EMOCLI_HOME"):
        return Path(os.environ["EMOCLI_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "emocli"


def _settings_file() -> Path:
    return home() / "settings.json"


def read_settings() -> dict:
    try:
        return json.loads(_settings_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def update_settings(**values) -> None:
    settings = read_settings() | values
    write_text(_settings_file(), json.dumps(settings, indent=2) + "\n")
