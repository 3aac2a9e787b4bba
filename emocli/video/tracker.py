"""Tracking faces across frames: stable ids, one track per face, no one-frame ghosts.

Full detection passes match every track to the detections (Hungarian on IoU, scipy) and start
tracks for the faces left over; region passes re-detect one known face and update only that
track. A track is confirmed after `min_hits` detections; a track that is lost coasts on its
velocity for up to `max_coast` frames and is dropped after that. Two tracks that lock onto the
same face in one frame are merged: the older keeps the face, the younger loses it and dies
unless it finds a face of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emocli.video.boxes import NESTED, Detections, best_match, similarity
from emocli.video.options import TrackerConfig


MATCHER = "scipy.optimize"  # its linear_sum_assignment; imported on first use (0.5 s)

# a new face may be missed once (a small face in the dark is found in most looks, not all); a
# ghost still needs `min_hits` detections to be shown
TENTATIVE_MISSES = 2


@dataclass
class Track:
    id: int
    box: np.ndarray  # x, y, w, h at the last detection
    last_hit: int  # the frame of the last detection
    landmarks: np.ndarray | None = None
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))  # per frame
    hits: int = 1
    best: float = 0.0  # its best detection score: confirmation needs one at the birth score
    confirmed: bool = False
    detected: bool = True  # found in the current frame
    looked: bool = False  # searched for in the current frame
    misses: int = 0  # searched for and not found, in a row
    before: tuple = ()  # the state at the start of the frame, restored when a merge undoes a hit

    def predicted(self, frame: int) -> np.ndarray:
        return self.box + self.velocity * (frame - self.last_hit)


class Tracker:
    def __init__(self, cfg: TrackerConfig | None = None, birth_score: float = 0.0):
        self.cfg = cfg or TrackerConfig()
        # a face is confirmed only once a detection of it reaches this score; below it, a
        # full pass's detection starts a tentative track (a dim face scores lower at first)
        self.birth_score = birth_score
        self.tracks: list[Track] = []
        self.frame = -1
        self._next_id = 1

    # -- one frame: begin, then full and/or region updates, then end --------------------------
    def begin_frame(self, frame: int | None = None) -> None:
        self.frame = self.frame + 1 if frame is None else frame
        for t in self.tracks:
            t.detected = t.looked = False
            t.before = (t.box, t.velocity, t.landmarks, t.hits, t.last_hit, t.best,
                        t.confirmed)

    def predicted(self, track: Track) -> np.ndarray:
        return track.predicted(self.frame)

    def update(self, dets: Detections) -> None:
        """A full pass over the frame: continue the tracks it finds, start tracks for new faces."""
        for t in self.tracks:
            t.looked = True
        free = [t for t in self.tracks if not t.detected]
        rows, cols = self._match(free, dets)
        for r, c in zip(rows, cols):
            self._hit(free[r], dets, c)
        # a live face leaves no room for a new track: a box near it is the same face seen
        # worse or moved (a twin), not another face
        known = [t.box if t.detected else self.predicted(t) for t in self.tracks]
        for d in sorted(set(range(len(dets))) - set(cols)):
            if self.covered(dets.boxes[d], known):
                continue
            marks = None if dets.landmarks is None else dets.landmarks[d]
            track = Track(self._next_id, dets.boxes[d].copy(), self.frame, marks,
                          best=float(dets.scores[d]))
            self._confirm(track)
            self.tracks.append(track)
            self._next_id += 1
            known.append(dets.boxes[d])

    def update_tracks(self, tracks: list[Track], dets: Detections) -> None:
        """A region pass for some tracks: each continues with the detection most similar to it
        (or one lying mostly inside or around it), no detection continues two tracks, and
        none starts a track."""
        for t in tracks:
            t.looked = True
        free = [t for t in tracks if not t.detected]
        rows, cols = self._match(free, dets)
        for r, c in zip(rows, cols):
            self._hit(free[r], dets, c)
        left = [i for i in range(len(dets)) if i not in cols]
        for r, track in enumerate(free):
            if r in rows or not left:
                continue
            best = best_match(self.predicted(track), dets.take(left), self.cfg.iou, NESTED)
            if best is not None:
                self._hit(track, dets, left.pop(best))

    def update_track(self, track: Track, dets: Detections) -> None:
        """A region pass for one track."""
        self.update_tracks([track], dets)

    def add_hit(self, track: Track, score: float) -> None:
        """Count a detection of this face found outside the frame-by-frame flow (in a held-back
        frame), towards its confirmation."""
        track.hits += 1
        track.best = max(track.best, score)
        self._confirm(track)

    def end_frame(self) -> None:
        """Merge twins and drop what is lost: a new face missed in `TENTATIVE_MISSES` frames in
        a row where it was looked for, a confirmed one unseen for more than `max_coast` frames."""
        self._merge()
        for t in self.tracks:
            t.misses = 0 if t.detected else t.misses + t.looked
        self.tracks = [t for t in self.tracks
                       if t.detected or (t.confirmed and self.frame - t.last_hit
                                         <= self.cfg.max_coast)
                       or (not t.confirmed and t.misses < TENTATIVE_MISSES)]

    def lost(self) -> bool:
        """Whether a known face was looked for and not seen in this frame (worth a full pass
        at once)."""
        return any(t.looked and not t.detected for t in self.tracks)

    # -- internals ---------------------------------------------------------------------------
    def _hit(self, track: Track, dets: Detections, i: int) -> None:
        # a young track learns its velocity at once (a face walking in is already moving)
        a, v = self.cfg.box_smoothing, min(self.cfg.velocity_smoothing, 1 - 1 / track.hits)
        new = a * self.predicted(track) + (1 - a) * dets.boxes[i]
        gap = max(1, self.frame - track.last_hit)
        track.velocity = v * track.velocity + (1 - v) * (new - track.box) / gap
        track.box = new.astype(np.float32)
        track.last_hit = self.frame
        track.landmarks = None if dets.landmarks is None else dets.landmarks[i]
        track.hits += 1
        track.best = max(track.best, float(dets.scores[i]))
        track.detected = True
        self._confirm(track)

    def _confirm(self, track: Track) -> None:
        """Confirmed after `min_hits` detections, one of them at the birth score."""
        track.confirmed = track.confirmed or (track.hits >= self.cfg.min_hits
                                              and track.best >= self.birth_score)

    def _match(self, tracks: list[Track], dets: Detections) -> tuple[list[int], list[int]]:
        if not tracks or not len(dets):
            return [], []
        from scipy.optimize import linear_sum_assignment  # 0.5 s to import: not for a photo

        sim, _ = similarity(np.stack([self.predicted(t) for t in tracks]), dets.boxes)
        rows, cols = linear_sum_assignment(-sim)
        keep = sim[rows, cols] >= self.cfg.iou
        return rows[keep].tolist(), cols[keep].tolist()

    def covered(self, box: np.ndarray, known: list[np.ndarray]) -> bool:
        """Whether `box` is one of the `known` faces (similar to one, or mostly inside or
        around one): a twin, not another face."""
        if not known:
            return False
        sim, inside = similarity(box[None], np.stack(known))
        return bool((sim >= self.cfg.iou).any() or (inside >= NESTED).any())

    def _merge(self) -> None:
        seen = [t for t in self.tracks if t.detected]
        if len(seen) < 2:
            return
        boxes = np.stack([t.box for t in seen])
        sim, inside = similarity(boxes, boxes)
        same = (sim >= self.cfg.merge_iou) | (inside >= NESTED)
        # the elder (a confirmed track before a new one, then the older id) keeps the face, so
        # that the id a face was shown with stays
        order = sorted(range(len(seen)), key=lambda i: (not seen[i].confirmed, seen[i].id))
        for rank, i in enumerate(order):
            if not seen[i].detected:
                continue
            for j in order[rank + 1:]:
                if same[i, j] and seen[j].detected:
                    self._undo(seen[j])

    @staticmethod
    def _undo(track: Track) -> None:
        if not track.before:  # born in this frame: unborn
            track.confirmed, track.last_hit = False, -(10**9)
        else:
            (track.box, track.velocity, track.landmarks, track.hits, track.last_hit,
             track.best, track.confirmed) = track.before
        track.detected = False

    def confirmed(self) -> list[Track]:
        return [t for t in self.tracks if t.confirmed]
