"""Faces per frame in the real clips and photos of ../shared/media, counted by eye
(../shared/README.md); shared by the quality tests and benchmarks/annotate_quality.py."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("EMOCLI_SHARED", Path(__file__).resolve().parents[2] / "shared"))
MEDIA = SHARED / "media"
FACES = MEDIA / "faces"

# clip -> (decodable frames, faces in frame i)
CLIPS = {
    MEDIA / "test.mp4": (115, lambda i: 1),
    FACES / "pyfeat_WolfgangLanger_Pexels.mp4": (472, lambda i: 1),
    FACES / "pyfeat_face_noface.mov": (169, lambda i: 1 if i < 72 else 0),
    FACES / "pyfeat_no_face.mp4": (95, lambda i: 0),
    FACES / "insightface_810_1684206192.mp4": (345, lambda i: 1),
    FACES / "intel_classroom.gif": (45, lambda i: 4),
    FACES / "dlib_elon-musk-smoke.gif": (35, lambda i: 1),
    FACES / "intel_asl_thanks.mkv": (51, lambda i: 1),
}

PHOTOS = {
    MEDIA / "justin.jpg": 1,
    MEDIA / "no-faces.jpg": 0,
    FACES / "pyfeat_multi_face.jpg": 5,
    FACES / "fnp_multiface.jpg": 6,
    FACES / "dlib_2007_007763.jpg": 7,
    FACES / "fr_two_people.jpg": 2,
    FACES / "mtcnn_ivan.jpg": 1,
    FACES / "dlib_horses.jpg": 0,
}


def right_share(faces_per_frame: list[int], truth) -> float:
    """The share of frames with exactly the right number of faces."""
    return sum(n == truth(i) for i, n in enumerate(faces_per_frame)) / len(faces_per_frame)
