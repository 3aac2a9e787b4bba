"""Drawing a labelled box, legible at any resolution."""

from __future__ import annotations

import cv2
import numpy as np

# BGR colours per emotion, chosen to stay distinct on video
COLOURS = {"angry": (40, 40, 230), "disgust": (40, 140, 40), "fear": (160, 60, 160),
           "happy": (40, 200, 240), "sad": (200, 120, 40), "surprise": (40, 160, 255),
           "neutral": (200, 200, 200)}


def draw(frame: np.ndarray, box: np.ndarray, label: str, confidence: float) -> None:
    """A box and 'label 87%' above it (below it at the top edge), scaled to the frame."""
    scale = max(frame.shape[:2]) / 640
    thick = max(1, round(2 * scale))
    colour = COLOURS[label]
    x, y, w, h = (int(round(v)) for v in box[:4])
    cv2.rectangle(frame, (x, y), (x + w, y + h), colour, thick, cv2.LINE_AA)
    text = f"{label} {confidence:.0%}"
    font_scale = 0.6 * scale
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
    top = y - th - base - 2 * thick if y - th - base - 2 * thick >= 0 else y + h
    cv2.rectangle(frame, (x, top), (x + tw + 2 * thick, top + th + base + 2 * thick), colour, -1)
    cv2.putText(frame, text, (x + thick, top + th + thick), cv2.FONT_HERSHEY_SIMPLEX,
                font_scale, (0, 0, 0), thick, cv2.LINE_AA)
