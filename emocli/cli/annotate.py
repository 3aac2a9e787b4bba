"""`emocli annotate`: label every face in a video, an image or a folder of them."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from emocli import EmocliError, JobFailed, Output, check_outputs
from emocli.cli import complete
from emocli.cli.output import err, note, out, print_json, warn
from emocli.models import DEFAULT_MODEL, describe_bundled, model_files
from emocli.video import (
    DETECTORS,
    IMAGE_EXTS,
    MEDIA_EXTS,
    AnnotateOptions,
    Limits,
    SmoothingConfig,
    Source,
    TrackerConfig,
    is_image,
    parse_source,
)

if TYPE_CHECKING:  # the work's modules load torch and OpenCV: only when a command runs
    from emocli.predict import DnnPredictor, Ensemble, Predictor
    from emocli.video import AnnotateResult, Detector

_OPTS = AnnotateOptions()  # the defaults live in the library; the options show them

MODEL_HELP = (f"Model file (.pt, or .onnx from emocli export) or a bundled model: "
              f"{describe_bundled()}; default: {DEFAULT_MODEL}. Join several with + to "
              "average their networks (ensemble+mine.onnx).")


def _run_one(src: Source, dst: Path | None, predictor: Predictor | DnnPredictor | Ensemble,
             opts: AnnotateOptions, detector: Detector, limits: Limits,
             sinks: list) -> AnnotateResult:
    from emocli.cli.progress import make_progress
    from emocli.video import annotate_image, annotate_video

    if src.kind == "file" and is_image(src.path):
        return annotate_image(src.path, dst, predictor, opts, detector, sinks=sinks)
    progress = make_progress("status")
    with progress:
        task = progress.add_task(src.name if src.live else src.path.name, total=None, status="")

        def on_frame(done: int, total: int) -> None:
            elapsed = progress.tasks[0].elapsed or 1e-9
            progress.update(task, completed=done, total=total or None,
                            status=f"{done / elapsed:.0f} frames/s")

        return annotate_video(src, dst, predictor, opts, on_frame, detector, limits=limits,
                              sinks=sinks)


def _output_name(path: Path) -> str:
    """The labelled copy's file name: the input's, with a suffix that can be written."""
    from emocli.video import WRITABLE_VIDEO_EXTS

    if is_image(path) or path.suffix.lower() in WRITABLE_VIDEO_EXTS:
        return path.name
    return path.stem + ".mp4"


def _inputs(src: Source, dst: Path | None, recursive: bool) -> list[tuple[Source, Path | None]]:
    """(input, labelled copy) pairs: the source itself, or the media files of a folder (and of
    its subfolders with `recursive`, mirrored below `dst`), each left-out entry named."""
    if src.kind != "folder":
        return [(src, dst)]
    root = src.path
    files = []
    own = dst.resolve() if dst is not None else None  # an output folder inside the input
    for path in sorted(root.rglob("*") if recursive else root.iterdir()):
        if own is not None and (path.resolve() == own or own in path.resolve().parents):
            continue  # annotate's own earlier outputs are not inputs
        if path.is_file() and path.suffix.lower() in MEDIA_EXTS:
            files.append(path)
        elif not (recursive and path.is_dir()):
            why = "a folder; --recursive takes it in" if path.is_dir() else "not an image or video"
            note(f"{path}: left out ({why})")
    if not files:
        raise EmocliError(f"{root}: no images or videos in this folder")
    return [(Source(str(p), "file"),
             dst and dst / p.relative_to(root).with_name(_output_name(p))) for p in files]


@contextlib.contextmanager
def _ctrl_c_stops(stop: threading.Event):
    """On a live source the first Ctrl-C ends the capture normally (the output is finished and
    kept); a second one interrupts at once."""
    def first(signum, frame) -> None:
        note("stopping: finishing the outputs (Ctrl-C again to abandon them)")
        stop.set()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _jsonl_sink(target: str | None, stop: threading.Event):
    """The JSON Lines sink: stdout for `-` (live), else a file written beside its name and
    renamed into place when the run ends."""
    from emocli.video import JsonLines

    if target is None:
        yield None
    elif target == "-":
        sink = JsonLines(sys.stdout, stop)
        yield sink
        if sink.closed:  # the reader went away: nothing more can reach it, quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    else:
        from emocli import atomic_path

        with atomic_path(target) as tmp, open(tmp, "w") as stream:
            yield JsonLines(stream, stop)


def _write_csv(results: list[AnnotateResult], path: Path) -> None:
    import pandas as pd

    from emocli import write_csv
    from emocli.video import FaceRow

    records = [{"input": str(r.input), **row.record()} for r in results for row in r.rows]
    frame = pd.DataFrame.from_records(records, columns=["input", *FaceRow.COLUMNS])
    if len(results) == 1:
        frame = frame.drop(columns="input")
    if str(path) == "-":
        frame.to_csv(sys.stdout, index=False)
    else:
        write_csv(path, frame)


def annotate(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(
        help="A video (mp4, avi, mov, mkv, webm, gif, ...), an image, a folder of them, a "
             "camera index (0) or a stream URL (rtsp://, http(s)://, udp://, ...).")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="The labelled video or image (a folder for a folder input); "
                               "default: runs/annotate/<name>/, with faces.csv.")] = None,
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
    classify_steady: Annotated[int, typer.Option(
        help="Classify a steady face (sure of one emotion in its last two answers) only on "
             "every Nth frame.")] = (
            _OPTS.classify_steady),
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
        help="Time constant, in seconds, of each face's probability average for a sure "
             "answer; an unsure one counts for less (0: no average).")] = _OPTS.smoothing.tau,
    hysteresis: Annotated[float, typer.Option(
        help="Lead in averaged probability another emotion needs to change a face's "
             "label.")] = _OPTS.smoothing.margin,
    max_frames: Annotated[Optional[int], typer.Option(
        help="Stop after this many frames (any video source).")] = None,
    duration: Annotated[Optional[float], typer.Option(
        help="Stop after this many seconds of the video (of wall-clock time for a camera or "
             "stream).")] = None,
    show: Annotated[bool, typer.Option(
        "--show", help="Show the labelled frames in a window; q or Esc ends the run.")] = False,
    jsonl: Annotated[Optional[str], typer.Option(
        help="Write one JSON object per frame (frame, time_s, faces with track, box, label, "
             "confidence, scores) to this file, or to stdout with '-', flushed as each frame "
             "is done.")] = None,
    csv: Annotated[Optional[Path], typer.Option(
        help="Write one row per face per frame: box, shown label, the 7 smoothed probabilities "
             "and the classifier's raw ones (raw_*, in frames where it ran); '-' for "
             "stdout.")] = None,
    plot: Annotated[Optional[Path], typer.Option(
        help="Write an emotion timeline PNG, one panel per track.")] = None,
    no_video: Annotated[bool, typer.Option(
        "--no-video", help="Write no labelled video or image, only the data.")] = False,
    recursive: Annotated[bool, typer.Option(
        "--recursive", "-r", help="For a folder: take in its subfolders too.")] = False,
    no_audio: Annotated[bool, typer.Option(
        "--no-audio", help="Do not copy the input's audio track.")] = False,
    backend: Annotated[str, typer.Option(
        help="For a folder: local, or ray to spread its files over a Ray cluster (a file a "
             "task).")] = "local",
    address: Annotated[Optional[str], typer.Option(
        help="Ray cluster address, HOST:PORT (default: a local Ray started for the run).")] = (
            None),
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Find the faces in every frame, label each with its emotion, write the result.

    A camera or stream runs until it ends, --max-frames or --duration, or Ctrl-C, which
    finishes and keeps the outputs.
    """
    src = parse_source(source)
    _check_backend(backend, address, src, show, jsonl)
    to_stdout = [name for name, on in (("--json", as_json), ("--jsonl -", jsonl == "-"),
                                       ("--csv -", str(csv) == "-")) if on]
    if len(to_stdout) > 1:
        raise EmocliError(f"{' and '.join(to_stdout)} would "
                          f"{'both' if len(to_stdout) == 2 else 'all'} write to stdout; choose one")
    if no_video and output is not None:
        raise EmocliError("--no-video writes no labelled copy: leave out -o/--output")
    run_dir = None
    if output is None:  # runs/annotate/<name>[N]/: the labelled copy and faces.csv
        from emocli.cli.rundirs import claim_run_dir

        run_dir = claim_run_dir(ctx, "annotate", src.name)
        csv = csv or run_dir / "faces.csv"
        if not no_video:
            output = run_dir if src.kind == "folder" else run_dir / (
                src.name + ".mp4" if src.live else _output_name(src.path))
    jsonl_file = Path(jsonl) if jsonl not in (None, "-") else None
    check_outputs([None if src.live else src.path,
                   *(model_files(model) if model else []), detector_model],
                  [output and _main_output(src, output),
                   Output(csv, "file", (".csv",)) if csv and str(csv) != "-" else None,
                   plot and Output(plot, "file", (".png",)), jsonl_file and Output(jsonl_file)])
    opts = AnnotateOptions(detector=detector, detector_model=detector_model, min_face=min_face,
                           detect_every=detect_every, refine=refine,
                           classify_every=classify_every, classify_steady=classify_steady,
                           margin=margin, level=level,
                           tracker=TrackerConfig(min_hits=min_hits, max_coast=max_coast),
                           smoothing=SmoothingConfig(smooth_time, hysteresis),
                           audio=not no_audio).validate()
    limits = Limits(max_frames, duration).validate()
    pairs = _inputs(src, output, recursive)
    window = None
    if show:
        from emocli.video import Window

        window = Window(f"emocli: {src.name}", limits.stop)
    from emocli.predict import load_model
    from emocli.video import create_detector, haar_notice

    face_detector = create_detector(detector, detector_model)
    if face_detector.name == "haar":
        warn(haar_notice(detector == "auto"))
    predictor = load_model(model)
    interrupt = _ctrl_c_stops(limits.stop) if src.live else contextlib.nullcontext()
    results, skipped = [], []
    if backend == "ray":
        results, skipped = _run_on_ray(pairs, model, opts, address)
    with _jsonl_sink(None if backend == "ray" else jsonl, limits.stop) as lines, interrupt:
        sinks = [s for s in (lines, window) if s is not None]
        for item, dst in pairs if backend == "local" else []:
            if lines is not None and src.kind == "folder":
                lines.input_name = item.spec
            try:
                results.append(_run_one(item, dst, predictor, opts, face_detector, limits, sinks))
            except EmocliError as exc:
                if src.kind != "folder":
                    raise
                warn(f"skipped: {exc}")  # a folder goes on past a file it cannot read
                skipped.append({"input": item.spec, "error": str(exc)})
            if limits.stop.is_set():
                break
    if window is not None:
        window.close()
    for r in results:
        if r.cut_off:
            warn(f"{r.input}: the file ends early: {r.frames} of the {r.expected} frames its "
                 f"container announces could be read ({r.missing} missing); the outputs hold "
                 "those read")
        elif r.missing:
            warn(f"{r.input}: {r.missing} of the {r.expected} frames its container announces "
                 "could not be decoded and were skipped")
        elif r.decode_errors:
            warn(f"{r.input}: {r.decode_errors} frame(s) could not be decoded and were skipped")
        if r.padded:
            note(f"{r.output}: written {r.padded[0]}x{r.padded[1]}, one row or column more than "
                 "the input: H.264 in 4:2:0, which browsers play, holds even sizes only (.webm "
                 "and .mkv keep an odd size)")
        if r.dropped:
            warn(f"{r.input}: {r.dropped} frame(s) dropped: the source ran faster than "
                 "annotate (try --detect-every or --classify-every higher)")
        if not r.rows:
            note(f"{r.input}: no faces found" + ("; the output is the input's frames unchanged"
                                                 if r.output else ""))
    if csv is not None:
        _write_csv(results, csv)
    if plot is not None:
        from emocli.video import timeline_plot

        timeline_plot([row.record() for r in results for row in r.rows], plot)
    if lines is not None and lines.closed:
        return  # the reader of the JSON Lines went away: end quietly
    _report(results, skipped, as_json, src.kind == "folder",
            to_stderr=bool(to_stdout) and not as_json)
    if run_dir is not None:
        note(f"results: {run_dir}")
    if skipped:
        raise JobFailed(f"{source}: {len(skipped)} of {len(pairs)} file(s) could not be "
                        "annotated (named above)")
    cut = [r for r in results if r.cut_off]
    if cut:
        raise JobFailed(f"{cut[0].input if len(cut) == 1 else f'{len(cut)} files'}: cut off "
                        "before the end (see above)")


