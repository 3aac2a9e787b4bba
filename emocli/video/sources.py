"""What `annotate` reads: a file, a folder, a camera or a stream URL, and when to stop reading.
Light (no OpenCV): the command line parses its argument with it."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from emocli.errors import EmocliError, OptionError

# Streams that run in real time whether or not they are read: a reader that falls behind drops
# the oldest frames instead of lagging further and further (http(s) is read at our own pace).
REALTIME_SCHEMES = {"rtsp", "rtsps", "rtmp", "rtmps", "udp", "rtp", "srt", "tcp"}
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
              ".gif", ".ts"}  # an animated GIF is a video; OpenCV's FFmpeg reads it frame by frame
MEDIA_EXTS = IMAGE_EXTS | VIDEO_EXTS


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS


@dataclass(frozen=True)
class Source:
    spec: str  # as the user wrote it
    kind: str  # file | folder | camera | stream

    @property
    def path(self) -> Path:
        return Path(self.spec)

    @property
    def live(self) -> bool:
        """A camera or a stream: no known length; Ctrl-C ends the capture and keeps the output."""
        return self.kind in ("camera", "stream")

    @property
    def realtime(self) -> bool:
        return self.kind == "camera" or (
            self.kind == "stream" and urlsplit(self.spec).scheme.lower() in REALTIME_SCHEMES)

    @property
    def capture(self) -> int | str:
        """The argument for OpenCV's VideoCapture."""
        return int(self.spec) if self.kind == "camera" else self.spec

    @property
    def name(self) -> str:
        """A short name for output files and run folders: the file's stem, `camera0`, or the
        stream's last path part (its host when the path is empty)."""
        if self.kind == "camera":
            return f"camera{self.spec}"
        if self.kind == "stream":
            url = urlsplit(self.spec)
            stem = Path(url.path).stem or url.hostname or "stream"
            return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
        return self.path.stem if self.kind == "file" else self.path.resolve().name

    def __str__(self) -> str:
        return f"camera {self.spec}" if self.kind == "camera" else self.spec


def parse_source(spec: str) -> Source:
    """A camera index (`0`, unless a file of that name exists), a URL (`rtsp://...`,
    `http://...`), or an existing file or folder."""
    if _URL.match(spec):
        return Source(spec, "stream")
    path = Path(spec)
    if spec.isdigit() and not path.exists():
        return Source(spec, "camera")
    if path.is_dir():
        return Source(spec, "folder")
    if path.exists():
        return Source(spec, "file")
    raise EmocliError(f"{spec}: no such file or folder (nor a camera index or a URL)")


@dataclass
class Limits:
    """When to stop reading a video: after `max_frames` frames, after `duration` seconds of the
    source (of wall-clock time for a live source), or when `stop` is set from elsewhere (Ctrl-C,
    a key in the preview window, a reader of the JSON Lines that went away)."""

    max_frames: int | None = None
    duration: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def validate(self) -> Limits:
        if self.max_frames is not None and self.max_frames < 1:
            raise OptionError("max_frames", "must be at least 1")
        if self.duration is not None and self.duration <= 0:
            raise OptionError("duration", "must be more than 0 seconds")
        return self

    def reached(self, frames: int, seconds: float) -> bool:
        return (self.stop.is_set()
                or (self.max_frames is not None and frames >= self.max_frames)
                or (self.duration is not None and seconds >= self.duration))
