"""Does levelling the eyes help? FER2013 PublicTest faces turned by +-20 degrees, found again by
the default detector, classified from the detector's box with and without levelling.

Levelling turns a crop only when the eyes lean by LEVEL_FROM degrees or more.
Each 48x48 face is placed in a replicated border (the detector needs some context), upscaled
4x, turned, detected; the crop comes from the detected box, as in `annotate`. Faces the
detector misses are counted and left out of both accuracies.

Run: python benchmarks/levelling.py [--model M] [--angles -20 0 20] [--sample N]
"""

import argparse

import cv2
import numpy as np
from _common import FER_ZIP

from emocli.data.readers import read_source
from emocli.predict.loading import load_model
from emocli.video.crops import face_crop, level_angle
from emocli.video.detectors import create_detector


def turned_face(face: np.ndarray, angle: float) -> np.ndarray:
    big = cv2.resize(cv2.copyMakeBorder(face, 24, 24, 24, 24, cv2.BORDER_REPLICATE),
                     (384, 384), interpolation=cv2.INTER_CUBIC)
    matrix = cv2.getRotationMatrix2D((192, 192), angle, 1.0)
    return cv2.cvtColor(cv2.warpAffine(big, matrix, (384, 384), borderMode=cv2.BORDER_REPLICATE),
                        cv2.COLOR_GRAY2BGR)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="default: the bundled model")
    parser.add_argument("--angles", type=float, nargs="*", default=[-20.0, -10.0, 0.0, 10.0, 20.0])
    parser.add_argument("--sample", type=int, default=None, help="N PublicTest faces (seeded)")
    args = parser.parse_args()
    data = read_source(FER_ZIP)
    faces, labels = data.split("val")
    if args.sample:
        keep = np.random.default_rng(0).choice(len(faces), args.sample, replace=False)
        faces, labels = faces[keep], labels[keep]
    model, detector = load_model(args.model), create_detector()
    print(f"{len(faces)} PublicTest faces; as given: accuracy "
          f"{(model.predict_proba(faces).argmax(1) == labels).mean():.4f}")
    for angle in args.angles:
        plain, level, keep = [], [], []
        for i, face in enumerate(faces):
            frame = turned_face(face, angle)
            found = detector.detect(frame)
            if not len(found):
                continue
            best = int(found.scores.argmax())
            gray = frame[:, :, 0]
            marks = None if found.landmarks is None else found.landmarks[best]
            plain.append(face_crop(gray, found.boxes[best]))
            level.append(face_crop(gray, found.boxes[best], level_angle(marks)))
            keep.append(i)
        y = labels[keep]
        acc = [(model.predict_proba(np.stack(c)).argmax(1) == y).mean() for c in (plain, level)]
        print(f"turned {angle:+.0f} deg: found {len(keep)}/{len(faces)}; accuracy without "
              f"levelling {acc[0]:.4f}, with levelling {acc[1]:.4f} ({acc[1] - acc[0]:+.4f})")


if __name__ == "__main__":
    main()
