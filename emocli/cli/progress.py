"""Rich progress for training runs (on stderr; silent when stderr is not a terminal)."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from emocli.cli.output import PLAIN, err


def make_progress(*fields: str) -> Progress:
    extra = [TextColumn(f"{{task.fields[{f}]}}") for f in fields]
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    *extra, TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=err, disable=PLAIN or not err.is_terminal, transient=False)


class RichReporter:
    """An epoch bar and a batch bar with live loss, accuracy and images/s (a training Reporter)."""

    def __init__(self, label: str = "train"):
        self.label = label
        self.progress = make_progress("status")

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
