"""`emocli export`: a run's checkpoint as the package ships it, and ONNX for other runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emocli import EmocliError, Output, check_outputs
from emocli.cli import complete
from emocli.cli.output import note, out, print_json
from emocli.models import BUNDLED, model_files


def export(
    model: Annotated[str, typer.Argument(
        help=f"A model file (a run's weights/best.pt) or a bundled model ({', '.join(BUNDLED)}).",
        autocompletion=complete.bundled_models)],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="FILE.pt: the weights and metadata without the training state; "
                               "FILE.onnx: only the ONNX graph.")],
    half: Annotated[bool, typer.Option(
        "--half", help="Store the weights as float16, in the checkpoint and in the ONNX graph "
                       "(half the size; how the bundled models ship).")] = False,
    onnx: Annotated[bool, typer.Option(
        "--onnx", help="Also write FILE.onnx: gray 0-255 faces (N, 1, 48, 48) in, the 7 "
                       "probabilities out, checked against PyTorch before it is kept.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Export a model: a bundled-size checkpoint (.pt) and/or an ONNX file (.onnx)."""
    suffix = output.suffix.lower()
    checkpoint = output if suffix == ".pt" else None
    onnx_file = output if suffix == ".onnx" else output.with_suffix(".onnx") if onnx else None
    also = Output(onnx_file, "file") if onnx_file not in (None, output) else None
    inputs = model_files(model)  # the user's files: [] for a bundled name
    check_outputs(inputs, [Output(output, "file", (".pt", ".onnx")), also])
    from emocli.models import export_checkpoint
    from emocli.predict import export_onnx, load_model

    # names a missing or refused file before anything is written
    predictor = load_model(model, runtime="torch")
    done = {"model": model}
    if checkpoint is not None:
        if hasattr(predictor, "members"):
            raise EmocliError(f"{model}: an ensemble is not one checkpoint; export its members, "
                              f"or write {output.with_suffix('.onnx').name} (one graph)")
        export_checkpoint((inputs or BUNDLED[model].paths)[0], checkpoint, half)
        done["checkpoint"] = {"path": str(checkpoint), "bytes": checkpoint.stat().st_size,
                              "half": half}
    if onnx_file is not None:
        worst = export_onnx(predictor, onnx_file, half=half)
        done["onnx"] = {"path": str(onnx_file), "bytes": onnx_file.stat().st_size,
                        "max_difference": worst}
    if as_json:
        print_json(done)
        return
    for kind in ("checkpoint", "onnx"):
        if kind in done:
            out.print(f"{done[kind]['path']}: {done[kind]['bytes'] / 1e6:.1f} MB", highlight=False)
    if "onnx" in done:
        note(f"ONNX checked against PyTorch: largest probability difference "
             f"{done['onnx']['max_difference']:.1g}")
