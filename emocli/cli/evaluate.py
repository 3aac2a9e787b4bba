"""`emocli evaluate`: per-class report and confusion matrix of one or more models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from emocli import EMOTIONS, EmocliError, Output, check_outputs
from emocli.cli import complete
from emocli.cli.output import note, out, print_json
from emocli.models import DEFAULT_MODEL, TTA, describe_bundled, model_files

if TYPE_CHECKING:  # torch and scikit-learn load only when a command runs
    from emocli.predict import Evaluation

DATA_HELP = "Dataset: a FER2013 source or cache; default: the imported one."


def report_table(ev: Evaluation) -> Table:
    rep = ev.report()
    table = Table("", "precision", "recall", "f1-score", "support",
                  title=f"{ev.model} on {ev.split} ({rep['n']} images)")
    for emotion, row in rep["per_class"].items():
        table.add_row(emotion, f"{row['precision']:.4f}", f"{row['recall']:.4f}",
                      f"{row['f1']:.4f}", str(row["support"]))
    table.add_section()
    table.add_row("accuracy", "", "", f"{rep['accuracy']:.4f}", str(rep["n"]))
    for name in ("macro", "weighted"):
        avg = rep[name]
        table.add_row(f"{name} avg", f"{avg['precision']:.4f}", f"{avg['recall']:.4f}",
                      f"{avg['f1-score']:.4f}", str(rep["n"]))
    return table


def confusion_table(ev: Evaluation) -> Table:
    table = Table("true \\ predicted", *EMOTIONS, title="Confusion matrix")
    for emotion, row in zip(EMOTIONS, ev.report()["confusion"]):
        table.add_row(emotion, *map(str, row))
    return table


def comparison_table(evaluations: list[Evaluation]) -> Table:
    table = Table("model", "accuracy", "macro F1", *[f"F1 {e}" for e in EMOTIONS],
                  title="Comparison")
    for ev in evaluations:
        rep = ev.report()
        table.add_row(ev.model, f"{rep['accuracy']:.4f}", f"{rep['macro_f1']:.4f}",
                      *[f"{rep['per_class'][e]['f1']:.3f}" for e in EMOTIONS])
    return table


def evaluate_command(
    models: Annotated[Optional[list[str]], typer.Argument(
        help=f"Model files (.pt, or .onnx from emocli export) or bundled models: "
             f"{describe_bundled()}; default: {DEFAULT_MODEL}. Join several with + to "
             "average their networks (ensemble+mine.onnx).")] = None,
    data: Annotated[Optional[str], typer.Option(help=DATA_HELP)] = None,
    split: Annotated[Optional[str], typer.Option(
        help="test, val or train; default: test if the data has it, else val.")] = None,
    tta: Annotated[str, typer.Option(
        help=f"Test-time augmentation: {', '.join(TTA)} (flip: with the mirror).",
        autocompletion=complete.tta_modes)] = "none",
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 256,
    runtime: Annotated[str, typer.Option(
        help="auto: the bundled models and .onnx files on OpenCV's DNN module, .pt files on "
             "PyTorch; torch: the bundled models' PyTorch weights; opencv.",
        autocompletion=complete.runtimes)] = "auto",
    plot: Annotated[Optional[Path], typer.Option(
        help="Write the confusion matrix (row-normalized, with counts) as a PNG.")] = None,
    csv: Annotated[Optional[Path], typer.Option(
        help="Write one row per image: index,true,pred and the 7 probabilities.")] = None,
    use_ensemble: Annotated[bool, typer.Option(
        "--ensemble", help="Also report the average of the models' probabilities.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Print the per-class report (sklearn) and the confusion matrix of a model."""
    from emocli import load_dataset, write_csv
    from emocli.predict import default_split, ensemble, evaluate, load_model

    check_outputs([*(f for m in models or [] for f in model_files(m)), data],
                  [csv and Output(csv, "file", (".csv",)), plot and Output(plot, "file", (".png",))])
    predictors = [load_model(m, runtime) for m in (models or [None])]
    dataset = load_dataset(data)
    split = split or default_split(dataset)
    evaluations = [evaluate(p, dataset, split, tta, batch_size) for p in predictors]
    if use_ensemble:
        if len(evaluations) < 2:
            raise EmocliError("--ensemble needs at least two models")
        evaluations.append(ensemble(evaluations))
    main = evaluations[-1]  # the ensemble when there is one
    if csv is not None:
        write_csv(csv, main.predictions(), float_format="%.6f")
    if plot is not None:
        from emocli.predict import confusion_plot  # matplotlib only when asked

        confusion_plot(main.report()["confusion"], f"{Path(main.model).name} on {split}", plot)
    if as_json:
        docs = [e.document() for e in evaluations]
        print_json(docs[0] if len(docs) == 1 else {"models": docs})
        return
    for ev in evaluations if len(evaluations) == 1 else [main]:
        out.print(report_table(ev))
        out.print(confusion_table(ev))
    if len(evaluations) > 1:
        out.print(comparison_table(evaluations))
    for ev in evaluations:
        note(f"{ev.model}: {ev.images_per_s:.0f} images/s")
