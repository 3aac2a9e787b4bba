"""Face boxes: the one clean-up every detection goes through, and overlap measures.

Boxes are (x, y, w, h) float32 rows in frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

NMS_IOU = 0.4  # two boxes overlapping this much are one face
NESTED = 0.7  # a box this much inside a bigger one (intersection / its own area) is the same face


@dataclass
class Detections:
    boxes: np.ndarray  # (N, 4) x, y, w, h
    scores: np.ndarray  # (N,)
    landmarks: np.ndarray | None = None  # (N, 5, 2): eyes (right, left in the image), nose, mouth

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def take(self, keep) -> Detections:
        marks = None if self.landmarks is None else self.landmarks[keep]
        return Detections(self.boxes[keep], self.scores[keep], marks)

    def scaled(self, factor: float, dx: float = 0.0, dy: float = 0.0) -> Detections:
        """Map from a resized (and offset) copy back to the frame: p / factor + (dx, dy)."""
        shift = np.array([dx, dy], np.float32)
        boxes = self.boxes / factor
        boxes[:, :2] += shift
        marks = None if self.landmarks is None else self.landmarks / factor + shift
        return Detections(boxes.astype(np.float32), self.scores, marks)


def xyxy(boxes: np.ndarray) -> np.ndarray:
    """(x, y, w, h) rows to (x1, y1, x2, y2)."""
    b = np.asarray(boxes, np.float32)[:, :4].reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def xywh(boxes: np.ndarray) -> np.ndarray:
    """(x1, y1, x2, y2) rows to (x, y, w, h)."""
    return np.concatenate([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]], axis=1)


def overlaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IoU and intersection over the smaller area, for every pair of rows of a and b.

    numpy rather than torchvision.ops.box_iou: the tracker calls this on one or two boxes per
    face per frame, where a torch call's fixed cost is most of the work."""
    pa, pb = xyxy(a)[:, None, :], xyxy(b)[None, :, :]
    wh = (np.minimum(pa[..., 2:], pb[..., 2:]) - np.maximum(pa[..., :2], pb[..., :2])).clip(0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.asarray(a, np.float32)[:, 2:4].prod(1)[:, None]
    area_b = np.asarray(b, np.float32)[:, 2:4].prod(1)[None, :]
    union = np.maximum(area_a + area_b - inter, 1e-6)
    return inter / union, inter / np.maximum(np.minimum(area_a, area_b), 1e-6)


SAME_SIZE = 0.6  # boxes whose sides differ more than this ratio are never near by their centres


def similarity(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How surely each pair of rows of a and b is one face, and the intersection over the
    smaller area. Similarity is the larger of the IoU and the nearness of the centres (1 at
    the same centre, 0 a side's length apart; for boxes of about the same size): a small face
    moving fast overlaps little from one look to the next but stays close to where it was."""
    a, b = np.asarray(a, np.float32).reshape(-1, 4), np.asarray(b, np.float32).reshape(-1, 4)
    iou, inside = overlaps(a, b)
    side_a, side_b = np.sqrt(a[:, 2] * a[:, 3])[:, None], np.sqrt(b[:, 2] * b[:, 3])[None, :]
    centre_a, centre_b = a[:, :2] + a[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
    dist = np.linalg.norm(centre_a[:, None, :] - centre_b[None, :, :], axis=2)
    larger = np.maximum(np.maximum(side_a, side_b), 1e-6)
    near = (1 - dist / larger).clip(0) * (np.minimum(side_a, side_b) / larger >= SAME_SIZE)
    return np.maximum(iou, near), inside


def best_match(box: np.ndarray, dets: Detections, threshold: float,
               nested: float | None = None) -> int | None:
    """The detection that continues `box`: the most similar (`similarity`), and with `nested`,
    also a box lying mostly inside it or around it (ranked lower); None when none is close."""
    if not len(dets):
        return None
    overlap, inside = similarity(np.asarray(box)[None], dets.boxes)
    overlap, inside = overlap[0], inside[0]
    rank = overlap if nested is None else np.maximum(overlap, inside * 0.5)
    best = int(rank.argmax())
    if overlap[best] >= threshold or (nested is not None and inside[best] >= nested):
        return best
    return None


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes (x, y, w, h) that non-maximum suppression keeps, best first
    (OpenCV's NMSBoxes: no torchvision, which costs 2 s and 170 MB to import)."""
    if not len(boxes):
        return np.zeros(0, int)
    rank = np.argsort(np.argsort(np.asarray(scores, np.float64)))  # any scores, as 0..1
    keep = cv2.dnn.NMSBoxes(np.asarray(boxes, np.float64).tolist(),
                            ((rank + 1) / len(rank)).tolist(), 0.0, iou)
    return np.asarray(keep, int).reshape(-1)


def clean(dets: Detections, min_score: float, iou: float = NMS_IOU,
          nested: float = NESTED) -> Detections:
    """Score threshold, then NMS, then drop boxes nested in a better one."""
    dets = dets.take(np.flatnonzero((dets.scores >= min_score) & (dets.boxes[:, 2] > 1)
                                    & (dets.boxes[:, 3] > 1)))
    if len(dets) < 2:
        return dets
    dets = dets.take(nms(dets.boxes, dets.scores, iou))  # now sorted by score, best first
    _, inside = overlaps(dets.boxes, dets.boxes)
    # a box goes when a better-scored box covers most of it, or it covers most of a better one
    dominated = np.triu(inside > nested, k=1).any(axis=0)
    return dets.take(np.flatnonzero(~dominated))

