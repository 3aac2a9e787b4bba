"""Where labelled frames go besides the video, as each one is written: JSON Lines for scripts,
a window for people."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, TextIO

from emocli.errors import EmocliError

if TYPE_CHECKING:  # light: a sink needs no torch of its own
    from emocli.video.pipeline import AnnotatedFrame


class JsonLines:
    """One JSON object per frame, flushed at once so that a reader (`| jq`) sees each frame as it
    is done. A reader that goes away sets `stop`: the run ends as if the source had."""

    def __init__(self, stream: TextIO, stop: threading.Event | None = None,
                 input_name: str | None = None):
        self.stream, self.stop, self.input_name = stream, stop, input_name
        self.closed = False

    def __call__(self, frame: AnnotatedFrame) -> None:
        if self.closed:
            return
        record = frame.json() if self.input_name is None else {"input": self.input_name,
                                                                **frame.json()}
        try:
            self.stream.write(json.dumps(record) + "\n")
            self.stream.flush()
        except BrokenPipeError:
            self.closed = True
            if self.stop is not None:
                self.stop.set()


def display_problem() -> str | None:
    """Why no window can be opened here, or None."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return "no display here (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    import cv2

    gui = [line for line in cv2.getBuildInformation().splitlines()
           if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() == "NONE":
        return "this OpenCV build has no window support (opencv-python-headless?)"
    # A display that is set but cannot be reached makes Qt abort the whole process at the
    # first window: try one in a child process first.
    probe = subprocess.run([sys.executable, "-c", "import cv2; cv2.namedWindow('emocli'); "
                            "cv2.waitKey(1); cv2.destroyAllWindows()"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        where = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "this display"
        return f"no window can be opened on {where}"
    return None


class Window:
    """The labelled frames in a window; q, Esc or closing the window sets `stop`."""

    def __init__(self, title: str, stop: threading.Event):
        problem = display_problem()
        if problem:
            raise EmocliError(f"cannot show the frames: {problem}")
        self.title, self.stop = title, stop
        self._opened = False

    def __call__(self, frame: AnnotatedFrame) -> None:
        import cv2

        if self.stop.is_set():
            return
        if self._opened and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self.stop.set()  # closed with the mouse
            return
        cv2.imshow(self.title, frame.image)
        self._opened = True
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.stop.set()

    def close(self) -> None:
        import cv2

        if self._opened:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
