"""Annotating a video (file, camera or stream) or an image: the labelled copy, its face rows,
and each labelled frame handed to sinks as it is written."""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from emocli.fileio import atomic_path, interrupt_deferred
from emocli.video import media
from emocli.video.detectors import Detector, create_detector
from emocli.video.pipeline import (
    AnnotatedFrame,
    AnnotateOptions,
    Annotator,
    FaceRow,
    annotate_frame,
    summarize,
)
from emocli.video.sources import Limits, Source, parse_source
from emocli.video.tracker import MATCHER

LIVE_BATCH = 4  # frames labelled together from a live source (latency over throughput)
LOOKAHEAD_BYTES = 192 << 20  # frames foreseen before they are tracked: 30 of 1080p, 8 of 4K


@dataclass
class AnnotateResult:
    input: str  # a path, `camera N` or a URL
    output: Path | None  # None: no labelled copy was written (only the data)
    detector: str
    frames: int
    fps: float
    rows: list[FaceRow]
    seconds: float
    decode_errors: int = 0
    audio: str = "none"  # copied | none
    dropped: int = 0  # frames of a real-time source dropped because it ran ahead
    stopped: bool = False  # ended by a stop request (Ctrl-C, q in the window, a closed pipe)
    expected: int = 0  # the frames the file's container announces, when all were to be read
    padded: tuple[int, int] | None = None  # (width, height) of the written frames, when an odd
    # size had to grow by a row or column (H.264 in 4:2:0 holds even sides only)

    @property
    def missing(self) -> int:
        """Frames the container announced that could not be read."""
        return max(0, self.expected - self.frames) if not self.stopped else 0

    @property
    def cut_off(self) -> bool:
        """Whether the file ends early: more than a tenth of its frames missing (containers of
        whole files miscount by a few: pyfeat_no_face.mp4 announces 98 of its 95)."""
        return self.missing > max(3, 0.1 * self.expected)

    def summary(self) -> dict:
        return {"input": self.input, "output": self.output and str(self.output),
                "detector": self.detector, "frames": self.frames, "fps": round(self.fps, 3),
                **summarize(self.rows, self.frames, self.fps or 1.0),
                "dropped_frames": self.dropped, "missing_frames": self.missing,
                "stopped": self.stopped,
                "seconds": round(self.seconds, 3)}


def annotate_image(src: Path, dst: Path | None, model=None, opts: AnnotateOptions | None = None,
                   detector: Detector | None = None, *,
                   sinks: Sequence[Callable[[AnnotatedFrame], None]] = ()) -> AnnotateResult:
    """Label the faces of one image; `dst` None: only the rows (and the sinks) get them."""
    tic = time.perf_counter()
    opts = opts or AnnotateOptions()
    detector = detector or create_detector(opts.detector, opts.detector_model)
    done = annotate_frame(media.read_image(src), model, opts, detector)
    if dst is not None:
        media.write_image(dst, done.image)
    for sink in sinks:
        sink(done)
    return AnnotateResult(str(src), dst, detector.name, 1, 0.0, done.faces,
                          time.perf_counter() - tic)


