"""The one-call door for scripts and notebooks: `emocli.analyze(image)`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from emocli.data.labels import EMOTIONS
from emocli.errors import EmocliError
from emocli.predict.loading import load_model
from emocli.video import media
from emocli.video.detectors import Detector, create_detector
from emocli.video.pipeline import AnnotateOptions, annotate_frame


@lru_cache(maxsize=4)
def _bundled(name: str | None):
    return load_model(name)


@lru_cache(maxsize=4)
def _detector(name: str) -> Detector:
    return create_detector(name)


def analyze(image: str | Path | np.ndarray, model=None, detector: str = "auto",
            min_face: int = 16) -> list[dict]:
    """Every face in a photo (a path, or a BGR uint8 array as OpenCV gives): a list of
    {"box": (x, y, w, h), "label", "confidence", "scores": {emotion: probability}}, biggest face
    first; [] when there is none.

    `model`: a bundled model's name ("ensemble", the default, or "default"), a model file, or a
    model from `emocli.load_model`; loaded models and detectors are kept for the next call.
    """
    if isinstance(image, (str, Path)):
        image = media.read_image(Path(image))
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim in (2, 3)):
        raise EmocliError("analyze() takes an image path or a BGR uint8 array (H, W, 3)")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if model is None or isinstance(model, (str, Path)):
        model = _bundled(None if model is None else str(model))
    done = annotate_frame(image.copy(), model, AnnotateOptions(detector=detector,
                                                               min_face=min_face),
                          _detector(detector))
    faces = [{"box": tuple(int(round(v)) for v in row.box),
              "label": row.label,
              "confidence": row.confidence,
              "scores": {e: float(p) for e, p in zip(EMOTIONS, row.proba)}}
             for row in done.faces]
    return sorted(faces, key=lambda f: -f["box"][2] * f["box"][3])
