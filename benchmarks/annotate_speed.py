"""Annotate speed on the dev clips, side by side in one run (frames/s, medians, interleaved):

- decode+encode: OpenCV reads every frame, and the encoder annotate uses (H.264, ultrafast,
  through imageio-ffmpeg's ffmpeg) writes it, nothing else (the floor);
- haar loop: the `fer` package's way: OpenCV's Haar cascade on every full frame (its settings:
  scale 1.1, 5 neighbours, faces from 50 px), each face classified on its own, drawn, written;
- plain loop: the default detector on every frame at emocli's working resolution, all faces of
  the frame classified together, drawn, written;
- emocli annotate: `annotate_video` with default options (full passes every Nth frame, region
  passes between, tracking, batched classification, threaded decode and encode), with the
  model on OpenCV's DNN module (the default for the bundled models);
- annotate on torch: the same with the model's PyTorch weights (issue 24: no slower on OpenCV);
- annotate, every member: the same with an ensemble's early exit off (each face classified by
  every member; the bundled ensemble lets a face its first network is sure of skip the second).
Targets on 2 cores: annotate >= 5x the haar loop and >= 40% of decode+encode on the dev clips
and on crowd.mp4, a 1920x1080 clip of 13 faces growing and moving (built from two group photos
of ../shared, tests/media_truth.py). The same model (default: the bundled one) serves every loop.

Run: python benchmarks/annotate_speed.py [--model M] [--detector D] [--repeats 3]
     [--clips test.mp4 crowd ...] [--loops decode+encode annotate ...]
(`crowd` names the built 1080p clip; the ratios are printed for the loops that ran.)
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from media_truth import FACES, MEDIA, make_crowd_clip  # noqa: E402

from emocli.data.labels import EMOTIONS  # noqa: E402
from emocli.predict.loading import load_model, plain_average  # noqa: E402
from emocli.video.annotate import annotate_video  # noqa: E402
from emocli.video.crops import face_crops  # noqa: E402
from emocli.video.detectors import create_detector, resized, working_scale  # noqa: E402
from emocli.video.draw import draw  # noqa: E402
from emocli.video.media import VideoInfo, VideoWriter, memory_kept  # noqa: E402
from emocli.video.pipeline import AnnotateOptions  # noqa: E402

CLIPS = [MEDIA / "test.mp4", FACES / "pyfeat_WolfgangLanger_Pexels.mp4",
         FACES / "insightface_810_1684206192.mp4"]


def copy_frames(src: Path, out: Path, per_frame=None) -> int:
    """Read every frame (OpenCV), optionally work on it, and write it with the encoder that
    annotate uses (H.264 through imageio-ffmpeg's ffmpeg), with freed frames kept for the next
    ones as annotate keeps them."""
    cap = cv2.VideoCapture(str(src))
    writer = None
    n = 0
    with memory_kept():
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                height, width = frame.shape[:2]
                writer = VideoWriter(out, VideoInfo(cap.get(cv2.CAP_PROP_FPS), width, height, 0))
            if per_frame:
                per_frame(frame)
            writer.write(frame)
            n += 1
        writer.close()
    return n


def label_all(frame: np.ndarray, boxes: np.ndarray, proba: np.ndarray) -> None:
    for box, p in zip(boxes, proba):
        draw(frame, box, EMOTIONS[int(p.argmax())], float(p.max()))


def haar_loop(src: Path, out: Path, model) -> int:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def work(frame):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(50, 50))
        for box in np.asarray(boxes, np.float32).reshape(-1, 4):
            label_all(frame, box[None], model.predict_proba(face_crops(frame, box[None])))

    return copy_frames(src, out, work)


def plain_loop(src: Path, out: Path, model, detector_name: str) -> int:
    detector = create_detector(detector_name)

    def work(frame):
        scale = working_scale(frame.shape, 16, detector.min_size)
        dets = detector.detect(resized(frame, scale)).scaled(scale)
        if len(dets):
            label_all(frame, dets.boxes, model.predict_proba(face_crops(frame, dets.boxes)))

    return copy_frames(src, out, work)


RATIOS = (("haar loop", ".1f", "x (target >= 5x)"),
          ("decode+encode", ".0%", " (target >= 40%)"),
          ("plain loop", ".1f", "x"),
          ("annotate on torch", ".2f", "x (target >= 1)"),
          ("annotate, every member", ".2f", "x"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="default: the bundled model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detector", default="auto")
    parser.add_argument("--clips", nargs="*", type=Path, default=None,
                        help="default: three dev clips and the 1080p crowd (`crowd`)")
    parser.add_argument("--loops", nargs="*", default=None, help="default: all")
    args = parser.parse_args()
    missing = [c for c in args.clips or [] if str(c) != "crowd" and not c.is_file()]
    if missing:
        parser.error(f"{missing[0]}: no such clip")
    model, on_torch = load_model(args.model), load_model(args.model, runtime="torch")
    every = plain_average(model)  # the same networks, without the early exit
    opts = AnnotateOptions(detector=args.detector, audio=False)
    loops = {"decode+encode": lambda src, out: copy_frames(src, out),
             "haar loop": lambda src, out: haar_loop(src, out, model),
             "plain loop": lambda src, out: plain_loop(src, out, model, args.detector),
             "annotate": lambda src, out: annotate_video(src, out, model, opts).frames,
             "annotate on torch": lambda src, out: annotate_video(src, out, on_torch, opts).frames,
             "annotate, every member": lambda src, out: annotate_video(src, out, every,
                                                                      opts).frames}
    loops = {k: v for k, v in loops.items() if args.loops is None or k in args.loops}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        clips = [make_crowd_clip(Path(tmp) / "crowd.mp4") if str(c) == "crowd" else c
                 for c in args.clips or [*CLIPS, "crowd"]]
        print(f"detector: {create_detector(args.detector).name}")
        for clip in clips:
            rates = {name: [] for name in loops}
            for _ in range(args.repeats):  # interleaved, so that noise hits all alike
                for name, fn in loops.items():
                    tic = time.perf_counter()
                    frames = fn(clip, out)
                    rates[name].append(frames / (time.perf_counter() - tic))
            med = {k: statistics.median(v) for k, v in rates.items()}
            print(f"{clip.name} ({frames} frames), medians of {args.repeats}, frames/s: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in med.items()))
            for other, form, target in RATIOS:
                if "annotate" in med and other in med:
                    ratio = format(med["annotate"] / med[other], form)
                    print(f"  annotate / {other:17s} = {ratio}{target}")


if __name__ == "__main__":
    main()
