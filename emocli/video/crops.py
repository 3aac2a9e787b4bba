"""The classifier's view of a face: a square gray crop around the box, eyes levelled.

FER2013's faces are roughly upright; a head tilted in the frame is turned back before it is
classified, using the eye landmarks when the detector gives them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

MAX_LEVEL = 45.0  # degrees; a steeper eye line is a landmark error, not a tilted head
# Levelling only pays beyond a clear tilt: on PublicTest faces (benchmarks/levelling.py) it
# cost ~1 pt when applied to upright faces (FER2013's own faces lean a little, and the network
# learnt them so), was neutral at 10 degrees and gained 2.7-4.5 pt at 20 degrees from 12 up.
LEVEL_FROM = 12.0


def eye_angle(landmarks: np.ndarray | None) -> float:
    """Degrees to rotate (counter-clockwise on screen) so that the eyes are level; 0 unknown."""
    if landmarks is None or not np.isfinite(landmarks[:2]).all():
        return 0.0
    left, right = sorted(landmarks[:2].tolist())  # by x: the eye on the image's left first
    angle = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
    return angle if abs(angle) <= MAX_LEVEL else 0.0


def level_angle(landmarks: np.ndarray | None) -> float:
    """The rotation `face_crops` applies: the eye angle when the head is clearly tilted."""
    angle = eye_angle(landmarks)
    return angle if abs(angle) >= LEVEL_FROM else 0.0


def face_crop(image: np.ndarray, box: np.ndarray, angle: float = 0.0, margin: float = 0.1,
              size: int = 48) -> np.ndarray:
    """A gray size x size crop of the square around `box` (enlarged by `margin` on each side)
    in a gray or BGR `image`, rotated by `angle` degrees about the face centre; the border is
    replicated past the edge."""
    x, y, w, h = (float(v) for v in box[:4])
    pad = math.ceil(size * 0.21)  # room for the corners of a crop turned by up to 45 degrees
    big = size + 2 * pad
    side = max(w, h) * (1 + 2 * margin) * big / size
    x0, y0 = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
    n = max(1, round(side))
    height, width = image.shape[:2]
    cut = image[max(y0, 0):min(y0 + n, height), max(x0, 0):min(x0 + n, width)]
    if cut.ndim == 3 and cut.size:  # only the face turned gray: the whole 1080p frame took 3.7 ms
        cut = cv2.cvtColor(cut, cv2.COLOR_BGR2GRAY)
    patch = cv2.copyMakeBorder(
        cut,
        max(-y0, 0), max(y0 + n - height, 0), max(-x0, 0), max(x0 + n - width, 0),
        cv2.BORDER_REPLICATE)
    patch = cv2.resize(patch, (big, big), interpolation=cv2.INTER_AREA if n > big
                       else cv2.INTER_LINEAR)
    if angle == 0.0:
        return np.ascontiguousarray(patch[pad:pad + size, pad:pad + size])
    matrix = cv2.getRotationMatrix2D((big / 2, big / 2), angle, 1.0)
    matrix[:, 2] -= pad
    return cv2.warpAffine(patch, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def face_crops(frame: np.ndarray, boxes: np.ndarray, landmarks: list | None = None,
               margin: float = 0.1, size: int = 48) -> np.ndarray:
    """(N, size, size) uint8 crops of a gray or BGR frame; `landmarks[i]` (or None) levels
    face i."""
    crops = np.empty((len(boxes), size, size), dtype=np.uint8)
    for i, box in enumerate(boxes):
        angle = level_angle(landmarks[i]) if landmarks is not None else 0.0
        crops[i] = face_crop(frame, box, angle, margin, size)
    return crops
