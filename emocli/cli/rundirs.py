"""Run folders claimed for a command: given back when the command ends having written nothing."""

from __future__ import annotations

from pathlib import Path

import typer

from emocli import next_run_dir, remove_if_empty


def claim_run_dir(ctx: typer.Context, task: str, name: str = "exp") -> Path:
    """`runs/<task>/<name>[N]`, created now (two runs at once get two folders)."""
    run_dir = next_run_dir(task, name)
    ctx.call_on_close(lambda: remove_if_empty(run_dir))
    return run_dir
