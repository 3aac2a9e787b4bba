"""The annotate pipeline: detect, track, classify in batches, smooth, draw.

Frames are held back `delay` frames before they are drawn, so that each decision can use what
comes next: a face is drawn from its first frame once the tracker has confirmed it, a face that
a full pass finds is followed back to the frame where it appeared, and a face lost for a few
frames (a hand over the mouth) is drawn through the gap, its box interpolated, only if it comes
back. Faces are classified in batches across frames.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import groupby
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emocli.data.labels import EMOTIONS
from emocli.predict.loading import load_model, top_margin
from emocli.video.boxes import Detections, best_match
from emocli.video.crops import face_crops
from emocli.video.detectors import Detector, create_detector, resized, working_scale
from emocli.video.draw import draw
from emocli.video.options import AnnotateOptions, SmoothingConfig, TrackerConfig
from emocli.video.smoothing import LabelSmoother, flips_per_second
from emocli.video.tracker import Tracker

REGION_CONTEXT = 0.4  # a region pass searches this share of the face's side around it
# (0.4, not 0.6: a face's window comes to 72 px and fits YuNet's 64-px stride, 0.52 ms a
# pass instead of 1.15 ms at 96 px; every face-count, crowd and dim-light test holds)
REGION_FACE = 2.5  # ... at a scale where the face is this many times the detector's min_size
REGION_MIN_PAD = 24  # px; detectors miss small faces (20 px, dim) in regions with less context
REGION_SHRINK = 0.8  # a region may be scaled down this much more to fit the detector's stride
STEADY_MARGIN = 0.5  # a face sure of one emotion twice in a row is classified less often
STEADY_HITS = 6  # a face found this often, and at its last look, is looked for less often
EAGER_SHARE = 4  # an idle labeller takes final frames once this share of a batch is ready


@dataclass
class FaceRow:
    """One face in one frame, as drawn and reported."""

    frame: int
    time_s: float
    track: int
    box: np.ndarray
    proba: np.ndarray  # smoothed
    label: str  # the shown label (smoothed, with hysteresis)
    raw: np.ndarray | None  # the classifier's own output, in frames where it ran

    COLUMNS = ("frame", "time_s", "track", "x", "y", "w", "h", "label", "confidence",
               *EMOTIONS, *(f"raw_{e}" for e in EMOTIONS))

    @property
    def confidence(self) -> float:
        """The smoothed probability of the shown label."""
        return float(self.proba[EMOTIONS.index(self.label)])

    def record(self) -> dict:
        x, y, w, h = (int(round(v)) for v in self.box)
        raw = self.raw if self.raw is not None else np.full(len(EMOTIONS), np.nan)
        return {"frame": self.frame, "time_s": round(self.time_s, 4), "track": self.track,
                "x": x, "y": y, "w": w, "h": h, "label": self.label,
                "confidence": round(self.confidence, 4),
                **{e: round(float(p), 4) for e, p in zip(EMOTIONS, self.proba)},
                **{f"raw_{e}": round(float(p), 4) for e, p in zip(EMOTIONS, raw)}}

    def json(self) -> dict:
        """The face as a JSON object: track, box [x, y, w, h], label, confidence, scores."""
        record = self.record()
        return {"track": self.track, "box": [record[k] for k in "xywh"], "label": self.label,
                "confidence": record["confidence"], "scores": {e: record[e] for e in EMOTIONS}}


@dataclass
class _State:
    """One track in one held-back frame."""

    track: int
    box: np.ndarray
    landmarks: np.ndarray | None
    detected: bool
    bridged: bool = False  # lost here, but found again later: drawn with an interpolated box


@dataclass
class AnnotatedFrame:
    index: int
    time_s: float
    image: np.ndarray  # labelled in place
    faces: list[FaceRow]

    def json(self) -> dict:
        """`{"frame": 12, "time_s": 0.48, "faces": [...]}`, as each JSON line holds it."""
        return {"frame": self.index, "time_s": round(self.time_s, 4),
                "faces": [face.json() for face in self.faces]}


@dataclass
class _Held:
    index: int
    time_s: float
    image: np.ndarray
    states: list[_State]


def stride_fit(side: float, stride: int) -> float:
    """The factor (1, or down to REGION_SHRINK) that brings a region's longer `side` down to a
    whole number of strides: a detector that pads its input to them pays for 97 px what it
    pays for 128."""
    fit = side // stride * stride
    return fit / side if stride > 1 and fit >= REGION_SHRINK * side else 1.0


def _inference(model, precision: str):
    """The context the classifier runs in: autocast as `precision` says for a PyTorch model;
    none for OpenCV's runtime (which loads no torch)."""
    if model.runtime != "torch":
        return contextlib.nullcontext
    import torch

    from emocli.models.precision import autocast, autocast_dtype

    dtype = autocast_dtype(precision, torch.device("cpu"))
    return lambda: autocast(dtype)


