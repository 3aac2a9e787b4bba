"""Video and image I/O with OpenCV, and audio copying with the ffmpeg that imageio-ffmpeg ships."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# FFmpeg inside OpenCV prints its own complaints (e.g. "moov atom not found") on stderr; emocli
# reports such failures itself in one line.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402

from emocli.errors import EmocliError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
              ".gif"}  # an animated GIF is a video; OpenCV's FFmpeg reads it frame by frame
_FOURCC = {".avi": "MJPG", ".webm": "VP80"}  # everything else: MPEG-4 part 2
WRITABLE_VIDEO_EXTS = (".avi", ".m4v", ".mkv", ".mov", ".mp4", ".webm")  # OpenCV's writer


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise EmocliError(f"{path}: not a readable image")
    return image


def write_image(path: Path, image: np.ndarray) -> None:
    from emocli.fileio import atomic_path

    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise EmocliError(f"{path}: cannot write an image with this extension")


@dataclass
class VideoInfo:
    fps: float
    width: int  # of the frames as decoded: rotation metadata already applied
    height: int
    frames: int  # as the container claims; the decoded count is authoritative


_END = object()


class VideoReader:
    """Frames of a video, decoded ahead in a thread (OpenCV releases the GIL while it decodes),
    upright (OpenCV applies phone rotation metadata); a frame that fails to decode mid-stream
    is counted and skipped."""

    def __init__(self, path: Path, ahead: int = 8):
        self.path = path
        self.cap = cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            raise EmocliError(f"{path}: neither a video nor an image that OpenCV can read")
        self.cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        claimed = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._first = self._read()
        if self._first is None:
            self.cap.release()
            raise EmocliError(f"{path}: the video has no frames that can be decoded")
        height, width = self._first.shape[:2]
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.info = VideoInfo(fps if 0 < fps < 1000 else 25.0, width, height, max(claimed, 0))
        self.decode_errors = 0
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._decode, daemon=True)
        self._thread.start()

    def _read(self) -> np.ndarray | None:
        ok, frame = self.cap.read()
        return frame if ok else None

    def _decode(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                frame = self._read()
                if frame is not None:
                    failures = 0
                    self._queue.put(frame)
                    continue
                position = int(self.cap.get(cv2.CAP_PROP_POS_FRAMES))
                if position >= self.info.frames or failures >= 10:
                    break
                failures += 1  # a damaged frame inside the stream: carry on
                self.decode_errors += 1
        finally:
            self._queue.put(_END)

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self._first
        while (frame := self._queue.get()) is not _END:
            yield frame

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():  # unblock a decoder waiting on a full queue
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self.cap.release()


def frames_in(budget: int, info: VideoInfo) -> int:
    """How many frames of this size fit in `budget` bytes (8 to 64): a queue that absorbs a
    batch of labelled frames at once, without holding gigabytes of 4K video."""
    return max(8, min(64, budget // max(1, info.width * info.height * 3)))


class VideoWriter:
    """Frames encoded in a thread, in order, so that encoding overlaps the per-frame work."""

    def __init__(self, path: Path, info: VideoInfo, behind: int | None = None):
        fourcc = cv2.VideoWriter_fourcc(*_FOURCC.get(path.suffix.lower(), "mp4v"))
        self.writer = cv2.VideoWriter(str(path), fourcc, info.fps, (info.width, info.height))
        if not self.writer.isOpened():
            raise EmocliError(f"{path}: cannot write a video with this extension")
        self._queue: queue.Queue = queue.Queue(maxsize=behind or frames_in(64 << 20, info))
        self._thread = threading.Thread(target=self._encode, daemon=True)
        self._thread.start()

    def _encode(self) -> None:
        while (frame := self._queue.get()) is not _END:
            self.writer.write(frame)

    def write(self, frame: np.ndarray) -> None:
        self._queue.put(frame)

    def close(self) -> None:
        self._queue.put(_END)
        self._thread.join()
        self.writer.release()


def ffmpeg_exe() -> str | None:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return shutil.which("ffmpeg")


def has_audio(ffmpeg: str, path: Path) -> bool:
    probe = subprocess.run([ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True,
                           text=True, errors="replace")
    return "Audio:" in probe.stderr


def mux_audio(ffmpeg: str, video: Path, audio_source: Path, target: Path) -> bool:
    """Copy the audio of `audio_source` beside the video stream of `video` into `target`."""
    base = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(video),
            "-i", str(audio_source), "-map", "0:v:0", "-map", "1:a", "-c:v", "copy"]
    for audio_codec in (["-c:a", "copy"], ["-c:a", "aac"]):  # re-encode if the codec won't fit
        if subprocess.run(base + audio_codec + [str(target)],
                          capture_output=True).returncode == 0:
            return True
    return False
