"""Steady labels: per-face probabilities averaged over time, with hysteresis before a change.

The average is exponential in time (so the same `tau` means the same on 15 and 60 fps), each
answer weighted by how sure it is, and the shown label changes only when another emotion leads
the current one by `margin` in the average.
"""

from __future__ import annotations

import math

import numpy as np

from emocli.video.options import SmoothingConfig


class LabelSmoother:
    """One face's smoothed probabilities and shown label."""

    def __init__(self, cfg: SmoothingConfig = SmoothingConfig()):
        self.cfg = cfg
        self.proba: np.ndarray | None = None
        self.label: int | None = None
        self.time: float | None = None

    def update(self, raw: np.ndarray, time_s: float) -> None:
        """Take a new classification made at `time_s` seconds."""
        if self.proba is None or self.cfg.tau <= 0:
            self.proba = raw.astype(np.float32)
        else:
            keep = math.exp(-max(time_s - self.time, 0.0) * sureness(raw) / self.cfg.tau)
            self.proba = keep * self.proba + (1 - keep) * raw
        self.time = time_s
        best = int(self.proba.argmax())
        if self.label is None or self.proba[best] - self.proba[self.label] > self.cfg.margin:
            self.label = best


def sureness(proba: np.ndarray) -> float:
    """0 for a uniform answer, 1 for a certain one: its top probability above chance. An
    unsure answer (a face of a dozen pixels, a look between two emotions) counts for less time
    in the average, so a run of them cannot flip the label, while a sure change still shows
    in a few tenths of a second."""
    chance = 1 / len(proba)
    return float(max(proba.max() - chance, 0.0) / (1 - chance))


def flips_per_second(labels: list[str], seconds: float) -> float:
    """How often a sequence of shown labels changes, per second of footage."""
    changes = sum(a != b for a, b in zip(labels, labels[1:]))
    return changes / seconds if seconds > 0 else 0.0
