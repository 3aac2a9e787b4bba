"""Face detectors, registered by name; each returns boxes as (x, y, w, h, score) rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emocli.errors import EmocliError


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    build: Callable[..., object]
    description: str


_DETECTORS: dict[str, DetectorSpec] = {}


def register_detector(name: str, description: str):
    def wrap(build):
        if name in _DETECTORS:
            raise ValueError(f"a detector named {name!r} is already registered")
        _DETECTORS[name] = DetectorSpec(name, build, description)
        return build
    return wrap


def list_detectors() -> list[str]:
    return sorted(_DETECTORS)


def create_detector(name: str, min_face: int = 40, model: Path | None = None,
                    detect_width: int = 320):
    if name not in _DETECTORS:
        raise EmocliError(f"unknown detector {name!r}: choose from {', '.join(list_detectors())}")
    return _DETECTORS[name].build(min_face=min_face, model=model, detect_width=detect_width)


def _scale_for(frame: np.ndarray, detect_width: int) -> float:
    """Detect on a copy no wider than `detect_width` (never upscaled)."""
    return min(1.0, detect_width / frame.shape[1]) if detect_width else 1.0


def _empty() -> np.ndarray:
    return np.zeros((0, 5), dtype=np.float32)


@register_detector("haar", "OpenCV's bundled frontal-face Haar cascade (fast, no extra files)")
class HaarDetector:
    def __init__(self, min_face: int, model: Path | None, detect_width: int):
        path = str(model) if model else cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise EmocliError(f"{path}: not a Haar cascade file")
        self.min_face, self.detect_width = min_face, detect_width

    def detect(self, frame: np.ndarray, sizes: tuple[float, float] | None = None) -> np.ndarray:
        """Faces in the frame; `sizes` narrows the search to faces of that side (in pixels)."""
        scale = _scale_for(frame, self.detect_width)
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        if scale < 1:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        low, high = sizes or (self.min_face, 0)
        low = max(24, round(low * scale))  # the cascade's own window is 24 px
        high = round(high * scale) if high else 0
        boxes, _, weights = self.cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(low, low), maxSize=(high, high),
            outputRejectLevels=True)
        if len(boxes) == 0:
            return _empty()
        return np.column_stack([np.asarray(boxes, np.float32) / scale,
                                np.asarray(weights, np.float32).reshape(-1)])


@register_detector("mtcnn", "MTCNN from facenet-pytorch (pip install 'emocli[mtcnn]'); "
                            "accurate, slower")
class MTCNNDetector:
    def __init__(self, min_face: int, model: Path | None, detect_width: int):
        try:
            from facenet_pytorch import MTCNN
        except ImportError:
            raise EmocliError("the mtcnn detector needs facenet-pytorch: "
                              "pip install 'emocli[mtcnn]'") from None
        self.detect_width = detect_width
        self.min_face = min_face
        self.net = MTCNN(keep_all=True, device="cpu", min_face_size=max(12, min_face // 2))

    def detect(self, frame: np.ndarray, sizes: tuple[float, float] | None = None) -> np.ndarray:
        scale = _scale_for(frame, self.detect_width)
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) \
            if scale < 1 else frame
        boxes, probs = self.net.detect(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
        if boxes is None:
            return _empty()
        xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]) / scale
        keep = (xywh[:, 2] >= self.min_face) & (probs >= 0.9)
        return np.column_stack([xywh, probs])[keep].astype(np.float32)


@register_detector("yunet", "OpenCV's YuNet (cv2.FaceDetectorYN); needs --detector-model "
                            "face_detection_yunet.onnx")
class YuNetDetector:
    def __init__(self, min_face: int, model: Path | None, detect_width: int):
        if model is None or not Path(model).is_file():
            raise EmocliError("the yunet detector needs --detector-model pointing to a YuNet "
                              "ONNX file (face_detection_yunet_2023mar.onnx)")
        try:
            self.net = cv2.FaceDetectorYN.create(str(model), "", (320, 320), 0.8, 0.3, 5000)
        except cv2.error:
            raise EmocliError(f"{model}: not a YuNet ONNX model") from None
        self.min_face, self.detect_width = min_face, detect_width

    def detect(self, frame: np.ndarray, sizes: tuple[float, float] | None = None) -> np.ndarray:
        scale = _scale_for(frame, self.detect_width)
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) \
            if scale < 1 else frame
        self.net.setInputSize((small.shape[1], small.shape[0]))
        _, faces = self.net.detect(small)
        if faces is None:
            return _empty()
        out = np.column_stack([faces[:, :4] / scale, faces[:, 14]]).astype(np.float32)
        return out[out[:, 2] >= self.min_face]


def face_crops(frame: np.ndarray, boxes: np.ndarray, margin: float, size: int = 48) -> np.ndarray:
    """Square gray crops around each box, enlarged by `margin`, resized to size x size."""
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    h, w = gray.shape
    crops = np.empty((len(boxes), size, size), dtype=np.uint8)
    for i, (x, y, bw, bh) in enumerate(boxes[:, :4]):
        side = max(bw, bh) * (1 + 2 * margin)
        cx, cy = x + bw / 2, y + bh / 2
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        x1, y1 = x0 + int(round(side)), y0 + int(round(side))
        # pad by replicating the border so that faces at the edge keep their proportions
        patch = cv2.copyMakeBorder(gray[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)],
                                   max(-y0, 0), max(y1 - h, 0), max(-x0, 0), max(x1 - w, 0),
                                   cv2.BORDER_REPLICATE)
        crops[i] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return crops


def detect_near(detector, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Re-detect faces in a region around each box, scaled so the face is small: a pass that
    costs a fraction of a full-frame detection, for the frames between full passes."""
    height, width = frame.shape[:2]
    face_px = max(80.0, 1.5 * detector.min_face)
    found = []
    for x, y, w, h in boxes[:, :4]:
        side = max(w, h)
        x0, y0 = int(max(0, x - side / 2)), int(max(0, y - side / 2))
        x1, y1 = int(min(width, x + w + side / 2)), int(min(height, y + h + side / 2))
        if x1 - x0 < 16 or y1 - y0 < 16:
            continue
        scale = min(1.0, face_px / side)
        region = frame[y0:y1, x0:x1]
        if scale < 1:
            region = cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        dets = detector.detect(region, sizes=(0.7 * side * scale, 1.4 * side * scale))
        if len(dets):
            dets = dets.copy()
            dets[:, :4] /= scale
            dets[:, 0] += x0
            dets[:, 1] += y0
            found.append(dets)
    return np.concatenate(found) if found else _empty()
