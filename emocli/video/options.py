"""Options of `annotate` and the video pipeline, with their defaults: the one place they live
(the command line reads them from here, without loading torch or OpenCV)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from emocli.errors import OptionError
from emocli.models.names import BUILTIN_NAMES

DETECTORS = ("auto", *BUILTIN_NAMES["detector"])  # `auto` picks the best one installed


@dataclass
class TrackerConfig:
    min_hits: int = 3  # detections before a new face counts (removes one-frame ghosts)
    max_coast: int = 12  # frames a lost face is kept after its last detection
    # similarity (boxes.similarity: IoU, or nearness of centres) between a track's predicted
    # box and a detection to continue it; a detection this near a live track starts none
    iou: float = 0.3
    merge_iou: float = 0.5  # two tracks this similar in one frame are one face
    box_smoothing: float = 0.4  # weight of the prediction against the new detection
    velocity_smoothing: float = 0.7  # weight of the past in the per-frame velocity


@dataclass(frozen=True)
class SmoothingConfig:
    # seconds: the time constant of the exponential average for a sure answer; an unsure one
    # counts for less (`smoothing.sureness`); 0: no average
    tau: float = 0.3
    margin: float = 0.1  # lead (in probability) another emotion needs to take the label over


@dataclass
class AnnotateOptions:
    detector: str = "auto"
    detector_model: Path | None = None
    min_face: int = 16  # smallest face to find, in pixels of the input
    detect_every: int = 30  # full pass every Nth frame (and at once when a known face is lost)
    refine: bool = True  # in between, re-detect each known face in a small region around it
    region_every: int = 2  # ... on every Nth frame; boxes in the frames between are interpolated
    region_steady: int = 4  # ... a steady face (found at each of its last looks): every Nth
    classify_every: int = 3  # classify each face on every Nth frame; smoothing bridges the rest
    classify_steady: int = 8  # ... a steady face (sure of one emotion twice running): every Nth
    batch: int = 32  # frames whose faces are classified together
    margin: float = 0.1
    level: bool = True  # turn tilted heads upright (eye landmarks) before classifying
    precision: str = "auto"  # a PyTorch classifier's: bf16 where the CPU has it
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    audio: bool = True

    def validate(self) -> AnnotateOptions:
        """Refuse, naming each one, settings out of range."""
        at_least_one = {"detect_every": self.detect_every, "region_every": self.region_every,
                        "region_steady": self.region_steady,
                        "classify_every": self.classify_every,
                        "classify_steady": self.classify_steady, "batch": self.batch,
                        "min_face": self.min_face, "tracker.min_hits": self.tracker.min_hits}
        at_least_zero = {"margin": self.margin, "tracker.max_coast": self.tracker.max_coast,
                         "smoothing.tau": self.smoothing.tau,
                         "smoothing.margin": self.smoothing.margin}
        for limits, problem in ((at_least_one, 1), (at_least_zero, 0)):
            bad = tuple(name for name, value in limits.items() if value < problem)
            if bad:
                raise OptionError(bad, f"must be at least {problem}")
        if self.smoothing.margin >= 1:  # a lead in probability: 1 or more would freeze labels
            raise OptionError("smoothing.margin", "must be below 1 (a lead in probability)")
        return self
