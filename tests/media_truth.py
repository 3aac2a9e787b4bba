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


CROWD_PHOTOS = (FACES / "fnp_multiface.jpg", FACES / "dlib_2007_007763.jpg")
CROWD_FACES = sum(PHOTOS[p] for p in CROWD_PHOTOS)  # 13, all in view in every frame


def make_crowd_clip(path: Path, frames: int = 105, size: tuple[int, int] = (1920, 1080),
                    fps: float = 25.0) -> Path:
    """A many-face clip at 1080p: the two group photos side by side, zoomed slowly from 45% to
    95% of the frame's width while panning, so that 13 faces grow as if walking closer; every
    face stays in view. Written with ffmpeg (H.264 where the build has it)."""
    import subprocess

    import cv2
    import numpy as np

    from emocli.video.media import ffmpeg_exe

    photos = [cv2.imread(str(p)) for p in CROWD_PHOTOS]
    height = max(p.shape[0] for p in photos)
    photos = [cv2.resize(p, (round(p.shape[1] * height / p.shape[0]), height)) for p in photos]
    strip = np.concatenate(photos, axis=1)
    width, full_h = size
    cmd = [ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
           "-s", f"{width}x{full_h}", "-r", str(fps), "-i", "-", "-c:v", "mpeg4", "-q:v", "3",
           "-pix_fmt", "yuv420p", str(path)]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE) as proc:
        for i in range(frames):
            t = i / max(frames - 1, 1)
            scale = (0.45 + 0.5 * t) * width / strip.shape[1]
            layer = cv2.resize(strip, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            canvas = np.full((full_h, width, 3), 90, np.uint8)
            x0 = round((width - layer.shape[1]) * (0.5 + 0.4 * (0.5 - t)))
            y0 = round((full_h - layer.shape[0]) * (0.3 + 0.4 * t))
            canvas[y0:y0 + layer.shape[0], x0:x0 + layer.shape[1]] = layer
            proc.stdin.write(canvas.tobytes())
        proc.stdin.close()
    return path
