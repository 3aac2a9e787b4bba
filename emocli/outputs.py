"""Every output of a command, checked before any work: a user's file is never overwritten
unless it is the declared output, and an output that cannot be written fails at once.

    check_outputs(inputs=[model, data], outputs=[Output(csv, "file", (".csv",)), ...])
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from emocli.errors import EmocliError
from emocli.fileio import streams


@dataclass(frozen=True)
class Output:
    path: Path
    kind: str = "file"  # file | folder
    suffixes: tuple[str, ...] = ()  # what the writer produces; empty: any


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _key(path: Path) -> Path:
    return path.expanduser().resolve()


def _writable(path: Path) -> bool:
    """Whether `path` could be created or replaced: its nearest existing folder is writable
    (a device or FIFO, written in place: whether it can be opened for writing)."""
    if streams(path):
        return os.access(path, os.W_OK)
    folder = path.parent if not path.is_dir() else path
    while not folder.exists():
        if folder.parent == folder:
            return False
        folder = folder.parent
    if not folder.is_dir():
        return False
    try:  # a real probe: permission bits say little to root, or on a read-only mount
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def check_outputs(inputs: Iterable[Path | str | None], outputs: Iterable[Output | None]) -> None:
    """Refuse, with one line naming the path, an output that is an input or another output, a
    folder where a file is meant (or the reverse), a suffix the writer does not produce, or a
    location that cannot be written."""
    sources = [Path(p) for p in inputs if p is not None]
    seen: dict[Path, Path] = {}
    for out in (o for o in outputs if o is not None):
        path = Path(out.path)
        if any(_same(path, src) or _key(path) == _key(src) for src in sources):
            raise EmocliError(f"{path}: this is an input of the command; refusing to overwrite it")
        if _key(path) in seen:
            raise EmocliError(f"{path}: given as two different outputs")
        seen[_key(path)] = path
        if out.kind == "file" and path.is_dir():
            raise EmocliError(f"{path}: is a folder; a file is expected here")
        if out.kind == "folder" and path.exists() and not path.is_dir():
            raise EmocliError(f"{path}: is a file; a folder is expected here")
        if out.suffixes and not streams(path) and path.suffix.lower() not in out.suffixes:
            raise EmocliError(f"{path}: must end in {' or '.join(out.suffixes)}")
        if not _writable(path):
            raise EmocliError(f"{path}: the output location is not writable")