def annotate_video(src: Source | Path | str, dst: Path | None, model=None,
                   opts: AnnotateOptions | None = None, on_frame=None,
                   detector: Detector | None = None, *, limits: Limits | None = None,
                   sinks: Sequence[Callable[[AnnotatedFrame], None]] = ()) -> AnnotateResult:
    """Write every frame read, labelled, at the input's size and frame rate.

    `src`: a video file, or a camera index or stream URL (see `parse_source`); `dst` None: no
    video is written. `model`: a loaded model, a bundled model's name or a model file (None: the
    default). `limits` bound the reading (frames, seconds, a stop event); `sinks` get each
    labelled frame, in order, once it is written (e.g. `JsonLines`). `on_frame(done, total)`
    reports progress (total 0 when unknown)."""
    tic = time.perf_counter()
    source = src if isinstance(src, Source) else parse_source(str(src))
    opts = opts or AnnotateOptions()
    if source.live:  # small batches: frames come out a fraction of a second after they go in
        opts = replace(opts, batch=min(opts.batch, LIVE_BATCH))
    limits = (limits or Limits()).validate()
    with media.memory_kept():
        reader = media.VideoReader(source, limits=limits)
        _import_soon(MATCHER)
        total = min(filter(None, [reader.info.frames, limits.max_frames]), default=0)
        try:
            annotator = Annotator(model, opts, reader.info.fps, detector)
            audio_from = (source.path if opts.audio and not source.live
                          and _has_audio(source.path) else None)
            with _one_thread_each() as pools, contextlib.ExitStack() as stack:
                writer = None
                # the writer exits (ffmpeg done or killed) before the file goes
                if dst is not None:
                    tmp_video = stack.enter_context(atomic_path(dst))
                    # an interrupt before the stack knows the writer would leave ffmpeg
                    # running, to write the file after it was removed
                    with interrupt_deferred():
                        writer = stack.enter_context(media.VideoWriter(tmp_video, reader.info,
                                                                       audio_from))
                rows = _annotate_frames(reader, annotator, writer and writer.write, sinks,
                                        on_frame and (lambda n: on_frame(n, total)), pools)
            audio = writer.audio if writer else "none"
            padded = writer.size if writer and writer.size != (reader.info.width,
                                                                reader.info.height) else None
        finally:
            reader.close()
    whole = not source.live and limits.max_frames is None and limits.duration is None
    return AnnotateResult(str(source), dst, annotator.detector_name, annotator.frames_seen,
                          reader.info.fps, rows, time.perf_counter() - tic,
                          reader.decode_errors, audio, reader.dropped, limits.stop.is_set(),
                          reader.info.frames if whole else 0, padded)


def _import_soon(module: str) -> None:
    """Import `module` in a thread while the model loads and the first full pass runs (both let
    go of the GIL): the tracker's matcher, scipy.optimize, takes 0.4-0.5 s to import, which
    a 1080p clip otherwise waited through at its third frame."""
    def load() -> None:
        with contextlib.suppress(ImportError):  # then the tracker's own import says why
            importlib.import_module(module)

    if module not in sys.modules:
        threading.Thread(target=load, name=f"emocli-import-{module}").start()


def _pools(threads: tuple[int, int | None]) -> None:
    """Size the thread pools inside OpenCV and (where loaded) torch."""
    cv2.setNumThreads(threads[0])
    torch = sys.modules.get("torch")  # loaded only when the model or the detector runs on it
    if torch and threads[1]:
        torch.set_num_threads(threads[1])


@contextlib.contextmanager
def _one_thread_each():
    """Decoding, tracking, labelling and encoding each have a thread; pools inside OpenCV and
    torch on top of them spin more than they help on region-sized images and batches of a few
    faces: measured +18% frames/s (OpenCV) and 8.0 -> 6.6 ms of CPU per frame (torch). Yields
    the pools' own sizes, for the first full pass and for the labeller to take back once it is
    the last stage at work."""
    torch = sys.modules.get("torch")
    threads = cv2.getNumThreads(), torch and torch.get_num_threads()
    _pools((1, 1))
    try:
        yield threads
    finally:
        _pools(threads)


