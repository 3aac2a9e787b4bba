"""Video and image I/O with OpenCV, and audio copying with the ffmpeg that imageio-ffmpeg ships."""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

# FFmpeg inside OpenCV prints its own complaints (e.g. "moov atom not found") on stderr; emocli
# reports such failures itself in one line.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402

from emocli.errors import EmocliError
from emocli.fileio import interrupt_deferred
from emocli.video.sources import Limits, Source


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
    """Frames of a video file, a camera or a stream, decoded ahead in a thread (OpenCV releases
    the GIL while it decodes), upright (OpenCV applies phone rotation metadata). A frame of a
    file that fails to decode mid-stream is counted and skipped; a real-time source that is read
    slower than it runs drops its oldest frames (counted) rather than lag behind. Iteration ends
    at the end of the source or when `limits` says so."""

    def __init__(self, source: Source | Path, ahead: int = 8, limits: Limits | None = None):
        self.source = source if isinstance(source, Source) else Source(str(source), "file")
        self.path = self.source.path
        self.limits = limits or Limits()
        logging = cv2.utils.logging
        level = logging.getLogLevel()
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)  # a missing camera makes backends chatty
        try:
            self.cap = cv2.VideoCapture(self.source.capture)
        finally:
            logging.setLogLevel(level)
        if not self.cap.isOpened():
            raise EmocliError(f"{self.source}: " + (
                "neither a video nor an image that OpenCV can read" if not self.source.live
                else "cannot be opened (no such camera, or the stream is not reachable)"))
        self.cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        claimed = 0 if self.source.live else int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._first = self._read()
        if self._first is None:
            self.cap.release()
            if self.source.kind == "stream" and urlsplit(self.source.spec).scheme.lower() in (
                    "http", "https"):
                raise EmocliError(
                    f"{self.source}: the stream cannot be read from its start (an MP4 whose "
                    "index is at its end needs a server that answers range requests); serve a "
                    "faststart MP4 (ffmpeg -i IN -c copy -movflags +faststart OUT) or use a "
                    "server with range requests")
            raise EmocliError(f"{self.source}: the video has no frames that can be decoded")
        height, width = self._first.shape[:2]
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.info = VideoInfo(fps if 0 < fps < 1000 else 25.0, width, height, max(claimed, 0))
        self.decode_errors = 0
        self.dropped = 0
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._decode, daemon=True)
        self._thread.start()

    def _read(self) -> np.ndarray | None:
        ok, frame = self.cap.read()
        return frame if ok else None

    def _put(self, frame: np.ndarray) -> None:
        if not self.source.realtime:
            self._queue.put(frame)
            return
        while True:
            try:
                self._queue.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _decode(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                frame = self._read()
                if frame is not None:
                    failures = 0
                    self._put(frame)
                    continue
                position = int(self.cap.get(cv2.CAP_PROP_POS_FRAMES))
                if self.source.live or position >= self.info.frames or failures >= 10:
                    break  # a live source that fails has ended (or hung up)
                failures += 1  # a damaged frame inside the file: carry on
                self.decode_errors += 1
        finally:
            self._queue.put(_END)

    def __iter__(self) -> Iterator[np.ndarray]:
        started, count, frame = time.monotonic(), 0, self._first
        while frame is not _END:
            seconds = (time.monotonic() - started if self.source.live
                       else count / self.info.fps)
            if self.limits.reached(count, seconds):
                return
            if frame is not None:
                count += 1
                yield frame
            try:  # a timeout, so that a stop is seen while a stream stalls
                frame = self._queue.get(timeout=0.1)
            except queue.Empty:
                frame = None

    def close(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + 5
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:  # unblock a decoder waiting on a full queue
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        if not self._thread.is_alive():  # a stream stalled inside read() keeps its capture
            self.cap.release()


@dataclass(frozen=True)
class Container:
    """How ffmpeg encodes one output suffix: video codec options, pixel formats for even and odd
    frame sizes, the audio codec (None: the container takes no audio), and whether an odd side
    is padded to even instead (for the even sizes' format)."""

    video: tuple[str, ...]
    pix_even: str | None
    pix_odd: str | None
    audio: tuple[str, ...] | None
    pad_odd: bool = False


_H264_VIDEO = ("-c:v", "libx264", "-preset", "ultrafast", "-crf", "23")
# H.264 in 4:2:0, what browsers play, holds even sides only (its stream cropping counts in
# 2-px units there): an odd side gets one more row or column, a copy of the last
_H264 = Container(_H264_VIDEO, "yuv420p", "yuv420p", ("-c:a", "aac"), pad_odd=True)
CONTAINERS = {
    ".mp4": _H264, ".m4v": _H264, ".mov": _H264,
    ".mkv": Container(_H264_VIDEO, "yuv420p", "yuv444p", ("-c:a", "copy")),  # the exact size
    # VP9's 4:2:0 takes odd sides as they are
    ".webm": Container(("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
                        "-crf", "32", "-b:v", "0"), "yuv420p", "yuv420p", ("-c:a", "libopus")),
    ".avi": Container(("-c:v", "mjpeg", "-q:v", "3"), "yuvj420p", "yuvj444p",
                      ("-c:a", "pcm_s16le")),
    ".gif": Container(("-filter_complex", "split[a][b];[a]palettegen[p];[b][p]paletteuse",
                       "-loop", "0"), None, None, None),
}
WRITABLE_VIDEO_EXTS = tuple(sorted(CONTAINERS))


def frames_in(budget: int, info: VideoInfo) -> int:
    """How many frames of this size fit in `budget` bytes (8 to 64): a queue that absorbs a
    batch of labelled frames at once, without holding gigabytes of 4K video."""
    return max(8, min(64, budget // max(1, info.width * info.height * 3)))


class VideoWriter:
    """Every frame piped to imageio-ffmpeg's ffmpeg from a thread, in order, encoded for the
    output's suffix (H.264 in .mp4/.mov/.m4v/.mkv, VP9 in .webm, MJPEG in .avi, a palette GIF)
    at the input's size (`size`: an odd side one larger in .mp4/.mov/.m4v) and frame rate, with
    the audio of `audio_from` muxed in the same pass where the container takes it."""

    def __init__(self, path: Path, info: VideoInfo, audio_from: Path | None = None,
                 behind: int | None = None):
        container = CONTAINERS.get(path.suffix.lower())
        ffmpeg = ffmpeg_exe()
        if container is None or ffmpeg is None:
            raise EmocliError(f"{path}: cannot write a video with this extension (use "
                              f"{', '.join(WRITABLE_VIDEO_EXTS)})" if ffmpeg else
                              "no ffmpeg found to write videos (pip install imageio-ffmpeg)")
        odd = info.width % 2 or info.height % 2
        pix = container.pix_odd if odd else container.pix_even
        self.size = info.width, info.height
        if container.pad_odd:
            self.size = info.width + info.width % 2, info.height + info.height % 2
        self._pad = self.size[0] - info.width, self.size[1] - info.height
        # H.264's and VP9's 4:2:0 made here by OpenCV (SIMD, 1 ms a 1080p frame, same BT.601
        # limited range): ffmpeg's own conversion from BGR took a third of its CPU, and the
        # pipe carries half the bytes
        self._yuv = pix == "yuv420p" and not (self.size[0] % 2 or self.size[1] % 2)
        audio = audio_from is not None and container.audio is not None
        cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "yuv420p" if self._yuv else "bgr24",
               "-s", f"{self.size[0]}x{self.size[1]}",
               "-framerate", repr(info.fps), "-i", "-",
               *(["-i", str(audio_from), "-map", "0:v:0", "-map", "1:a?", *container.audio]
                 if audio else []),
               *container.video, *(["-pix_fmt", pix] if pix else []),
               "-fps_mode", "passthrough", str(path)]
        self.path = path
        self.audio = "copied" if audio else "none"
        try:
            with interrupt_deferred():  # a Ctrl-C inside Popen would orphan the encoder
                # its own session: Ctrl-C at the terminal reaches emocli, which ends the file
                self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                              start_new_session=True)
            self._queue: queue.Queue = queue.Queue(maxsize=behind or frames_in(64 << 20, info))
            self._failed: str | None = None
            self._thread = threading.Thread(target=self._encode, daemon=True)
            self._thread.start()
        except BaseException:
            if hasattr(self, "_proc"):
                self._kill()
            raise

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, error, trace) -> None:
        """Finish the file after a complete run; after a failure or Ctrl-C, stop ffmpeg at once,
        so that it cannot write the file after the caller has removed it."""
        if kind is None:
            self.close()
        else:
            self._kill()

    def _kill(self) -> None:
        self._proc.kill()
        self._proc.wait()
        if getattr(self, "_thread", None) is not None:
            self._drain()

    def _drain(self) -> None:
        """Unblock the encoder thread (it may wait on the full queue or a dead pipe)."""
        self._failed = self._failed or "stopped"
        while self._thread.is_alive():
            try:
                self._queue.put_nowait(_END)
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
            self._thread.join(timeout=0.05)

    def _encode(self) -> None:
        while (frame := self._queue.get()) is not _END:
            if any(self._pad):
                frame = cv2.copyMakeBorder(frame, 0, self._pad[1], 0, self._pad[0],
                                           cv2.BORDER_REPLICATE)
            if self._yuv:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
            if self._failed is None:
                try:
                    self._proc.stdin.write(memoryview(np.ascontiguousarray(frame)))
                except (BrokenPipeError, OSError) as exc:
                    self._failed = str(exc)

    def write(self, frame: np.ndarray) -> None:
        self._queue.put(frame)

    def close(self) -> None:
        """Finish the file; an encoder failure is one line naming the output."""
        self._queue.put(_END)
        self._thread.join()
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        errors = self._proc.stderr.read().decode(errors="replace").strip()
        if self._proc.wait() != 0 or self._failed:
            last = (errors.splitlines() or [self._failed or "unknown error"])[-1][:160]
            raise EmocliError(f"{self.path}: ffmpeg could not write the video ({last})")


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_KEPT = {"depth": 0, "lock": threading.Lock()}


@contextlib.contextmanager
def memory_kept() -> Iterator[None]:
    """While videos run, keep freed frame buffers in the process for the next frames: glibc's
    malloc hands multi-megabyte blocks back to the system and takes fresh pages, zeroed, for
    the next frame (1080p crowd clip: 7% of annotate's time, 15% in a new process). The memory
    goes back once the last run ends. Elsewhere than glibc: nothing changes."""
    libc = _glibc()
    with _KEPT["lock"]:
        _KEPT["depth"] += 1
        if libc is not None and _KEPT["depth"] == 1:
            libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # glibc's largest: blocks below it reused
            libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    try:
        yield
    finally:
        with _KEPT["lock"]:
            _KEPT["depth"] -= 1
            if libc is not None and _KEPT["depth"] == 0:
                libc.mallopt(M_TRIM_THRESHOLD, 128 << 10)  # glibc's default
                libc.malloc_trim(0)


@functools.cache
def _glibc():
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    import ctypes

    return ctypes.CDLL(None)


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
