"""Annotating video and images: detect, track, classify in batches, smooth, draw, write."""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from emocli.data.labels import EMOTIONS
from emocli.engine import media
from emocli.engine.faces import create_detector, detect_near, face_crops
from emocli.engine.predict import Model
from emocli.engine.track import Tracker, TrackerConfig
from emocli.errors import EmocliError
from emocli.fileio import atomic_path

# BGR colours per emotion, chosen to stay distinct on video
COLOURS = {"angry": (40, 40, 230), "disgust": (40, 140, 40), "fear": (160, 60, 160),
           "happy": (40, 200, 240), "sad": (200, 120, 40), "surprise": (40, 160, 255),
           "neutral": (200, 200, 200)}


@dataclass
class AnnotateOptions:
    detector: str = "haar"
    detector_model: Path | None = None
    min_face: int = 40
    detect_width: int = 320  # detect on a copy scaled to this width (faster, fewer ghosts)
    detect_every: int = 6  # full-frame detection on every Nth frame (finds new faces)
    refine: bool = True  # in between, re-detect around each track (cheap) instead of holding
    classify_every: int = 2  # classify the faces on every Nth frame; smoothing bridges the rest
    margin: float = 0.1
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    audio: bool = True


@dataclass
class FaceRow:
    frame: int
    time_s: float
    track: int
    box: np.ndarray
    proba: np.ndarray

    @property
    def label(self) -> str:
        return EMOTIONS[int(self.proba.argmax())]

    def record(self) -> dict:
        x, y, w, h = (int(round(v)) for v in self.box)
        return {"frame": self.frame, "time_s": round(self.time_s, 4), "track": self.track,
                "x": x, "y": y, "w": w, "h": h, "label": self.label,
                "confidence": round(float(self.proba.max()), 4),
                **{e: round(float(p), 4) for e, p in zip(EMOTIONS, self.proba)}}


@dataclass
class AnnotateResult:
    input: Path
    output: Path
    frames: int
    fps: float
    rows: list[FaceRow]
    seconds: float
    decode_errors: int = 0
    audio: str = "none"  # copied | none | lost

    def summary(self) -> dict:
        per_frame = Counter(r.frame for r in self.rows)
        counts = Counter(min(per_frame.get(i, 0), 2) for i in range(self.frames))
        tracks = []
        for tid in sorted({r.track for r in self.rows}):
            labels = Counter(r.label for r in self.rows if r.track == tid)
            n = sum(labels.values())
            tracks.append({"id": tid, "frames": n, "dominant": labels.most_common(1)[0][0],
                           "share": {e: round(labels[e] / n, 4) for e in EMOTIONS if labels[e]}})
        return {"input": str(self.input), "output": str(self.output), "frames": self.frames,
                "fps": round(self.fps, 3),
                "faces_per_frame": {"0": counts[0], "1": counts[1], "2+": counts[2]},
                "tracks": tracks, "seconds": round(self.seconds, 3)}


def draw(frame: np.ndarray, row: FaceRow) -> None:
    """A box and 'label 87%' scaled to the frame, legible at any resolution."""
    scale = max(frame.shape[:2]) / 640
    thick = max(1, round(2 * scale))
    colour = COLOURS[row.label]
    x, y, w, h = (int(round(v)) for v in row.box)
    cv2.rectangle(frame, (x, y), (x + w, y + h), colour, thick, cv2.LINE_AA)
    text = f"{row.label} {row.proba.max():.0%}"
    font_scale = 0.6 * scale
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
    top = y - th - base - 2 * thick if y - th - base - 2 * thick >= 0 else y + h
    cv2.rectangle(frame, (x, top), (x + tw + 2 * thick, top + th + base + 2 * thick), colour, -1)
    cv2.putText(frame, text, (x + thick, top + th + thick), cv2.FONT_HERSHEY_SIMPLEX,
                font_scale, (0, 0, 0), thick, cv2.LINE_AA)


