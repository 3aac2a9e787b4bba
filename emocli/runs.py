"""Run directories: `runs/<task>/<name>`, auto-incremented (exp, exp2, exp3, ...)."""

from __future__ import annotations

from pathlib import Path


def next_run_dir(task: str, name: str = "exp", root: str | Path = "runs") -> Path:
    base = Path(root) / task
    for i in range(1, 100_000):
        candidate = base / (name if i == 1 else f"{name}{i}")
        if not candidate.exists():
            return candidate
    raise RuntimeError(f"no free run directory under {base}")
