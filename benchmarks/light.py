"""Robustness to light: FER2013 PublicTest as it is and a darkened copy of it (each face given a
seeded gamma of 1.6-2.4, contrast 0.45-0.75 and sensor noise of 3-8 grey levels, as in a dim
room), the accuracy of each model on both, side by side, and the gap.
Target (issue 25): the darkened accuracy within 3 points of the clean one.

Run: python benchmarks/light.py [MODEL ...]   (default: the bundled models)
"""

import argparse

import numpy as np
from _common import FER_ZIP

from emocli.data.readers import read_source
from emocli.models import BUNDLED
from emocli.predict import metrics
from emocli.predict.loading import load_model


def darken(faces: np.ndarray, seed: int = 0) -> np.ndarray:
    """A dim, flat, noisy copy of (N, 48, 48) uint8 faces, the same for every run."""
    rng = np.random.default_rng(seed)
    n = len(faces)
    gamma = rng.uniform(1.6, 2.4, (n, 1, 1))
    contrast = rng.uniform(0.45, 0.75, (n, 1, 1))
    x = (faces.astype(np.float32) / 255) ** gamma
    mean = x.mean((1, 2), keepdims=True)
    x = (x - mean) * contrast + mean
    x = x * 255 + rng.normal(0, 1, faces.shape) * rng.uniform(3, 8, (n, 1, 1))
    return x.clip(0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=list(BUNDLED))
    args = parser.parse_args()
    faces, labels = read_source(FER_ZIP).split("val")
    dark = darken(faces)
    print(f"PublicTest: {len(labels)} faces, mean grey {faces.mean():.0f} clean, "
          f"{dark.mean():.0f} darkened")
    print(f"{'model':40s} {'clean':>7s} {'dark':>7s} {'gap':>6s}")
    for spec in args.models:
        model = load_model(spec)
        clean, dim = (metrics.summary(labels, model.predict_proba(x).argmax(1))["accuracy"]
                      for x in (faces, dark))
        print(f"{spec:40s} {clean:7.4f} {dim:7.4f} {100 * (clean - dim):5.1f}pt")


if __name__ == "__main__":
    main()
