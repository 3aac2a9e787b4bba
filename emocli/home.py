"""The emocli home: cached datasets and the name of the default one."""

from __future__ import annotations

import json
import os
from pathlib import Path

from emocli.errors import EmocliError
from emocli.fileio import write_text


def home() -> Path:
    """`$EMOCLI_HOME`, else `$XDG_CACHE_HOME/emocli`, else `~/.cache/emocli`."""
    if os.environ.get("EMOCLI_HOME"):
        path = Path(os.environ["EMOCLI_HOME"]).expanduser()
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "emocli"
    if path.exists() and not path.is_dir():
        raise EmocliError(f"{path}: the emocli home (EMOCLI_HOME) is a file, not a folder")
    return path


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
