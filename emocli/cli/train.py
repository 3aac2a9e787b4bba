"""`emocli train`: train a registry architecture, or list the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from emocli import EmocliError, Interrupted
from emocli.cli import complete
from emocli.cli.output import out, print_json
from emocli.train import TrainConfig

_CFG = TrainConfig()  # the defaults live in the library; the options show them

DATA_HELP = "Dataset: a FER2013 source (CSV, .zip, folder) or an emocli cache; default: the imported one."


def parse_arch_args(pairs: list[str]) -> dict[str, str]:
    args = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise EmocliError(f"--arch-arg must be KEY=VALUE, got {pair!r}")
        args[key.strip()] = value.strip()
    return args


def registry_document() -> dict:
    from emocli.models import describe
    from emocli.train import describe_optimizers

    return {"architectures": describe(), **describe_optimizers()}


def show_registry(as_json: bool) -> None:
    doc = registry_document()
    if as_json:
        print_json(doc)
        return
    archs = Table("architecture", "parameters (default)", "description", title="Architectures")
    for a in doc["architectures"]:
        params = ", ".join(f"{k}={v['default']}" for k, v in a["params"].items())
        archs.add_row(a["name"], params, a["description"])
    opts = Table("optimizer", "default lr", "options", "description", title="Optimizers")
    for o in doc["optimizers"]:
        opts.add_row(o["name"], str(o["default_lr"]), ", ".join(o["flags"]), o["description"])
    scheds = Table("schedule", "steps", "depends on --epochs", "description", title="Schedules")
    for s in doc["schedules"]:
        scheds.add_row(s["name"], "batch" if s["per_batch"] else "epoch",
                       "yes" if s["budget_dependent"] else "no", s["description"])
    for table in (archs, opts, scheds):
        out.print(table)


def summary_table(result) -> Table:
    table = Table("", "epoch", "train loss", "train acc", "val loss", "val acc", "val F1",
                  title=f"Run {result.run_dir} ({result.status})")
    for label, row in (("last", result.last), ("best", result.best)):
        table.add_row(label, str(row["epoch"]), f"{row['train_loss']:.4f}",
                      f"{row['train_acc']:.4f}", f"{row['val_loss']:.4f}",
                      f"{row['val_acc']:.4f}", f"{row['val_f1']:.4f}")
    return table


def _only_resume(ctx: typer.Context) -> None:
    """--resume continues a run exactly as it was configured: other settings are refused, not
    silently ignored."""
    given = [p.opts[0] for p in ctx.command.params  # (Typer ships its own click: compare names)
             if p.name not in ("resume", "as_json")
             and getattr(ctx.get_parameter_source(p.name), "name", "") == "COMMANDLINE"]
    if given:
        raise EmocliError(f"--resume continues the run as it was configured; it takes no "
                          f"{', '.join(given)}")


def train(
    ctx: typer.Context,
    data: Annotated[Optional[str], typer.Option(help=DATA_HELP)] = None,
    arch: Annotated[str, typer.Option(
        help="Architecture from the registry (see --list).",
        autocompletion=complete.architectures)] = _CFG.arch,
    conv: Annotated[Optional[int], typer.Option(help="cnn: number of conv blocks (1-5).")] = None,
    fc: Annotated[Optional[int], typer.Option(help="cnn/vgg: number of FC layers (1-5).")] = None,
    arch_arg: Annotated[Optional[list[str]], typer.Option(
        "--arch-arg", help="Another architecture parameter, KEY=VALUE (repeatable).")] = None,
    optim_name: Annotated[str, typer.Option(
        "--optim", help="Optimizer (see --list).",
        autocompletion=complete.optimizers)] = _CFG.optim,
    lr: Annotated[Optional[float], typer.Option(
        help="Learning rate (peak LR for onecycle); default: the optimizer's.")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="Weight decay.")] = None,
    schedule: Annotated[str, typer.Option(
        help="LR schedule (see --list).", autocompletion=complete.schedules)] = _CFG.schedule,
    epochs: Annotated[int, typer.Option(help="Number of epochs.")] = _CFG.epochs,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = _CFG.batch_size,
    seed: Annotated[int, typer.Option(
        help="Seed: the same seed repeats a CPU run.")] = _CFG.seed,
    subset: Annotated[Optional[int], typer.Option(
        help="Train on a stratified subset of N training images (quick runs).")] = None,
    augment: Annotated[bool, typer.Option(
        help="Batched flip, affine and random erasing.")] = _CFG.augment,
    light: Annotated[float, typer.Option(
        help="Share of training faces (0-1) given a random exposure: gamma, contrast, "
             "brightness, sensor noise, blur; for dim and noisy footage.")] = _CFG.light,
    label_smoothing: Annotated[float, typer.Option(
        help="Label smoothing, 0-1.")] = _CFG.label_smoothing,
    balance: Annotated[str, typer.Option(
        help="Class imbalance: none, weights (weighted loss) or sampler (balanced).")] = (
            _CFG.balance),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = _CFG.device,
    precision: Annotated[str, typer.Option(
        help="auto (bf16 where the CPU or GPU computes it natively), fp32 or bf16: "
             "bf16 mixed precision, loss and optimizer state in float32.")] = _CFG.precision,
    ema: Annotated[float, typer.Option(
        help="Keep, validate and save an exponential moving average of the weights with this "
             "decay per step, e.g. 0.999 (0: off).")] = _CFG.ema,
    mixup: Annotated[float, typer.Option(
        help="Mixup: blend image pairs with Beta(alpha, alpha) weights, e.g. 0.2 (0: off).")] = (
            _CFG.mixup),
    distill: Annotated[Optional[str], typer.Option(
        help="Distil from this teacher (a model file or bundled name, e.g. ensemble, or "
             "several joined with +): each "
             "step, its probabilities on the batch the student sees join the labels as "
             "targets.",
        autocompletion=complete.bundled_models)] = _CFG.distill,
    distill_weight: Annotated[float, typer.Option(
        help="Share of the loss given to the teacher's probabilities, 0-1.")] = (
            _CFG.distill_weight),
    distill_tta: Annotated[str, typer.Option(
        help="The teacher's test-time augmentation: none, flip (it also sees each view "
             "mirrored: a stronger teacher, twice its cost) or tencrop.")] = _CFG.distill_tta,
    val_fraction: Annotated[float, typer.Option(
        help="Share of train carved out as val when the data has no val split.")] = (
            _CFG.val_fraction),
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Run directory (default: runs/train/exp, exp2, ...).")] = None,
    init_from: Annotated[Optional[Path], typer.Option(
        help="Start from the weights of this checkpoint, or of a graph `emocli export` wrote "
             "from one network (same architecture): fine-tuning.")] = None,
    resume: Annotated[Optional[Path], typer.Option(
        help="Continue the run in this directory from weights/last.pt.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace the run that -o names if it holds one.")] = False,
    list_registry: Annotated[bool, typer.Option(
        "--list", help="Show the registered architectures, optimizers and schedules.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train a network; writes config.json, metrics.csv and weights/{best,last}.pt."""
    from emocli.cli.progress import RichReporter
    from emocli.train import fit

    if list_registry:
        show_registry(as_json)
        return
    cfg = None
    if resume is not None:
        _only_resume(ctx)
        run_dir = resume
    else:
        arch_args = {"conv": conv, "fc": fc, **parse_arch_args(arch_arg or [])}
        cfg = TrainConfig(arch=arch, arch_args=arch_args, optim=optim_name, lr=lr,
                          weight_decay=weight_decay, schedule=schedule, epochs=epochs,
                          batch_size=batch_size, seed=seed, subset=subset, augment=augment,
                          light=light, label_smoothing=label_smoothing, balance=balance,
                          device=device, data=data, val_fraction=val_fraction,
                          precision=precision, ema=ema, mixup=mixup,
                          init_from=str(init_from) if init_from else None, distill=distill,
                          distill_weight=distill_weight, distill_tta=distill_tta)
        if output is None:
            from emocli.cli.rundirs import claim_run_dir

            run_dir = claim_run_dir(ctx, "train")
        else:
            run_dir = output
    try:
        result = fit(cfg, run_dir, resume=resume, reporter=RichReporter(), force=force)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; continue with: emocli train --resume {run_dir}") from None
    weights = run_dir / "weights"
    if as_json:
        print_json({"run_dir": str(run_dir), "status": result.status, "last": result.last,
                    "best": result.best, "best_weights": str(weights / "best.pt"),
                    "last_weights": str(weights / "last.pt")})
    else:
        out.print(summary_table(result))
        out.print(f"weights: {weights / 'best.pt'} (best), {weights / 'last.pt'} (last)",
                  highlight=False)