def _check_backend(backend: str, address: str | None, src: Source, show: bool,
                   jsonl: str | None) -> None:
    from emocli import BACKENDS, check_address

    if backend not in BACKENDS:
        raise EmocliError(f"--backend must be {' or '.join(BACKENDS)}, got {backend!r}")
    if backend == "local":
        if address is not None:
            raise EmocliError("--address is for --backend ray")
        return
    if src.kind != "folder":
        raise EmocliError("--backend ray spreads the files of a folder; give a folder")
    if show or jsonl is not None:
        raise EmocliError("--show and --jsonl follow frames as they are made; on Ray, files "
                          "are made elsewhere: leave them out or use --backend local")
    check_address(address)


def _run_on_ray(pairs: list, model: str | None, opts: AnnotateOptions,
                address: str | None) -> tuple[list, list]:
    """The folder's files as Ray tasks: results in input order, failed files named."""
    from emocli.video import annotate_files

    done = 0

    def heard(src, outcome) -> None:
        nonlocal done
        done += 1
        note(f"{src}: {'done' if not isinstance(outcome, str) else 'failed'} "
             f"({done}/{len(pairs)})")

    outcomes = annotate_files([(item.path, dst) for item, dst in pairs], model, opts,
                              address=address, on_done=heard)
    results, skipped = [], []
    for (item, _), outcome in zip(pairs, outcomes):
        if isinstance(outcome, str):
            warn(f"skipped: {outcome}")
            skipped.append({"input": item.spec, "error": outcome})
        else:
            results.append(outcome)
    return results, skipped


def _main_output(src: Source, output: Path) -> Output:
    from emocli.video import WRITABLE_VIDEO_EXTS

    if src.kind == "folder":
        return Output(output, "folder")
    if src.kind == "file" and is_image(src.path):
        return Output(output, "file", tuple(sorted(IMAGE_EXTS)))
    return Output(output, "file", WRITABLE_VIDEO_EXTS)


def _report(results: list[AnnotateResult], skipped: list[dict], as_json: bool,
            folder: bool, to_stderr: bool = False) -> None:
    summaries = [r.summary() for r in results]
    if as_json:
        print_json({"files": summaries, "skipped": skipped} if folder else summaries[0])
        return
    console = err if to_stderr else out
    for s in summaries:
        tracks = ", ".join(f"#{t['id']} {t['dominant']} ({t['frames']} frames, "
                           f"{t['flips_per_s']:.1f} flips/s)" for t in s["tracks"]) or "no faces"
        console.print(f"{s['output'] or s['input']}: {s['frames']} frame(s), {tracks}; "
                      f"{s['detector']} detector, {s['seconds']:.1f} s"
                      + (", stopped early" if s["stopped"] else ""), highlight=False)
