"""`emocli sweep`: the report's experiment grid (or any other) in one resumable command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from emocli import EmocliError
from emocli.cli import complete
from emocli.cli.output import note, out, print_json
from emocli.train import TrainConfig


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
    from emocli.train import default_sweep_dir, expand_grid, parse_layers, run_sweep

    base = TrainConfig(optim="sgd", schedule=schedule, batch_size=batch_size, seed=seed,
                       subset=subset, augment=augment, label_smoothing=0.0, data=data)
    trials = expand_grid(base, arch or ["cnn"], parse_layers(layers),
                         [o.strip() for o in optim_names.split(",") if o.strip()],
                         _floats(lr, "--lr"), _ints(epochs, "--epochs"))
    sweep_dir = output or default_sweep_dir(trials)
    progress = make_progress("status")

    def on_plan(plan, dataset, folder: Path) -> None:
        _announce(plan, dataset, folder)
        progress.add_task("sweep runs", total=len(plan.jobs), status="")

    with progress:
        frame = run_sweep(trials, sweep_dir, data, jobs=jobs, backend=backend, address=address,
                          patience=patience, on_plan=on_plan,
                          on_done=lambda job: progress.advance(progress.task_ids[0]))
    if as_json:
        print_json(frame.to_dict(orient="records"))
    else:
        out.print(results_table(frame))
        out.print(f"results: {sweep_dir / 'results.csv'}, {sweep_dir / 'sweep.db'}",
                  highlight=False)


def _announce(plan, dataset, sweep_dir: Path) -> None:
    from emocli.train import probe_seconds_per_epoch

    head = f"{len(plan.trials)} trials, {plan.skipped} already done"
    if not plan.jobs:
        note(f"{head}: nothing to run")
        return
    per_epoch = probe_seconds_per_epoch(plan.jobs[0].config, dataset, sweep_dir)
    note(f"{head}; {len(plan.trials) - plan.skipped} to run in {len(plan.jobs)} training runs "
         f"sharing epoch budgets: {plan.epochs_shared} epochs instead of "
         f"{plan.epochs_separate}; estimated {_duration(per_epoch * plan.epochs_shared)} at most "
         "(diverged runs stop early)")
