"""Annotate speed on ../shared/media/test.mp4, side by side in one run:

- decode+encode alone (OpenCV read + write, the floor);
- a plain per-frame loop: detect every frame, classify each face on its own, draw, write;
- emocli annotate (detect every Nth frame on a downscaled copy, track, batch the crops).
Targets on 2 cores: annotate >= 50% of the decode+encode rate and >= 5x fer's 28 frames/s.

Run: python benchmarks/annotate_speed.py [--model M]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from _common import CLIP
from emocli.engine.annotate import AnnotateOptions, FaceRow, annotate_video, draw
from emocli.engine.faces import create_detector, face_crops
from emocli.engine.predict import Model, load_model

FER_FPS = 28.0  # the fer package on this kind of machine (issue 6)


def copy_frames(out: Path, per_frame=None) -> int:
    """Read every frame of the clip, optionally work on it, and write it."""
    cap = cv2.VideoCapture(str(CLIP))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"),
                             cap.get(cv2.CAP_PROP_FPS), size)
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if per_frame:
            per_frame(frame, n)
        writer.write(frame)
        n += 1
    writer.release()
    return n


def plain_loop(out: Path, predictor: Model) -> int:
    """Detect on every full frame, classify each face on its own, draw."""
    detector = create_detector("haar", 40, None, 0)

    def work(frame, n):
        for box in detector.detect(frame):
            proba = predictor.predict_proba(face_crops(frame, box[None], 0.1))[0]
            draw(frame, FaceRow(n, 0.0, 0, box[:4], proba))

    return copy_frames(out, work)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="default: the bundled model")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    predictor = load_model(args.model)
    rates = {"decode+encode": [], "plain loop": [], "annotate": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        for _ in range(args.repeats):  # interleaved, so that noise hits all three alike
            for name, fn in (("decode+encode", lambda: copy_frames(out)),
                             ("plain loop", lambda: plain_loop(out, predictor)),
                             ("annotate", lambda: annotate_video(
                                 CLIP, out, predictor, AnnotateOptions(audio=False)).frames)):
                tic = time.perf_counter()
                frames = fn()
                rates[name].append(frames / (time.perf_counter() - tic))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"{CLIP.name}, medians of {args.repeats} runs, frames/s:")
    for name, rate in med.items():
        print(f"  {name:14s} {rate:7.1f}")
    a = med["annotate"]
    print(f"annotate / decode+encode = {a / med['decode+encode']:.0%} (target >= 50%)")
    print(f"annotate / fer (28 fps)  = {a / FER_FPS:.1f}x (target >= 5x)")
    print(f"annotate / plain loop    = {a / med['plain loop']:.1f}x")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
