"""`emocli annotate`: label every face in a video, an image or a folder of them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from emocli.cli import complete
from emocli.cli.output import note, out, print_json, warn
from emocli.errors import EmocliError, JobFailed
from emocli.models.bundled import BUNDLED, DEFAULT_MODEL
from emocli.outputs import Output, check_outputs
from emocli.video.options import DETECTORS, AnnotateOptions, SmoothingConfig, TrackerConfig

if TYPE_CHECKING:  # the work's modules load torch and OpenCV: only when a command runs
    from emocli.engine.predict import Model
    from emocli.video.annotate import AnnotateResult
    from emocli.video.detectors import Detector

_OPTS = AnnotateOptions()  # the defaults live in the library; the options show them

MODEL_HELP = (f"Model file (.pt) or a bundled model: {', '.join(BUNDLED)} (the bundled networks "
              f"averaged); default: {DEFAULT_MODEL}.")


def _run_one(src: Path, dst: Path, predictor: Model, opts: AnnotateOptions,
             detector: Detector) -> AnnotateResult:
    from emocli.cli.progress import make_progress
    from emocli.video import media
    from emocli.video.annotate import annotate_image, annotate_video

    if media.is_image(src):
        return annotate_image(src, dst, predictor, opts, detector)
    progress = make_progress("status")
    with progress:
        task = progress.add_task(src.name, total=None, status="")

        def on_frame(done: int, total: int) -> None:
            elapsed = progress.tasks[0].elapsed or 1e-9
            progress.update(task, completed=done, total=total or None,
                            status=f"{done / elapsed:.0f} frames/s")

        return annotate_video(src, dst, predictor, opts, on_frame, detector)


def _inputs(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    from emocli.video import media

    if not src.is_dir():
        return [(src, dst)]
    files = []
    for path in sorted(src.iterdir()):
        if path.is_file() and path.suffix.lower() in media.IMAGE_EXTS | media.VIDEO_EXTS:
            files.append(path)
        else:
            note(f"{path}: left out ({'a folder' if path.is_dir() else 'not an image or video'})")
    if not files:
        raise EmocliError(f"{src}: no images or videos in this folder")
    return [(p, dst / p.name) for p in files]


def _write_csv(results: list[AnnotateResult], path: Path) -> None:
    import pandas as pd

    from emocli.fileio import write_csv
    from emocli.video.pipeline import FaceRow

    records = [{"input": str(r.input), **row.record()} for r in results for row in r.rows]
    frame = pd.DataFrame.from_records(records, columns=["input", *FaceRow.COLUMNS])
    if len(results) == 1:
        frame = frame.drop(columns="input")
    write_csv(path, frame)


def annotate(
    source: Annotated[Path, typer.Argument(
        help="A video (mp4, avi, mov, mkv, webm, ...), an image, or a folder of them.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="The labelled video or image (a folder for a folder input).")],
    model: Annotated[Optional[str], typer.Option(
        help=MODEL_HELP, autocompletion=complete.bundled_models)] = None,
    detector: Annotated[str, typer.Option(
        help=f"Face detector: auto (the best installed: yunet, mtcnn, then haar), "
             f"{', '.join(DETECTORS[1:])}.", autocompletion=complete.detectors)] = (
            _OPTS.detector),
    detector_model: Annotated[Optional[Path], typer.Option(
        help="Model file for the detector (a YuNet .onnx for OpenCV, or a Haar .xml).")] = None,
    min_face: Annotated[int, typer.Option(
        help="Smallest face to find, in pixels of the input (sets the detection "
             "resolution).")] = _OPTS.min_face,
    detect_every: Annotated[int, typer.Option(
        help="Full-frame detection (finds new faces) on every Nth frame, and at once when a "
             "face is lost.")] = _OPTS.detect_every,
    refine: Annotated[bool, typer.Option(
        help="Between full detections, re-detect each face in a small region around it.")] = (
            _OPTS.refine),
    classify_every: Annotated[int, typer.Option(
        help="Classify each face on every Nth frame; smoothing bridges the others.")] = (
            _OPTS.classify_every),
    margin: Annotated[float, typer.Option(
        help="Extra border around each face box before classifying, as a share.")] = _OPTS.margin,
    level: Annotated[bool, typer.Option(
        help="Turn tilted heads upright (eye landmarks) before classifying.")] = _OPTS.level,
    min_hits: Annotated[int, typer.Option(
        help="Detections a new face needs before it is drawn (removes one-off ghosts).")] = (
            _OPTS.tracker.min_hits),
    max_coast: Annotated[int, typer.Option(
        help="Frames a lost face is waited for; it is drawn through the gap only if it comes "
             "back.")] = _OPTS.tracker.max_coast,
    smooth_time: Annotated[float, typer.Option(
        help="Time constant, in seconds, of each face's probability average (0: none).")] = (
            _OPTS.smoothing.tau),
    hysteresis: Annotated[float, typer.Option(
        help="Lead in averaged probability another emotion needs to change a face's "
             "label.")] = _OPTS.smoothing.margin,
    csv: Annotated[Optional[Path], typer.Option(
        help="Write one row per face per frame: box, shown label, the 7 smoothed probabilities "
             "and the classifier's raw ones (raw_*, in frames where it ran).")] = None,
    plot: Annotated[Optional[Path], typer.Option(
        help="Write an emotion timeline PNG, one panel per track.")] = None,
    no_audio: Annotated[bool, typer.Option(
        "--no-audio", help="Do not copy the input's audio track.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Find the faces in every frame, label each with its emotion, write the result."""
    from emocli.engine.predict import load_model
    from emocli.video import media
    from emocli.video.detectors import create_detector

    if not source.exists():
        raise EmocliError(f"{source}: no such file or folder")
    main = (Output(output, "folder") if source.is_dir()
            else Output(output, "file", tuple(sorted(media.IMAGE_EXTS))) if media.is_image(source)
            else Output(output, "file", media.WRITABLE_VIDEO_EXTS))
    check_outputs([source, model if model and Path(model).exists() else None, detector_model],
                  [main, csv and Output(csv, "file", (".csv",)),
                   plot and Output(plot, "file", (".png",))])
    opts = AnnotateOptions(detector, detector_model, min_face, detect_every, refine,
                           classify_every, margin=margin, level=level,
                           tracker=TrackerConfig(min_hits=min_hits, max_coast=max_coast),
                           smoothing=SmoothingConfig(smooth_time, hysteresis),
                           audio=not no_audio).validate()
    face_detector = create_detector(detector, detector_model)
    predictor = load_model(model)
    results, skipped = [], []
    pairs = _inputs(source, output)
    for src, dst in pairs:
        try:
            results.append(_run_one(src, dst, predictor, opts, face_detector))
        except EmocliError as exc:
            if not source.is_dir():
                raise
            warn(f"skipped: {exc}")  # a folder goes on past a file it cannot read
            skipped.append({"input": str(src), "error": str(exc)})
    for r in results:
        if r.decode_errors:
            warn(f"{r.input}: {r.decode_errors} frame(s) could not be decoded and were skipped")
        if not r.rows:
            note(f"{r.input}: no faces found; the output is the input's frames unchanged")
    if csv is not None:
        _write_csv(results, csv)
    if plot is not None:
        from emocli.plots import timeline_plot

        timeline_plot([row.record() for r in results for row in r.rows], plot)
    _report(results, skipped, as_json, source.is_dir())
    if skipped:
        raise JobFailed(f"{source}: {len(skipped)} of {len(pairs)} file(s) could not be "
                        "annotated (named above)")


def _report(results: list[AnnotateResult], skipped: list[dict], as_json: bool,
            folder: bool) -> None:
    summaries = [r.summary() for r in results]
    if as_json:
        print_json({"files": summaries, "skipped": skipped} if folder else summaries[0])
        return
    for s in summaries:
        tracks = ", ".join(f"#{t['id']} {t['dominant']} ({t['frames']} frames, "
                           f"{t['flips_per_s']:.1f} flips/s)" for t in s["tracks"]) or "no faces"
        out.print(f"{s['output']}: {s['frames']} frame(s), {tracks}; {s['detector']} detector, "
                  f"{s['seconds']:.1f} s", highlight=False)
