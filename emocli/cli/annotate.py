"""`emocli annotate`: label every face in a video, an image or a folder of them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

from emocli.cli.output import note, out, print_json, warn
from emocli.cli.progress import make_progress
from emocli.engine import media
from emocli.engine.annotate import (
    AnnotateOptions,
    AnnotateResult,
    annotate_image,
    annotate_video,
    check_paths,
)
from emocli.engine.faces import list_detectors
from emocli.engine.predict import BUNDLED, DEFAULT_MODEL, Model, load_model
from emocli.engine.track import TrackerConfig
from emocli.errors import EmocliError
from emocli.fileio import write_csv

MODEL_HELP = (f"Model file (.pt) or a bundled model: {', '.join(BUNDLED)} (the bundled networks "
              f"averaged); default: {DEFAULT_MODEL}.")


def _run_one(src: Path, dst: Path, predictor: Model, opts: AnnotateOptions) -> AnnotateResult:
    if media.is_image(src):
        return annotate_image(src, dst, predictor, opts)
    progress = make_progress("status")
    with progress:
        task = progress.add_task(src.name, total=None, status="")

        def on_frame(done: int, total: int) -> None:
            elapsed = progress.tasks[0].elapsed or 1e-9
            progress.update(task, completed=done, total=total or None,
                            status=f"{done / elapsed:.0f} frames/s")

        return annotate_video(src, dst, predictor, opts, on_frame)


def _inputs(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    if not src.is_dir():
        if media.is_image(src) and not media.is_image(dst):
            raise EmocliError(f"{dst}: an image input needs an image output (.jpg, .png, ...)")
        return [(src, dst)]
    if dst.exists() and not dst.is_dir():
        raise EmocliError(f"{dst}: a folder input needs an output folder")
    files = sorted(p for p in src.iterdir()
                   if p.suffix.lower() in media.IMAGE_EXTS | media.VIDEO_EXTS)
    if not files:
        raise EmocliError(f"{src}: no images or videos in this folder")
    return [(p, dst / p.name) for p in files]


def _write_csv(results: list[AnnotateResult], path: Path) -> None:
    records = [{"input": str(r.input), **row.record()} for r in results for row in r.rows]
    frame = pd.DataFrame.from_records(records, columns=["input", "frame", "time_s", "track", "x",
                                                        "y", "w", "h", "label", "confidence",
                                                        "angry", "disgust", "fear", "happy",
                                                        "sad", "surprise", "neutral"])
    if len(results) == 1:
        frame = frame.drop(columns="input")
    write_csv(path, frame)


def annotate(
    source: Annotated[Path, typer.Argument(
        help="A video (mp4, avi, mov, mkv, webm, ...), an image, or a folder of them.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="The labelled video or image (a folder for a folder input).")],
    model: Annotated[Optional[str], typer.Option(help=MODEL_HELP)] = None,
    detector: Annotated[str, typer.Option(
        help=f"Face detector: {', '.join(list_detectors())}.")] = "haar",
    detector_model: Annotated[Optional[Path], typer.Option(
        help="Model file for the detector (the YuNet .onnx, or another Haar .xml).")] = None,
    min_face: Annotated[int, typer.Option(help="Smallest face to find, in pixels.")] = 40,
    detect_width: Annotated[int, typer.Option(
        help="Detect on a copy of the frame this wide (0: full size).")] = 320,
    detect_every: Annotated[int, typer.Option(
        help="Full-frame detection (finds new faces) on every Nth frame.")] = 6,
    refine: Annotated[bool, typer.Option(
        help="Between full detections, re-detect around each face (else hold the box).")] = True,
    classify_every: Annotated[int, typer.Option(
        help="Classify the faces on every Nth frame; smoothing bridges the others.")] = 2,
    margin: Annotated[float, typer.Option(
        help="Extra border around each face box before classifying, as a share.")] = 0.1,
    min_hits: Annotated[int, typer.Option(
        help="Detections a new face needs before it is drawn (removes one-off ghosts).")] = 3,
    max_coast: Annotated[int, typer.Option(
        help="Frames (detection rounds with --no-refine) a lost face keeps its box.")] = 8,
    smoothing: Annotated[float, typer.Option(
        help="Weight of the past in each face's probability average, 0-1 (0: none).")] = 0.7,
    csv: Annotated[Optional[Path], typer.Option(
        help="Write one row per face per frame with the 7 smoothed probabilities.")] = None,
    plot: Annotated[Optional[Path], typer.Option(
        help="Write an emotion timeline PNG, one panel per track.")] = None,
    no_audio: Annotated[bool, typer.Option(
        "--no-audio", help="Do not copy the input's audio track.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Find the faces in every frame, label each with its emotion, write the result."""
    check_paths(source, output)
    if not 0 <= smoothing < 1:
        raise EmocliError("--smoothing must be in [0, 1)")
    opts = AnnotateOptions(detector, detector_model, min_face, detect_width, detect_every,
                           refine, classify_every, margin,
                           TrackerConfig(min_hits=min_hits, max_coast=max_coast,
                                         smoothing=smoothing), audio=not no_audio)
    predictor = load_model(model)
    results = [_run_one(src, dst, predictor, opts) for src, dst in _inputs(source, output)]
    for r in results:
        if r.decode_errors:
            warn(f"{r.input}: {r.decode_errors} frame(s) could not be decoded and were skipped")
        if r.audio == "lost":
            warn(f"{r.input}: the audio track could not be copied (no usable ffmpeg)")
        if not r.rows:
            note(f"{r.input}: no faces found; the output is the input's frames unchanged")
    if csv is not None:
        _write_csv(results, csv)
    if plot is not None:
        from emocli.plots import timeline_plot

        timeline_plot([row.record() for r in results for row in r.rows], plot)
    summaries = [r.summary() for r in results]
    if as_json:
        print_json(summaries[0] if len(summaries) == 1 else {"files": summaries})
        return
    for s in summaries:
        tracks = ", ".join(f"#{t['id']} {t['dominant']} ({t['frames']} frames)"
                           for t in s["tracks"]) or "no faces"
        out.print(f"{s['output']}: {s['frames']} frame(s), {tracks} in {s['seconds']:.1f} s",
                  highlight=False)
