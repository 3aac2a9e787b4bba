"""`emocli sweep`: the report's experiment grid (or any other) in one resumable command."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from emocli.cli import complete
from emocli.cli.output import note, out, print_json
from emocli.errors import EmocliError

if TYPE_CHECKING:  # torch loads only when a command runs
    from emocli.engine import sweep as sw


def _floats(spec: str, name: str) -> list[float]:
    try:
        return [float(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise EmocliError(f"{name} must be a comma-separated list of numbers, got {spec!r}") from None


def _ints(spec: str, name: str) -> list[int]:
    values = _floats(spec, name)
    if any(v != int(v) or v < 1 for v in values):
        raise EmocliError(f"{name} must be a comma-separated list of positive integers")
    return [int(v) for v in values]


def _duration(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"


def results_table(frame) -> Table:
    table = Table("elapsed", "epochs", "LR", "conv", "FC", "optimizer", "accuracy", "precision",
                  "recall", "F1", "status", title="Sweep results (val)")
    best = frame["accuracy"].idxmax() if len(frame) else None
    for i, r in frame.iterrows():
        table.add_row(f"{r['elapsed_s']:.1f} s", str(r["epochs"]), f"{r['lr']:g}",
                      "" if r["conv"] is None else str(r["conv"]),
                      "" if r["fc"] is None else str(r["fc"]),
                      r["optimizer"] if r["arch"] == "cnn" else f"{r['arch']}/{r['optimizer']}",
                      f"{r['accuracy']:.4f}", f"{r['precision']:.4f}", f"{r['recall']:.4f}",
                      f"{r['f1']:.4f}", r["status"], style="bold green" if i == best else None)
    return table


def sweep(
    data: Annotated[Optional[str], typer.Option(
        help="Dataset: a FER2013 source or cache; default: the imported one.")] = None,
    arch: Annotated[Optional[list[str]], typer.Option(
        help="Architecture(s) to sweep (repeatable); default: cnn.",
        autocompletion=complete.architectures)] = None,
    layers: Annotated[str, typer.Option(
        help="cnn shapes as CONVxFC, comma-separated.")] = "2x2,3x2,5x2,5x5",
    optim_names: Annotated[str, typer.Option(
        "--optim", help="Optimizers, comma-separated.")] = "sgd,adam",
    lr: Annotated[str, typer.Option(help="Learning rates, comma-separated.")] = "0.1,0.01,0.001",
    epochs: Annotated[str, typer.Option(help="Epoch budgets, comma-separated.")] = "50,100",
    schedule: Annotated[str, typer.Option(
        help="LR schedule; budgets share one run unless it depends on --epochs.")] = "constant",
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed for every trial.")] = 0,
    subset: Annotated[Optional[int], typer.Option(
        help="Train each trial on a stratified subset of N images.")] = None,
    augment: Annotated[bool, typer.Option(
        help="Augmentation (off by default, as in the report).")] = False,
    patience: Annotated[int, typer.Option(
        help="Stop a trial whose val accuracy stays at the majority rate this many epochs.")] = 3,
    jobs: Annotated[int, typer.Option(help="Trials run at once on this machine.")] = 1,
    backend: Annotated[str, typer.Option(help="local or ray.")] = "local",
    address: Annotated[Optional[str], typer.Option(
        help="Ray cluster address (default: a local Ray started for the run).")] = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Sweep directory (default: runs/sweep/<grid hash>).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """Train a grid of configurations; resumable (sweep.db), with early stops and a table."""
    from emocli.cli.progress import make_progress
    from emocli.data.store import dataset_path, load_dataset
    from emocli.engine import sweep as sw
    from emocli.engine.train import TrainConfig
    from emocli.fileio import write_csv

    if jobs < 1 or patience < 1:
        raise EmocliError("--jobs and --patience must be at least 1")
    if backend not in sw.BACKENDS:  # before the sweep folder is made or anything is timed
        raise EmocliError(f"--backend must be {' or '.join(sw.BACKENDS)}, got {backend!r}")
    base = TrainConfig(optim="sgd", schedule=schedule, batch_size=batch_size, seed=seed,
                       subset=subset, augment=augment, label_smoothing=0.0, data=data)
    trials = sw.expand_grid(base, arch or ["cnn"], sw.parse_layers(layers),
                            [o.strip() for o in optim_names.split(",") if o.strip()],
                            _floats(lr, "--lr"), _ints(epochs, "--epochs"))
    if not trials:
        raise EmocliError("the grid is empty")
    sweep_dir = output or Path("runs/sweep") / ("sweep-" + hashlib.sha256(
        "".join(t.key for t in trials).encode()).hexdigest()[:8])
    dataset = load_dataset(data, base.val_fraction, seed)
    db = sw.ResultsDB(sweep_dir / "sweep.db")
    try:
        plan = sw.plan(trials, sweep_dir, db)
        _announce(plan, dataset, sweep_dir)
        progress = make_progress("status")
        with progress:
            task = progress.add_task("sweep runs", total=len(plan.jobs), status="")
            sw.execute(plan, dataset, db, jobs, backend, address, patience, dataset_path(data),
                       on_done=lambda job: progress.advance(task))
        frame = sw.results_frame(trials, db)
    finally:
        db.close()
    write_csv(sweep_dir / "results.csv", frame)
    if as_json:
        print_json(frame.to_dict(orient="records"))
    else:
        out.print(results_table(frame))
        out.print(f"results: {sweep_dir / 'results.csv'}, {sweep_dir / 'sweep.db'}",
                  highlight=False)


def _announce(plan: sw.SweepPlan, dataset, sweep_dir: Path) -> None:
    from emocli.engine import sweep as sw

    head = f"{len(plan.trials)} trials, {plan.skipped} already done"
    if not plan.jobs:
        note(f"{head}: nothing to run")
        return
    per_epoch = sw.probe_seconds_per_epoch(plan.jobs[0].config, dataset, sweep_dir)
    note(f"{head}; {len(plan.trials) - plan.skipped} to run in {len(plan.jobs)} training runs "
         f"sharing epoch budgets: {plan.epochs_shared} epochs instead of "
         f"{plan.epochs_separate}; estimated {_duration(per_epoch * plan.epochs_shared)} at most "
         "(diverged runs stop early)")
