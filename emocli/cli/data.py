"""`emocli data import` and `emocli data info`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from emocli import EMOTIONS, Output, check_outputs
from emocli.cli.errors import ErrorMappingGroup
from emocli.cli.output import note, out, print_json, warn

app = typer.Typer(cls=ErrorMappingGroup, no_args_is_help=True,
                  help="Import FER2013 in any common layout and inspect it.")

VAL_HELP = "Share of train carved out (stratified, seeded) as val when the source has none."


def _report_conversions(report: dict) -> None:
    if report.get("skipped"):
        for name in report.get("skipped_files", []):
            warn(f"{name}: not a readable image; skipped")
        warn(f"skipped {report['skipped']} undecodable image(s)")
    if report.get("converted"):
        warn(f"converted {report['converted']} image(s) that were not 48x48 gray")
    if report.get("val_from_train"):
        note(f"no val split in the source: carved {report['val_from_train']} train images "
             f"into val (seed {report['val_seed']})")


@app.command("import")
def import_(
    source: Annotated[Path, typer.Argument(
        help="fer2013.csv, icml_face_data.csv, train.csv, the image-folder release "
             "(folder or .zip), or a folder of <emotion>/ subfolders.")],
    val_fraction: Annotated[float, typer.Option(help=VAL_HELP)] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed for the val split.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Read a FER2013 source, cache it compactly and make it the default dataset."""
    from emocli.data import import_dataset

    data, path = import_dataset(source, val_fraction, seed)
    _report_conversions(data.report)
    if as_json:
        print_json({"source": data.source, "cache": str(path), "checksum": data.checksum,
                    "splits": data.counts(), "report": data.report})
        return
    out.print(counts_table(data.counts(), data.source))
    out.print(f"cached as {path} (the default dataset now)", highlight=False)


def counts_table(counts: dict[str, dict[str, int]], source: str) -> Table:
    splits = list(counts)
    table = Table("emotion", *[f"{s} (share)" for s in splits], title=f"FER2013 from {source}")
    totals = {s: sum(counts[s].values()) for s in splits}
    for emotion in EMOTIONS:
        table.add_row(emotion, *[f"{counts[s][emotion]} ({counts[s][emotion] / totals[s]:.1%})"
                                 for s in splits])
    table.add_row("total", *[str(totals[s]) for s in splits], style="bold")
    table.add_row("imbalance", *[_imbalance(counts[s]) for s in splits])
    return table


def _imbalance(per_class: dict[str, int]) -> str:
    smallest = min(per_class.values())
    return f"{max(per_class.values()) / smallest:.1f}:1" if smallest else "inf (a class is empty)"


@app.command()
def info(
    source: Annotated[Optional[Path], typer.Argument(
        help="A FER2013 source or cache; default: the imported dataset.")] = None,
    plot: Annotated[Optional[Path], typer.Option(
        help="Write class_counts.png and samples.png into this folder.")] = None,
    val_fraction: Annotated[float, typer.Option(help=VAL_HELP)] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Show images per class per split, the shares and the imbalance ratio."""
    from emocli.data import load_dataset

    check_outputs([source], [plot and Output(plot, "folder")])
    data = load_dataset(source, val_fraction)
    _report_conversions(data.report)
    if plot is not None:
        from emocli.data import write_dataset_plots  # matplotlib only when asked

        for path in write_dataset_plots(data, plot):
            note(f"wrote {path}")
    if as_json:
        print_json({"source": data.source, "splits": data.counts()})
    else:
        out.print(counts_table(data.counts(), data.source))
