"""Drawing a labelled box, legible at any resolution."""

from __future__ import annotations

import functools

import cv2
import numpy as np

# BGR colours per emotion, chosen to stay distinct on video
COLOURS = {"angry": (40, 40, 230), "disgust": (40, 140, 40), "fear": (160, 60, 160),
           "happy": (40, 200, 240), "sad": (200, 120, 40), "surprise": (40, 160, 255),
           "neutral": (200, 200, 200)}
FONT = cv2.FONT_HERSHEY_SIMPLEX


@functools.lru_cache(maxsize=2048)
def _tag(text: str, font_scale: float, thick: int, colour: tuple[int, int, int]) -> np.ndarray:
    """The filled label with its anti-aliased text, drawn once: the text is 5x the cost of the
    rest at 1080p, and a crowd repeats the same few tags on every frame."""
    (tw, th), base = cv2.getTextSize(text, FONT, font_scale, thick)
    tag = np.empty((th + base + 2 * thick + 1, tw + 2 * thick + 1, 3), np.uint8)
    tag[:] = colour
    cv2.putText(tag, text, (thick, th + thick), FONT, font_scale, (0, 0, 0), thick, cv2.LINE_AA)
    tag.flags.writeable = False
    return tag


def draw(frame: np.ndarray, box: np.ndarray, label: str, confidence: float) -> None:
    """A box and 'label 87%' above it (below it at the top edge), scaled to the frame."""
    scale = max(frame.shape[:2]) / 640
    thick = max(1, round(2 * scale))
    colour = COLOURS[label]
    x, y, w, h = (int(round(v)) for v in box[:4])
    cv2.rectangle(frame, (x, y), (x + w, y + h), colour, thick, cv2.LINE_AA)
    tag = _tag(f"{label} {confidence:.0%}", 0.6 * scale, thick, colour)
    top = y - len(tag) + 1 if y - len(tag) + 1 >= 0 else y + h
    _paste(frame, tag, x, top)


def _paste(frame: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """`patch` onto `frame` with its top-left corner at (x, y), clipped to the frame."""
    height, width = frame.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + patch.shape[1], width), min(y + patch.shape[0], height)
    if x0 < x1 and y0 < y1:
        frame[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x]
