"""Tracking faces across frames: stable ids, smoothed probabilities, no one-frame ghosts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou
import torch


@dataclass
class Track:
    id: int
    box: np.ndarray  # x, y, w, h
    proba: np.ndarray | None = None
    hits: int = 1
    misses: int = 0
    frames: int = 0  # frames in which the track was shown
    history: list = field(default_factory=list)  # labels shown, for the summary


@dataclass
class TrackerConfig:
    min_hits: int = 3  # detections before a new face is shown
    max_coast: int = 8  # detection rounds a lost face keeps its box
    iou: float = 0.3  # overlap needed to continue a track
    smoothing: float = 0.7  # weight of the past in the probability average
    box_smoothing: float = 0.5  # weight of the past in the box average


def _xyxy(boxes: np.ndarray) -> torch.Tensor:
    b = torch.as_tensor(boxes[:, :4], dtype=torch.float32)
    return torch.cat([b[:, :2], b[:, :2] + b[:, 2:]], dim=1)


class Tracker:
    """IoU matching (Hungarian, scipy) of detections to tracks."""

    def __init__(self, cfg: TrackerConfig | None = None):
        self.cfg = cfg or TrackerConfig()
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, detections: np.ndarray) -> None:
        """Feed the detections of one detection round."""
        matched_t, matched_d = self._match(detections)
        a = self.cfg.box_smoothing
        for t, d in zip(matched_t, matched_d):
            track = self.tracks[t]
            track.box = a * track.box + (1 - a) * detections[d, :4]
            track.hits += 1
            track.misses = 0
        for t in set(range(len(self.tracks))) - set(matched_t):
            self.tracks[t].misses += 1
        for d in set(range(len(detections))) - set(matched_d):
            self.tracks.append(Track(self._next_id, detections[d, :4].copy()))
            self._next_id += 1
        self.tracks = [t for t in self.tracks
                       if t.misses <= self.cfg.max_coast
                       and not (t.hits < self.cfg.min_hits and t.misses > 0)]

    def _match(self, detections: np.ndarray) -> tuple[list[int], list[int]]:
        if not self.tracks or not len(detections):
            return [], []
        boxes = np.stack([t.box for t in self.tracks])
        iou = box_iou(_xyxy(boxes), _xyxy(detections)).numpy()
        rows, cols = linear_sum_assignment(-iou)
        keep = iou[rows, cols] >= self.cfg.iou
        return rows[keep].tolist(), cols[keep].tolist()

    def visible(self) -> list[Track]:
        """Tracks confirmed by enough detections (and not lost for too long)."""
        return [t for t in self.tracks if t.hits >= self.cfg.min_hits]

    def smooth(self, track: Track, proba: np.ndarray) -> np.ndarray:
        a = self.cfg.smoothing
        track.proba = proba if track.proba is None else a * track.proba + (1 - a) * proba
        return track.proba
