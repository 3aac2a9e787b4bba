"""Progress on stderr: Rich bars on a terminal, a plain line every few seconds elsewhere (logs,
pipes, CI, NO_COLOR)."""

from __future__ import annotations

import os
import time

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from emocli.cli.output import PLAIN, err, note


def _interval() -> float:
    """Seconds between plain progress lines (EMOCLI_PROGRESS_INTERVAL, default 10)."""
    try:
        return max(0.0, float(os.environ.get("EMOCLI_PROGRESS_INTERVAL", "10")))
    except ValueError:
        return 10.0


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class LineProgress(Progress):
    """Rich's task bookkeeping without a live display: a line per task at most every
    EMOCLI_PROGRESS_INTERVAL seconds, e.g. `clip.mp4: 240/1150 (21%), 231 frames/s, 0:00:01,
    ETA 0:00:04`."""

    def __init__(self, *columns, fields: tuple[str, ...] = (), **kwargs):
        super().__init__(*columns, **{**kwargs, "disable": True})
        self._fields, self._every = fields, _interval()
        self._last: dict = {}

    def update(self, task_id, **kwargs) -> None:
        super().update(task_id, **kwargs)
        self._maybe_print(task_id)

    def advance(self, task_id, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_print(task_id)

    def _maybe_print(self, task_id) -> None:
        now = time.monotonic()
        if self._every and now - self._last.setdefault(task_id, now) < self._every:
            return
        self._last[task_id] = now
        note(self.line(self._tasks[task_id]))

    def line(self, task) -> str:
        done = f"{task.completed:.0f}"
        if task.total:
            done += f"/{task.total:.0f} ({100 * task.completed / task.total:.0f}%)"
        extra = ", ".join(str(task.fields[f]) for f in self._fields if task.fields.get(f))
        remaining = task.time_remaining if task.total else None
        return ", ".join(filter(None, [f"{task.description}: {done}", extra,
                                       _clock(task.elapsed or 0),
                                       remaining is not None and f"ETA {_clock(remaining)}"]))


def make_progress(*fields: str) -> Progress:
    """Bars on a terminal; plain lines at an interval where no bar can be drawn."""
    extra = [TextColumn(f"{{task.fields[{f}]}}") for f in fields]
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               *extra, TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    if PLAIN or not err.is_terminal:
        return LineProgress(*columns, console=err, fields=fields)
    return Progress(*columns, console=err, transient=False)


class RichReporter:
    """An epoch bar and a batch bar with live loss, accuracy and images/s (a training Reporter)."""

    def __init__(self, label: str = "train"):
        self.label = label
        self.progress = make_progress("status")

    def stage(self, message: str) -> None:
        note(message)

    def start(self, cfg, start_epoch: int, steps_per_epoch: int) -> None:
        self.progress.start()
        self.epochs = self.progress.add_task(f"{self.label} epochs", total=cfg.epochs,
                                             completed=start_epoch, status="")
        self.batches = self.progress.add_task("batches", total=steps_per_epoch, status="")

    def batch(self, step: int, loss: float, acc: float, images_per_s: float) -> None:
        self.progress.update(self.batches, completed=step,
                             status=f"loss {loss:.3f} acc {acc:.3f} {images_per_s:.0f} img/s")

    def epoch(self, row: dict) -> None:
        self.progress.update(self.epochs, completed=row["epoch"],
                             status=f"val acc {row['val_acc']:.4f} f1 {row['val_f1']:.4f}")
        self.progress.reset(self.batches)
        if PLAIN or not err.is_terminal:  # a line per epoch where no bar is drawn
            err.print(f"epoch {row['epoch']}: train loss {row['train_loss']:.4f} "
                      f"acc {row['train_acc']:.4f}, val loss {row['val_loss']:.4f} "
                      f"acc {row['val_acc']:.4f} f1 {row['val_f1']:.4f} ({row['seconds']:.0f} s)",
                      highlight=False)

    def close(self) -> None:
        self.progress.stop()