def _annotate_frames(reader: media.VideoReader, annotator: Annotator,
                     write: Callable | None, sinks: Sequence[Callable], on_frame=None,
                     pools: tuple[int, int | None] | None = None) -> list[FaceRow]:
    """Track in this thread, label (classify, smooth, draw) and hand the frames to the encoder
    in another, encode in a third: OpenCV (its DNN module, decoding) and torch let go of the
    GIL (and so does YuNet, called through ctypes), so the stages overlap on separate cores.
    The labeller, not the tracker, waits when the encoder's queue is full (32 labelled 1080p
    frames do not fit its 10). The sinks hear each frame in this thread (a preview window
    needs the main one)."""
    rows: list[FaceRow] = []
    pending: deque[Future] = deque()

    def label(ready: list) -> list[AnnotatedFrame]:
        done = annotator.label(ready)
        for frame in done if write else ():
            write(frame.image)
        return done

    def emit(done: Future) -> None:
        for frame in done.result():
            rows.extend(frame.faces)
            for sink in sinks:
                sink(frame)

    def track(frame: np.ndarray) -> None:
        # the first frame's full pass has the cores to itself (nothing is labelled or encoded
        # yet): OpenCV's pool at its own size for it, 1080p crowd +5% frames/s with MTCNN
        wide = pools is not None and annotator.frames_seen == 0
        if wide:
            _pools(pools)
        try:
            # an idle labeller takes final frames early, so less is left for after tracking
            ready = annotator.track(frame, eager=not pending or pending[-1].done())
        finally:
            if wide:
                _pools((1, 1))
        if ready:
            pending.append(labeller.submit(label, ready))
        while pending and (pending[0].done() or len(pending) > 2):
            emit(pending.popleft())
        if on_frame:
            on_frame(annotator.frames_seen)

    # a file's frames are foreseen a few frames before they are tracked, from the second frame
    # on, one more each frame (a live source's are not: that would hold each frame back)
    ahead: deque[np.ndarray] = deque()
    lookahead = 0 if reader.source.live else media.frames_in(LOOKAHEAD_BYTES, reader.info)
    with ThreadPoolExecutor(max_workers=1) as labeller:  # one worker keeps the order
        for frame in reader:
            if lookahead:
                annotator.foresee(frame)
            ahead.append(frame)
            if len(ahead) > min(lookahead, annotator.frames_seen):
                track(ahead.popleft())
        while ahead:
            track(ahead.popleft())
        # the last held frames (13-45: up to 40% of a 4-second clip) are labelled with
        # tracking and decoding done: by the pools inside OpenCV and torch at their own size,
        # in small batches that the encoder takes while the next is labelled
        rest, batch = annotator.release(), annotator.small_batch
        if pools:
            labeller.submit(_pools, pools)  # in the labeller's thread, after its last batch
        for lo in range(0, len(rest), batch):
            pending.append(labeller.submit(label, rest[lo:lo + batch]))
        while pending:
            emit(pending.popleft())
    return rows


def annotate_files(pairs: Sequence[tuple[Path, Path | None]], model: str | None = None,
                   opts: AnnotateOptions | None = None, *, address: str | None = None,
                   on_done: Callable[[Path, AnnotateResult | str], None] | None = None
                   ) -> list[AnnotateResult | str]:
    """Annotate many (input, labelled copy) files on a Ray cluster (`address`, or a local Ray
    started now), a file a task: each file's result, or the one-line reason it could not be
    annotated, in the order of `pairs`. `model`: a bundled name or a model file every worker
    can read (None: the default); `on_done(input, outcome)` hears each file as it finishes."""
    from emocli.cluster import start_ray

    ray = start_ray(address)
    task = ray.remote(_annotate_file)
    refs = [task.remote(src, dst, model, opts) for src, dst in pairs]
    where = {ref: i for i, ref in enumerate(refs)}
    outcomes: list = [None] * len(refs)
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        for ref in ready:
            i = where[ref]
            outcomes[i] = ray.get(ref)
            if on_done:
                on_done(pairs[i][0], outcomes[i])
    return outcomes


def _annotate_file(src: Path, dst: Path | None, model: str | None,
                   opts: AnnotateOptions | None) -> AnnotateResult | str:
    """One file in a Ray worker; a bad file is its message (a string pickles; errors built
    from their parts do not)."""
    from emocli.errors import EmocliError
    from emocli.video.sources import is_image

    try:
        loaded = _worker_model(model)
        if is_image(src):
            return annotate_image(src, dst, loaded, opts)
        return annotate_video(src, dst, loaded, opts)
    except EmocliError as exc:
        return str(exc)


@functools.lru_cache(maxsize=2)
def _worker_model(spec: str | None):
    """A worker loads each model once, for all the files it is given."""
    from emocli.predict.loading import load_model

    return load_model(spec)


def _has_audio(src: Path) -> bool:
    ffmpeg = media.ffmpeg_exe()
    return ffmpeg is not None and media.has_audio(ffmpeg, src)
