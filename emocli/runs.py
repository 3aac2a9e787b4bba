"""Run directories: `runs/<task>/<name>`, auto-incremented (exp, exp2, exp3, ...) and claimed
atomically, so that two runs started at the same moment never share one."""

from __future__ import annotations

from pathlib import Path

from emocli.errors import EmocliError


def next_run_dir(task: str, name: str = "exp", root: str | Path = "runs") -> Path:
    """Create and return the first free `root/task/name[N]` (a `mkdir` that fails when the
    folder exists, then the next number)."""
    base = Path(root) / task
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmocliError(f"{base}: cannot be written ({exc.strerror or exc})") from None
    for i in range(1, 100_000):
        candidate = base / (name if i == 1 else f"{name}{i}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise EmocliError(f"{candidate}: cannot be written ({exc.strerror or exc})") from None
        return candidate
    raise EmocliError(f"{base}: no free run folder")


def remove_if_empty(run_dir: Path) -> None:
    """Give back a claimed run folder that a run left empty (it failed before writing), and
    `runs/<task>` and `runs` above it when nothing else is in them."""
    for folder in (run_dir, run_dir.parent, run_dir.parent.parent):
        try:
            folder.rmdir()  # only when empty: nothing a run wrote is ever removed
        except OSError:
            return
