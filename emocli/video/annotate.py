"""Annotating files: a video or an image in, the labelled copy and its face rows out."""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import torch

from emocli.fileio import atomic_path
from emocli.video import media
from emocli.video.detectors import Detector, create_detector
from emocli.video.pipeline import (
    AnnotateOptions,
    Annotator,
    FaceRow,
    annotate_frame,
    summarize,
)


@dataclass
class AnnotateResult:
    input: Path
    output: Path
    detector: str
    frames: int
    fps: float
    rows: list[FaceRow]
    seconds: float
    decode_errors: int = 0
    audio: str = "none"  # copied | none

    def summary(self) -> dict:
        return {"input": str(self.input), "output": str(self.output), "detector": self.detector,
                "frames": self.frames, "fps": round(self.fps, 3),
                **summarize(self.rows, self.frames, self.fps or 1.0),
                "seconds": round(self.seconds, 3)}


def annotate_image(src: Path, dst: Path, model=None, opts: AnnotateOptions | None = None,
                   detector: Detector | None = None) -> AnnotateResult:
    tic = time.perf_counter()
    opts = opts or AnnotateOptions()
    detector = detector or create_detector(opts.detector, opts.detector_model)
    done = annotate_frame(media.read_image(src), model, opts, detector)
    media.write_image(dst, done.image)
    return AnnotateResult(src, dst, detector.name, 1, 0.0, done.faces,
                          time.perf_counter() - tic)


def annotate_video(src: Path, dst: Path, model=None, opts: AnnotateOptions | None = None,
                   on_frame=None, detector: Detector | None = None) -> AnnotateResult:
    """Write every input frame, labelled, at the input's size and frame rate. `model`: a loaded
    model, a bundled model's name or a model file (None: the default)."""
    tic = time.perf_counter()
    opts = opts or AnnotateOptions()
    reader = media.VideoReader(src)
    threads = cv2.getNumThreads(), torch.get_num_threads()
    # Decoding, tracking, labelling and encoding each have a thread; pools inside OpenCV and
    # torch on top of them spin more than they help on region-sized images and batches of a few
    # faces: measured +18% frames/s (OpenCV) and 8.0 -> 6.6 ms of CPU per frame (torch).
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        annotator = Annotator(model, opts, reader.info.fps, detector)
        audio_from = src if opts.audio and _has_audio(src) else None
        with atomic_path(dst) as tmp_video:
            writer = media.VideoWriter(tmp_video, reader.info, audio_from)
            rows = _annotate_frames(reader, annotator, writer, on_frame)
        audio = writer.audio
    finally:
        cv2.setNumThreads(threads[0])
        torch.set_num_threads(threads[1])
        reader.close()
    count = annotator.frames_seen
    return AnnotateResult(src, dst, annotator.detector_name, count, reader.info.fps, rows,
                          time.perf_counter() - tic, reader.decode_errors, audio)


def _annotate_frames(reader: media.VideoReader, annotator: Annotator,
                     writer: media.VideoWriter, on_frame=None) -> list[FaceRow]:
    """Track in this thread, label (classify, smooth, draw) in another, encode in a third:
    the detector and torch release the GIL, so the stages overlap on separate cores."""
    rows: list[FaceRow] = []
    pending: deque[Future] = deque()

    def emit(done: Future) -> None:
        for frame in done.result():
            rows.extend(frame.faces)
            writer.write(frame.image)

    try:
        with ThreadPoolExecutor(max_workers=1) as labeller:  # one worker keeps the order
            for count, frame in enumerate(reader, 1):
                ready = annotator.track(frame)
                if ready:
                    pending.append(labeller.submit(annotator.label, ready))
                while pending and (pending[0].done() or len(pending) > 2):
                    emit(pending.popleft())
                if on_frame:
                    on_frame(count, reader.info.frames)
            rest, batch = annotator.release(), annotator.opts.batch
            for lo in range(0, len(rest), batch):  # encode each batch while labelling the next
                pending.append(labeller.submit(annotator.label, rest[lo:lo + batch]))
            while pending:
                emit(pending.popleft())
    finally:
        writer.close()
    return rows


def _has_audio(src: Path) -> bool:
    ffmpeg = media.ffmpeg_exe()
    return ffmpeg is not None and media.has_audio(ffmpeg, src)