class FrameAnnotator:
    """Per-frame work shared by video and images: detect, track, classify all faces at once."""

    def __init__(self, predictor: Model, opts: AnnotateOptions):
        predictor.check_classes()
        if min(opts.detect_every, opts.classify_every, opts.min_face) < 1 or opts.margin < 0:
            raise EmocliError("--detect-every, --classify-every and --min-face must be at "
                              "least 1, --margin at least 0")
        self.predictor, self.opts = predictor, opts
        self.detector = create_detector(opts.detector, opts.min_face, opts.detector_model,
                                        opts.detect_width)
        self.tracker = Tracker(opts.tracker)

    def step(self, frame: np.ndarray, index: int, fps: float) -> list[FaceRow]:
        """Rows for every current track (confirmed or not) in this frame."""
        full = index % self.opts.detect_every == 0
        tracks = self.tracker.tracks
        if full:
            self.tracker.update(self.detector.detect(frame))
        elif self.opts.refine and tracks:
            self.tracker.update(detect_near(self.detector, frame,
                                            np.stack([t.box for t in tracks])))
        tracks = self.tracker.tracks
        due = full or index % self.opts.classify_every == 0
        todo = [t for t in tracks if due or t.proba is None]
        if todo:
            boxes = np.stack([t.box for t in todo])
            proba = self.predictor.predict_proba(face_crops(frame, boxes, self.opts.margin))
            for track, p in zip(todo, proba):
                self.tracker.smooth(track, p)
        return [FaceRow(index, index / fps, t.id, t.box.copy(), t.proba.copy()) for t in tracks]

    @property
    def delay(self) -> int:
        """Frames to hold back so that a confirmed face is drawn from its first detection."""
        rounds = 1 if self.opts.refine else self.opts.detect_every
        return self.opts.tracker.min_hits * rounds

    def confirmed(self) -> set[int]:
        return {t.id for t in self.tracker.visible()}


def check_paths(src: Path, dst: Path) -> None:
    """Fail before any work when the input is missing or the output cannot be written."""
    if not src.exists():
        raise EmocliError(f"{src}: no such file or folder")
    if dst.exists() and dst.resolve() == src.resolve():
        raise EmocliError(f"{dst}: the output must not be the input")
    folder = dst if src.is_dir() else dst.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        raise EmocliError(f"{dst}: the output location is not writable") from None


def annotate_image(src: Path, dst: Path, predictor: Model,
                   opts: AnnotateOptions) -> AnnotateResult:
    tic = time.perf_counter()
    frame = media.read_image(src)
    single = AnnotateOptions(**{**opts.__dict__, "detect_every": 1,
                                "tracker": TrackerConfig(min_hits=1)})
    rows = FrameAnnotator(predictor, single).step(frame, 0, 1.0)
    for row in rows:
        draw(frame, row)
    media.write_image(dst, frame)
    return AnnotateResult(src, dst, 1, 0.0, rows, time.perf_counter() - tic)


def annotate_video(src: Path, dst: Path, predictor: Model, opts: AnnotateOptions,
                   on_frame=None) -> AnnotateResult:
    """Write every input frame, labelled; frames are held back a few steps so that a face is
    drawn from its first frame once the tracker has confirmed it."""
    tic = time.perf_counter()
    reader = media.VideoReader(src)
    info = reader.info
    annotator = FrameAnnotator(predictor, opts)
    delay = annotator.delay
    buffer: deque[tuple[np.ndarray, list[FaceRow]]] = deque()
    rows: list[FaceRow] = []
    ever_confirmed: set[int] = set()
    count = 0

    def flush_one(writer) -> None:
        frame, frame_rows = buffer.popleft()
        for row in frame_rows:
            if row.track in ever_confirmed:
                draw(frame, row)
                rows.append(row)
        writer.write(frame)

    with atomic_path(dst) as tmp_video:
        writer = media.VideoWriter(tmp_video, info)
        try:
            for frame in reader:
                buffer.append((frame, annotator.step(frame, count, info.fps)))
                ever_confirmed |= annotator.confirmed()
                count += 1
                if len(buffer) > delay:
                    flush_one(writer)
                if on_frame:
                    on_frame(count, info.frames)
            while buffer:
                flush_one(writer)
        finally:
            writer.close()
            reader.close()
        if count == 0:
            raise EmocliError(f"{src}: the video has no frames that can be decoded")
        audio = _copy_audio(src, tmp_video, opts.audio)
    return AnnotateResult(src, dst, count, info.fps, rows, time.perf_counter() - tic,
                          reader.decode_errors, audio)


def _copy_audio(src: Path, video: Path, wanted: bool) -> str:
    """Mux the input's audio into `video` in place; say what happened."""
    if not wanted:
        return "none"
    ffmpeg = media.ffmpeg_exe()
    if ffmpeg is None:
        return "lost"
    if not media.has_audio(ffmpeg, src):
        return "none"
    muxed = video.with_name(f"{video.stem}.audio{video.suffix}")
    try:
        if not media.mux_audio(ffmpeg, video, src, muxed):
            return "lost"
        os.replace(muxed, video)
    finally:
        muxed.unlink(missing_ok=True)
    return "copied"