class Annotator:
    """Frame-by-frame annotation with tracking: `push` frames in order, get back the frames that
    are final (a few frames later), then `finish` for the rest.

    `model`: a loaded model, a bundled model's name or a model file (None: the default);
    `detector` and `tracker`: instances to use instead of the ones `opts` describes."""

    def __init__(self, model, opts: AnnotateOptions | None = None, fps: float = 25.0,
                 detector: Detector | None = None, tracker: Tracker | None = None):
        opts = (opts or AnnotateOptions()).validate()
        if model is None or isinstance(model, (str, Path)):  # a bundled name or a model file
            model = load_model(model)
        model.check_classes()
        self.model, self.opts, self.fps = model, opts, fps
        self.detector = detector or create_detector(opts.detector, opts.detector_model)
        self._inference = _inference(model, opts.precision)
        self.tracker = tracker or Tracker(opts.tracker, self.detector.birth_score)
        rounds = opts.region_every if opts.refine else opts.detect_every
        self.delay = max(opts.tracker.min_hits * rounds, opts.tracker.max_coast + 1)
        self._held: deque[_Held] = deque()
        self._count = 0
        self._ever_confirmed: set[int] = set()
        self._last_seen: dict[int, tuple[int, np.ndarray]] = {}
        self._last_classified: dict[int, int] = {}
        self._answers: dict[int, tuple[int, bool]] = {}  # a face's last: emotion, sure
        # faces steady as of the end of the last block of `batch` frames (the classification
        # rhythm is the same however the frames are handed to `label`), and as of now
        self._steady: set[int] = set()
        self._next_steady: set[int] = set()
        self._block = 0
        self._smoothers: dict[int, LabelSmoother] = {}
        self._scale: float | None = None
        self._last_full = -(10**9)
        # detectors written to the first Protocol take no face sizes and cannot redetect
        self._sized = "sizes" in inspect.signature(self.detector.detect).parameters
        self._redetect = getattr(self.detector, "redetect", None)
        known_floor = getattr(self.detector, "known_floor", None)
        self._redetect_known = (self._redetect if self._redetect is None or known_floor is None
                                else functools.partial(self._redetect, floor=known_floor))
        # a full pass in two halves (`propose`, `confirm`): the known faces are found by
        # `redetect` in between, and the second half skips them
        self._split = (opts.refine and self._redetect is not None
                       and hasattr(self.detector, "propose"))
        # scheduled full passes started by `foresee`, on a detector of their own
        self._ahead = detector is None and getattr(self.detector, "parallel", False)
        self._early: dict[int, Future] = {}
        self._foreseen = 0
        self._pool: tuple[ThreadPoolExecutor, Detector] | None = None

    # -- detection and tracking --------------------------------------------------------------
    def _working_scale(self, frame: np.ndarray) -> float:
        if self._scale is None:  # every frame of a video has the first one's size
            self._scale = working_scale(frame.shape, self.opts.min_face, self.detector.min_size)
        return self._scale

    def _full_pass(self, frame: np.ndarray, detector: Detector | None = None) -> Detections:
        scale = self._working_scale(frame)
        return (detector or self.detector).detect(resized(frame, scale)).scaled(scale)

    def _proposals(self, frame: np.ndarray, detector: Detector | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """The first half of a split full pass: the frame at the working scale, and the
        detector's proposals on it."""
        small = resized(frame, self._working_scale(frame))
        return small, (detector or self.detector).propose(small)

    def foresee(self, frame: np.ndarray) -> None:
        """Frames come in order to `foresee` a few frames before `track`: a full pass due on
        schedule starts then, in another thread, so that tracking never waits for it (a full
        pass of a 1080p frame takes as long as ten frames of region passes)."""
        index, self._foreseen = self._foreseen, self._foreseen + 1
        if not self._ahead or index == 0 or index % self.opts.detect_every:
            return
        if self._pool is None:
            self._pool = (ThreadPoolExecutor(1, "emocli-full-pass"),
                          create_detector(self.opts.detector, self.opts.detector_model))
        self._working_scale(frame)  # set here, not raced for in the other thread
        pool, detector = self._pool
        work = self._proposals if self._split else self._full_pass
        self._early[index] = pool.submit(work, frame, detector)

    def _full_pass_at(self, frame: np.ndarray, index: int) -> Detections:
        """The full pass of frame `index`: the one `foresee` started, else one run now. Split,
        its second half looks past the known faces, which are found first where predicted
        (those not looked for in this frame yet)."""
        early = self._early.pop(index, None)
        if not self._split:
            return early.result() if early is not None else self._full_pass(frame)
        small, proposals = early.result() if early is not None else self._proposals(frame)
        tracker = self.tracker
        self._redetect_tracks(frame, [t for t in tracker.tracks if not t.looked])
        found = [t.box for t in tracker.tracks if t.detected]
        scale = self._scale
        return self.detector.confirm(small, proposals,
                                     np.reshape(found, (-1, 4)) * scale).scaled(scale)

    def _region_pass(self, frame: np.ndarray, box: np.ndarray) -> Detections:
        """Re-detect one face in a small region around its predicted box, telling the
        detector the face's size."""
        x, y, w, h = box
        side = max(w, h)
        pad = max(REGION_CONTEXT * side, REGION_MIN_PAD)
        height, width = frame.shape[:2]
        x0, y0 = int(max(0, x - pad)), int(max(0, y - pad))
        x1, y1 = int(min(width, x + w + pad)), int(min(height, y + h + pad))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return Detections.empty()
        scale = min(1.0, REGION_FACE * self.detector.min_size / max(side, 1.0))
        scale *= stride_fit(max(x1 - x0, y1 - y0) * scale, getattr(self.detector, "stride", 1))
        region = resized(frame[y0:y1, x0:x1], scale, fast=True)
        found = (self.detector.detect(region, (side * scale, side * scale)) if self._sized
                 else self.detector.detect(region))
        return found.scaled(scale, x0, y0)

    def _region_passes(self, frame: np.ndarray) -> None:
        """Re-detect every known face near its predicted box: first all at once where the
        detector can look at given places (`redetect`: MTCNN's later stages on candidates
        around each box, no proposal pyramid), then each face still missing in a small region
        around it."""
        tracker = self.tracker
        due = [t for t in tracker.tracks if self._look_due(t)]
        if self._redetect is not None:
            self._redetect_tracks(frame, due)
        for track in [t for t in due if not t.detected]:  # the rest, one by one
            tracker.update_tracks([track], self._region_pass(frame, tracker.predicted(track)))

    def _redetect_tracks(self, frame: np.ndarray, tracks: list) -> None:
        """`redetect` these faces near their predicted boxes, in two calls: a tentative face
        (dim, small) is kept down to the floor of known ones."""
        tracker = self.tracker
        for group, redetect in (([t for t in tracks if t.confirmed], self._redetect),
                                ([t for t in tracks if not t.confirmed], self._redetect_known)):
            if group:
                boxes = np.stack([tracker.predicted(t) for t in group])
                tracker.update_tracks(group, redetect(frame, boxes))

    def _look_due(self, track) -> bool:
        """A face is looked for at every region pass, but a steady one (confirmed, found
        STEADY_HITS times and at its last look) only every `region_steady` frames: most of a
        crowd's faces move smoothly, and the frames between are interpolated as before."""
        steady = track.confirmed and track.hits >= STEADY_HITS and track.misses == 0
        return not steady or self.tracker.frame - track.last_hit >= self.opts.region_steady

    def _refind(self, frame: np.ndarray, box: np.ndarray) -> tuple | None:
        """The face near `box` in a held-back frame, as (box, landmarks, score): where the
        detector can look at a given place (MTCNN: 1.5 ms instead of a region's 6), there; else
        by a region pass."""
        dets = (self._redetect_known(frame, box[None]) if self._redetect_known is not None
                else self._region_pass(frame, box))
        best = best_match(box, dets, self.opts.tracker.iou)
        if best is None:
            return None
        marks = None if dets.landmarks is None else dets.landmarks[best]
        return dets.boxes[best], marks, float(dets.scores[best])

    def _observe(self, frame: np.ndarray) -> list[_State]:
        tracker, opts, index = self.tracker, self.opts, self._count
        tracker.begin_frame(index)
        full = index % opts.detect_every == 0
        regions = opts.refine and not full and index % opts.region_every == 0
        if regions:
            self._region_passes(frame)
        # a face lost in a region pass may have moved far: look over the whole frame at once,
        # but not on every frame of a crowd where someone is always turned away
        recent = index - self._last_full < max(1, opts.tracker.max_coast // 2)
        if full or (regions and tracker.lost() and not recent):
            self._last_full = index
            known = {t.id for t in tracker.tracks}
            tracker.update(self._full_pass_at(frame, index))
            for track in tracker.tracks:
                if track.id not in known:
                    self._extend_back(track)
        for track in tracker.tracks:  # missed at a look after a hit: since when?
            if track.looked and not track.detected and not track.misses:
                self._search_since_last_hit(track)
        tracker.end_frame()
        self._ever_confirmed |= {t.id for t in tracker.confirmed()}
        return [_State(t.id, t.box.copy() if t.detected else tracker.predicted(t), t.landmarks,
                       t.detected) for t in tracker.tracks]

    def _extend_back(self, track) -> None:
        """A face found by a full pass may have been there since the previous one: follow it
        back through the held frames with region passes, so that it is drawn from the frame
        where it appeared."""
        box = track.box
        for held in list(reversed(self._held))[:self.opts.detect_every]:
            found = self._refind(held.image, box)
            # another track already has this face in that frame: it is not this track's
            if found is None or self.tracker.covered(found[0], [s.box for s in held.states]):
                return
            box, marks, score = found
            held.states.append(_State(track.id, box.copy(), marks, True))
            self.tracker.add_hit(track, score)

    def _search_tail(self) -> None:
        """The last frames have no later frame to bridge from: look for each face in the held
        frames after its last detection."""
        for track in self.tracker.tracks:
            self._search_since_last_hit(track)

    def _search_since_last_hit(self, track) -> None:
        """Look for a face in the held frames after its last detection, skipped between
        looks, up to the first where it is not found: where it left (a cut, a turn, the end),
        it is drawn up to the frame it was last there in."""
        for held in self._held:
            state = next((s for s in held.states if s.track == track.id), None)
            if held.index <= track.last_hit or state is None or state.detected:
                continue
            found = self._refind(held.image, state.box)
            if found is None:
                break
            (state.box, state.landmarks, _), state.detected = found, True
            self._last_seen[track.id] = (held.index, state.box)

    def _bridge(self, index: int, states: list[_State]) -> None:
        """A face found again after a gap is drawn through the gap, on a straight line."""
        for s in states:
            if not s.detected:
                continue
            last = self._last_seen.get(s.track)
            self._last_seen[s.track] = (index, s.box)
            if last is None or last[0] >= index - 1:
                continue
            start, before = last
            for held in self._held:
                if start < held.index < index:
                    share = (held.index - start) / (index - start)
                    for g in held.states:
                        if g.track == s.track:
                            g.box = (1 - share) * before + share * s.box
                            g.bridged = True

    # -- classification and drawing ----------------------------------------------------------
    def _shown(self, s: _State) -> bool:
        return s.track in self._ever_confirmed and (s.detected or s.bridged)

    def _due(self, track: int, index: int) -> bool:
        """Every `classify_every` frames; a steady face every `classify_steady`."""
        last = self._last_classified.get(track)
        every = self.opts.classify_steady if track in self._steady else self.opts.classify_every
        return last is None or index - last >= every

    def _classify(self, frames: list[_Held]) -> dict[tuple[int, int], np.ndarray]:
        """Raw probabilities for the faces due for classification in these frames, in one batch
        (small ones cost up to 2.8x as much a face). A face is steady from the next block of
        `batch` frames on when its last two answers put the same emotion STEADY_MARGIN ahead of
        the next."""
        due: list[tuple[_Held, _State]] = []
        for held in frames:
            for s in held.states:
                if self._shown(s) and s.detected and self._due(s.track, held.index):
                    due.append((held, s))
                    self._last_classified[s.track] = held.index
        if not due:
            return {}
        crops = []  # one gray conversion per frame, not per face
        for _, group in groupby(due, key=lambda pair: id(pair[0])):
            group = list(group)
            crops.append(face_crops(group[0][0].image, np.stack([s.box for _, s in group]),
                                    [s.landmarks for _, s in group] if self.opts.level
                                    else None, self.opts.margin))
        with self._inference():
            proba = self.model.predict_proba(np.concatenate(crops))
        for (_, s), top, sure in zip(due, proba.argmax(1), top_margin(proba) >= STEADY_MARGIN):
            answer = (int(top), bool(sure))
            if sure and self._answers.get(s.track) == answer:
                self._next_steady.add(s.track)
            else:
                self._next_steady.discard(s.track)
            self._answers[s.track] = answer
        return {(held.index, s.track): p for (held, s), p in zip(due, proba)}

    def _finalize(self, frames: list[_Held]) -> list[AnnotatedFrame]:
        raw = {}
        for block, run in groupby(frames, key=lambda held: held.index // self.opts.batch):
            if block != self._block:
                self._block, self._steady = block, set(self._next_steady)
            raw.update(self._classify(list(run)))
        done = []
        for held in frames:
            rows = []
            for s in held.states:
                if not self._shown(s):
                    continue
                smoother = self._smoothers.setdefault(s.track,
                                                      LabelSmoother(self.opts.smoothing))
                p = raw.get((held.index, s.track))
                if p is not None:
                    smoother.update(p, held.time_s)
                if smoother.proba is None:  # bridged before its first classification
                    continue
                rows.append(FaceRow(held.index, held.time_s, s.track, s.box,
                                    smoother.proba.copy(), EMOTIONS[smoother.label], p))
            for row in rows:
                draw(held.image, row.box, row.label, row.confidence)
            done.append(AnnotatedFrame(held.index, held.time_s, held.image, rows))
        return done

    # -- the public side ---------------------------------------------------------------------
    def push(self, frame: np.ndarray) -> list[AnnotatedFrame]:
        """Take the next frame (BGR uint8); return the frames that are now final."""
        return self.label(self.track(frame))

    def finish(self) -> list[AnnotatedFrame]:
        """The frames still held back, final now."""
        return self.label(self.release())

    # `push` in two halves, for callers that label in another thread than they track in (in
    # order: each `label` call after the previous one)
    def track(self, frame: np.ndarray, eager: bool = False) -> list[_Held]:
        """Detect and track in the next frame; return the held-back frames now ready to label:
        a batch of them, or with `eager` (for a labeller with nothing to do) as few as a
        quarter batch."""
        index = self._count
        states = self._observe(frame)
        self._count += 1
        self._bridge(index, states)
        self._held.append(_Held(index, index / self.fps, frame, states))
        final = self._final()
        if final < (self.small_batch if eager else self.opts.batch):
            return []
        return [self._held.popleft() for _ in range(min(final, self.opts.batch))]

    @property
    def small_batch(self) -> int:
        """Frames an idle labeller takes at once, and the tail is labelled in: a quarter batch."""
        return max(1, self.opts.batch // EAGER_SHARE)

    def _final(self) -> int:
        """How many held frames, oldest first, no later frame can change: `delay` frames old,
        and older than the next scheduled full pass, which follows the faces it finds back to
        them (or, when full passes are far apart, held a batch longer)."""
        last, every, final = self._count - 1, self.opts.detect_every, 0
        for held in self._held:
            age = last - held.index
            if age < self.delay or (last < (held.index // every + 1) * every
                                    and age < self.delay + self.opts.batch):
                break
            final += 1
        return final

    def release(self) -> list[_Held]:
        """After the last frame: all held-back frames, ready to label."""
        self._search_tail()
        if self._pool is not None:
            self._pool[0].shutdown(cancel_futures=True)
            self._pool, self._early = None, {}
        frames = list(self._held)
        self._held.clear()
        return frames

    def label(self, frames: list[_Held]) -> list[AnnotatedFrame]:
        """Classify, smooth and draw frames from `track` or `release`."""
        return self._finalize(frames) if frames else []

    @property
    def frames_seen(self) -> int:
        return self._count

    @property
    def detector_name(self) -> str:
        return self.detector.name


def face_counts(rows: list[FaceRow], frames: int) -> list[int]:
    """How many faces are shown in each of the frames."""
    per_frame = Counter(r.frame for r in rows)
    return [per_frame.get(i, 0) for i in range(frames)]


def summarize(rows: list[FaceRow], frames: int, fps: float) -> dict:
    """Faces per frame, and per track: frames, dominant label, shares, label flips per second."""
    counts = Counter(min(n, 2) for n in face_counts(rows, frames))
    tracks = []
    for tid in sorted({r.track for r in rows}):
        mine = [r for r in rows if r.track == tid]
        labels = Counter(r.label for r in mine)
        n = len(mine)
        span = (mine[-1].frame - mine[0].frame + 1) / fps if fps else 0.0
        tracks.append({"id": tid, "frames": n, "first_frame": mine[0].frame,
                       "last_frame": mine[-1].frame,
                       "dominant": labels.most_common(1)[0][0],
                       "share": {e: round(labels[e] / n, 4) for e in EMOTIONS if labels[e]},
                       "flips_per_s": round(flips_per_second([r.label for r in mine], span), 3)})
    return {"faces_per_frame": {"0": counts[0], "1": counts[1], "2+": counts[2]},
            "tracks": tracks}


def annotate_frame(image: np.ndarray, model, opts: AnnotateOptions | None = None,
                   detector: Detector | None = None) -> AnnotatedFrame:
    """One still image: every face found is shown (no tracking, no smoothing)."""
    opts = opts or AnnotateOptions()
    single = AnnotateOptions(**{**opts.__dict__, "detect_every": 1, "refine": False,
                                "tracker": TrackerConfig(min_hits=1, max_coast=0),
                                "smoothing": SmoothingConfig(tau=0.0, margin=0.0)})
    annotator = Annotator(model, single, 1.0, detector)
    return (annotator.push(image) + annotator.finish())[0]
