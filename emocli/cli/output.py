"""Where output goes: results on stdout, messages and progress on stderr."""

from __future__ import annotations

import json
import os
import sys

from rich.console import Console

# Rich drops colour and live displays by itself when the stream is not a terminal or NO_COLOR
# is set; soft_wrap keeps long paths on one line for scripts that read them.
# Off a terminal, tables are laid out 160 columns wide rather than Rich's 80, so that logs and
# pipes get whole numbers instead of ellipses.
_WIDTH = None if sys.stdout.isatty() else 160
# NO_COLOR means plain text: Rich drops colours for it but keeps bold and the like, and still
# animates progress bars on a terminal; no colour system means no ANSI codes at all.
PLAIN = bool(os.environ.get("NO_COLOR"))
_SYSTEM = None if PLAIN else "auto"
out = Console(soft_wrap=True, width=_WIDTH, color_system=_SYSTEM)
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 160,
              color_system=_SYSTEM)


def print_json(document) -> None:
    """Exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, default=str) + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    err.print(message, markup=False, highlight=False)


def warn(message: str) -> None:
    note(f"emocli: warning: {message}")


def error_line(message: str) -> None:
    note(f"emocli: error: {message}")
